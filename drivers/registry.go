package drivers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Registry maps data source type names (Redash's: "pg", "redshift", …) to
// drivers. main builds one and registers each driver explicitly.
type Registry struct {
	mu      sync.RWMutex
	drivers map[string]Driver
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{drivers: make(map[string]Driver)}
}

// Register makes d available under name. It panics if name is taken, as a
// wiring mistake that must not reach production.
func (r *Registry) Register(name string, d Driver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.drivers[name]; dup {
		panic("drivers: Register called twice for " + name)
	}
	r.drivers[name] = d
}

// Driver returns the driver registered under name, or an error wrapping
// ErrUnknownType.
func (r *Registry) Driver(name string) (Driver, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.drivers[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, name)
	}
	return d, nil
}

// Types lists the registered type names, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.drivers))
	for n := range r.drivers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ValidateOptions checks config for the driver registered under typ. It
// returns an error wrapping ErrUnknownType, an *OptionsError, or nil. Drivers
// that do not implement Configurer accept any JSON object.
func (r *Registry) ValidateOptions(typ string, config json.RawMessage) error {
	d, err := r.Driver(typ)
	if err != nil {
		return err
	}
	if c, ok := d.(Configurer); ok {
		return c.ValidateOptions(config)
	}
	var obj map[string]any
	if err := json.Unmarshal(config, &obj); err != nil {
		return &OptionsError{Field: "options", Reason: "must be a JSON object"}
	}
	return nil
}

// SecretOptions names the option keys of typ whose values must be masked.
// It returns nil for unknown types and drivers without secrets.
func (r *Registry) SecretOptions(typ string) []string {
	d, err := r.Driver(typ)
	if err != nil {
		return nil
	}
	if c, ok := d.(Configurer); ok {
		return c.SecretOptions()
	}
	return nil
}

// AutoLimit returns sql with the dialect of typ's row limit added, as
// Dialect.AutoLimit does, with AutoLimitRows; unknown types get ANSI's.
func (r *Registry) AutoLimit(typ, sql string) string {
	dialect := ANSI
	if d, err := r.Driver(typ); err == nil {
		dialect = DialectOf(d)
	}
	return dialect.AutoLimit(sql, AutoLimitRows)
}

// Test opens a connection with config, pings it when the driver supports
// Pinger (otherwise runs "SELECT 1" and reads its rows, so an error reported
// by Next counts too), and closes it.
func (r *Registry) Test(ctx context.Context, typ string, config json.RawMessage) error {
	d, err := r.Driver(typ)
	if err != nil {
		return err
	}
	conn, err := d.Open(ctx, config)
	if err != nil {
		return err
	}
	defer conn.Close()
	if p, ok := conn.(Pinger); ok {
		return p.Ping(ctx)
	}
	rows, err := conn.Query(ctx, "SELECT 1")
	if err != nil {
		return err
	}
	defer rows.Close()
	dest := make([]any, len(rows.Columns()))
	for {
		switch err := rows.Next(dest); err {
		case nil:
		case io.EOF:
			return rows.Close()
		default:
			return err
		}
	}
}
