package databricks

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

func TestSchema(t *testing.T) {
	tests := []struct {
		name  string
		extra map[string]any
		want  []drivers.Table
	}{
		{
			name: "session's default catalog",
			want: []drivers.Table{
				{Schema: "default", Name: "events", Columns: []drivers.TableColumn{
					{Name: "id", Type: "BIGINT"},
					{Name: "name", Type: "STRING"},
					{Name: "amount", Type: "DECIMAL(10,2)"},
					{Name: "at", Type: "TIMESTAMP"},
					{Name: "tags", Type: "ARRAY<STRING>"},
				}},
				// Byte order: "Orders" before "customers".
				{Schema: "sales", Name: "Orders", Columns: []drivers.TableColumn{
					{Name: "order_id", Type: "INT"},
					{Name: "total", Type: "DECIMAL(12,2)"},
				}},
				{Schema: "sales", Name: "customers", Columns: []drivers.TableColumn{
					{Name: "id", Type: "BIGINT"},
					{Name: "email", Type: "STRING"},
				}},
			},
		},
		{
			name:  "catalog option",
			extra: map[string]any{"catalog": "samples"},
			want: []drivers.Table{
				{Schema: "nyctaxi", Name: "trips", Columns: []drivers.TableColumn{
					{Name: "tpep_pickup_datetime", Type: "TIMESTAMP"},
					{Name: "fare_amount", Type: "DOUBLE"},
				}},
			},
		},
	}
	srv := startFake(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn := openFake(t, srv, tc.extra)
			got, err := conn.(drivers.Inspector).Schema(t.Context())
			if err != nil {
				t.Fatalf("Schema() error = %v, want nil", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Schema() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSchemaQuery(t *testing.T) {
	tests := []struct{ catalog, want string }{
		{"", "SELECT table_schema, table_name, column_name, full_data_type FROM information_schema.columns " +
			"WHERE table_schema <> 'information_schema' ORDER BY table_schema, table_name, ordinal_position"},
		{"my`cat", "SELECT table_schema, table_name, column_name, full_data_type FROM `my``cat`.information_schema.columns " +
			"WHERE table_schema <> 'information_schema' ORDER BY table_schema, table_name, ordinal_position"},
	}
	for _, tc := range tests {
		if got := schemaQuery(tc.catalog); got != tc.want {
			t.Errorf("schemaQuery(%q) = %q, want %q", tc.catalog, got, tc.want)
		}
	}
}

func TestSchemaUnknownCatalog(t *testing.T) {
	srv := startFake(t)
	conn := openFake(t, srv, map[string]any{"catalog": "nope"})
	_, err := conn.(drivers.Inspector).Schema(t.Context())
	var qe *drivers.QueryError
	if !errors.As(err, &qe) {
		t.Fatalf("Schema() in catalog nope = %v (%T), want a *drivers.QueryError", err, err)
	}
	t.Logf("Schema() in catalog nope: %v", err)
}
