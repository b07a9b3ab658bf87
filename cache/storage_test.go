package cache

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenStorage(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a", "b")
	tests := []struct {
		url     string
		wantErr string // "" for success
	}{
		{url: "file://" + dir},
		{url: "file://" + dir + "?metadata=skip"},
		{url: "mem://"},
		{url: "/no/scheme", wantErr: "no scheme"},
		{url: "nosuch://bob:hunter22@host/bucket?token=sekrit123", wantErr: `"nosuch"`},
		{url: "file://" + dir + "?bogus=sekrit123", wantErr: `"file"`},
		{url: "file://bob:hunter22@" + dir + "?create_dir=&token=sekrit123", wantErr: `"file"`},
		{url: "mem://?password=sekrit123", wantErr: `"mem"`},
		{url: ":", wantErr: "invalid URL"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			s, err := OpenStorage(ctx, tc.url)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("OpenStorage(%q) = %v", tc.url, err)
				}
				defer s.Close()
				if err := s.Ping(ctx); err != nil {
					t.Errorf("Ping() = %v", err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("OpenStorage(%q) = nil error, want one containing %s", tc.url, tc.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantErr) {
				t.Errorf("OpenStorage(%q) = %v, want an error containing %s", tc.url, err, tc.wantErr)
			}
			for _, secret := range []string{"hunter22", "sekrit123"} {
				if strings.Contains(msg, secret) {
					t.Errorf("OpenStorage(%q) = %v: the error shows a secret", tc.url, err)
				}
			}
		})
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("OpenStorage did not create the directory: %v", err)
	}
}

func TestPingClosed(t *testing.T) {
	s, err := OpenStorage(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Ping(context.Background()); err == nil {
		t.Error("Ping() on a closed Storage = nil, want an error")
	}
}
