package cache

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/queryd/queryd/drivers"
)

// BenchmarkWriter streams rows shaped like the end-to-end benchmark's query
// (scripts/bench: int8, int8, numeric(12,2), md5 text, bool, date,
// timestamptz) to a file:// result, as the PostgreSQL driver hands them out.
// One op is one row; Close (the final flush and commit) is timed too.
func BenchmarkWriter(b *testing.B) {
	cols := []drivers.Column{
		{Name: "id", Type: drivers.TypeInteger},
		{Name: "user_id", Type: drivers.TypeInteger},
		{Name: "amount", Type: drivers.TypeFloat},
		{Name: "label", Type: drivers.TypeString},
		{Name: "flag", Type: drivers.TypeBoolean},
		{Name: "day", Type: drivers.TypeDate},
		{Name: "at", Type: drivers.TypeDatetime},
	}
	// Distinct rows, built up front: boxing values is the driver's cost.
	rows := make([][]any, 4096)
	epoch := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		g := int64(i + 1_000_000)
		sum := md5.Sum(fmt.Append(nil, g))
		rows[i] = []any{
			g,
			g % 1000,
			drivers.Decimal(fmt.Sprintf("%d.%02d", g/100, g%100)),
			hex.EncodeToString(sum[:]),
			g%2 == 0,
			epoch.AddDate(0, 0, int(g%3650)),
			epoch.Add(time.Duration(g) * time.Second),
		}
	}

	s, err := OpenStorage(context.Background(), "file://"+b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w, err := s.NewWriter(context.Background(), "bench", cols)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := w.WriteRow(rows[i%len(rows)]); err != nil {
			b.Fatal(err)
		}
	}
	sum, err := w.Close()
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(sum.CSVBytes+sum.JSONBytes)/float64(b.N), "out-B/row")
}
