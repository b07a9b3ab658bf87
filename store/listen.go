package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Backoff between attempts to re-establish a broken Listen connection.
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 5 * time.Second
)

// Listen holds one dedicated connection (outside the pool, with the pool's
// configuration) LISTENing on channels and calls fn(channel, payload) for
// each notification, one at a time, until ctx is done; then it returns
// ctx.Err(). ready (may be nil) is closed once the first LISTEN succeeded.
//
// When the connection breaks (or cannot be made) Listen retries with backoff
// from 100ms to 5s and calls onReconnect (may be nil) after each successful
// re-LISTEN: notifications sent while it was down are lost, so callers should
// re-check the state they wait on. Listen never gives up before ctx is done.
func (s *Store) Listen(ctx context.Context, channels []string, fn func(channel, payload string), onReconnect func(), ready chan<- struct{}) error {
	backoff := listenMinBackoff
	listened := false
	for {
		conn, err := s.listenConn(ctx, channels)
		if err == nil {
			if !listened {
				listened = true
				if ready != nil {
					close(ready)
				}
			} else if onReconnect != nil {
				onReconnect()
			}
			backoff = listenMinBackoff
			receive(ctx, conn, fn)
			closeConn(conn)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listenConn connects and LISTENs on channels.
func (s *Store) listenConn(ctx context.Context, channels []string) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			closeConn(conn)
			return nil, fmt.Errorf("listen on %s: %w", ch, err)
		}
	}
	return conn, nil
}

// receive calls fn for each notification on conn until conn breaks or ctx is
// done.
func receive(ctx context.Context, conn *pgx.Conn, fn func(channel, payload string)) {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return
		}
		fn(n.Channel, n.Payload)
	}
}

// closeConn closes conn, giving up on a polite goodbye after a second.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}
