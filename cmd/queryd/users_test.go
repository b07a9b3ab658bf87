package main

import (
	"context"
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
