package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/store"
)

func TestObjectType(t *testing.T) {
	tests := []struct{ route, want string }{
		{"/api/queries", "query"},
		{"/api/queries/:id/refresh", "query"},
		{"/api/dashboards/:id", "dashboard"},
		{"/api/data_sources/:id/test", "data_source"},
		{"/api/users/:id/regenerate_api_key", "user"},
		{"/api/groups/:id/members/:user_id", "group"},
		{"/api/widgets/:id", "widget"},
		{"/api/visualizations", "visualization"},
		{"/api/jobs/:id", "job"},
		{"/api/session", "session"},
		{"/api/access", "access"},
	}
	for _, tc := range tests {
		if got := objectType(tc.route); got != tc.want {
			t.Errorf("objectType(%q) = %q, want %q", tc.route, got, tc.want)
		}
	}
}

func TestCreatedID(t *testing.T) {
	tests := []struct{ head, want string }{
		{`{"id":12,"name":"q"}`, "12"},
		{`{"name":"q","options":{"id":3},"id":12}`, "12"},
		{`{"id":"abc-1"}`, "abc-1"},
		{`{"name":"q","id":12`, "12"},                          // cut after the id
		{`{"name":"a long name that was cut before the i`, ""}, // cut before it
		{`{"query":{"id":5}}`, ""},                             // not top-level
		{`{"id":{"x":1}}`, ""},
		{`{"id":"` + strings.Repeat("x", 101) + `"}`, ""},
		{`[{"id":1}]`, ""},
		{`not json`, ""},
		{``, ""},
	}
	for _, tc := range tests {
		if got := createdID([]byte(tc.head)); got != tc.want {
			t.Errorf("createdID(%s) = %q, want %q", tc.head, got, tc.want)
		}
	}
}

func TestAuditFilter(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2024, 5, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		query   string
		want    store.AuditFilter
		wantErr string // part of the 400's message
	}{
		{"", store.AuditFilter{Size: 100}, ""},
		{"fromDate=2024-05-01&toDate=2024-05-03", store.AuditFilter{From: day(1), To: day(4), Size: 100}, ""},
		{"fromDate=2024-05-01&toDate=2024-05-01", store.AuditFilter{From: day(1), To: day(2), Size: 100}, ""},
		{"fromDate=2024-05-01T10:00:00Z&toDate=2024-05-01T12:00:00.5%2B02:00",
			store.AuditFilter{From: day(1).Add(10 * time.Hour), To: day(1).Add(10*time.Hour + 500001*time.Microsecond), Size: 100}, ""},
		{"fetchAfter=42&size=1", store.AuditFilter{After: 42, Size: 1}, ""},
		{"size=1000", store.AuditFilter{Size: 1000}, ""},
		{"size=0", store.AuditFilter{}, "size must be a whole number from 1 to 1000"},
		{"size=1001", store.AuditFilter{}, "size must be a whole number from 1 to 1000"},
		{"size=ten", store.AuditFilter{}, "size must be"},
		{"fromDate=yesterday", store.AuditFilter{}, "fromDate must be a date (YYYY-MM-DD) or an RFC 3339 time"},
		{"toDate=2024-13-01", store.AuditFilter{}, "toDate must be a date"},
		{"fromDate=2024-05-02&toDate=2024-05-01", store.AuditFilter{}, "fromDate must not be after toDate"},
		{"fetchAfter=-1", store.AuditFilter{}, `fetchAfter must be the "next" cursor`},
		{"fetchAfter=abc", store.AuditFilter{}, `fetchAfter must be the "next" cursor`},
	}
	e := echo.New()
	for _, tc := range tests {
		c := e.NewContext(httptest.NewRequest(http.MethodGet, "/api/audit_logs?"+tc.query, nil), httptest.NewRecorder())
		got, err := auditFilter(c)
		if tc.wantErr != "" {
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.Contains(apiErr.Message, tc.wantErr) {
				t.Errorf("auditFilter(%s) error = %v, want a 400 with %q", tc.query, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("auditFilter(%s) error = %v, want nil", tc.query, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("auditFilter(%s) diff (-want +got):\n%s", tc.query, diff)
		}
	}
}
