package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/queryd/queryd/drivers"
)

// Schema queries. Both list every table and view outside pg_catalog,
// information_schema, the TOAST schemas and the sessions' temporary schemas,
// one row per column in table order, and a row with NULL column fields for a
// table without columns.
const (
	// pgSchemaSQL reads pg_catalog: tables, partitioned tables, views,
	// materialized views and foreign tables the user may select from, with
	// PostgreSQL's own type names (format_type: "character varying(20)",
	// "numeric(12,2)", "integer[]").
	pgSchemaSQL = `SELECT n.nspname::text, c.relname::text, a.attname::text,
			format_type(a.atttypid, a.atttypmod)
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_catalog.pg_attribute a
			ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
			AND n.nspname NOT IN ('pg_catalog', 'information_schema')
			AND n.nspname NOT LIKE 'pg!_toast%' ESCAPE '!'
			AND n.nspname NOT LIKE 'pg!_temp!_%' ESCAPE '!'
			AND has_schema_privilege(n.oid, 'USAGE')
			AND has_any_column_privilege(c.oid, 'SELECT')
		ORDER BY 1, 2, a.attnum`

	// infoSchemaSQL reads information_schema alone, which Redshift and
	// PostgreSQL both have with these columns; the type name is put
	// together from them (see infoSchemaType).
	infoSchemaSQL = `SELECT t.table_schema::text, t.table_name::text, c.column_name::text,
			c.data_type::text, c.character_maximum_length::int, c.numeric_precision::int,
			c.numeric_scale::int, c.udt_name::text
		FROM information_schema.tables t
		LEFT JOIN information_schema.columns c
			ON c.table_schema = t.table_schema AND c.table_name = t.table_name
		WHERE t.table_type IN ('BASE TABLE', 'VIEW')
			AND t.table_schema NOT IN ('pg_catalog', 'information_schema')
			AND t.table_schema NOT LIKE 'pg!_toast%' ESCAPE '!'
			AND t.table_schema NOT LIKE 'pg!_temp!_%' ESCAPE '!'
		ORDER BY 1, 2, c.ordinal_position`
)

// Schema returns the tables and views the user can see, sorted by schema and
// name (byte order), each with its columns in table order typed as the
// warehouse names them. The PostgreSQL driver reads pg_catalog (so
// materialized views and foreign tables are included); the Redshift driver
// reads information_schema only, and names types as format_type would for
// the types Redshift has ("character varying(256)", "numeric(18,2)").
//
// Its errors are those of Query.
func (c *conn) Schema(ctx context.Context) ([]drivers.Table, error) {
	pc, err := c.pool.Acquire(ctx)
	if err != nil {
		return nil, c.connectError(ctx, err)
	}
	defer pc.Release()
	q := pgSchemaSQL
	if c.redshift {
		q = infoSchemaSQL
	}
	rows, err := pc.Conn().Query(ctx, q)
	if err != nil {
		return nil, c.queryError(ctx, err)
	}
	defer rows.Close()
	var tables []drivers.Table
	for rows.Next() {
		var (
			schema, table       string
			column, typ, udt    *string
			length, prec, scale *int32
		)
		dest := []any{&schema, &table, &column, &typ}
		if c.redshift {
			dest = append(dest, &length, &prec, &scale, &udt)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("postgres: schema: %w", err)
		}
		if n := len(tables); n == 0 || tables[n-1].Schema != schema || tables[n-1].Name != table {
			tables = append(tables, drivers.Table{Schema: schema, Name: table, Columns: []drivers.TableColumn{}})
		}
		if column == nil {
			continue
		}
		col := drivers.TableColumn{Name: *column, Type: deref(typ)}
		if c.redshift {
			col.Type = infoSchemaType(col.Type, length, prec, scale, deref(udt))
		}
		last := &tables[len(tables)-1]
		last.Columns = append(last.Columns, col)
	}
	if err := rows.Err(); err != nil {
		return nil, c.queryError(ctx, err)
	}
	slices.SortStableFunc(tables, func(a, b drivers.Table) int {
		return cmp.Or(strings.Compare(a.Schema, b.Schema), strings.Compare(a.Name, b.Name))
	})
	return tables, nil
}

// infoSchemaType names a column's type from information_schema.columns the
// way PostgreSQL's format_type does, for the types where they differ:
// lengths, precision and scale, arrays (by element type: "int4[]", not
// "integer[]") and user-defined types (by name).
func infoSchemaType(dataType string, length, prec, scale *int32, udt string) string {
	switch dataType {
	case "character varying", "character", "bit", "bit varying":
		if length != nil {
			return fmt.Sprintf("%s(%d)", dataType, *length)
		}
	case "numeric":
		if prec != nil && scale != nil {
			return fmt.Sprintf("numeric(%d,%d)", *prec, *scale)
		}
	case "ARRAY":
		return strings.TrimPrefix(udt, "_") + "[]"
	case "USER-DEFINED":
		return udt
	}
	return dataType
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
