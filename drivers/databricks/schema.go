package databricks

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/queryd/queryd/drivers"
)

// schemaSQL lists every column of every table and view in the current
// catalog's information_schema (Unity Catalog), one row per column in table
// order. full_data_type is the type as the column was declared
// ("DECIMAL(10,2)", "ARRAY<STRING>"); data_type would say only "DECIMAL" or
// "ARRAY".
const schemaSQL = "SELECT table_schema, table_name, column_name, full_data_type " +
	"FROM information_schema.columns " +
	"WHERE table_schema <> 'information_schema' " +
	"ORDER BY table_schema, table_name, ordinal_position"

// schemaQuery is schemaSQL reading catalog's information_schema, or the
// session's current catalog's when catalog is "".
func schemaQuery(catalog string) string {
	if catalog == "" {
		return schemaSQL
	}
	quoted := (&Driver{}).Dialect().QuoteIdentifier(catalog)
	return strings.Replace(schemaSQL, "FROM information_schema.", "FROM "+quoted+".information_schema.", 1)
}

// Schema returns the tables and views of the configured catalog (the
// session's default catalog when the catalog option is unset) that the
// user can see, as Unity Catalog's information_schema.columns lists them:
// sorted by schema and name in byte order, each with its columns in table
// order, typed by their declared type (full_data_type). It runs through
// Query, and its errors are Query's and Next's.
func (c *conn) Schema(ctx context.Context) ([]drivers.Table, error) {
	rows, err := c.Query(ctx, schemaQuery(c.opts.Catalog))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if n := len(rows.Columns()); n != 4 {
		return nil, fmt.Errorf("databricks: schema: information_schema.columns returned %d columns, want 4", n)
	}
	type key struct{ schema, name string }
	index := map[key]int{}
	var tables []drivers.Table
	dest := make([]any, 4)
	for {
		err := rows.Next(dest)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		schema, table, column, typ := text(dest[0]), text(dest[1]), text(dest[2]), text(dest[3])
		k := key{schema, table}
		i, ok := index[k]
		if !ok {
			i = len(tables)
			index[k] = i
			tables = append(tables, drivers.Table{Schema: schema, Name: table})
		}
		tables[i].Columns = append(tables[i].Columns, drivers.TableColumn{Name: column, Type: typ})
	}
	// The warehouse's collation may not be byte order; the contract is.
	slices.SortStableFunc(tables, func(a, b drivers.Table) int {
		return cmp.Or(cmp.Compare(a.Schema, b.Schema), cmp.Compare(a.Name, b.Name))
	})
	return tables, nil
}

// text is a STRING value from Next, or "" for NULL.
func text(v any) string {
	s, _ := v.(string)
	return s
}
