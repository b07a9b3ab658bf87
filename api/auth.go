package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/store"
)

const callerKey = "queryd.caller"

// authenticate resolves the caller's API key — the api_key query parameter
// wins over the Authorization header ("Key <key>", or the bare key) — to a
// user, a query or a dashboard, and rejects requests without a valid one
// with 401. A query or dashboard key is refused on routes it may not use.
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
		k, ok := s.keys.get(key)
		if !ok {
			var err error
			k, err = s.resolveKey(c.Request().Context(), key)
			if errors.Is(err, store.ErrNotFound) {
				return &Error{Status: http.StatusUnauthorized, Message: "Invalid API key."}
			}
			if err != nil {
				return err
			}
			s.keys.put(key, k)
		}
		c.Set(callerKey, k) // also for audit, when the route is refused
		if err := checkKeyRoute(c, k); err != nil {
			return err
		}
		return next(c)
	}
}

// resolveKey finds who key belongs to: an enabled user, else a query (not
// archived), else a shared dashboard (not archived) with the queries its
// widgets show. Anything else gives store.ErrNotFound.
func (s *Server) resolveKey(ctx context.Context, key string) (caller, error) {
	u, err := s.store.UserByAPIKey(ctx, key)
	if err == nil {
		access, err := s.store.DataSourceAccess(ctx, u.ID)
		if err != nil {
			return caller{}, err
		}
		return caller{user: u, access: access}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return caller{}, err
	}
	q, err := s.store.QueryByAPIKey(ctx, key)
	if err == nil {
		return caller{queryID: q.ID}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return caller{}, err
	}
	d, err := s.store.DashboardByAPIKey(ctx, key)
	if err != nil {
		return caller{}, err
	}
	ids, err := s.store.DashboardQueryIDs(ctx, d.ID)
	if err != nil {
		return caller{}, err
	}
	queries := make(map[int64]bool, len(ids))
	for _, id := range ids {
		queries[id] = true
	}
	return caller{dashboardID: d.ID, dashboardQueries: queries}, nil
}

// keyCache remembers whom recently verified API keys belong to, with their
// groups' access, for a short time, keyed by the key's SHA-256 (never the
// key itself), so that a client polling or hitting the cache does not cost a
// database lookup per request. A revoked key, a disabled user or a group
// change made through another process takes effect at the latest ttl later;
// changes made through this one clear the cache at once.
type keyCache struct {
	ttl time.Duration

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedCaller
}

type cachedCaller struct {
	caller  caller
	expires time.Time
}

// maxCachedKeys bounds the cache; when full it starts over.
const maxCachedKeys = 10_000

func newKeyCache(ttl time.Duration) *keyCache {
	return &keyCache{ttl: ttl, entries: make(map[[sha256.Size]byte]cachedCaller)}
}

func (k *keyCache) get(key string) (caller, bool) {
	if k.ttl <= 0 {
		return caller{}, false
	}
	h := sha256.Sum256([]byte(key))
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.entries[h]
	if !ok || time.Now().After(e.expires) {
		delete(k.entries, h)
		return caller{}, false
	}
	return e.caller, true
}

func (k *keyCache) put(key string, c caller) {
	if k.ttl <= 0 {
		return
	}
	h := sha256.Sum256([]byte(key))
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.entries) >= maxCachedKeys {
		clear(k.entries)
	}
	k.entries[h] = cachedCaller{caller: c, expires: time.Now().Add(k.ttl)}
}

// forget empties the cache, after a change to users, groups or keys.
func (k *keyCache) forget() {
	k.mu.Lock()
	defer k.mu.Unlock()
	clear(k.entries)
}

// currentUser is the authenticated user; the zero User for a query or
// dashboard key.
func currentUser(c *echo.Context) store.User { return currentCaller(c).user }

// adminOnly lets only admins through.
func adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		if !currentUser(c).IsAdmin {
			return forbidden("Only admins may do this.")
		}
		return next(c)
	}
}
