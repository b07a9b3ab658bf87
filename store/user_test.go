package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/store"
	"github.com/queryd/queryd/store/storetest"
)

func TestCreateUser(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	keyPattern := regexp.MustCompile(`^[A-Za-z0-9]{40}$`)

	tests := []struct {
		name, email, userName string
		isAdmin               bool
		wantName              string
	}{
		{"name given", "ann@example.com", "Ann A.", true, "Ann A."},
		{"name from email", "bob.b@example.com", "", false, "bob.b"},
		{"email without at", "carol", "", false, "carol"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, key, err := s.CreateUser(ctx, tc.email, tc.userName, tc.isAdmin)
			if err != nil {
				t.Fatalf("CreateUser(%q, %q) error = %v", tc.email, tc.userName, err)
			}
			if u.Name != tc.wantName || u.Email != tc.email || u.IsAdmin != tc.isAdmin || u.DisabledAt != nil {
				t.Errorf("CreateUser(%q, %q, %v) = %+v, want name %q", tc.email, tc.userName, tc.isAdmin, u, tc.wantName)
			}
			if !keyPattern.MatchString(key) {
				t.Errorf("CreateUser(%q) key = %q, want 40 alphanumeric characters", tc.email, key)
			}

			got, err := s.UserByAPIKey(ctx, key)
			if diff := cmp.Diff(u, got); err != nil || diff != "" {
				t.Errorf("UserByAPIKey(key) error = %v, diff (-created +got):\n%s", err, diff)
			}
			got, err = s.User(ctx, u.ID)
			if diff := cmp.Diff(u, got); err != nil || diff != "" {
				t.Errorf("User(%d) error = %v, diff (-created +got):\n%s", u.ID, err, diff)
			}

			// Only the hash is stored: the key appears nowhere in the table.
			if n := count(t, s.Pool(), `SELECT count(*) FROM api_keys WHERE strpos(api_keys::text, $1) > 0`, key); n != 0 {
				t.Errorf("rows of api_keys containing the raw key = %d, want 0", n)
			}
			sum := sha256.Sum256([]byte(key))
			if n := count(t, s.Pool(), `SELECT count(*) FROM api_keys WHERE user_id = $1 AND key_hash = $2`,
				u.ID, hex.EncodeToString(sum[:])); n != 1 {
				t.Errorf("api_keys rows of user %d with key_hash sha256(key) = %d, want 1", u.ID, n)
			}
		})
	}
}

func TestCreateUserDuplicateEmail(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	if _, _, err := s.CreateUser(ctx, "dup@example.com", "", false); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"dup@example.com", "DUP@Example.COM"} {
		if _, _, err := s.CreateUser(ctx, email, "", false); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateUser(%q) error = %v, want ErrConflict", email, err)
		}
	}
	if n := count(t, s.Pool(), `SELECT count(*) FROM users`); n != 1 {
		t.Errorf("users after duplicate CreateUser = %d, want 1", n)
	}
	if n := count(t, s.Pool(), `SELECT count(*) FROM api_keys`); n != 1 {
		t.Errorf("api_keys after duplicate CreateUser = %d, want 1 (no orphan key)", n)
	}
}

func TestUserByAPIKeyNotFound(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	u, key, err := s.CreateUser(ctx, "gone@example.com", "", false)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, s.Pool(), `UPDATE users SET disabled_at = now() WHERE id = $1`, u.ID)

	tests := []struct{ name, key string }{
		{"disabled user", key},
		{"unknown key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"empty key", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := s.UserByAPIKey(ctx, tc.key); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("UserByAPIKey(%q) = %+v, %v, want ErrNotFound", tc.key, got, err)
			}
		})
	}

	// The disabled user still exists.
	got, err := s.User(ctx, u.ID)
	if err != nil || got.DisabledAt == nil {
		t.Errorf("User(%d) = %+v, %v, want the user with DisabledAt set", u.ID, got, err)
	}
	if got, err := s.User(ctx, u.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("User(%d) = %+v, %v, want ErrNotFound", u.ID+1000, got, err)
	}
}

func TestCreateAPIKey(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	u, first, err := s.CreateUser(ctx, "Key.Owner@example.com", "", false)
	if err != nil {
		t.Fatal(err)
	}
	got, second, err := s.CreateAPIKey(ctx, "key.owner@EXAMPLE.com")
	if err != nil || got.ID != u.ID || second == "" || second == first {
		t.Fatalf("CreateAPIKey = %+v, %q, %v; want user %d with a new key", got, second, err, u.ID)
	}
	for _, key := range []string{first, second} {
		if owner, err := s.UserByAPIKey(ctx, key); err != nil || owner.ID != u.ID {
			t.Errorf("UserByAPIKey(key) = %+v, %v; want user %d: both keys work", owner, err, u.ID)
		}
	}
	if _, _, err := s.CreateAPIKey(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateAPIKey(unknown email) error = %v, want ErrNotFound", err)
	}
}
