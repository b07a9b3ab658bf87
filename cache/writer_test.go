package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

var (
	ist = time.FixedZone("IST", 5*3600+30*60)
	brt = time.FixedZone("BRT", -3*3600)
)

// goldenResults exercise every value type, NULLs, quoting, unicode, invalid
// UTF-8, NaN/Inf, duplicate column names and zero rows.
var goldenResults = []struct {
	name string
	cols []drivers.Column
	rows [][]any
}{
	{
		name: "mixed",
		cols: []drivers.Column{
			{Name: "id", Type: drivers.TypeInteger, DatabaseType: "int8"},
			{Name: "a", Type: drivers.TypeFloat, DatabaseType: "float8"},
			{Name: "ok", Type: drivers.TypeBoolean},
			{Name: "a1", Type: drivers.TypeString},
			{Name: "a", Type: drivers.TypeString}, // → a2 (a1 is taken)
			{Name: "amount", Type: drivers.TypeFloat, DatabaseType: "numeric"},
			{Name: "a", Type: drivers.TypeDatetime}, // → a3
			{Name: "day", Type: drivers.TypeDate},
			{Name: "raw", Type: drivers.TypeString, DatabaseType: "bytea"},
			{Name: "odd \"name\", too", Type: ""},
		},
		rows: [][]any{
			{int64(1), 1.5, true, "plain", "ünïcødé 日本語 😀", drivers.Decimal("-12.3400"),
				time.Date(2024, 5, 26, 12, 39, 23, 26_000_000, time.UTC), time.Date(2024, 5, 26, 0, 0, 0, 0, time.UTC),
				[]byte{0x00, 0xde, 0xad, 0xbe, 0xef}, "text"},
			{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
			{int64(-1), math.NaN(), false, "comma, here", `say "hi"`, drivers.Decimal("NaN"),
				time.Date(2024, 1, 2, 3, 4, 5, 123_456_789, ist), time.Date(1999, 12, 31, 23, 0, 0, 0, brt),
				[]byte{}, int64(42)},
			{int64(math.MinInt64), math.Inf(1), true, "line1\nline2", "cr\rhere", drivers.Decimal("1.5E+3"),
				time.Date(2000, 2, 29, 23, 59, 59, 0, brt), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
				[]byte("\n"), true},
			{int64(math.MaxInt64), math.Inf(-1), false, "bad \xff\xfe utf-8", "ctl \x01\t\x1f <b>&amp;</b> \u2028", drivers.Decimal("-Infinity"),
				time.Date(2024, 6, 1, 0, 0, 0, 1000, time.UTC), time.Date(2024, 6, 1, 23, 0, 0, 0, ist),
				[]byte("a,b"), ""},
			{int64(0), 1e21, true, "", " leading and trailing ", drivers.Decimal("0"),
				time.Date(2024, 6, 1, 0, 0, 0, 0, time.FixedZone("odd", -3601)), time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC),
				nil, 2.25},
			{int64(7), 1e-7, true, `\`, `"`, drivers.Decimal("123456789012345678901234567890.000000001"),
				time.Date(2024, 6, 1, 12, 0, 0, 999_999_999, time.UTC), time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC),
				nil, drivers.Decimal("+1")},
			{int64(8), math.Copysign(0, -1), false, "1e-6 and 1e20 →", "", nil, nil, nil, nil, nil},
			{int64(9), 1e-6, false, "", "", nil, nil, nil, nil, nil},
			{int64(10), 1e20, false, "", "", nil, nil, nil, nil, nil},
			{int64(11), 0.1, false, "", "", nil, nil, nil, nil, nil},
			{int64(12), 123456789.125, false, "", "", nil, nil, nil, nil, nil},
			{int64(13), -math.MaxFloat64, false, "", "", nil, nil, nil, nil, nil},
			{int64(14), 5e-324, false, "", "", nil, nil, nil, nil, nil},
		},
	},
	{
		name: "empty",
		cols: []drivers.Column{
			{Name: "a", Type: drivers.TypeInteger},
			{Name: "a", Type: drivers.TypeString},
			{Name: "b, c", Type: drivers.TypeDate},
		},
	},
	{
		name: "single",
		cols: []drivers.Column{{Name: "", Type: drivers.TypeString}},
		rows: [][]any{{""}, {nil}, {"x"}, {"y,z"}},
	},
}

