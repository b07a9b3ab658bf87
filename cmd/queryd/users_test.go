package main

import (
	"context"
	"testing"
)

// createUser adds a user, admin or not, to the builtin group (which every
// new data source grants in full), and returns its id and API key.
func (e *testEnv) createUser(t testing.TB, email string, admin bool) (id int64, key string) {
	t.Helper()
	u, key, err := e.store.CreateUser(context.Background(), email, "", admin)
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u.ID, key
}
