package mssql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/drivertest"
	"github.com/queryd/queryd/drivers/mssql/internal/fake"
)

// fakePassword needs escaping in a URL, so the tests also check the DSN.
const fakePassword = "s3cr3t p@ss/wörd?&=#"

// startFake starts a fake SQL Server that accepts the user "queryd" with
// fakePassword on the database "queryd_test".
func startFake(tb testing.TB) *fake.Server {
	tb.Helper()
	srv, err := fake.Start(fake.Config{User: "queryd", Password: fakePassword, Database: "queryd_test"})
	if err != nil {
		tb.Fatalf("fake.Start() error = %v", err)
	}
	tb.Cleanup(func() { srv.Close() })
	return srv
}

// fakeOptions are options for srv, with encryption disabled (the fake has
// no TLS), changed by edit.
func fakeOptions(srv *fake.Server, edit func(*Options)) Options {
	o := Options{Server: srv.Host(), Port: srv.Port(), User: "queryd", Password: fakePassword, DB: "queryd_test", Encrypt: "disable"}
	if edit != nil {
		edit(&o)
	}
	return o
}

// open opens a Conn with o and closes it when tb ends.
func open(tb testing.TB, o Options) drivers.Conn {
	tb.Helper()
	config, err := json.Marshal(o)
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := New().Open(context.Background(), config)
	if err != nil {
		tb.Fatalf("Open() error = %v", err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// typesCols and typesRow are what fake.TypesQuery must produce, on the fake
// and on a real SQL Server alike.
var (
	typesCols = []drivers.Column{
		{Name: "i", Type: drivers.TypeInteger, DatabaseType: "INT"},
		{Name: "big", Type: drivers.TypeInteger, DatabaseType: "BIGINT"},
		{Name: "small", Type: drivers.TypeInteger, DatabaseType: "SMALLINT"},
		{Name: "f", Type: drivers.TypeFloat, DatabaseType: "FLOAT"},
		{Name: "d", Type: drivers.TypeFloat, DatabaseType: "DECIMAL"},
		{Name: "m", Type: drivers.TypeFloat, DatabaseType: "MONEY"},
		{Name: "b", Type: drivers.TypeBoolean, DatabaseType: "BIT"},
		{Name: "s", Type: drivers.TypeString, DatabaseType: "NVARCHAR"},
		{Name: "g", Type: drivers.TypeString, DatabaseType: "UNIQUEIDENTIFIER"},
		{Name: "dt", Type: drivers.TypeDate, DatabaseType: "DATE"},
		{Name: "ts", Type: drivers.TypeDatetime, DatabaseType: "DATETIME2"},
		{Name: "tz", Type: drivers.TypeDatetime, DatabaseType: "DATETIMEOFFSET"},
		{Name: "tm", Type: drivers.TypeString, DatabaseType: "TIME"},
		{Name: "bin", Type: drivers.TypeString, DatabaseType: "VARBINARY"},
	}
	typesRow = []any{
		int64(42), int64(9007199254740993), int64(-7), 1.5,
		drivers.Decimal("-12345678901234567890.1234"), drivers.Decimal("12.5000"), true, "héllo, wörld",
		"6F9619FF-8B86-D011-B42D-00C04FC964FF",
		time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"2024-02-29T13:14:15.1234567",
		time.Date(2024, 2, 29, 13, 14, 15, 500000000, time.FixedZone("", 5*3600+30*60)),
		"13:14:15.25",
		[]byte{0xDE, 0xAD, 0xBE, 0xEF},
	}
)

// suite is the conformance suite's description of SQL Server; open and
// running are the warehouse's.
func suite(open func(tb testing.TB) drivers.Conn, running func(ctx context.Context, marker string) (bool, error)) drivertest.Suite {
	return drivertest.Suite{
		Open:      open,
		Types:     fake.TypesQuery,
		TypesCols: typesCols,
		TypesRow:  typesRow,
		Series:    func(n int) string { return fake.SeriesQuery(strconv.Itoa(n)) },
		Empty:     fake.EmptyQuery,
		EmptyCols: []drivers.Column{
			{Name: "n", Type: drivers.TypeInteger, DatabaseType: "INT"},
			{Name: "label", Type: drivers.TypeString, DatabaseType: "NVARCHAR"},
		},
		Sleep:          sleep,
		Running:        running,
		ReportsQueryID: true,
	}
}

// sleep is WAITFOR DELAY 'hh:mm:ss' -- marker.
func sleep(d time.Duration, marker string) string {
	s := int(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("WAITFOR DELAY '%02d:%02d:%02d' -- %s", s/3600, s/60%60, s%60, marker)
}

func TestConformanceFake(t *testing.T) {
	srv := startFake(t)
	s := suite(
		func(tb testing.TB) drivers.Conn { return open(tb, fakeOptions(srv, nil)) },
		func(ctx context.Context, marker string) (bool, error) { return srv.Running(marker), nil },
	)
	s.Bad, s.BadMessage = "SELEC n FROM t", "Incorrect syntax near 'SELEC'."
	s.SchemaTable = &drivers.Table{Schema: "dbo", Name: "orders", Columns: []drivers.TableColumn{
		{Name: "id", Type: "int"}, {Name: "amount", Type: "decimal"},
		{Name: "placed_at", Type: "datetime2"}, {Name: "note", Type: "nvarchar"},
	}}
	drivertest.Run(t, s)
}

func TestQueryParameters(t *testing.T) {
	srv := startFake(t)
	conn := open(t, fakeOptions(srv, nil))
	// With arguments the client library sends an RPC of sp_executesql.
	rows, err := conn.Query(t.Context(), fake.SeriesQuery("@p1"), int64(4))
	if err != nil {
		t.Fatalf("Query(series, 4) error = %v", err)
	}
	defer rows.Close()
	var got []any
	dest := make([]any, 2)
	for {
		err := rows.Next(dest)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next() error = %v", err)
		}
		got = append(got, dest[0])
	}
	if diff := cmp.Diff([]any{int64(1), int64(2), int64(3), int64(4)}, got); diff != "" {
		t.Errorf("Query(series, @p1 = 4) n values mismatch (-want +got):\n%s", diff)
	}
	// A string parameter reaches the server as NVARCHAR, which the fake
	// refuses where an INT is due, as SQL Server would.
	_, err = conn.Query(t.Context(), fake.SeriesQuery("@p1"), "4")
	var qe *drivers.QueryError
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "Operand type clash: string") {
		t.Errorf("Query(series, @p1 = \"4\") = %v, want a *drivers.QueryError about an operand type clash", err)
	}
}

func TestPing(t *testing.T) {
	srv := startFake(t)
	conn := open(t, fakeOptions(srv, nil))
	if err := conn.(drivers.Pinger).Ping(t.Context()); err != nil {
		t.Errorf("Ping() = %v, want nil", err)
	}
}

func TestStatementTimeout(t *testing.T) {
	srv := startFake(t)
	conn := open(t, fakeOptions(srv, func(o *Options) { o.StatementTimeout = 1 }))
	start := time.Now()
	err := drivertest.Drain(t.Context(), conn, sleep(30*time.Second, "timeout_marker"))
	var qe *drivers.QueryError
	if !errors.As(err, &qe) || qe.Code != "statement_timeout" {
		t.Fatalf("Sleep(30s) with statement_timeout 1 = %v (%T), want a *drivers.QueryError with code statement_timeout", err, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Sleep(30s) with statement_timeout 1 failed after %v, want about 1s", took)
	}
	deadline := time.Now().Add(time.Second)
	for srv.Running("timeout_marker") {
		if time.Now().After(deadline) {
			t.Fatal("the fake still runs the statement 1s after the timeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPasswordNeverInErrors(t *testing.T) {
	srv := startFake(t)
	const wrong = "wr0ng-Pässword-1234"
	tests := []struct {
		name  string
		opts  Options
		check func(t *testing.T, err error)
	}{
		{
			name: "wrong password",
			opts: fakeOptions(srv, func(o *Options) { o.Password = wrong }),
			check: func(t *testing.T, err error) {
				var qe *drivers.QueryError
				if !errors.As(err, &qe) || !strings.Contains(qe.Message, "Login failed for user 'queryd'") {
					t.Errorf("Query with a wrong password = %v, want a *drivers.QueryError saying the login failed", err)
				}
			},
		},
		{
			name:  "nothing listening",
			opts:  fakeOptions(srv, func(o *Options) { o.Port = closedPort(t); o.Password = wrong }),
			check: func(t *testing.T, err error) {},
		},
		{
			name: "encryption required by default",
			opts: fakeOptions(srv, func(o *Options) { o.Encrypt = ""; o.Password = wrong }),
			check: func(t *testing.T, err error) {
				if err == nil {
					t.Error("Query with the default encrypt on a server without TLS succeeded, want an error")
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn := open(t, tc.opts)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			err := drivertest.Drain(ctx, conn, "SELECT 1")
			if err == nil || err == io.EOF {
				t.Fatalf("Query() error = %v, want an error", err)
			}
			for _, secret := range []string{wrong, escapedPassword(wrong), fakePassword} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Query() error %q contains the password", err)
				}
			}
			tc.check(t, err)
		})
	}
}

// closedPort returns a local port nothing listens on.
func closedPort(tb testing.TB) int {
	tb.Helper()
	srv, err := fake.Start(fake.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	port := srv.Port()
	srv.Close()
	return port
}

// TestStopSendsAttention checks that each way of stopping a statement
// reaches the server as a TDS ATTENTION, and that the session survives it:
// the next statement runs on the same session (same SPID), with no new
// login.
func TestStopSendsAttention(t *testing.T) {
	srv := startFake(t)
	conn := open(t, fakeOptions(srv, func(o *Options) { o.MaxConnections = 1 }))
	series := fake.SeriesQuery("5000000")
	tests := []struct {
		name string
		stop func(t *testing.T, ctx context.Context) error
	}{
		{"cancel before rows", func(t *testing.T, ctx context.Context) error {
			ctx, cancel := context.WithCancel(ctx)
			go func() {
				for !srv.Running("attn_marker") {
					time.Sleep(10 * time.Millisecond)
				}
				cancel()
			}()
			return drivertest.Drain(ctx, conn, sleep(30*time.Second, "attn_marker"))
		}},
		{"cancel mid-stream", func(t *testing.T, ctx context.Context) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			rows, err := conn.Query(ctx, series)
			if err != nil {
				return err
			}
			defer rows.Close()
			dest := make([]any, 2)
			for range 100 {
				if err := rows.Next(dest); err != nil {
					return err
				}
			}
			cancel()
			for {
				if err := rows.Next(dest); err != nil {
					return err
				}
			}
		}},
		{"close early", func(t *testing.T, ctx context.Context) error {
			rows, err := conn.Query(ctx, series)
			if err != nil {
				return err
			}
			if err := rows.Next(make([]any, 2)); err != nil {
				return err
			}
			if err := rows.Close(); err != nil {
				return err
			}
			return context.Canceled
		}},
	}
	spid := func() string {
		var id string
		ctx := drivers.WithQueryIDFunc(t.Context(), func(q string) { id = q })
		if err := drivertest.Drain(ctx, conn, "SELECT 1"); err != io.EOF {
			t.Fatalf("SELECT 1 = %v, want io.EOF", err)
		}
		return id
	}
	first := spid()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Attentions()
			start := time.Now()
			err := tc.stop(t, t.Context())
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("stopped statement error = %v, want an error wrapping context.Canceled", err)
			}
			t.Logf("stopped within %v", time.Since(start))
			if got := srv.Attentions() - before; got != 1 {
				t.Errorf("ATTENTION packets received = %d, want 1", got)
			}
			if got := spid(); got != first {
				t.Errorf("next statement ran on session %s, want the same session %s", got, first)
			}
			if got := srv.Sessions(); got != 1 {
				t.Errorf("fake sessions = %d, want 1", got)
			}
		})
	}
}

// TestCompleteResultsSendNoAttention checks that reading a result to its end
// leaves nothing to cancel: no ATTENTION reaches the server.
func TestCompleteResultsSendNoAttention(t *testing.T) {
	srv := startFake(t)
	conn := open(t, fakeOptions(srv, nil))
	for i := range 200 {
		sql := fake.SeriesQuery(strconv.Itoa(i % 7))
		if err := drivertest.Drain(t.Context(), conn, sql); err != io.EOF {
			t.Fatalf("Drain(%q) = %v, want io.EOF", sql, err)
		}
	}
	if got := srv.Attentions(); got != 0 {
		t.Errorf("ATTENTION packets after 200 statements read to the end = %d, want 0", got)
	}
}