func TestWriterGolden(t *testing.T) {
	for _, tc := range goldenResults {
		for _, ts := range storages(t) {
			t.Run(tc.name+"/"+ts.name, func(t *testing.T) {
				key := "results/" + tc.name
				sum := writeResult(t, ts.Storage, key, tc.cols, tc.rows)
				csvData := readFile(t, ts.OpenCSV, key)
				jsonData := readFile(t, ts.OpenJSON, key)

				checksum := sha256.Sum256(csvData)
				want := Summary{
					Rows:      int64(len(tc.rows)),
					CSVBytes:  int64(len(csvData)),
					JSONBytes: int64(len(jsonData)),
					Checksum:  hex.EncodeToString(checksum[:]),
				}
				if sum != want {
					t.Errorf("Close() = %+v, want %+v", sum, want)
				}
				if ts.name == "file" || !*update {
					golden(t, tc.name+".csv", csvData)
					golden(t, tc.name+".json", jsonData)
				}
				checkJSONMatchesCSV(t, jsonData, csvData)
				if got := ts.files(t); !cmp.Equal(got, []string{key + ".csv", key + ".idx", key + ".json"}) {
					t.Errorf("files after Close = %q, want the .csv, .idx and .json only", got)
				}
			})
		}
	}
}

// checkJSONMatchesCSV checks that jsonData parses with encoding/json, holds
// one row per line, and says the same as csvData.
func checkJSONMatchesCSV(t *testing.T, jsonData, csvData []byte) {
	t.Helper()
	var data struct {
		Columns []struct {
			Name         string  `json:"name"`
			FriendlyName string  `json:"friendly_name"`
			Type         *string `json:"type"`
		} `json:"columns"`
		Rows []map[string]any `json:"rows"`
	}
	dec := json.NewDecoder(bytes.NewReader(jsonData))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		t.Fatalf("JSON does not parse: %v", err)
	}
	if got, want := bytes.Count(jsonData, []byte("\n")), len(data.Rows)+1; got != want {
		t.Errorf("JSON has %d line feeds, want %d (one per row, plus the header's)", got, want)
	}

	r := csv.NewReader(bytes.NewReader(csvData))
	records, err := r.ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	if len(records) != len(data.Rows)+1 {
		t.Fatalf("CSV has %d records, JSON %d rows; want a header and the same rows", len(records), len(data.Rows))
	}
	header := records[0]
	if len(header) != len(data.Columns) {
		t.Fatalf("CSV header %q, JSON columns %+v", header, data.Columns)
	}
	for i, c := range data.Columns {
		if c.Name != header[i] || c.FriendlyName != c.Name {
			t.Errorf("column %d: JSON name %q friendly_name %q, CSV header %q", i, c.Name, c.FriendlyName, header[i])
		}
	}
	for i, row := range data.Rows {
		if len(row) != len(header) {
			t.Errorf("JSON row %d has %d keys, want %d", i, len(row), len(header))
		}
		for j, name := range header {
			cell := records[i+1][j]
			if want, ok := csvCell(row[name], cell); !ok {
				t.Errorf("row %d column %q: JSON %#v, CSV %q, want CSV %q", i, name, row[name], cell, want)
			}
		}
	}
}

