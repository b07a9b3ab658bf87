package databricks

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/queryd/queryd/drivers"
)

func TestCancelQuery(t *testing.T) {
	srv := startFake(t)
	conn := openFake(t, srv, nil)
	ids := make(chan string, 1)
	ctx := drivers.WithQueryIDFunc(t.Context(), func(id string) {
		select {
		case ids <- id:
		default:
		}
	})
	done := make(chan error, 1)
	go func() {
		rows, err := conn.Query(ctx, "SELECT fake_sleep(30) AS slept /* cancel_by_id */")
		if err == nil {
			err = rows.Next(make([]any, 1))
			rows.Close()
		}
		done <- err
	}()
	var id string
	select {
	case id = <-ids:
	case err := <-done:
		t.Fatalf("Query ended (%v) before reporting a query id", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no query id reported")
	}
	other := openFake(t, srv, nil).(drivers.Canceler)
	at := time.Now()
	if err := other.CancelQuery(context.Background(), id); err != nil {
		t.Fatalf("CancelQuery(%q) = %v, want nil", id, err)
	}
	select {
	case err := <-done:
		t.Logf("statement cancelled by id failed %v after CancelQuery: %v", time.Since(at), err)
		var qe *drivers.QueryError
		if !errors.As(err, &qe) || !strings.Contains(qe.Message, "CANCELED") {
			t.Errorf("statement cancelled by id ended with %v, want a *drivers.QueryError naming the CANCELED state", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("statement cancelled by id still running 5s later")
	}
	if srv.Running("cancel_by_id") {
		t.Error("the statement still runs in the warehouse after CancelQuery")
	}
	if n := srv.Calls("CancelStatement"); n != 1 {
		t.Errorf("Statement Execution API cancel calls = %d, want 1", n)
	}
	if err := other.CancelQuery(t.Context(), id); err != nil {
		t.Errorf("CancelQuery(%q) of an ended statement = %v, want nil", id, err)
	}
}

func TestCancelQueryUnknownAndInvalidIDs(t *testing.T) {
	srv := startFake(t)
	c := openFake(t, srv, nil).(drivers.Canceler)
	const unknown = "01ef0000-0000-0000-0000-000000000000"
	if err := c.CancelQuery(t.Context(), unknown); err != nil {
		t.Errorf("CancelQuery(%q) of an unknown statement (HTTP 404) = %v, want nil", unknown, err)
	}
	for _, id := range []string{"", "abc", "../../../2.0/clusters/delete", unknown + "/x"} {
		if err := c.CancelQuery(t.Context(), id); err == nil {
			t.Errorf("CancelQuery(%q) = nil, want an error", id)
		}
	}
	if n := srv.Calls("CancelStatement"); n != 1 {
		t.Errorf("cancel requests that reached the warehouse = %d, want 1 (invalid ids are refused locally)", n)
	}
}

func TestCancelQueryTokenNeverInErrors(t *testing.T) {
	srv := startFake(t)
	const wrong = "dapi-wrong-secret-4242"
	c := openFake(t, srv, map[string]any{"http_password": wrong}).(drivers.Canceler)
	err := c.CancelQuery(t.Context(), "01ef0000-0000-0000-0000-000000000000")
	if err == nil {
		t.Fatal("CancelQuery with a wrong token = nil, want an error")
	}
	t.Logf("CancelQuery with a wrong token: %v", err)
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("CancelQuery with a wrong token error = %q, contains the token", err)
	}
	if !strings.Contains(err.Error(), "401") {
		t.Errorf("CancelQuery with a wrong token error = %q, want it to name HTTP 401", err)
	}
}

// recordTransport answers every request with 200 and remembers its URL.
type recordTransport struct{ urls []string }

func (r *recordTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.urls = append(r.urls, req.Method+" "+req.URL.String())
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Body: http.NoBody, Request: req}, nil
}

func TestOnlyThriftLetsThroughThriftAndCancel(t *testing.T) {
	base := &recordTransport{}
	tr := &onlyThrift{base: base, host: "h.example", path: "/sql/1.0/warehouses/x"}
	allowed := []string{
		"https://h.example/sql/1.0/warehouses/x",
		"https://h.example:8443/api/2.0/sql/statements/01ef1234-abcd-1234-abcd-0123456789ab/cancel",
	}
	for _, u := range allowed {
		req, _ := http.NewRequest(http.MethodPost, u, nil)
		if _, err := tr.RoundTrip(req); err != nil {
			t.Errorf("RoundTrip(POST %s) error = %v, want nil", u, err)
		}
	}
	refused := []struct{ method, url string }{
		{http.MethodGet, "https://h.example/api/2.0/sql/statements/01ef1234-abcd-1234-abcd-0123456789ab/cancel"},
		{http.MethodPost, "https://h.example/api/2.0/sql/statements/01ef1234-abcd-1234-abcd-0123456789ab"},
		{http.MethodPost, "https://h.example/api/2.0/sql/statements/not-a-guid/cancel"},
		{http.MethodPost, "https://h.example/api/2.0/sql/statements/01ef1234-abcd-1234-abcd-0123456789ab/x/cancel"},
		{http.MethodPost, "https://other.example/api/2.0/sql/statements/01ef1234-abcd-1234-abcd-0123456789ab/cancel"},
		{http.MethodPost, "http://h.example/api/2.0/sql/statements/01ef1234-abcd-1234-abcd-0123456789ab/cancel"},
	}
	for _, r := range refused {
		req, _ := http.NewRequest(r.method, r.url, nil)
		if _, err := tr.RoundTrip(req); !errors.Is(err, errRefused) {
			t.Errorf("RoundTrip(%s %s) error = %v, want errRefused", r.method, r.url, err)
		}
	}
	if len(base.urls) != len(allowed) {
		t.Errorf("requests passed on = %q, want %d", base.urls, len(allowed))
	}
}
