package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// section is one part of the report: a title, a table, and notes.
type section struct {
	title  string
	how    string // one line: how it was measured
	header []string
	rows   [][]string
	notes  []string
}

func (s *section) row(cells ...string) { s.rows = append(s.rows, cells) }

func (s *section) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

// verdict is PASS when a target is met, else MISS.
func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func signedMS(d time.Duration) string {
	return fmt.Sprintf("%+.2f ms", float64(d)/float64(time.Millisecond))
}
func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// mb formats bytes in MB (10^6), as VmHWM targets are stated.
func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

func sortDurations(d []time.Duration) []time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d
}

func median(d []time.Duration) time.Duration {
	s := sortDurations(append([]time.Duration(nil), d...))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// groupDigits writes 5000000 as 5,000,000.
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// printReport writes the whole report.
func printReport(w io.Writer, facts []fact, sections []*section, opts options, took time.Duration) {
	line := strings.Repeat("=", 78)
	mode := "full"
	if opts.quick {
		mode = "QUICK (smoke run: sizes and iterations reduced; targets are for the full run)"
	}
	fmt.Fprintf(w, "\n%s\nqueryd benchmark — %s — %s, took %s\n%s\n", line,
		time.Now().Format("2006-01-02 15:04:05 MST"), mode, took.Round(time.Second), line)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range facts {
		fmt.Fprintf(tw, "%s:\t%s\n", f.name, f.value)
	}
	tw.Flush()
	for _, s := range sections {
		fmt.Fprintf(w, "\n%s\n%s\n", s.title, strings.Repeat("-", min(78, len([]rune(s.title)))))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(s.header, "\t"))
		for _, r := range s.rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		tw.Flush()
		if s.how != "" {
			fmt.Fprintf(w, "  how measured: %s\n", s.how)
		}
		for _, n := range s.notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	fmt.Fprintln(w, line)
}
