package bigquery

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/queryd/queryd/drivers"
)

// TestLive runs the driver against BigQuery itself. It needs
// QUERYD_TEST_BIGQUERY_PROJECT (a project id) and
// QUERYD_TEST_BIGQUERY_KEYFILE (the path of a service account's JSON key
// that may run jobs and list datasets there); QUERYD_TEST_BIGQUERY_LOCATION
// optionally sets the processing location. It runs only cheap statements
// that read no table.
func TestLive(t *testing.T) {
	project := os.Getenv("QUERYD_TEST_BIGQUERY_PROJECT")
	keyFile := os.Getenv("QUERYD_TEST_BIGQUERY_KEYFILE")
	if project == "" || keyFile == "" {
		t.Skip("live BigQuery test skipped: set QUERYD_TEST_BIGQUERY_PROJECT and QUERYD_TEST_BIGQUERY_KEYFILE (path of a service account JSON key) to run it")
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatalf("read QUERYD_TEST_BIGQUERY_KEYFILE: %v", err)
	}
	cfg, _ := json.Marshal(map[string]any{
		"projectId":   project,
		"jsonKeyFile": base64.StdEncoding.EncodeToString(key),
		"location":    os.Getenv("QUERYD_TEST_BIGQUERY_LOCATION"),
		"loadSchema":  true,
	})
	dc, err := New().Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open(live) error = %v", err)
	}
	defer dc.Close()
	c := dc.(*conn)

	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping() = %v, want nil", err)
	}
	series := "SELECT n, CONCAT('label ', CAST(n AS STRING)) AS label FROM UNNEST(GENERATE_ARRAY(1, 1000)) AS n"
	var ids []string
	ctx := drivers.WithJobID(drivers.WithQueryIDFunc(t.Context(), func(id string) { ids = append(ids, id) }),
		fmt.Sprintf("live-%d", time.Now().UnixNano()))
	for attempt := range 2 { // the second attempt attaches to the first's job
		_, got, err := readAll(t, ctx, c, series)
		if err != nil {
			t.Fatalf("attempt %d: reading %q: %v", attempt+1, series, err)
		}
		var sum int64
		for _, r := range got {
			sum += r[0].(int64)
		}
		if len(got) != 1000 || sum != 500500 {
			t.Errorf("attempt %d: rows, sum = %d, %d, want 1000, 500500", attempt+1, len(got), sum)
		}
	}
	if len(ids) != 2 || ids[0] != ids[1] {
		t.Errorf("reported job ids = %q, want the same id twice", ids)
	}

	_, _, err = readAll(t, t.Context(), c, "SELEC 1")
	var qe *drivers.QueryError
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "Syntax error") {
		t.Errorf(`Query("SELEC 1") = %v, want a QueryError with BigQuery's syntax error`, err)
	}
	if _, err := c.Schema(t.Context()); err != nil {
		t.Errorf("Schema() = %v, want nil", err)
	}
}
