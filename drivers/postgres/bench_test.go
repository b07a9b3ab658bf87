package postgres

import (
	"flag"
	"io"
	"strconv"
	"testing"
	"time"
)

var streamRows = flag.Int("stream-rows", 5_000_000, "rows BenchmarkStream reads per iteration")

// streamSQL returns n rows of seven columns (int4, int4, numeric, text, bool,
// date, timestamptz): the query scripts/bench streams end to end. Compare with
//
//	psql -X -c "\copy (<streamSQL>) to '/dev/null' csv"
func streamSQL(n int) string {
	return "SELECT g AS id, g % 1000 AS user_id, (g * 0.01)::numeric(12,2) AS amount, md5(g::text) AS label, " +
		"g % 2 = 0 AS flag, DATE '2020-01-01' + (g % 3650)::int AS day, " +
		"TIMESTAMPTZ '2020-01-01 00:00:00+00' + g * interval '1 second' AS at " +
		"FROM generate_series(1, " + strconv.Itoa(n) + ") g"
}

// BenchmarkStream reads -stream-rows rows of streamSQL through the driver
// and reports rows/s.
func BenchmarkStream(b *testing.B) {
	conn := openTest(b, nil)
	sql := streamSQL(*streamRows)
	b.ReportAllocs()
	var total int
	start := time.Now()
	for b.Loop() {
		rows, err := conn.Query(b.Context(), sql)
		if err != nil {
			b.Fatalf("Query(streamSQL(%d)) error = %v", *streamRows, err)
		}
		dest := make([]any, len(rows.Columns()))
		n := 0
		for {
			err := rows.Next(dest)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatalf("Next() after %d rows = %v", n, err)
			}
			n++
		}
		rows.Close()
		if n != *streamRows {
			b.Fatalf("streamSQL(%d) returned %d rows", *streamRows, n)
		}
		total += n
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "rows/s")
}
