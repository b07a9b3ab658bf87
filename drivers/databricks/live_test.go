package databricks

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/drivertest"
)

// TestLive runs against a real Databricks SQL warehouse when
// QUERYD_TEST_DATABRICKS_HOST, QUERYD_TEST_DATABRICKS_HTTP_PATH and
// QUERYD_TEST_DATABRICKS_TOKEN are set; it is skipped otherwise.
func TestLive(t *testing.T) {
	host := os.Getenv("QUERYD_TEST_DATABRICKS_HOST")
	path := os.Getenv("QUERYD_TEST_DATABRICKS_HTTP_PATH")
	token := os.Getenv("QUERYD_TEST_DATABRICKS_TOKEN")
	if host == "" || path == "" || token == "" {
		t.Skip("live Databricks test skipped: set QUERYD_TEST_DATABRICKS_HOST, QUERYD_TEST_DATABRICKS_HTTP_PATH and QUERYD_TEST_DATABRICKS_TOKEN to run it")
	}
	config, _ := json.Marshal(map[string]any{"host": host, "http_path": path, "http_password": token})
	conn, err := New().Open(t.Context(), config)
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	defer conn.Close()
	if err := conn.(drivers.Pinger).Ping(t.Context()); err != nil {
		t.Fatalf("Ping() error = %v", err)
	}
	if err := drivertest.Drain(t.Context(), conn, series(20_000)); err != io.EOF {
		t.Errorf("Drain(%q) = %v, want io.EOF", series(20_000), err)
	}
	if tables, err := conn.(drivers.Inspector).Schema(t.Context()); err != nil {
		t.Errorf("Schema() error = %v", err)
	} else {
		t.Logf("Schema() = %d tables", len(tables))
	}
	err = drivertest.Drain(t.Context(), conn, "SELEC 1")
	var qe *drivers.QueryError
	if !errors.As(err, &qe) {
		t.Errorf("Drain(SELEC 1) = %v (%T), want a *drivers.QueryError", err, err)
	} else {
		t.Logf("syntax error message: %q (SQLSTATE %s)", qe.Message, qe.Code)
	}
}
