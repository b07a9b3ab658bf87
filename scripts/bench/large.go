package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Targets of section (c).
const (
	ratioTarget  = 2.0           // queryd wall time ≤ 2 × psql \copy
	rssTarget    = 200 * 1000000 // peak RSS ≤ 200 MB
	rssFlatRatio = 1.25          // peak at the large size ≤ 1.25 × peak at the small one
)

// bigSQL is the 7-column query over n generated rows.
func bigSQL(n int) string {
	return "SELECT g AS id, g % 1000 AS user_id, (g * 0.01)::numeric(12,2) AS amount, md5(g::text) AS label, " +
		"g % 2 = 0 AS flag, DATE '2020-01-01' + (g % 3650)::int AS day, " +
		"TIMESTAMPTZ '2020-01-01 00:00:00+00' + g * interval '1 second' AS at " +
		"FROM generate_series(1, " + strconv.Itoa(n) + ") g"
}

// benchLargeResult is section (c): a large result through queryd (POST with
// max_age 0 → job done, rows streamed into the CSV and JSON result files)
// against psql \copy to /dev/null, alternating; the CSV download; and peak
// RSS after one large and one smaller run, each in a fresh queryd.
func benchLargeResult(ctx context.Context, e *environment, opts options) (*section, error) {
	big, small, runs := 5_000_000, 1_000_000, 3
	if opts.quick {
		big, small, runs = 200_000, 40_000, 1
	}
	if _, err := exec.LookPath("psql"); err != nil {
		return nil, fmt.Errorf("psql not found (scripts/services.sh installs postgresql-client): %w", err)
	}

	// A fresh queryd, so that VmHWM after the first run is that run's peak.
	progress("(c) restarting queryd for a fresh peak-RSS reading")
	if err := e.queryd.restart(ctx); err != nil {
		return nil, err
	}
	var qd, pg []time.Duration
	var lastResult, rssBig int64
	for i := 0; i < runs; i++ {
		progress("(c) run %d/%d: queryd, %s rows", i+1, runs, groupDigits(int64(big)))
		d, rid, err := runLarge(ctx, e, big)
		if err != nil {
			return nil, fmt.Errorf("queryd, %d rows: %w", big, err)
		}
		qd, lastResult = append(qd, d), rid
		if i == 0 {
			if rssBig, err = e.queryd.peakRSS(); err != nil {
				return nil, err
			}
		}
		progress("(c) run %d/%d: queryd took %s; now psql \\copy", i+1, runs, secs(d))
		d, err = runPsqlCopy(ctx, big)
		if err != nil {
			return nil, err
		}
		pg = append(pg, d)
		progress("(c) run %d/%d: psql took %s", i+1, runs, secs(d))
	}

	progress("(c) downloading the CSV of result %d", lastResult)
	t0 := time.Now()
	size, lines, err := e.api.download(ctx, fmt.Sprintf("/api/query_results/%d.csv", lastResult))
	if err != nil {
		return nil, err
	}
	dl := time.Since(t0)

	progress("(c) restarting queryd; one run of %s rows for its peak RSS", groupDigits(int64(small)))
	if err := e.queryd.restart(ctx); err != nil {
		return nil, err
	}
	dSmall, _, err := runLarge(ctx, e, small)
	if err != nil {
		return nil, fmt.Errorf("queryd, %d rows: %w", small, err)
	}
	rssSmall, err := e.queryd.peakRSS()
	if err != nil {
		return nil, err
	}

	mq, mp := median(qd), median(pg)
	ratio := mq.Seconds() / mp.Seconds()
	bigName, smallName := shortCount(big), shortCount(small)
	s := &section{
		title: fmt.Sprintf("(c) large result: %s rows × 7 columns (%d run(s) each, alternating)", groupDigits(int64(big)), runs),
		how: "wall clock per run; queryd and psql alternate (queryd first); peak RSS = VmHWM in /proc/<pid>/status " +
			"right after the run, each size in a freshly started queryd.",
		header: []string{"measure", "value", "target", "result"},
	}
	s.row("queryd: POST → job done (median)", secs(mq)+"  ["+joinSecs(qd)+"]", "", "")
	s.row("psql \\copy to /dev/null (median)", secs(mp)+"  ["+joinSecs(pg)+"]", "", "")
	s.row("ratio queryd / psql", fmt.Sprintf("%.2f×", ratio), "≤ 2×", verdict(ratio <= ratioTarget))
	s.row("queryd rows/s (median run)", groupDigits(int64(float64(big)/mq.Seconds())), "", "")
	s.row(fmt.Sprintf("GET .csv download (%s rows)", bigName),
		fmt.Sprintf("%s, %s (%.0f MB/s)", secs(dl), mb(size), float64(size)/1e6/dl.Seconds()), "", "")
	rowsOK := lines-1 == int64(big)
	s.row("CSV rows received (lines − header)", groupDigits(lines-1), groupDigits(int64(big)), verdict(rowsOK))
	s.row("peak RSS (VmHWM), fresh queryd, "+smallName+" rows", mb(rssSmall)+fmt.Sprintf("  (run took %s)", secs(dSmall)), "≤ 200 MB", verdict(rssSmall <= rssTarget))
	s.row("peak RSS (VmHWM), fresh queryd, "+bigName+" rows", mb(rssBig), "≤ 200 MB", verdict(rssBig <= rssTarget))
	flat := float64(rssBig) / float64(rssSmall)
	s.row(fmt.Sprintf("peak RSS %s / %s", bigName, smallName), fmt.Sprintf("%.2f×", flat), "about the same (≤ 1.25×)", verdict(flat <= rssFlatRatio))
	s.note("queryd time: from POST /api/query_results (max_age 0, wait 0) until GET /api/jobs/<id>?wait=30 reports status 3,")
	s.note("i.e. all rows streamed from PostgreSQL into the CSV and JSON result files. psql: PGPASSWORD=queryd psql -X -q -h %s -U %s -d %s -c \"\\copy (…) to '/dev/null' csv\".", pgHost, pgUser, benchDB)
	if du, err := dirSize(e.dir + "/results"); err == nil {
		s.note("result storage after section (c): %s on disk for %d large results.", mb(du), runs+1)
	}
	return s, nil
}

// runLarge runs bigSQL(n) through queryd without a hybrid wait and polls the
// job until it ends, returning the wall time and the result id.
func runLarge(ctx context.Context, e *environment, n int) (time.Duration, int64, error) {
	t0 := time.Now()
	rid, _, err := e.api.runAdHoc(ctx, e.dsID, bigSQL(n), 0)
	return time.Since(t0), rid, err
}

// runPsqlCopy times psql \copy of bigSQL(n) to /dev/null.
func runPsqlCopy(ctx context.Context, n int) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, "psql", "-X", "-q", "-h", pgHost, "-U", pgUser, "-d", benchDB,
		"-c", `\copy (`+bigSQL(n)+`) to '/dev/null' csv`)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pgPassword)
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("psql \\copy: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return d, nil
}

func joinSecs(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.2f", d.Seconds())
	}
	return strings.Join(parts, ", ") + " s"
}

// shortCount writes 5000000 as 5M and 40000 as 40k.
func shortCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(dir string) (int64, error) {
	out, err := exec.Command("du", "-sb", dir).Output()
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return 0, fmt.Errorf("du printed nothing")
	}
	return strconv.ParseInt(f[0], 10, 64)
}