// csvCell returns the CSV text a JSON value should have and whether cell is
// it. JSON null is an empty cell, or a NaN/Infinity one.
func csvCell(v any, cell string) (string, bool) {
	switch v := v.(type) {
	case nil:
		switch cell {
		case "", "NaN", "Infinity", "-Infinity":
			return cell, true
		}
		return "", false
	case bool:
		want := "false"
		if v {
			want = "true"
		}
		return want, cell == want
	case json.Number:
		return string(v), cell == string(v)
	case string:
		return v, replaceInvalidUTF8(cell) == v
	}
	return "unexpected JSON type", false
}

// replaceInvalidUTF8 replaces each byte of s that is not valid UTF-8 with
// U+FFFD, as the JSON writer does.
func replaceInvalidUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func TestWriterColumns(t *testing.T) {
	tests := []struct {
		names, want []string
	}{
		{[]string{"a", "b"}, []string{"a", "b"}},
		{[]string{"a", "a", "a"}, []string{"a", "a1", "a2"}},
		{[]string{"a", "a1", "a"}, []string{"a", "a1", "a2"}},
		{[]string{"a", "a", "a1"}, []string{"a", "a1", "a11"}},
		{[]string{"b", "a", "b", "a"}, []string{"b", "a", "b1", "a1"}},
		{[]string{"", ""}, []string{"", "1"}},
		{nil, nil},
	}
	s := storages(t)[1].Storage
	for _, tc := range tests {
		t.Run(strings.Join(tc.names, ","), func(t *testing.T) {
			cols := make([]drivers.Column, len(tc.names))
			for i, n := range tc.names {
				cols[i] = drivers.Column{Name: n, Type: drivers.TypeString, DatabaseType: "text"}
			}
			w, err := s.NewWriter(context.Background(), "k", cols)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			var got []string
			for _, c := range w.Columns() {
				got = append(got, c.Name)
				if c.Type != drivers.TypeString || c.DatabaseType != "text" {
					t.Errorf("column %q lost its types: %+v", c.Name, c)
				}
			}
			if !cmp.Equal(got, tc.want) {
				t.Errorf("NewWriter(%q).Columns() = %q, want %q", tc.names, got, tc.want)
			}
			if tc.names != nil && cols[1].Name != tc.names[1] {
				t.Errorf("NewWriter changed its argument: %q", cols[1].Name)
			}
		})
	}
}

// TestWriterDiscards checks that every way a result can fail leaves no file
// at all behind, not even a temporary one.
func TestWriterDiscards(t *testing.T) {
	cols := []drivers.Column{{Name: "n", Type: drivers.TypeInteger}, {Name: "s", Type: drivers.TypeString}}
	good := []any{int64(1), "x"}
	tests := []struct {
		name    string
		badRow  []any // written after 1,500 good rows, if set
		cancel  bool  // cancel NewWriter's ctx before Close
		abort   bool  // Abort instead of Close
		wantErr string
	}{
		{name: "abort", abort: true},
		{name: "unsupported type", badRow: []any{int64(1), int32(5)}, wantErr: `column "s": unsupported value type int32`},
		{name: "unsupported struct", badRow: []any{struct{}{}, "x"}, wantErr: `column "n": unsupported value type struct {}`},
		{name: "too few values", badRow: []any{int64(1)}, wantErr: "1 values for 2 columns"},
		{name: "too many values", badRow: []any{int64(1), "x", "y"}, wantErr: "3 values for 2 columns"},
		{name: "cancelled", cancel: true, wantErr: "context canceled"},
	}
	for _, ts := range storages(t) {
		for _, tc := range tests {
			t.Run(ts.name+"/"+tc.name, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				w, err := ts.NewWriter(ctx, "dir/"+tc.name, cols)
				if err != nil {
					t.Fatal(err)
				}
				for range 1500 { // past the first idx entry and a 64 KiB flush
					if err := w.WriteRow(good); err != nil {
						t.Fatal(err)
					}
				}
				if tc.badRow != nil {
					err := w.WriteRow(tc.badRow)
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Errorf("WriteRow(%#v) = %v, want an error containing %q", tc.badRow, err, tc.wantErr)
					}
					if err2 := w.WriteRow(good); err2 != err {
						t.Errorf("WriteRow after an error = %v, want the same error %v", err2, err)
					}
				}
				if tc.cancel {
					cancel()
				}
				if tc.abort {
					w.Abort()
					w.Abort()
				} else {
					sum, err := w.Close()
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Errorf("Close() = %+v, %v, want an error containing %q", sum, err, tc.wantErr)
					}
					w.Abort()
				}
				if got := ts.files(t); len(got) != 0 {
					t.Errorf("files left = %q, want none", got)
				}
				if _, err := w.Close(); err == nil {
					t.Error("Close() after Close or Abort = nil error, want an error")
				}
				if err := w.WriteRow(good); err == nil {
					t.Error("WriteRow() after Close or Abort = nil error, want an error")
				}
			})
		}
	}
}

