package api

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/store"
)

const userKey = "queryd.user"

// authenticate resolves the caller's API key — the api_key query parameter
// wins over the Authorization header ("Key <key>", or the bare key) — and
// rejects requests without a valid one with 401.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		key := c.QueryParam("api_key")
		if key == "" {
			h := c.Request().Header.Get(echo.HeaderAuthorization)
			key = strings.TrimSpace(strings.TrimPrefix(h, "Key "))
		}
		if key == "" {
			return &Error{Status: http.StatusUnauthorized, Message: "API key required: send it as 'Authorization: Key <key>' or the api_key query parameter."}
		}
		u, ok := s.keys.get(key)
		if !ok {
			var err error
			u, err = s.store.UserByAPIKey(c.Request().Context(), key)
			if errors.Is(err, store.ErrNotFound) {
				return &Error{Status: http.StatusUnauthorized, Message: "Invalid API key."}
			}
			if err != nil {
				return err
			}
			s.keys.put(key, u)
		}
		c.Set(userKey, u)
		return next(c)
	}
}

// keyCache remembers the users of recently verified API keys for a short
// time, keyed by the key's SHA-256 (never the key itself), so that a client
// polling or hitting the cache does not cost a database lookup per request.
// A revoked key or disabled user is refused at the latest ttl later.
type keyCache struct {
	ttl time.Duration

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedUser
}

type cachedUser struct {
	user    store.User
	expires time.Time
}

// maxCachedKeys bounds the cache; when full it starts over.
const maxCachedKeys = 10_000

func newKeyCache(ttl time.Duration) *keyCache {
	return &keyCache{ttl: ttl, entries: make(map[[sha256.Size]byte]cachedUser)}
}

func (k *keyCache) get(key string) (store.User, bool) {
	if k.ttl <= 0 {
		return store.User{}, false
	}
	h := sha256.Sum256([]byte(key))
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.entries[h]
	if !ok || time.Now().After(e.expires) {
		delete(k.entries, h)
		return store.User{}, false
	}
	return e.user, true
}

func (k *keyCache) put(key string, u store.User) {
	if k.ttl <= 0 {
		return
	}
	h := sha256.Sum256([]byte(key))
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.entries) >= maxCachedKeys {
		clear(k.entries)
	}
	k.entries[h] = cachedUser{user: u, expires: time.Now().Add(k.ttl)}
}

// currentUser is the authenticated caller.
func currentUser(c *echo.Context) store.User {
	u, _ := c.Get(userKey).(store.User)
	return u
}

// adminOnly lets only admins through.
func adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		if !currentUser(c).IsAdmin {
			return forbidden("Only admins may do this.")
		}
		return next(c)
	}
}

// useDataSource checks the caller may run queries on and read results of
// data source dsID; a data source the caller may not use must answer as if it
// did not exist. Every route that touches a data source, query, result or job
// asks here. Until groups narrow it, every enabled user (authenticate lets
// no other through) may use every data source.
func useDataSource(u store.User, dsID int64) error {
	return nil
}
