package store_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/queryd/queryd/store"
	"github.com/queryd/queryd/store/storetest"
)

type notification struct{ channel, payload string }

// listener runs Listen in the background on its own store, whose connections
// carry a unique application_name so that the test can find its backend.
type listener struct {
	appName     string
	notes       chan notification
	reconnected chan struct{}
	cancel      context.CancelFunc
	done        chan error
}

func startListener(t *testing.T, schemaURL string) *listener {
	t.Helper()
	u, err := url.Parse(schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{
		appName:     "queryd_listen_" + uuid.NewString()[:8],
		notes:       make(chan notification, 100),
		reconnected: make(chan struct{}, 10),
		done:        make(chan error, 1),
	}
	q := u.Query()
	q.Set("application_name", l.appName)
	u.RawQuery = q.Encode()
	ls, err := store.Open(context.Background(), u.String(), storetest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ls.Close)

	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	ready := make(chan struct{})
	go func() {
		l.done <- ls.Listen(ctx, []string{store.ChannelJobDone, store.ChannelJobCancel},
			func(channel, payload string) {
				select {
				case l.notes <- notification{channel, payload}:
				case <-ctx.Done():
				}
			},
			func() { l.reconnected <- struct{}{} },
			ready)
	}()
	t.Cleanup(func() {
		cancel()
		<-l.done
	})
	select {
	case <-ready:
	case err := <-l.done:
		t.Fatalf("Listen() = %v before it was ready", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Listen() not ready after 10s")
	}
	return l
}

// expect waits for want, skipping notifications of other tests (channels
// are shared by the whole database).
func (l *listener) expect(t *testing.T, want notification) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case n := <-l.notes:
			if n == want {
				return
			}
		case <-timeout:
			t.Fatalf("no notification %+v within 10s", want)
		}
	}
}

func TestListen(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	l := startListener(t, f.url)

	done := func(id string) notification { return notification{store.ChannelJobDone, id} }
	cancelled := func(id string) notification { return notification{store.ChannelJobCancel, id} }

	tests := []struct {
		name string
		run  func(t *testing.T) []notification
	}{
		{"FailJob", func(t *testing.T) []notification {
			j := f.jobIn(t, started)
			if err := f.s.FailJob(ctx, j.ID, "boom"); err != nil {
				t.Fatal(err)
			}
			return []notification{done(j.ID)}
		}},
		{"CompleteJob", func(t *testing.T) []notification {
			j := f.jobIn(t, started)
			if _, err := f.s.CompleteJob(ctx, j.ID, store.QueryResult{}); err != nil {
				t.Fatal(err)
			}
			return []notification{done(j.ID)}
		}},
		{"RequestCancel pending", func(t *testing.T) []notification {
			j := f.jobIn(t, pending)
			if _, err := f.s.RequestCancel(ctx, j.ID); err != nil {
				t.Fatal(err)
			}
			return []notification{done(j.ID)}
		}},
		{"RequestCancel started then FinishCancelled", func(t *testing.T) []notification {
			j := f.jobIn(t, started)
			if _, err := f.s.RequestCancel(ctx, j.ID); err != nil {
				t.Fatal(err)
			}
			if err := f.s.FinishCancelled(ctx, j.ID); err != nil {
				t.Fatal(err)
			}
			return []notification{cancelled(j.ID), done(j.ID)}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, want := range tc.run(t) {
				l.expect(t, want)
			}
		})
	}

	t.Run("reconnects", func(t *testing.T) {
		killed := count(t, f.s.Pool(), `
			SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1 AND query LIKE 'LISTEN %'`, l.appName)
		if killed != 1 {
			t.Fatalf("terminated %d listening backends, want 1", killed)
		}
		select {
		case <-l.reconnected:
		case <-time.After(10 * time.Second):
			t.Fatal("onReconnect not called within 10s of the backend's death")
		}
		j := f.jobIn(t, pending)
		if err := f.s.FailJob(ctx, j.ID, "boom"); err != nil {
			t.Fatal(err)
		}
		l.expect(t, done(j.ID))
	})

	t.Run("stops", func(t *testing.T) {
		l.cancel()
		select {
		case err := <-l.done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Listen() after cancel = %v, want context.Canceled", err)
			}
			l.done <- err // for the cleanup
		case <-time.After(10 * time.Second):
			t.Fatal("Listen() did not return within 10s of cancel")
		}
	})
}

// TestListenNeverReady checks Listen keeps trying until ctx is done when it
// cannot connect, and then returns ctx's error without closing ready.
func TestListenNeverReady(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://queryd:queryd@127.0.0.1:1/nowhere?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.New(pool, storetest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	tests := []struct {
		name    string
		timeout time.Duration
	}{
		{"expired before", 0},
		{"expires while retrying", 500 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			ready := make(chan struct{})
			err := s.Listen(ctx, []string{store.ChannelJobDone}, func(string, string) {}, nil, ready)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Listen(%s) = %v, want context.DeadlineExceeded", tc.name, err)
			}
			select {
			case <-ready:
				t.Errorf("Listen(%s) closed ready without a connection", tc.name)
			default:
			}
		})
	}
}
