package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// createUser makes a user (an admin when admin) through the store and
// returns its id and API key. New users join the builtin group.
func (e *testEnv) createUser(t testing.TB, email string, admin bool) (int64, string) {
	t.Helper()
	u, key, err := e.store.CreateUser(context.Background(), email, "", admin)
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u.ID, key
}

// builtinGroupID is the id of the group every user joins.
func (e *testEnv) builtinGroupID(t testing.TB) int64 {
	t.Helper()
	gs, err := e.store.Groups(context.Background())
	if err != nil || len(gs) == 0 || !gs[0].Builtin {
		t.Fatalf("Groups() = %+v, %v; want the builtin group first", gs, err)
	}
	return gs[0].ID
}

// TestUsersAndGroups walks an admin through giving a new member a data
// source view-only, and checks what users may do to themselves.
func TestUsersAndGroups(t *testing.T) {
	e := startEnv(t, true)
	var u struct {
		ID     int64
		APIKey string `json:"api_key"`
		Groups []int64
	}
	e.do("POST", "/api/users", map[string]any{"email": "ann@example.com", "name": "Ann"}, http.StatusOK, &u)
	if len(u.APIKey) != 40 || len(u.Groups) != 1 || u.Groups[0] != e.builtinGroupID(t) {
		t.Fatalf("POST /api/users = %+v, want a 40-character key and the builtin group", u)
	}
	ann := u.APIKey
	as := func(key, method, path string, body any, want int) []byte {
		t.Helper()
		status, b := e.requestWithKey(method, path, body, key)
		if status != want {
			t.Fatalf("%s %s = %d %s, want %d", method, path, status, b, want)
		}
		return b
	}

	// Take the data source from everyone, then give it back to Ann's
	// group view-only.
	def := e.builtinGroupID(t)
	e.do("DELETE", fmt.Sprintf("/api/groups/%d/data_sources/%d", def, e.dsID), nil, http.StatusNoContent, nil)
	as(ann, "GET", fmt.Sprintf("/api/data_sources/%d", e.dsID), nil, http.StatusNotFound)
	var g struct{ ID int64 }
	e.do("POST", "/api/groups", map[string]any{"name": "Readers"}, http.StatusOK, &g)
	e.do("POST", "/api/groups", map[string]any{"name": "readers"}, http.StatusBadRequest, nil)
	e.do("POST", fmt.Sprintf("/api/groups/%d/members", g.ID), map[string]any{"user_id": u.ID}, http.StatusOK, nil)
	e.do("POST", fmt.Sprintf("/api/groups/%d/data_sources", g.ID), map[string]any{"data_source_id": e.dsID, "view_only": true}, http.StatusOK, nil)
	var ds struct {
		ViewOnly bool           `json:"view_only"`
		Options  map[string]any `json:"options"`
	}
	if err := json.Unmarshal(as(ann, "GET", fmt.Sprintf("/api/data_sources/%d", e.dsID), nil, http.StatusOK), &ds); err != nil || !ds.ViewOnly || ds.Options != nil {
		t.Errorf("GET data source as a view-only member = %+v, %v; want view_only and no options", ds, err)
	}
	b := as(ann, "POST", "/api/query_results", map[string]any{"data_source_id": e.dsID, "query": "SELECT 1"}, http.StatusForbidden)
	if !strings.Contains(string(b), "You do not have permission to run queries with this data source.") {
		t.Errorf("ad hoc query as a view-only member = %s, want Redash's permission message", b)
	}
	var group struct {
		Members     []struct{ ID int64 }
		DataSources []struct {
			ID       int64
			ViewOnly bool `json:"view_only"`
		} `json:"data_sources"`
	}
	if err := json.Unmarshal(as(ann, "GET", fmt.Sprintf("/api/groups/%d", g.ID), nil, http.StatusOK), &group); err != nil ||
		len(group.Members) != 1 || group.Members[0].ID != u.ID || len(group.DataSources) != 1 || !group.DataSources[0].ViewOnly {
		t.Errorf("GET group as its member = %+v, %v; want Ann and the data source view-only", group, err)
	}
	var session struct {
		User        struct{ ID int64 }
		DataSources map[string]string `json:"data_sources"`
	}
	if err := json.Unmarshal(as(ann, "GET", "/api/session", nil, http.StatusOK), &session); err != nil ||
		session.User.ID != u.ID || session.DataSources[strconv.FormatInt(e.dsID, 10)] != "view_only" {
		t.Errorf("GET /api/session as Ann = %+v, %v; want Ann, view_only on data source %d", session, err, e.dsID)
	}

	// What Ann may and may not do to herself.
	as(ann, "POST", fmt.Sprintf("/api/users/%d", u.ID), map[string]any{"name": "Ann B"}, http.StatusOK)
	as(ann, "POST", fmt.Sprintf("/api/users/%d", u.ID), map[string]any{"is_admin": true}, http.StatusForbidden)
	as(ann, "POST", fmt.Sprintf("/api/users/%d", u.ID), map[string]any{"email": "not an address"}, http.StatusBadRequest)
	as(ann, "POST", fmt.Sprintf("/api/groups/%d", def), map[string]any{"name": "x"}, http.StatusForbidden)
	if err := json.Unmarshal(as(ann, "POST", fmt.Sprintf("/api/users/%d/regenerate_api_key", u.ID), nil, http.StatusOK), &u); err != nil || len(u.APIKey) != 40 || u.APIKey == ann {
		t.Fatalf("regenerate own key = %+v, %v; want a new key", u, err)
	}
	as(ann, "GET", "/api/session", nil, http.StatusUnauthorized)
	ann = u.APIKey
	as(ann, "GET", "/api/session", nil, http.StatusOK)

	// Admins: the builtin group stays; disabling stops the key at once.
	e.do("POST", fmt.Sprintf("/api/groups/%d", def), map[string]any{"name": "everyone"}, http.StatusBadRequest, nil)
	e.do("DELETE", fmt.Sprintf("/api/groups/%d", def), nil, http.StatusBadRequest, nil)
	var admin struct{ User struct{ ID int64 } }
	e.do("GET", "/api/session", nil, http.StatusOK, &admin)
	e.do("POST", fmt.Sprintf("/api/users/%d/disable", admin.User.ID), nil, http.StatusBadRequest, nil)
	e.do("POST", fmt.Sprintf("/api/users/%d/disable", u.ID), nil, http.StatusOK, nil)
	as(ann, "GET", "/api/session", nil, http.StatusUnauthorized)
	e.do("DELETE", fmt.Sprintf("/api/users/%d/disable", u.ID), nil, http.StatusOK, nil)
	as(ann, "GET", "/api/session", nil, http.StatusOK)
	e.do("DELETE", fmt.Sprintf("/api/groups/%d/members/%d", g.ID, u.ID), nil, http.StatusNoContent, nil)
	as(ann, "GET", fmt.Sprintf("/api/data_sources/%d", e.dsID), nil, http.StatusNotFound)
}
