package store

import (
	"bytes"
	"strings"
	"testing"
)

func TestNewSealerShortKey(t *testing.T) {
	for _, key := range []string{"", "short", strings.Repeat("k", 31)} {
		_, err := newSealer(key)
		const want = "QUERYD_SECRET_KEY must be at least 32 characters"
		if err == nil || err.Error() != want {
			t.Errorf("newSealer(%q) error = %v, want %q", key, err, want)
		}
	}
	if _, err := newSealer(strings.Repeat("k", 32)); err != nil {
		t.Errorf("newSealer(32 characters) error = %v, want nil", err)
	}
}

func newTestSealer(t *testing.T, key string) *sealer {
	t.Helper()
	s, err := newSealer(key)
	if err != nil {
		t.Fatalf("newSealer: %v", err)
	}
	return s
}

func TestSealRoundTrip(t *testing.T) {
	s := newTestSealer(t, "test-secret-key-0123456789abcdef0123456789")
	tests := []struct {
		name      string
		plaintext []byte
	}{
		{"empty", []byte{}},
		{"json", []byte(`{"host":"db","password":"hunter2"}`)},
		{"binary", bytes.Repeat([]byte{0, 1, 2, 255}, 1000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sealed := s.seal(tc.plaintext)
			if len(tc.plaintext) > 0 && bytes.Contains(sealed, tc.plaintext) {
				t.Errorf("seal(%q) contains the plaintext", tc.plaintext)
			}
			got, err := s.open(sealed)
			if err != nil || !bytes.Equal(got, tc.plaintext) {
				t.Errorf("open(seal(%q)) = %q, %v, want %q, nil", tc.plaintext, got, err, tc.plaintext)
			}
			if again := s.seal(tc.plaintext); bytes.Equal(again, sealed) {
				t.Errorf("seal(%q) twice gave the same bytes, want a fresh nonce each time", tc.plaintext)
			}
		})
	}
}

func TestSealTamper(t *testing.T) {
	s := newTestSealer(t, "test-secret-key-0123456789abcdef0123456789")
	plaintext := []byte(`{"password":"hunter2"}`)
	sealed := s.seal(plaintext)
	n := s.aead.NonceSize()
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name       string
		ciphertext []byte
	}{
		{"nonce byte flipped", flip(0)},
		{"ciphertext byte flipped", flip(n + 2)},
		{"tag byte flipped", flip(len(sealed) - 1)},
		{"truncated", sealed[:len(sealed)-1]},
		{"too short", sealed[:n]},
		{"extended", append(bytes.Clone(sealed), 0)},
		{"empty", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := s.open(tc.ciphertext); err == nil {
				t.Errorf("open(%x) = %q, nil, want an error", tc.ciphertext, got)
			}
		})
	}
	t.Run("other key", func(t *testing.T) {
		other := newTestSealer(t, "another-secret-key-0123456789abcdef0123456789")
		if got, err := other.open(sealed); err == nil {
			t.Errorf("open under another key = %q, nil, want an error", got)
		}
	})
}
