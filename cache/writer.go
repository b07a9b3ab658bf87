package cache

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"strconv"
	"time"

	"gocloud.dev/blob"

	"github.com/queryd/queryd/drivers"
)

const (
	// bufSize is how much of each file is buffered before it is written to
	// the bucket.
	bufSize = 64 << 10
	// idxEvery is how many rows apart the .idx entries are.
	idxEvery = 1000
)

// errWriterClosed is returned by WriteRow and Close after Close or Abort.
var errWriterClosed = errors.New("result writer already closed")

// Writer streams one result into its three files. Its memory does not grow
// with the row count. It is not safe for concurrent use.
//
// CSV: a header row of column names, then one row per WriteRow; RFC 4180
// minimal quoting, "\r\n" line ends, no BOM (Python's csv defaults, which
// Redash clients expect). JSON: Redash's data object, the header line
// `{"columns":[…],"rows":[` and a line feed, then one row object per line,
// rows separated by ",\n" and followed by "\n]}" ("]}" alone if none).
//
// Values, per Go type (see package drivers):
//
//	              CSV                          JSON
//	nil           empty                        null
//	bool          true / false                 true / false
//	int64         decimal                      number
//	float64       shortest digits that         number, same digits;
//	              round-trip; NaN, Infinity,   NaN, ±Inf → null
//	              -Infinity
//	Decimal       as is                        bare number; NaN, ±Infinity →
//	                                           null; not a JSON number → string
//	string        as is                        string (invalid UTF-8 → \ufffd,
//	                                           no HTML escaping)
//	[]byte        \x + lower-case hex          string "\\x…"
//	time.Time     2006-01-02 in date columns, otherwise
//	              2006-01-02T15:04:05.999999Z07:00 ("Z" for UTC), in t's zone
//
// Floats are plain for 1e-6 <= |v| < 1e21 and 0 ("0.000001",
// "100000000000000000000") and carry an exponent otherwise ("1e-07",
// "1e+21"). A CSV field is quoted only if it holds a comma, quote, CR or LF;
// a lone column's empty value is written "" so the row is not an empty line,
// as Python's csv does.
type Writer struct {
	ctx    context.Context // the caller's, for cleaning up after a failed Close
	cancel context.CancelFunc
	bucket *blob.Bucket
	key    string

	cols     []drivers.Column
	isDate   []bool   // column i holds dates
	jsonKeys []string // `"name":`, with a leading ',' after the first column

	csv, json, idx sink
	rows           int64
	err            error // sticky: the first error; Close then discards
	done           bool  // Close or Abort was called
}

// sink buffers one file and writes it to its blob writer in bufSize pieces.
type sink struct {
	ext string
	w   *blob.Writer
	buf []byte
	n   int64     // bytes written to w so far
	sum hash.Hash // if set, every byte also goes here
}

func (s *sink) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	if s.sum != nil {
		s.sum.Write(s.buf)
	}
	_, err := s.w.Write(s.buf)
	s.n += int64(len(s.buf))
	if cap(s.buf) > 4*bufSize { // a huge row grew it: give the memory back
		s.buf = make([]byte, 0, bufSize)
	} else {
		s.buf = s.buf[:0]
	}
	return err
}

// Summary describes a result that Close made visible.
type Summary struct {
	Rows      int64
	CSVBytes  int64
	JSONBytes int64
	Checksum  string // sha256 hex of the CSV file
}

