package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// sealInfo binds the derived key to its one use; a new format gets a new info.
const sealInfo = "queryd data source options v1"

// sealer encrypts data source options at rest with AES-256-GCM under a key
// derived from QUERYD_SECRET_KEY.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(secretKey string) (*sealer, error) {
	if len(secretKey) < 32 {
		return nil, errors.New("QUERYD_SECRET_KEY must be at least 32 characters")
	}
	key, err := hkdf.Key(sha256.New, []byte(secretKey), nil, sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive sealing key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("derive sealing key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("derive sealing key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal returns a random nonce followed by the encrypted and authenticated
// plaintext. Sealing the same plaintext twice gives different bytes.
func (s *sealer) seal(plaintext []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	rand.Read(nonce) // never fails (crypto/rand crashes the program instead)
	return s.aead.Seal(nonce, nonce, plaintext, nil)
}

// open returns the plaintext sealed by seal under the same key. It fails if
// ciphertext was altered, truncated or sealed under another key.
func (s *sealer) open(ciphertext []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(ciphertext) < n+s.aead.Overhead() {
		return nil, errors.New("unseal: ciphertext too short")
	}
	plaintext, err := s.aead.Open(nil, ciphertext[:n], ciphertext[n:], nil)
	if err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	return plaintext, nil
}
