package databricks

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/databricks/internal/fake"
	"github.com/queryd/queryd/drivers/drivertest"
)

// testToken is the access token the fake warehouse accepts.
const testToken = "dapi-test-0123456789abcdef"

// startFake starts a fake warehouse for the test.
func startFake(t testing.TB) *fake.Server {
	t.Helper()
	srv := fake.New(testToken)
	t.Cleanup(srv.Close)
	return srv
}

// fakeOptions are options pointing at srv, with extra merged in.
func fakeOptions(srv *fake.Server, extra map[string]any) json.RawMessage {
	o := map[string]any{
		"host":          srv.Host(),
		"port":          srv.Port(),
		"http_path":     fake.HTTPPath,
		"http_password": testToken,
	}
	for k, v := range extra {
		o[k] = v
	}
	b, _ := json.Marshal(o)
	return b
}

// openFake opens a Conn on srv through a transport that trusts its
// certificate, and closes it when the test ends.
func openFake(t testing.TB, srv *fake.Server, extra map[string]any) drivers.Conn {
	t.Helper()
	d := &Driver{transport: srv.Transport()}
	conn, err := d.Open(t.Context(), fakeOptions(srv, extra))
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func series(n int) string {
	return fmt.Sprintf("SELECT id AS n, concat('label ', id) AS label FROM range(1, %d)", n+1)
}

func TestConformance(t *testing.T) {
	srv := startFake(t)
	drivertest.Run(t, drivertest.Suite{
		Open:  func(t testing.TB) drivers.Conn { return openFake(t, srv, nil) },
		Types: fake.TypesSQL,
		TypesCols: []drivers.Column{
			{Name: "tiny", Type: drivers.TypeInteger, DatabaseType: "TINYINT"},
			{Name: "small", Type: drivers.TypeInteger, DatabaseType: "SMALLINT"},
			{Name: "i", Type: drivers.TypeInteger, DatabaseType: "INT"},
			{Name: "big", Type: drivers.TypeInteger, DatabaseType: "BIGINT"},
			{Name: "f", Type: drivers.TypeFloat, DatabaseType: "FLOAT"},
			{Name: "d", Type: drivers.TypeFloat, DatabaseType: "DOUBLE"},
			{Name: "dec", Type: drivers.TypeFloat, DatabaseType: "DECIMAL"},
			{Name: "b", Type: drivers.TypeBoolean, DatabaseType: "BOOLEAN"},
			{Name: "s", Type: drivers.TypeString, DatabaseType: "STRING"},
			{Name: "dt", Type: drivers.TypeDate, DatabaseType: "DATE"},
			{Name: "ts", Type: drivers.TypeDatetime, DatabaseType: "TIMESTAMP"},
			{Name: "bin", Type: drivers.TypeString, DatabaseType: "BINARY"},
			{Name: "arr", Type: drivers.TypeString, DatabaseType: "ARRAY"},
			{Name: "m", Type: drivers.TypeString, DatabaseType: "MAP"},
			{Name: "st", Type: drivers.TypeString, DatabaseType: "STRUCT"},
		},
		TypesRow: []any{
			int64(1), int64(2), int64(3), int64(4), 1.5, 2.25,
			drivers.Decimal("12345678901234567890.123456789"), true, "héllo",
			time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
			time.Date(2024, 2, 29, 12, 34, 56, 123456000, time.UTC),
			[]byte{0xde, 0xad, 0xbe, 0xef}, "[1,2,3]", `{"a":1}`, `{"x":1,"y":"z"}`,
		},
		Series: series,
		Empty:  series(0),
		EmptyCols: []drivers.Column{
			{Name: "n", Type: drivers.TypeInteger, DatabaseType: "BIGINT"},
			{Name: "label", Type: drivers.TypeString, DatabaseType: "STRING"},
		},
		Sleep: func(d time.Duration, marker string) string {
			return fmt.Sprintf("SELECT fake_sleep(%g) AS slept /* %s */", d.Seconds(), marker)
		},
		Running: func(_ context.Context, marker string) (bool, error) {
			return srv.Running(marker), nil
		},
		Bad:        "SELEC 1",
		BadMessage: "[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'",
		SchemaTable: &drivers.Table{Schema: "default", Name: "events", Columns: []drivers.TableColumn{
			{Name: "id", Type: "BIGINT"},
			{Name: "name", Type: "STRING"},
			{Name: "amount", Type: "DECIMAL(10,2)"},
			{Name: "at", Type: "TIMESTAMP"},
			{Name: "tags", Type: "ARRAY<STRING>"},
		}},
		ReportsQueryID: true,
	})
}
