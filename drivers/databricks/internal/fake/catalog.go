package fake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// DefaultCatalog is the catalog of a session that names none.
const DefaultCatalog = "main"

// catalogs is the fake's fixed Unity Catalog content: per catalog, the rows
// of information_schema.columns (table_schema, table_name, column_name,
// full_data_type) in ORDER BY table_schema, table_name, ordinal_position
// order (UTF8_BINARY collation: "Orders" before "customers").
var catalogs = map[string][][4]string{
	"main": {
		{"default", "events", "id", "BIGINT"},
		{"default", "events", "name", "STRING"},
		{"default", "events", "amount", "DECIMAL(10,2)"},
		{"default", "events", "at", "TIMESTAMP"},
		{"default", "events", "tags", "ARRAY<STRING>"},
		{"sales", "Orders", "order_id", "INT"},
		{"sales", "Orders", "total", "DECIMAL(12,2)"},
		{"sales", "customers", "id", "BIGINT"},
		{"sales", "customers", "email", "STRING"},
	},
	"samples": {
		{"nyctaxi", "trips", "tpep_pickup_datetime", "TIMESTAMP"},
		{"nyctaxi", "trips", "fare_amount", "DOUBLE"},
	},
}

// schemaRE matches the one information_schema statement the fake answers,
// optionally reading a named catalog's information_schema.
var schemaRE = regexp.MustCompile(`^` +
	regexp.QuoteMeta("SELECT table_schema, table_name, column_name, full_data_type FROM ") +
	"(?:`((?:[^`]|``)+)`\\.)?" +
	regexp.QuoteMeta("information_schema.columns WHERE table_schema <> 'information_schema' ORDER BY table_schema, table_name, ordinal_position") +
	`$`)

// schemaColumns answers schemaRE's statement for catalog, or reports that
// the catalog does not exist.
func schemaColumns(catalog string) ([]column, int64, bool) {
	rows, ok := catalogs[catalog]
	if !ok {
		return nil, 0, false
	}
	never := func(int64) bool { return false }
	names := []string{"table_schema", "table_name", "column_name", "full_data_type"}
	cols := make([]column, len(names))
	for j, name := range names {
		cols[j] = column{name, typeString, func(start, n int64) strct {
			return tcolumn(7, make([]string, n), n, never, func(vs []string, i int64) { vs[i] = rows[start+i][j] })
		}}
	}
	return cols, int64(len(rows)), true
}

// Statement Execution API cancel endpoint: POST
// /api/2.0/sql/statements/<id>/cancel.
const (
	cancelPrefix = "/api/2.0/sql/statements/"
	cancelSuffix = "/cancel"
)

// cancelStatementPath returns the statement id of a cancel request's path.
func cancelStatementPath(path string) (string, bool) {
	id, ok := strings.CutPrefix(path, cancelPrefix)
	if !ok {
		return "", false
	}
	id, ok = strings.CutSuffix(id, cancelSuffix)
	return id, ok && id != "" && !strings.Contains(id, "/")
}

// serveCancel answers the Statement Execution API's cancel: it cancels the
// operation whose GUID, in its 8-4-4-4-12 text form, is id. The answer is
// 200 with "{}" when the statement exists (running or already ended, as the
// API only acknowledges the request), and 404 RESOURCE_DOES_NOT_EXIST when
// it does not.
func (s *Server) serveCancel(w http.ResponseWriter, r *http.Request, id string) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})
		return
	}
	s.mu.Lock()
	s.calls["CancelStatement"]++
	var found *operation
	for guid, op := range s.ops {
		if strings.EqualFold(guidText([]byte(guid)), id) {
			found = op
			break
		}
	}
	if found != nil {
		found.tick(time.Now())
		if found.state == stateRunning || found.state == stateFinished {
			found.state = stateCanceled
		}
	}
	s.mu.Unlock()
	if found == nil {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{
			"error_code": "RESOURCE_DOES_NOT_EXIST",
			"message":    fmt.Sprintf("Statement %s does not exist.", id),
		})
		return
	}
	w.Write([]byte("{}"))
}

// guidText is a 16-byte GUID in the 8-4-4-4-12 hex form the client library
// reports it in.
func guidText(b []byte) string {
	if len(b) != 16 {
		return fmt.Sprintf("%x", b)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
