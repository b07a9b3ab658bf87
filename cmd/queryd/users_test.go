package main

import (
	"context"
	"testing"
)

// createUser creates a user, member of the default group, and returns its
// id and API key.
func (e *testEnv) createUser(t testing.TB, email string, admin bool) (id int64, key string) {
	t.Helper()
	u, key, err := e.store.CreateUser(context.Background(), email, "", admin)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", email, err)
	}
	return u.ID, key
}
