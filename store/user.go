package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is a person (or a service) that calls the API with an API key.
type User struct {
	ID         int64
	Email      string
	Name       string
	IsAdmin    bool
	DisabledAt *time.Time // nil while the user may sign in
	CreatedAt  time.Time
}

const userColumns = `users.id, users.email, users.name, users.is_admin, users.disabled_at, users.created_at`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.IsAdmin, &u.DisabledAt, &u.CreatedAt)
	return u, err
}

// CreateUser creates a user, member of the builtin group, and one API key for
// it, and returns the key in clear: this is the only time it is visible,
// since only its SHA-256 is stored. name defaults to the part of email before '@'. An email already
// taken, compared case-insensitively, gives ErrConflict.
func (s *Store) CreateUser(ctx context.Context, email, name string, isAdmin bool) (User, string, error) {
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	key := newAPIKey()
	var u User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `
			INSERT INTO users (email, name, is_admin) VALUES ($1, $2, $3)
			RETURNING `+userColumns, email, name, isAdmin))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			WITH k AS (INSERT INTO api_keys (user_id, key_hash) VALUES ($1, $2))
			INSERT INTO group_members (group_id, user_id) SELECT id, $1 FROM groups WHERE builtin`,
			u.ID, hashAPIKey(key))
		return err
	})
	if pgCode(err) == uniqueViolation {
		return User{}, "", fmt.Errorf("create user: email %q is already taken: %w", email, ErrConflict)
	}
	if err != nil {
		return User{}, "", fmt.Errorf("create user: %w", err)
	}
	return u, key, nil
}

// CreateAPIKey adds an API key to the user with email (case-insensitive)
// and returns the user and the key in clear, the only time it is visible.
// No such user gives ErrNotFound.
func (s *Store) CreateAPIKey(ctx context.Context, email string) (User, string, error) {
	key := newAPIKey()
	u, err := scanUser(s.pool.QueryRow(ctx, `
		WITH u AS (SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)),
		k AS (INSERT INTO api_keys (user_id, key_hash) SELECT id, $2 FROM u)
		SELECT id, email, name, is_admin, disabled_at, created_at FROM u`, email, hashAPIKey(key)))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, "", fmt.Errorf("create api key: no user %q: %w", email, ErrNotFound)
	}
	if err != nil {
		return User{}, "", fmt.Errorf("create api key: %w", err)
	}
	return u, key, nil
}

// UserByAPIKey returns the enabled user owning key. An unknown key or a
// disabled user gives ErrNotFound.
func (s *Store) UserByAPIKey(ctx context.Context, key string) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `
		SELECT `+userColumns+`
		FROM api_keys JOIN users ON users.id = api_keys.user_id
		WHERE api_keys.key_hash = $1 AND users.disabled_at IS NULL`, hashAPIKey(key)))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("user by api key: %w", ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("user by api key: %w", err)
	}
	return u, nil
}

// User returns the user with id, disabled or not. Missing gives ErrNotFound.
func (s *Store) User(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("user %d: %w", id, err)
	}
	return u, nil
}

const apiKeyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newAPIKey returns 40 random alphanumeric characters (about 238 bits).
func newAPIKey() string {
	const n = 40
	// Rejection sampling keeps every character equally likely: 248 is the
	// largest multiple of 62 that fits in a byte.
	key := make([]byte, 0, n)
	buf := make([]byte, 64)
	for len(key) < n {
		rand.Read(buf) // never fails
		for _, b := range buf {
			if b < 248 && len(key) < n {
				key = append(key, apiKeyAlphabet[b%62])
			}
		}
	}
	return string(key)
}

// hashAPIKey is what api_keys.key_hash holds for key: its SHA-256 in hex.
func hashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Users returns every user, by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY lower(name), id`)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (User, error) { return scanUser(row) })
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return users, nil
}

// UpdateUser sets the email, name and is_admin of user u.ID. An email
// already taken gives ErrConflict, a missing user ErrNotFound.
func (s *Store) UpdateUser(ctx context.Context, u User) (User, error) {
	updated, err := scanUser(s.pool.QueryRow(ctx, `
		UPDATE users SET email = $2, name = $3, is_admin = $4 WHERE id = $1 RETURNING `+userColumns,
		u.ID, u.Email, u.Name, u.IsAdmin))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return User{}, fmt.Errorf("update user %d: %w", u.ID, ErrNotFound)
	case pgCode(err) == uniqueViolation:
		return User{}, fmt.Errorf("update user %d: email %q is already taken: %w", u.ID, u.Email, ErrConflict)
	case err != nil:
		return User{}, fmt.Errorf("update user %d: %w", u.ID, err)
	}
	return updated, nil
}

// SetUserDisabled disables user id (its API keys stop working) or enables
// it again. A missing user gives ErrNotFound.
func (s *Store) SetUserDisabled(ctx context.Context, id int64, disabled bool) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `
		UPDATE users SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END
		WHERE id = $1 RETURNING `+userColumns, id, disabled))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("disable user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("disable user %d: %w", id, err)
	}
	return u, nil
}

// RegenerateAPIKey replaces every API key of user id with a new one and
// returns it in clear, the only time it is visible. A missing user gives
// ErrNotFound.
func (s *Store) RegenerateAPIKey(ctx context.Context, id int64) (string, error) {
	key := newAPIKey()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM api_keys WHERE user_id = $1`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (user_id, key_hash) VALUES ($1, $2)`, id, hashAPIKey(key))
		return err
	})
	if pgCode(err) == foreignKeyViolation {
		return "", fmt.Errorf("regenerate api key of user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("regenerate api key of user %d: %w", id, err)
	}
	return key, nil
}
