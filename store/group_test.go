package store_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/store"
)

// builtinGroup returns the "default" group.
func builtinGroup(t testing.TB, s *store.Store) store.Group {
	t.Helper()
	gs, err := s.Groups(context.Background())
	if err != nil || len(gs) == 0 || !gs[0].Builtin || gs[0].Name != "default" {
		t.Fatalf("Groups() = %+v, %v; want the builtin default group first", gs, err)
	}
	return gs[0]
}

func TestDataSourceAccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	def := builtinGroup(t, f.s)

	// New users join default, which new data sources are granted to in full.
	access, err := f.s.DataSourceAccess(ctx, f.user.ID)
	if diff := cmp.Diff(map[int64]store.Access{f.ds.ID: store.FullAccess}, access); err != nil || diff != "" {
		t.Fatalf("DataSourceAccess(new user) error = %v, diff (-want +got):\n%s", err, diff)
	}

	analysts, err := f.s.CreateGroup(ctx, "Analysts")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CreateGroup(ctx, "analysts"); !errIs(err, store.ErrConflict) {
		t.Errorf("CreateGroup(analysts) twice error = %v, want ErrConflict", err)
	}
	other := createDataSource(t, f.s)
	steps := []struct {
		name string
		do   func() error
		want map[int64]store.Access
	}{
		{"revoke from default", func() error { return f.s.RevokeDataSource(ctx, def.ID, f.ds.ID) },
			map[int64]store.Access{other.ID: store.FullAccess}},
		{"view-only through a group the user is not in", func() error { return f.s.GrantDataSource(ctx, analysts.ID, f.ds.ID, true) },
			map[int64]store.Access{other.ID: store.FullAccess}},
		{"join the group", func() error { return f.s.AddGroupMember(ctx, analysts.ID, f.user.ID) },
			map[int64]store.Access{f.ds.ID: store.ViewOnly, other.ID: store.FullAccess}},
		{"joining twice does nothing", func() error { return f.s.AddGroupMember(ctx, analysts.ID, f.user.ID) },
			map[int64]store.Access{f.ds.ID: store.ViewOnly, other.ID: store.FullAccess}},
		{"full in another group wins", func() error { return f.s.GrantDataSource(ctx, def.ID, f.ds.ID, false) },
			map[int64]store.Access{f.ds.ID: store.FullAccess, other.ID: store.FullAccess}},
		{"leave default", func() error { return f.s.RemoveGroupMember(ctx, def.ID, f.user.ID) },
			map[int64]store.Access{f.ds.ID: store.ViewOnly}},
		{"delete the group", func() error { return f.s.DeleteGroup(ctx, analysts.ID) },
			map[int64]store.Access{}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := f.s.DataSourceAccess(ctx, f.user.ID)
		if diff := cmp.Diff(st.want, got); err != nil || diff != "" {
			t.Errorf("after %s: DataSourceAccess error = %v, diff (-want +got):\n%s", st.name, err, diff)
		}
	}

	if err := f.s.RemoveGroupMember(ctx, def.ID, f.user.ID); !errIs(err, store.ErrNotFound) {
		t.Errorf("RemoveGroupMember(not a member) error = %v, want ErrNotFound", err)
	}
	if err := f.s.AddGroupMember(ctx, def.ID, f.user.ID+1000); !errIs(err, store.ErrNotFound) {
		t.Errorf("AddGroupMember(missing user) error = %v, want ErrNotFound", err)
	}
	if err := f.s.GrantDataSource(ctx, def.ID, other.ID+1000, false); !errIs(err, store.ErrNotFound) {
		t.Errorf("GrantDataSource(missing data source) error = %v, want ErrNotFound", err)
	}
	if err := f.s.DeleteGroup(ctx, def.ID); !errIs(err, store.ErrConflict) {
		t.Errorf("DeleteGroup(default) error = %v, want ErrConflict", err)
	}
	if _, err := f.s.RenameGroup(ctx, def.ID, "everyone"); !errIs(err, store.ErrConflict) {
		t.Errorf("RenameGroup(default) error = %v, want ErrConflict", err)
	}
	if _, err := f.s.RenameGroup(ctx, analysts.ID, "x"); !errIs(err, store.ErrNotFound) {
		t.Errorf("RenameGroup(deleted) error = %v, want ErrNotFound", err)
	}
	groups, err := f.s.DataSourceGroups(ctx, f.ds.ID)
	if diff := cmp.Diff(map[int64]bool{def.ID: false}, groups); err != nil || diff != "" {
		t.Errorf("DataSourceGroups error = %v, diff (-want +got):\n%s", err, diff)
	}
}

func TestRegenerateAPIKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, old, err := f.s.CreateAPIKey(ctx, f.user.Email)
	if err != nil {
		t.Fatal(err)
	}
	key, err := f.s.RegenerateAPIKey(ctx, f.user.ID)
	if err != nil || len(key) != 40 {
		t.Fatalf("RegenerateAPIKey = %q, %v; want a 40-character key", key, err)
	}
	if _, err := f.s.UserByAPIKey(ctx, old); !errIs(err, store.ErrNotFound) {
		t.Errorf("UserByAPIKey(old key) error = %v, want ErrNotFound", err)
	}
	if u, err := f.s.UserByAPIKey(ctx, key); err != nil || u.ID != f.user.ID {
		t.Errorf("UserByAPIKey(new key) = %d, %v; want user %d", u.ID, err, f.user.ID)
	}
	if _, err := f.s.SetUserDisabled(ctx, f.user.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.UserByAPIKey(ctx, key); !errIs(err, store.ErrNotFound) {
		t.Errorf("UserByAPIKey(disabled user) error = %v, want ErrNotFound", err)
	}
	if u, err := f.s.SetUserDisabled(ctx, f.user.ID, false); err != nil || u.DisabledAt != nil {
		t.Errorf("SetUserDisabled(false) = %+v, %v; want enabled", u, err)
	}
	if _, err := f.s.RegenerateAPIKey(ctx, f.user.ID+1000); !errIs(err, store.ErrNotFound) {
		t.Errorf("RegenerateAPIKey(missing user) error = %v, want ErrNotFound", err)
	}
}

func TestQueryAPIKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	q, err := f.s.CreateQuery(ctx, store.Query{Name: "q", Query: "SELECT 1", QueryHash: "h", DataSourceID: &f.ds.ID, UserID: f.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.QueryByAPIKey(ctx, q.APIKey); err != nil || got.ID != q.ID {
		t.Errorf("QueryByAPIKey(its key) = %d, %v; want query %d", got.ID, err, q.ID)
	}
	re, err := f.s.RegenerateQueryAPIKey(ctx, q.ID)
	if err != nil || re.APIKey == q.APIKey || len(re.APIKey) != 40 {
		t.Fatalf("RegenerateQueryAPIKey = %q, %v; want a new 40-character key", re.APIKey, err)
	}
	if _, err := f.s.QueryByAPIKey(ctx, q.APIKey); !errIs(err, store.ErrNotFound) {
		t.Errorf("QueryByAPIKey(old key) error = %v, want ErrNotFound", err)
	}
	if got, err := f.s.Query(ctx, q.ID); err != nil || got.APIKey != re.APIKey {
		t.Errorf("Query(%d).APIKey = %q, %v; want the new key", q.ID, got.APIKey, err)
	}
	// The key is sealed at rest: the column never holds it in clear.
	if n := count(t, f.s.Pool(), `SELECT count(*) FROM queries WHERE position($1::bytea IN api_key_sealed) > 0`, []byte(re.APIKey)); n != 0 {
		t.Errorf("the query's API key is stored in clear")
	}
}
