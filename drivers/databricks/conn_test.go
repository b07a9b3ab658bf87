package databricks

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/drivertest"
)

func TestSessionOptionsReachWarehouse(t *testing.T) {
	srv := startFake(t)
	conn := openFake(t, srv, map[string]any{"catalog": "main", "schema": "sales", "statement_timeout": 30})
	if err := drivertest.Drain(t.Context(), conn, series(3)); err != io.EOF {
		t.Fatalf("Drain(%q) = %v, want io.EOF", series(3), err)
	}
	sessions := srv.OpenedSessions()
	if len(sessions) == 0 {
		t.Fatal("no session opened")
	}
	s := sessions[len(sessions)-1]
	if s.Catalog != "main" || s.Schema != "sales" {
		t.Errorf("OpenSession namespace = %q.%q, want main.sales", s.Catalog, s.Schema)
	}
	if got := s.Configuration["timezone"]; got != "UTC" {
		t.Errorf("OpenSession configuration timezone = %q, want UTC", got)
	}
	if got := srv.QueryTimeouts(); !slices.Equal(got, []int64{30}) {
		t.Errorf("ExecuteStatement queryTimeouts = %v, want [30]", got)
	}
	if n := srv.Calls("HTTP"); n != 0 {
		t.Errorf("requests other than Thrift calls to the HTTP path = %d, want 0 (telemetry and feature flags are off)", n)
	}
}

func TestPing(t *testing.T) {
	srv := startFake(t)
	conn := openFake(t, srv, nil)
	if err := conn.(drivers.Pinger).Ping(t.Context()); err != nil {
		t.Errorf("Ping() = %v, want nil", err)
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	srv := startFake(t)
	const wrong = "dapi-wrong-secret-4242"
	conn := openFake(t, srv, map[string]any{"http_password": wrong})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err := conn.Query(ctx, "SELECT 1")
	if err == nil {
		t.Fatal("Query with a wrong token succeeded")
	}
	t.Logf("Query with a wrong token: %v", err)
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("Query with a wrong token error = %q, contains the token", err)
	}
	var qe *drivers.QueryError
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "refused the access token") {
		t.Errorf("Query with a wrong token error = %v, want a *drivers.QueryError saying the token was refused", err)
	}
	if err := conn.(drivers.Pinger).Ping(ctx); err == nil || strings.Contains(err.Error(), wrong) {
		t.Errorf("Ping() with a wrong token = %v, want an error without the token", err)
	}
}

func TestCancelSendsCancelOperation(t *testing.T) {
	srv := startFake(t)
	conn := openFake(t, srv, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := drivertest.Drain(ctx, conn, "SELECT fake_sleep(30) AS slept /* cancel_me */")
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Drain of a sleep past its deadline = %v, want context.DeadlineExceeded", err)
	}
	t.Logf("Query returned %v after start (deadline 300ms)", took)
	if n := srv.Calls("CancelOperation"); n != 1 {
		t.Errorf("CancelOperation calls = %d, want 1", n)
	}
	if srv.Running("cancel_me") {
		t.Error("the statement still runs in the warehouse after the cancel")
	}
}

func TestMidStreamCancelClosesOperation(t *testing.T) {
	srv := startFake(t)
	conn := openFake(t, srv, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sql := series(1_000_000)
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		t.Fatalf("Query(%q) error = %v", sql, err)
	}
	defer rows.Close()
	dest := make([]any, 2)
	for range 100 {
		if err := rows.Next(dest); err != nil {
			t.Fatalf("Next() = %v", err)
		}
	}
	cancel()
	at := time.Now()
	for err == nil {
		err = rows.Next(dest)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Next() after cancel = %v, want context.Canceled", err)
	}
	t.Logf("Next failed %v after cancel", time.Since(at))
	deadline := time.Now().Add(time.Second)
	for srv.Running(sql) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if srv.Running(sql) {
		t.Error("the operation is still open in the warehouse 1s after the cancel")
	}
	if n := srv.Calls("CloseOperation"); n < 1 {
		t.Errorf("CloseOperation calls = %d, want at least 1", n)
	}
}

func TestOnlyThriftRefusesOtherRequests(t *testing.T) {
	tr := &onlyThrift{base: http.DefaultTransport, host: "h.example", path: "/sql/1.0/warehouses/x"}
	for _, u := range []string{
		"https://h.example/telemetry-ext",
		"https://h.example/api/2.0/connector-service/feature-flags/GOLANG/1.14.0",
		"https://other.example/sql/1.0/warehouses/x",
		"http://h.example/sql/1.0/warehouses/x",
	} {
		req, _ := http.NewRequest(http.MethodPost, u, nil)
		if _, err := tr.RoundTrip(req); !errors.Is(err, errRefused) {
			t.Errorf("RoundTrip(POST %s) error = %v, want errRefused", u, err)
		}
	}
}