// NewWriter starts the three files of a result under key, with columns
// de-duplicated as Redash does (see Writer.Columns). Nothing is visible at key
// until Close succeeds. Cancelling ctx makes Close fail and discard the files.
// The caller must call Close or Abort.
func (s *Storage) NewWriter(ctx context.Context, key string, columns []drivers.Column) (*Writer, error) {
	wctx, cancel := context.WithCancel(ctx)
	w := &Writer{
		ctx:    ctx,
		cancel: cancel,
		bucket: s.bucket,
		key:    key,
		cols:   dedupe(columns),
		csv:    sink{ext: extCSV, sum: sha256.New()},
		json:   sink{ext: extJSON},
		idx:    sink{ext: extIdx},
	}
	contentTypes := []string{"text/csv; charset=utf-8", "application/json", "application/octet-stream"}
	for i, f := range w.sinks() {
		bw, err := s.bucket.NewWriter(wctx, key+f.ext, &blob.WriterOptions{ContentType: contentTypes[i]})
		if err != nil {
			w.discard()
			return nil, fmt.Errorf("create result file %s%s: %w", key, f.ext, err)
		}
		f.w = bw
		f.buf = make([]byte, 0, bufSize)
	}
	w.idx.buf = make([]byte, 0, 1024)

	w.isDate = make([]bool, len(w.cols))
	w.jsonKeys = make([]string, len(w.cols))
	h := w.json.buf[:0]
	h = append(h, `{"columns":[`...)
	for i, c := range w.cols {
		w.isDate[i] = c.Type == drivers.TypeDate
		var k []byte
		if i > 0 {
			k = append(k, ',')
			h = append(h, ',')
			w.csv.buf = append(w.csv.buf, ',')
		}
		k = appendJSONString(k, c.Name)
		w.jsonKeys[i] = string(append(k, ':'))

		h = append(h, `{"name":`...)
		h = appendJSONString(h, c.Name)
		h = append(h, `,"friendly_name":`...)
		h = appendJSONString(h, c.Name)
		h = append(h, `,"type":`...)
		if c.Type == "" {
			h = append(h, "null"...)
		} else {
			h = appendJSONString(h, string(c.Type))
		}
		h = append(h, '}')
		w.csv.buf = appendCSVField(w.csv.buf, c.Name)
	}
	if len(w.cols) == 1 && w.cols[0].Name == "" {
		w.csv.buf = append(w.csv.buf, `""`...)
	}
	w.csv.buf = append(w.csv.buf, '\r', '\n')
	w.json.buf = append(h, "],\"rows\":[\n"...)
	return w, nil
}

func (w *Writer) sinks() []*sink { return []*sink{&w.csv, &w.json, &w.idx} }

// dedupe renames repeated column names as Redash's fetch_columns does: the
// second "a" becomes "a1", the third "a2", and so on, skipping names already
// taken.
func dedupe(columns []drivers.Column) []drivers.Column {
	out := make([]drivers.Column, len(columns))
	taken := make(map[string]bool, len(columns))
	counters := make(map[string]int)
	for i, c := range columns {
		name := c.Name
		for taken[name] {
			counters[c.Name]++
			name = c.Name + strconv.Itoa(counters[c.Name])
		}
		taken[name] = true
		c.Name = name
		out[i] = c
	}
	return out
}

// Columns returns the de-duplicated columns as they are written: their names
// are the CSV header and the JSON row keys.
func (w *Writer) Columns() []drivers.Column {
	return append([]drivers.Column(nil), w.cols...)
}

