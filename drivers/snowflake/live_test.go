package snowflake

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

// TestLiveSnowflake runs a small query against a real Snowflake account. It
// runs only when QUERYD_TEST_SNOWFLAKE_ACCOUNT, _USER and _PASSWORD are set;
// _WAREHOUSE (default COMPUTE_WH), _DATABASE (default SNOWFLAKE_SAMPLE_DATA)
// and _ROLE are optional.
func TestLiveSnowflake(t *testing.T) {
	env := func(name, def string) string {
		if v := os.Getenv("QUERYD_TEST_SNOWFLAKE_" + name); v != "" {
			return v
		}
		return def
	}
	o := Options{
		Account: env("ACCOUNT", ""), User: env("USER", ""), Password: env("PASSWORD", ""),
		Warehouse: env("WAREHOUSE", "COMPUTE_WH"), Database: env("DATABASE", "SNOWFLAKE_SAMPLE_DATA"), Role: env("ROLE", ""),
		StatementTimeout: 60,
	}
	if o.Account == "" || o.User == "" || o.Password == "" {
		t.Skip("live Snowflake test skipped: set QUERYD_TEST_SNOWFLAKE_ACCOUNT, QUERYD_TEST_SNOWFLAKE_USER and QUERYD_TEST_SNOWFLAKE_PASSWORD to run it")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	conn, err := New().Open(ctx, mustJSON(t, o))
	if err != nil {
		t.Fatalf("Open(live) error = %v", err)
	}
	defer conn.Close()
	var queryID string
	qctx := drivers.WithQueryIDFunc(ctx, func(id string) { queryID = id })
	const sql = `SELECT 42::NUMBER(38,0) AS "i", 1.50::NUMBER(10,2) AS "d", 'x' AS "s", TRUE AS "b",
		'2024-02-29'::DATE AS "dt", '2024-02-29 13:14:15.5 +02:00'::TIMESTAMP_TZ AS "tz", NULL AS "n"`
	rows, err := conn.Query(qctx, sql)
	if err != nil {
		t.Fatalf("Query(live) error = %v", err)
	}
	defer rows.Close()
	dest := make([]any, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		t.Fatalf("Next() error = %v", err)
	}
	want := []any{int64(42), drivers.Decimal("1.50"), "x", true, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 13, 14, 15, 500_000_000, time.FixedZone("", 2*3600)), nil}
	if diff := cmp.Diff(want, dest, timeComparer); diff != "" {
		t.Errorf("live row mismatch (-want +got):\n%s", diff)
	}
	if err := rows.Next(dest); err != io.EOF {
		t.Errorf("second Next() = %v, want io.EOF", err)
	}
	if queryID == "" {
		t.Error("no query id reported")
	}
	if err := conn.(drivers.Canceler).CancelQuery(ctx, queryID); err != nil {
		t.Errorf("CancelQuery(ended statement %s) = %v, want nil", queryID, err)
	}
}
