package worker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/store"
)

// conns keeps one open drivers.Conn (and so one pool) per data source, and
// reopens it when the data source's options change.
type conns struct {
	registry *drivers.Registry

	mu   sync.Mutex
	open map[int64]openConn
}

type openConn struct {
	conn    drivers.Conn
	version time.Time // the data source's updated_at when opened
}

func newConns(registry *drivers.Registry) *conns {
	return &conns{registry: registry, open: make(map[int64]openConn)}
}

// get returns the Conn for ds, opening it on first use.
func (c *conns) get(ctx context.Context, ds store.DataSource) (drivers.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if oc, ok := c.open[ds.ID]; ok {
		if oc.version.Equal(ds.UpdatedAt) {
			return oc.conn, nil
		}
		// Queries still running on the old Conn finish first; Close waits.
		go oc.conn.Close()
		delete(c.open, ds.ID)
	}
	d, err := c.registry.Driver(ds.Type)
	if err != nil {
		return nil, err
	}
	conn, err := d.Open(ctx, ds.Options)
	if err != nil {
		return nil, fmt.Errorf("open data source %d: %w", ds.ID, err)
	}
	c.open[ds.ID] = openConn{conn: conn, version: ds.UpdatedAt}
	return conn, nil
}

// close closes every open Conn.
func (c *conns) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, oc := range c.open {
		oc.conn.Close()
		delete(c.open, id)
	}
}
