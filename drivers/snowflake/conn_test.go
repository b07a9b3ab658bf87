package snowflake

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/drivertest"
)

// waitFor polls cond every 10 ms until it holds or 10 s pass.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCancelSendsAbortRequest checks that cancelling ctx while Snowflake runs
// a statement stops it with an abort request, reports its query id first,
// and returns ctx's error.
func TestCancelSendsAbortRequest(t *testing.T) {
	srv := startFake(t)
	conn := openFake(t, srv, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var mu sync.Mutex
	var ids []string
	ctx = drivers.WithQueryIDFunc(ctx, func(id string) {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, id)
	})
	const marker = "abort_me"
	errc := make(chan error, 1)
	go func() { errc <- drivertest.Drain(ctx, conn, sleepSQL(30*time.Second, marker)) }()
	waitFor(t, "Sleep running", func() bool { return srv.Running(marker) })
	waitFor(t, "query id reported", func() bool { mu.Lock(); defer mu.Unlock(); return len(ids) > 0 })
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Query(Sleep) after cancel = %v, want an error wrapping context.Canceled", err)
	}
	if got := srv.EndedBy(marker); got != "abort request" {
		t.Errorf("Sleep statement ended by %q, want %q", got, "abort request")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 1 || ids[0] == "" {
		t.Errorf("reported query ids = %q, want one id", ids)
	}
}

// TestCancelQueryBySystemCancel checks that CancelQuery, from another Conn,
// stops the statement with SYSTEM$CANCEL_QUERY, and that the statement's
// Query fails with Snowflake's message.
func TestCancelQueryBySystemCancel(t *testing.T) {
	srv := startFake(t)
	conn := openFake(t, srv, nil)
	ids := make(chan string, 1)
	ctx := drivers.WithQueryIDFunc(t.Context(), func(id string) { ids <- id })
	const marker = "cancel_me_by_id"
	errc := make(chan error, 1)
	go func() { errc <- drivertest.Drain(ctx, conn, sleepSQL(30*time.Second, marker)) }()
	id := <-ids
	if err := openFake(t, srv, nil).(drivers.Canceler).CancelQuery(t.Context(), id); err != nil {
		t.Fatalf("CancelQuery(%q) error = %v, want nil", id, err)
	}
	err := <-errc
	var qe *drivers.QueryError
	if !errors.As(err, &qe) || qe.Message != "SQL execution canceled" || qe.Code != "000604" {
		t.Errorf("Query(Sleep) cancelled by id = %v, want a QueryError 000604 %q", err, "SQL execution canceled")
	}
	if got := srv.EndedBy(marker); got != "SYSTEM$CANCEL_QUERY" {
		t.Errorf("Sleep statement ended by %q, want %q", got, "SYSTEM$CANCEL_QUERY")
	}
	for _, bad := range []string{"", "x'); DROP TABLE t; --", strings.Repeat("a", 65)} {
		if err := conn.(drivers.Canceler).CancelQuery(t.Context(), bad); err == nil {
			t.Errorf("CancelQuery(%q) = nil, want an error", bad)
		}
	}
}

// TestCloseEarlyStopsDownloads checks that closing Rows mid-result abandons
// the result's download rather than fetching it to the end.
func TestCloseEarlyStopsDownloads(t *testing.T) {
	srv := startFake(t)
	conn := openFake(t, srv, nil)
	sql := seriesSQL(5_000_000)
	rows, err := conn.Query(t.Context(), sql)
	if err != nil {
		t.Fatalf("Query(%q) error = %v", sql, err)
	}
	dest := make([]any, 2)
	for range 5000 {
		if err := rows.Next(dest); err != nil {
			t.Fatalf("Next() error = %v", err)
		}
	}
	rows.Close()
	waitFor(t, "download abandoned", func() bool { return !srv.Running(sql) })
	if got := srv.EndedBy(sql); got != "abandoned download" && got != "idle download" {
		t.Errorf("statement closed early ended by %q, want an abandoned or idle download", got)
	}
}

// TestStatementTimeout checks that statement_timeout reaches Snowflake as
// STATEMENT_TIMEOUT_IN_SECONDS and its error is a QueryError, and that
// sessions ask for JSON results.
func TestStatementTimeout(t *testing.T) {
	srv := startFake(t)
	conn := openFake(t, srv, func(o *Options) { o.StatementTimeout = 1 })
	err := drivertest.Drain(t.Context(), conn, sleepSQL(5*time.Second, "timeout"))
	var qe *drivers.QueryError
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "timeout of 1 second(s)") {
		t.Errorf("Query(Sleep 5s) with statement_timeout 1 = %v, want a QueryError about the timeout", err)
	}
	for name, want := range map[string]string{"STATEMENT_TIMEOUT_IN_SECONDS": "1", "GO_QUERY_RESULT_FORMAT": "JSON"} {
		if got, ok := srv.SessionParam(name); !ok || got != want {
			t.Errorf("session parameter %s = %q (set %t), want %q", name, got, ok, want)
		}
	}
}

