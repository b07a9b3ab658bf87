package api

import (
	"testing"
	"time"

	"github.com/queryd/queryd/store"
)

func TestKeyCache(t *testing.T) {
	u := caller{user: store.User{ID: 7, Email: "a@example.com"}}

	k := newKeyCache(50 * time.Millisecond)
	if _, ok := k.get("key"); ok {
		t.Fatal("get(key) on an empty cache = found, want not found")
	}
	k.put("key", u)
	if got, ok := k.get("key"); !ok || got.user.ID != u.user.ID {
		t.Errorf("get(key) = %+v, %v; want user 7", got, ok)
	}
	if _, ok := k.get("other"); ok {
		t.Error("get(other) = found, want not found")
	}
	time.Sleep(60 * time.Millisecond)
	if _, ok := k.get("key"); ok {
		t.Error("get(key) after the ttl = found, want expired")
	}

	off := newKeyCache(0)
	off.put("key", u)
	if _, ok := off.get("key"); ok {
		t.Error("get(key) with ttl 0 = found, want the cache off")
	}
}
