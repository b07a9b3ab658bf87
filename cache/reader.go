package cache

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// ErrMissing is returned (wrapped) when a file of a result is not in the
// bucket.
var ErrMissing = errors.New("result file missing")

// errCorrupt is returned (wrapped) when a result file is not in the format
// Writer produces.
var errCorrupt = errors.New("corrupt result file")

// OpenCSV opens the result's CSV file. The reader implements io.ReadSeeker
// and has ModTime and Size, so it can be served with http.ServeContent; the
// caller must close it. A missing file returns an error wrapping ErrMissing.
func (s *Storage) OpenCSV(ctx context.Context, key string) (*blob.Reader, error) {
	return s.open(ctx, key+extCSV, 0, -1)
}

// OpenJSON opens the result's whole JSON data object, with the same contract
// as OpenCSV.
func (s *Storage) OpenJSON(ctx context.Context, key string) (*blob.Reader, error) {
	return s.open(ctx, key+extJSON, 0, -1)
}

// open range-reads name, mapping not-found to ErrMissing.
func (s *Storage) open(ctx context.Context, name string, offset, length int64) (*blob.Reader, error) {
	r, err := s.bucket.NewRangeReader(ctx, name, offset, length, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("open %s: %w", name, ErrMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return r, nil
}

// WriteJSONPage writes to w a JSON data object {"columns":[…],"rows":[…]}
// holding rows [offset, offset+limit) of the result at key (limit < 0: to
// the end; an offset past the end gives no rows). The output has the .json
// file's layout, so offset 0 and limit -1 copy the file exactly.
//
// It reads the header line, the .idx entries it needs and then only the part
// of the .json file from row offset/1000*1000 on, skipping at most 999 rows;
// never the whole file. It returns an error wrapping ErrMissing if a file is
// missing, and an error for a negative offset or a file not in the format
// Writer produces. If writing to w fails, w may hold part of a page.
func (s *Storage) WriteJSONPage(ctx context.Context, w io.Writer, key string, offset, limit int64) error {
	if offset < 0 {
		return fmt.Errorf("json page of %s: negative offset %d", key, offset)
	}
	idx, err := s.open(ctx, key+extIdx, 0, -1)
	if err != nil {
		return err
	}
	defer idx.Close()
	entries := idx.Size() / 8
	if entries == 0 { // no rows: the file is the header line and "]}"
		r, err := s.OpenJSON(ctx, key)
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.Copy(w, r)
		return err
	}
	entry := func(i int64) (int64, error) {
		var b [8]byte
		if _, err := idx.Seek(8*i, io.SeekStart); err != nil {
			return 0, fmt.Errorf("read %s%s: %w", key, extIdx, err)
		}
		if _, err := io.ReadFull(idx, b[:]); err != nil {
			return 0, fmt.Errorf("read %s%s: %w", key, extIdx, err)
		}
		v := binary.LittleEndian.Uint64(b[:])
		if v > math.MaxInt64 {
			return 0, fmt.Errorf("read %s%s: %w", key, extIdx, errCorrupt)
		}
		return int64(v), nil
	}

	headerLen, err := entry(0)
	if err != nil {
		return err
	}
	header, err := s.readHeader(ctx, key, headerLen)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.Write(header)

	block := offset / idxEvery
	if block >= entries || limit == 0 {
		bw.WriteString("]}")
		return bw.Flush()
	}
	start, err := entry(block)
	if err != nil {
		return err
	}
	length := int64(-1) // to the end of the file, unless the page ends sooner
	if limit > 0 && limit <= math.MaxInt64-offset-idxEvery {
		if next := (offset + limit + idxEvery - 1) / idxEvery; next < entries {
			end, err := entry(next)
			if err != nil {
				return err
			}
			if end < start {
				return fmt.Errorf("read %s%s: %w", key, extIdx, errCorrupt)
			}
			length = end - start
		}
	}
	r, err := s.open(ctx, key+extJSON, start, length)
	if err != nil {
		return err
	}
	defer r.Close()

	br := bufio.NewReaderSize(r, 64<<10)
	skip := offset - block*idxEvery
	var long []byte
	var n int64
	for limit < 0 || n < limit {
		line, err := readLine(br, &long)
		if err == io.EOF && (len(line) == 0 || string(line) == "]}") {
			break // end of the range read, or of the file
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read %s%s: %w", key, extJSON, err)
		}
		if len(line) < 3 || line[0] != '{' || line[len(line)-1] != '\n' {
			return fmt.Errorf("read %s%s at %d: %w", key, extJSON, start, errCorrupt)
		}
		if skip > 0 {
			skip--
			continue
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte{','})
		if n > 0 {
			bw.WriteString(",\n")
		}
		bw.Write(line)
		n++
	}
	if n > 0 {
		bw.WriteByte('\n')
	}
	bw.WriteString("]}")
	return bw.Flush()
}

// maxHeader bounds the header line read into memory, against a corrupt .idx.
const maxHeader = 16 << 20

// readHeader reads the JSON file's first n bytes, which must be its header
// line `{"columns":[…],"rows":[` and "\n".
func (s *Storage) readHeader(ctx context.Context, key string, n int64) ([]byte, error) {
	if n > maxHeader {
		return nil, fmt.Errorf("read %s%s header of %d bytes: %w", key, extJSON, n, errCorrupt)
	}
	r, err := s.open(ctx, key+extJSON, 0, n)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	header, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s%s: %w", key, extJSON, err)
	}
	if int64(len(header)) != n || !bytes.HasPrefix(header, []byte(`{"columns":[`)) || !bytes.HasSuffix(header, []byte("],\"rows\":[\n")) {
		return nil, fmt.Errorf("read %s%s header: %w", key, extJSON, errCorrupt)
	}
	return header, nil
}

// readLine returns the next line of br including its "\n", or what is left
// before the end with io.EOF. A line longer than br's buffer is gathered in
// *long, which is reused.
func readLine(br *bufio.Reader, long *[]byte) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	*long = append((*long)[:0], line...)
	for {
		line, err = br.ReadSlice('\n')
		*long = append(*long, line...)
		if err != bufio.ErrBufferFull {
			return *long, err
		}
	}
}
