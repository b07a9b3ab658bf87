package cache

import (
	"bytes"
	"context"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gocloud.dev/blob"

	"github.com/queryd/queryd/drivers"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testStorage is a Storage under test and how to list every file it holds.
type testStorage struct {
	name string
	*Storage
	dir string // the file:// directory, or "" for mem://
}

// storages opens a file:// Storage in a temporary directory and a mem://
// Storage, both closed when t ends.
func storages(t testing.TB) []testStorage {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "results") // OpenStorage must create it
	var out []testStorage
	for _, ts := range []testStorage{{name: "file", dir: dir}, {name: "mem"}} {
		url := "mem://"
		if ts.dir != "" {
			url = "file://" + ts.dir
		}
		s, err := OpenStorage(context.Background(), url)
		if err != nil {
			t.Fatalf("OpenStorage(%q) = %v", url, err)
		}
		t.Cleanup(func() { s.Close() })
		ts.Storage = s
		out = append(out, ts)
	}
	return out
}

// files lists every file in the storage: for file:// everything in the
// directory (so temporary files and sidecars show), for mem:// every key.
func (ts testStorage) files(t testing.TB) []string {
	t.Helper()
	var names []string
	if ts.dir != "" {
		err := filepath.WalkDir(ts.dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(ts.dir, path)
			names = append(names, filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	it := ts.bucket.List(nil)
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, obj.Key)
	}
	sort.Strings(names)
	return names
}

// writeResult writes rows under key and returns Close's summary.
func writeResult(t testing.TB, s *Storage, key string, cols []drivers.Column, rows [][]any) Summary {
	t.Helper()
	w, err := s.NewWriter(context.Background(), key, cols)
	if err != nil {
		t.Fatalf("NewWriter(%q) = %v", key, err)
	}
	for i, row := range rows {
		if err := w.WriteRow(row); err != nil {
			w.Abort()
			t.Fatalf("WriteRow(row %d) = %v", i, err)
		}
	}
	sum, err := w.Close()
	if err != nil {
		t.Fatalf("Close() = %v", err)
	}
	return sum
}

// readFile reads the whole CSV or JSON file of the result at key.
func readFile(t testing.TB, open func(context.Context, string) (*blob.Reader, error), key string) []byte {
	t.Helper()
	r, err := open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %q: %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	if r.Size() != int64(len(b)) {
		t.Errorf("reader Size() = %d, want %d", r.Size(), len(b))
	}
	return b
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", name, cmp.Diff(lines(want), lines(got)))
	}
}

func lines(b []byte) []string { return strings.SplitAfter(string(b), "\n") }