// TestWriterCommitFailure makes the last file's commit fail (a directory is
// in its way) and checks the files committed before it are removed.
func TestWriterCommitFailure(t *testing.T) {
	ts := storages(t)[0]
	if err := os.MkdirAll(filepath.Join(ts.dir, "r.csv", "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := ts.NewWriter(context.Background(), "r", []drivers.Column{{Name: "n", Type: drivers.TypeInteger}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRow([]any{int64(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err == nil || !strings.Contains(err.Error(), "r.csv") {
		t.Errorf("Close() = %v, want an error naming r.csv", err)
	}
	if got := ts.files(t); len(got) != 0 { // the obstacle is a directory, not listed
		t.Errorf("files left = %q, want none", got)
	}
}

func TestWriterAbortAfterClose(t *testing.T) {
	for _, ts := range storages(t) {
		t.Run(ts.name, func(t *testing.T) {
			w, err := ts.NewWriter(context.Background(), "r", []drivers.Column{{Name: "n"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Close(); err != nil {
				t.Fatal(err)
			}
			w.Abort()
			if got := ts.files(t); len(got) != 3 {
				t.Errorf("files after Close and Abort = %q, want the result's three", got)
			}
			if err := ts.Delete(context.Background(), "r"); err != nil {
				t.Errorf("Delete() = %v", err)
			}
			if got := ts.files(t); len(got) != 0 {
				t.Errorf("files after Delete = %q, want none", got)
			}
			if err := ts.Delete(context.Background(), "r"); err != nil {
				t.Errorf("Delete() of a missing result = %v, want nil", err)
			}
		})
	}
}

func TestWriterReplaces(t *testing.T) {
	for _, ts := range storages(t) {
		t.Run(ts.name, func(t *testing.T) {
			cols := []drivers.Column{{Name: "n", Type: drivers.TypeInteger}}
			writeResult(t, ts.Storage, "r", cols, [][]any{{int64(1)}, {int64(2)}})
			writeResult(t, ts.Storage, "r", cols, [][]any{{int64(3)}})
			if got, want := string(readFile(t, ts.OpenCSV, "r")), "n\r\n3\r\n"; got != want {
				t.Errorf("CSV after rewriting = %q, want %q", got, want)
			}
		})
	}
}

func TestOpenMissing(t *testing.T) {
	for _, ts := range storages(t) {
		ctx := context.Background()
		if _, err := ts.OpenCSV(ctx, "nope"); !errors.Is(err, ErrMissing) {
			t.Errorf("%s: OpenCSV(nope) = %v, want ErrMissing", ts.name, err)
		}
		if _, err := ts.OpenJSON(ctx, "nope"); !errors.Is(err, ErrMissing) {
			t.Errorf("%s: OpenJSON(nope) = %v, want ErrMissing", ts.name, err)
		}
		if err := ts.WriteJSONPage(ctx, &bytes.Buffer{}, "nope", 0, 10); !errors.Is(err, ErrMissing) {
			t.Errorf("%s: WriteJSONPage(nope) = %v, want ErrMissing", ts.name, err)
		}
	}
}