// WriteRow appends one row; len(values) must equal the number of columns.
// It returns an error for a wrong number of values, for a value of a Go type
// not listed on Writer (the error names the type and the column), and when
// writing to the bucket fails. After an error the result can only be
// discarded: WriteRow and Close return the same error.
func (w *Writer) WriteRow(values []any) error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return errWriterClosed
	}
	if len(values) != len(w.cols) {
		w.err = fmt.Errorf("write row %d: %d values for %d columns", w.rows, len(values), len(w.cols))
		return w.err
	}
	cb, jb := w.csv.buf, w.json.buf
	if w.rows > 0 {
		jb = append(jb, ',', '\n')
	}
	if w.rows%idxEvery == 0 {
		w.idx.buf = binary.LittleEndian.AppendUint64(w.idx.buf, uint64(w.json.n+int64(len(jb))))
	}
	rowStart := len(cb)
	jb = append(jb, '{')
	for i, v := range values {
		if i > 0 {
			cb = append(cb, ',')
		}
		jb = append(jb, w.jsonKeys[i]...)
		switch v := v.(type) {
		case nil:
			jb = append(jb, "null"...)
		case int64:
			n := len(cb)
			cb = strconv.AppendInt(cb, v, 10)
			jb = append(jb, cb[n:]...)
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				cb = append(cb, nonFinite(v)...)
				jb = append(jb, "null"...)
				break
			}
			n := len(cb)
			cb = appendFloat(cb, v)
			jb = append(jb, cb[n:]...)
		case string:
			cb = appendCSVField(cb, v)
			jb = appendJSONString(jb, v)
		case drivers.Decimal:
			cb = appendCSVField(cb, string(v))
			jb = appendJSONDecimal(jb, string(v))
		case bool:
			n := len(cb)
			cb = strconv.AppendBool(cb, v)
			jb = append(jb, cb[n:]...)
		case time.Time:
			n := len(cb)
			cb = appendTime(cb, v, w.isDate[i])
			jb = append(jb, '"')
			jb = append(jb, cb[n:]...)
			jb = append(jb, '"')
		case []byte:
			n := len(cb)
			cb = append(cb, '\\', 'x')
			cb = hex.AppendEncode(cb, v)
			jb = append(jb, '"', '\\')
			jb = append(jb, cb[n:]...)
			jb = append(jb, '"')
		default:
			w.csv.buf, w.json.buf = cb, jb
			w.err = fmt.Errorf("write row %d: column %q: unsupported value type %T", w.rows, w.cols[i].Name, v)
			return w.err
		}
	}
	if len(values) == 1 && len(cb) == rowStart {
		cb = append(cb, '"', '"')
	}
	cb = append(cb, '\r', '\n')
	jb = append(jb, '}')
	w.csv.buf, w.json.buf = cb, jb
	w.rows++
	if len(cb) >= bufSize {
		w.fail(w.csv.flush(), extCSV)
	}
	if len(jb) >= bufSize {
		w.fail(w.json.flush(), extJSON)
	}
	if len(w.idx.buf) >= bufSize {
		w.fail(w.idx.flush(), extIdx)
	}
	return w.err
}

// fail records err (writing the file with suffix ext) as the sticky error if
// it is the first.
func (w *Writer) fail(err error, ext string) {
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("write result file %s%s: %w", w.key, ext, err)
	}
}

// Close finishes the three files and makes them visible at key, replacing any
// result there. It returns the error WriteRow returned, if any, or the
// bucket's error if writing or committing a file fails (including when the
// ctx given to NewWriter is done); in every error case no file of the result
// is left at key. Close after Close or Abort returns an error.
func (w *Writer) Close() (Summary, error) {
	if w.done {
		return Summary{}, errWriterClosed
	}
	w.done = true
	if w.err == nil {
		if w.rows > 0 {
			w.json.buf = append(w.json.buf, '\n')
		}
		w.json.buf = append(w.json.buf, ']', '}')
		for _, f := range w.sinks() {
			w.fail(f.flush(), f.ext)
		}
	}
	if w.err != nil {
		w.discard()
		return Summary{}, w.err
	}
	// Commit the CSV last: it is the file downloads look for first.
	order := []*sink{&w.json, &w.idx, &w.csv}
	for i, f := range order {
		if err := f.w.Close(); err != nil {
			w.cancel()
			for _, g := range order[i+1:] {
				_ = g.w.Close() // cancelled: discards
			}
			w.removeCommitted(order[:i])
			return Summary{}, fmt.Errorf("commit result file %s%s: %w", w.key, f.ext, err)
		}
	}
	w.cancel()
	return Summary{
		Rows:      w.rows,
		CSVBytes:  w.csv.n,
		JSONBytes: w.json.n,
		Checksum:  hex.EncodeToString(w.csv.sum.Sum(nil)),
	}, nil
}

// removeCommitted deletes files that a failed Close already made visible.
func (w *Writer) removeCommitted(files []*sink) {
	if len(files) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), time.Minute)
	defer cancel()
	for _, f := range files {
		_ = w.bucket.Delete(ctx, w.key+f.ext)
	}
}

// Abort discards everything written. It is a no-op after Close and safe to
// call more than once.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.discard()
}

// discard cancels the blob writers and closes them, which throws their
// content away.
func (w *Writer) discard() {
	w.cancel()
	for _, f := range w.sinks() {
		if f.w != nil {
			_ = f.w.Close()
		}
	}
}
