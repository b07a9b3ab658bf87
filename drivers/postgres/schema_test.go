package postgres

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

// TestSchema checks both drivers' Schema on tables and views of a schema of
// the test's own, and that system schemas are left out.
func TestSchema(t *testing.T) {
	setup := openTest(t, nil)
	s := createSchema(t, setup)
	for _, sql := range []string{
		`CREATE TABLE ` + s + `."B table" (id int4, tags text[], bits bit(3), price numeric, dropped int, code char(2))`,
		`ALTER TABLE ` + s + `."B table" DROP COLUMN dropped`,
		`CREATE TABLE ` + s + `.a_empty ()`,
		`CREATE VIEW ` + s + `.c_view AS SELECT id, price FROM ` + s + `."B table"`,
		`CREATE MATERIALIZED VIEW ` + s + `.d_matview AS SELECT 1::int8 AS one`,
		`CREATE TEMPORARY TABLE schema_test_temp (x int)`,
	} {
		exec(t, setup, sql)
	}
	bTable := func(tags, bits, price, code string) drivers.Table {
		return drivers.Table{Schema: s, Name: "B table", Columns: []drivers.TableColumn{
			{Name: "id", Type: "integer"}, {Name: "tags", Type: tags}, {Name: "bits", Type: bits},
			{Name: "price", Type: price}, {Name: "code", Type: code},
		}}
	}
	empty := drivers.Table{Schema: s, Name: "a_empty", Columns: []drivers.TableColumn{}}
	view := drivers.Table{Schema: s, Name: "c_view", Columns: []drivers.TableColumn{{Name: "id", Type: "integer"}, {Name: "price", Type: "numeric"}}}
	tests := []struct {
		name   string
		driver *Driver
		want   []drivers.Table
	}{
		{
			name:   "pg",
			driver: New(),
			want: []drivers.Table{bTable("text[]", "bit(3)", "numeric", "character(2)"), empty, view,
				{Schema: s, Name: "d_matview", Columns: []drivers.TableColumn{{Name: "one", Type: "bigint"}}}},
		},
		{
			// information_schema has no materialized views.
			name:   "redshift",
			driver: NewRedshift(),
			want:   []drivers.Table{bTable("text[]", "bit(3)", "numeric", "character(2)"), empty, view},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn := openTestDriver(t, tc.driver, nil)
			all, err := conn.(drivers.Inspector).Schema(t.Context())
			if err != nil {
				t.Fatalf("Schema() error = %v, want nil", err)
			}
			var got []drivers.Table
			for i, tb := range all {
				if tb.Schema == s {
					got = append(got, tb)
				}
				if tb.Schema == "pg_catalog" || tb.Schema == "information_schema" || strings.HasPrefix(tb.Schema, "pg_toast") || strings.HasPrefix(tb.Schema, "pg_temp") {
					t.Errorf("Schema() lists %s.%s, want no system or temporary schema", tb.Schema, tb.Name)
				}
				if i > 0 && (all[i-1].Schema > tb.Schema || all[i-1].Schema == tb.Schema && all[i-1].Name >= tb.Name) {
					t.Errorf("Schema() lists %s.%s after %s.%s, want sorted by schema and name", tb.Schema, tb.Name, all[i-1].Schema, all[i-1].Name)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Schema() tables of %s mismatch (-want +got):\n%s", s, diff)
			}
		})
	}
}
