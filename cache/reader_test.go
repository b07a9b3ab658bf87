package cache

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/queryd/queryd/drivers"
)

// pagedResult writes a 2,500-row result at key "p" and returns its rows as
// encoding/json reads them from the whole file.
func pagedResult(t *testing.T, s *Storage) (full []byte, rows []map[string]any) {
	t.Helper()
	cols := []drivers.Column{{Name: "n", Type: drivers.TypeInteger}, {Name: "s", Type: drivers.TypeString}}
	data := make([][]any, 2500)
	for i := range data {
		// Rows of varying length, some with characters that need escaping.
		data[i] = []any{int64(i), strings.Repeat(fmt.Sprintf("row %d, \"q\"\n", i), i%7)}
	}
	writeResult(t, s, "p", cols, data)
	full = readFile(t, s.OpenJSON, "p")
	var all struct{ Rows []map[string]any }
	if err := json.Unmarshal(full, &all); err != nil {
		t.Fatal(err)
	}
	if len(all.Rows) != len(data) {
		t.Fatalf("full file has %d rows, want %d", len(all.Rows), len(data))
	}
	return full, all.Rows
}

func TestWriteJSONPage(t *testing.T) {
	tests := []struct {
		offset, limit int64
		from, to      int // the rows expected, full[from:to]
	}{
		{0, 10, 0, 10},
		{0, 1000, 0, 1000},
		{999, 2, 999, 1001},
		{1000, 1, 1000, 1001},
		{1001, 998, 1001, 1999},
		{1001, 999, 1001, 2000},
		{1001, 1000, 1001, 2001},
		{2499, 10, 2499, 2500},
		{2499, -1, 2499, 2500},
		{2500, 10, 2500, 2500},
		{2500, -1, 2500, 2500},
		{3000, 10, 2500, 2500},
		{1 << 40, 10, 2500, 2500},
		{0, -1, 0, 2500},
		{1500, -1, 1500, 2500},
		{5, 0, 5, 5},
		{1234, 1 << 62, 1234, 2500},
	}
	for _, ts := range storages(t) {
		full, rows := pagedResult(t, ts.Storage)
		t.Run(ts.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(fmt.Sprintf("%d+%d", tc.offset, tc.limit), func(t *testing.T) {
					var buf bytes.Buffer
					if err := ts.WriteJSONPage(context.Background(), &buf, "p", tc.offset, tc.limit); err != nil {
						t.Fatalf("WriteJSONPage(%d, %d) = %v", tc.offset, tc.limit, err)
					}
					var page struct {
						Columns []map[string]any
						Rows    []map[string]any
					}
					if err := json.Unmarshal(buf.Bytes(), &page); err != nil {
						t.Fatalf("WriteJSONPage(%d, %d) wrote invalid JSON: %v\n%s", tc.offset, tc.limit, err, buf.Bytes())
					}
					if len(page.Columns) != 2 {
						t.Errorf("WriteJSONPage(%d, %d) columns = %v, want n and s", tc.offset, tc.limit, page.Columns)
					}
					if diff := cmp.Diff(rows[tc.from:tc.to], page.Rows, cmpopts.EquateEmpty()); diff != "" {
						t.Errorf("WriteJSONPage(%d, %d) rows differ from the full file's [%d:%d] (-want +got):\n%s", tc.offset, tc.limit, tc.from, tc.to, diff)
					}
					if tc.offset == 0 && tc.limit < 0 && !bytes.Equal(buf.Bytes(), full) {
						t.Errorf("WriteJSONPage(0, -1) is not the whole file")
					}
				})
			}
		})
	}
}

func TestWriteJSONPageNoRows(t *testing.T) {
	s := storages(t)[1]
	writeResult(t, s.Storage, "e", []drivers.Column{{Name: "n", Type: drivers.TypeInteger}}, nil)
	full := readFile(t, s.OpenJSON, "e")
	for _, offset := range []int64{0, 1, 5000} {
		var buf bytes.Buffer
		if err := s.WriteJSONPage(context.Background(), &buf, "e", offset, 10); err != nil {
			t.Fatalf("WriteJSONPage(%d, 10) = %v", offset, err)
		}
		if !bytes.Equal(buf.Bytes(), full) {
			t.Errorf("WriteJSONPage(%d, 10) = %s, want %s", offset, buf.Bytes(), full)
		}
	}
	if err := s.WriteJSONPage(context.Background(), &bytes.Buffer{}, "e", -1, 10); err == nil {
		t.Error("WriteJSONPage(-1, 10) = nil error, want an error")
	}
}

// TestWriteJSONPageSkipsPrefix overwrites rows 0–999 of the .json file with
// garbage (keeping the header): pages from row 1000 on must still be right,
// so they cannot have read those rows; a page inside them must fail.
func TestWriteJSONPageSkipsPrefix(t *testing.T) {
	ts := storages(t)[0]
	_, rows := pagedResult(t, ts.Storage)

	idx, err := os.ReadFile(filepath.Join(ts.dir, "p.idx"))
	if err != nil {
		t.Fatal(err)
	}
	header, row1000 := binary.LittleEndian.Uint64(idx), binary.LittleEndian.Uint64(idx[8:])
	path := filepath.Join(ts.dir, "p.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copy(data[header:row1000], bytes.Repeat([]byte("X"), int(row1000-header)))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ offset, limit int64 }{{1000, 5}, {1999, 2}, {2400, -1}} {
		var buf bytes.Buffer
		if err := ts.WriteJSONPage(context.Background(), &buf, "p", tc.offset, tc.limit); err != nil {
			t.Fatalf("WriteJSONPage(%d, %d) = %v", tc.offset, tc.limit, err)
		}
		var page struct{ Rows []map[string]any }
		if err := json.Unmarshal(buf.Bytes(), &page); err != nil {
			t.Fatalf("WriteJSONPage(%d, %d) wrote invalid JSON: %v", tc.offset, tc.limit, err)
		}
		end := len(rows)
		if tc.limit >= 0 {
			end = int(tc.offset + tc.limit)
		}
		if diff := cmp.Diff(rows[tc.offset:end], page.Rows); diff != "" {
			t.Errorf("WriteJSONPage(%d, %d) rows differ (-want +got):\n%s", tc.offset, tc.limit, diff)
		}
	}
	if err := ts.WriteJSONPage(context.Background(), &bytes.Buffer{}, "p", 10, 5); err == nil {
		t.Error("WriteJSONPage(10, 5) inside the garbage = nil error, want an error")
	}
}