func TestLoginErrors(t *testing.T) {
	srv := startFake(t)
	key := newKey(t)
	srv.AddKeyUser("keyed", &key.PublicKey)
	otherKey := newKey(t)
	tests := []struct {
		name     string
		edit     func(*Options)
		wantMsg  string
		noSecret string
	}{
		{
			name:     "wrong password",
			edit:     func(o *Options) { o.Password = "wrong-Pa55word" },
			wantMsg:  "Incorrect username or password was specified.",
			noSecret: "wrong-Pa55word",
		},
		{
			name:     "wrong private key",
			edit:     func(o *Options) { o.User, o.Password, o.PrivateKey = "keyed", "", pemKey(t, otherKey) },
			wantMsg:  "JWT token is invalid.",
			noSecret: "PRIVATE KEY",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn := openFake(t, srv, tc.edit)
			err := conn.(drivers.Pinger).Ping(t.Context())
			var qe *drivers.QueryError
			if !errors.As(err, &qe) || qe.Message != tc.wantMsg {
				t.Fatalf("Ping() = %v, want a QueryError %q", err, tc.wantMsg)
			}
			if strings.Contains(err.Error(), tc.noSecret) {
				t.Errorf("Ping() error %q contains the secret", err)
			}
			_, err = conn.Query(t.Context(), "SELECT 1")
			if err == nil || strings.Contains(err.Error(), tc.noSecret) {
				t.Errorf("Query() error = %v, want an error without the secret", err)
			}
		})
	}
}

func TestPrivateKeyLogin(t *testing.T) {
	srv := startFake(t)
	key := newKey(t)
	srv.AddKeyUser("keyed", &key.PublicKey)
	for _, format := range []string{"pkcs8", "pkcs1", "pkcs8 on one line"} {
		t.Run(format, func(t *testing.T) {
			text := pemKey(t, key)
			switch format {
			case "pkcs1":
				text = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
			case "pkcs8 on one line":
				text = strings.ReplaceAll(text, "\n", " ")
			}
			conn := openFake(t, srv, func(o *Options) { o.User, o.Password, o.PrivateKey = "keyed", "", text })
			if err := conn.(drivers.Pinger).Ping(t.Context()); err != nil {
				t.Fatalf("Ping() with a %s private key = %v, want nil", format, err)
			}
		})
	}
}

// TestRegistryTest runs "test connection" the way the API does.
func TestRegistryTest(t *testing.T) {
	srv := startFake(t)
	reg := drivers.NewRegistry()
	reg.Register("snowflake", New())
	if err := reg.Test(t.Context(), "snowflake", mustJSON(t, fakeOptions(srv))); err != nil {
		t.Errorf("Registry.Test(fake Snowflake) = %v, want nil", err)
	}
	// Closing the Conn logs its sessions out.
	waitFor(t, "sessions logged out", func() bool { return srv.Sessions() == 0 })
}

func TestLowerCaseColumns(t *testing.T) {
	srv := startFake(t)
	conn := openFake(t, srv, func(o *Options) { o.LowerCaseColumns = true })
	rows, err := conn.Query(t.Context(), typesSQL+" LIMIT 0")
	if err != nil {
		t.Fatalf("Query() error = %v", err)
	}
	defer rows.Close()
	if got := rows.Columns()[0].Name; got != "i" {
		t.Errorf("first column with lower_case_columns = %q, want %q", got, "i")
	}
}

func TestSchemaTables(t *testing.T) {
	srv := startFake(t)
	tables, err := openFake(t, srv, nil).(drivers.Inspector).Schema(t.Context())
	if err != nil {
		t.Fatalf("Schema() error = %v", err)
	}
	var got []string
	for _, tb := range tables {
		got = append(got, tb.Schema+"."+tb.Name)
	}
	if diff := cmp.Diff([]string{"ANALYTICS.DAILY_TOTALS", "PUBLIC.ALL_TYPES", "PUBLIC.EVENTS"}, got); diff != "" {
		t.Errorf("Schema() tables mismatch (-want +got):\n%s", diff)
	}
}

// TestStreamingMemory reads 600,000 rows (60 result chunks) and checks the heap stays flat:
// the client library holds a few result chunks at a time, not the result.
func TestStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 600,000 rows")
	}
	srv := startFake(t)
	conn := openFake(t, srv, nil)
	rows, err := conn.Query(t.Context(), seriesSQL(600_000))
	if err != nil {
		t.Fatalf("Query() error = %v", err)
	}
	defer rows.Close()
	const limit = 32 << 20 // the whole result would take well over 50 MiB
	var peak uint64
	var ms runtime.MemStats
	dest := make([]any, 2)
	for i := 0; ; i++ {
		err := rows.Next(dest)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next() on row %d: %v", i+1, err)
		}
		if i%50_000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	if peak > limit {
		t.Errorf("heap while streaming 600,000 rows peaked at %d MiB, want under %d MiB", peak>>20, limit>>20)
	}
	t.Logf("heap peaked at %d MiB", peak>>20)
}

func newKey(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatalf("rsa.GenerateKey: %v", err)
	}
	return key
}

// pemKey is key in PKCS#8 PEM.
func pemKey(tb testing.TB, key *rsa.PrivateKey) string {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatalf("x509.MarshalPKCS8PrivateKey: %v", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
