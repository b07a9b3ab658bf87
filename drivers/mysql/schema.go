package mysql

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/queryd/queryd/drivers"
)

// schemaSQL lists every column of every table and view the user can see
// outside the system schemas, with a row of NULL columns for a table that
// shows none (a broken view). BINARY orders by bytes, as Go compares
// strings, not by the case-insensitive collation of information_schema.
const schemaSQL = `SELECT t.TABLE_SCHEMA, t.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE
FROM information_schema.TABLES AS t
LEFT JOIN information_schema.COLUMNS AS c
	ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME
WHERE t.TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
ORDER BY BINARY t.TABLE_SCHEMA, BINARY t.TABLE_NAME, c.ORDINAL_POSITION`

// Schema returns the tables and views the user can see in every schema but
// mysql, information_schema, performance_schema and sys, sorted by schema
// and name, each with its columns in table order typed by their COLUMN_TYPE
// ("int(11)", "decimal(12,2)", "enum('a','b')"). Its errors are those of
// Query.
func (c *conn) Schema(ctx context.Context) ([]drivers.Table, error) {
	rows, err := c.Query(ctx, schemaSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
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
		schema, _ := dest[0].(string)
		name, _ := dest[1].(string)
		if n := len(tables); n == 0 || tables[n-1].Schema != schema || tables[n-1].Name != name {
			tables = append(tables, drivers.Table{Schema: schema, Name: name, Columns: []drivers.TableColumn{}})
		}
		if dest[2] == nil {
			continue
		}
		col, ok1 := dest[2].(string)
		typ, ok2 := dest[3].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("mysql: schema of %s.%s: column %#v of type %#v, want strings", schema, name, dest[2], dest[3])
		}
		t := &tables[len(tables)-1]
		t.Columns = append(t.Columns, drivers.TableColumn{Name: col, Type: typ})
	}
	// The server sorted them already; this makes the promise independent
	// of its collation rules.
	slices.SortStableFunc(tables, func(a, b drivers.Table) int {
		return cmp.Or(cmp.Compare(a.Schema, b.Schema), cmp.Compare(a.Name, b.Name))
	})
	return tables, nil
}
