package mysql

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

// TestSchema checks what Schema reports beyond the conformance suite:
// views, a broken view without columns, byte order of names the server's
// collation would sort otherwise, and no system schemas.
func TestSchema(t *testing.T) {
	conn := openTest(t, nil)
	suffix := fmt.Sprint(time.Now().UnixNano())
	upper := createTable(t, "Zeta_"+suffix, "b BIGINT UNSIGNED, a VARBINARY(16)")
	lower := createTable(t, "alpha_"+suffix, "x DOUBLE")
	view := createTable(t, "view_"+suffix, "x INT") // replaced by a view below
	broken := createTable(t, "broken_"+suffix, "x INT")
	db := openDB(testOptions(t))
	t.Cleanup(func() {
		if _, err := db.Exec("DROP VIEW IF EXISTS `" + view.Name + "`, `" + broken.Name + "`"); err != nil {
			t.Errorf("drop views: %v", err)
		}
		db.Close()
	})
	for _, s := range []string{
		"DROP TABLE `" + view.Name + "`",
		"CREATE VIEW `" + view.Name + "` AS SELECT x, x * 2 AS doubled FROM `" + lower.Name + "`",
		"DROP TABLE `" + broken.Name + "`",
		"CREATE TABLE `gone_" + suffix + "` (x INT)",
		"CREATE VIEW `" + broken.Name + "` AS SELECT x FROM `gone_" + suffix + "`",
		"DROP TABLE `gone_" + suffix + "`",
	} {
		if _, err := db.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}

	tables, err := conn.(drivers.Inspector).Schema(t.Context())
	if err != nil {
		t.Fatalf("Schema() error = %v, want nil", err)
	}
	upper.Columns = []drivers.TableColumn{{Name: "b", Type: "bigint(20) unsigned"}, {Name: "a", Type: "varbinary(16)"}}
	lower.Columns = []drivers.TableColumn{{Name: "x", Type: "double"}}
	view.Columns = []drivers.TableColumn{{Name: "x", Type: "double"}, {Name: "doubled", Type: "double"}}
	broken.Columns = []drivers.TableColumn{}
	var got []drivers.Table
	for _, tb := range tables {
		if slices.Contains([]string{"mysql", "information_schema", "performance_schema", "sys"}, tb.Schema) {
			t.Errorf("Schema() lists %s.%s, want no system schemas", tb.Schema, tb.Name)
		}
		if tb.Schema == upper.Schema && slices.Contains([]string{upper.Name, lower.Name, view.Name, broken.Name}, tb.Name) {
			got = append(got, tb)
		}
	}
	// Byte order: "Zeta" before "alpha", though the collation says otherwise.
	want := []drivers.Table{upper, lower, broken, view}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Schema() tables of this test mismatch (-want +got):\n%s", diff)
	}
}

func TestDialect(t *testing.T) {
	d := drivers.DialectOf(New())
	if d.TopLimit || d.DefaultConcurrency != 5 || d.StatementTimeout == "" {
		t.Errorf("DialectOf(mysql) = %+v, want LIMIT, 5 statements at once and a statement timeout", d)
	}
	if got, want := d.QuoteIdentifier("my`table"), "`my``table`"; got != want {
		t.Errorf("QuoteIdentifier(%q) = %q, want %q", "my`table", got, want)
	}
}
