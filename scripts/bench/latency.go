package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
)

// latencyTarget is the most queryd may add to SELECT 1 at the median.
const latencyTarget = 25 * time.Millisecond

// benchLatency is section (a): SELECT 1 end to end through queryd (POST
// /api/query_results, max_age 0, wait 10; job polling and a result GET when
// a job comes back) against the same statement on one pgx.Conn. The two
// alternate, iteration by iteration, so both see the same machine state.
func benchLatency(ctx context.Context, e *environment, opts options) (*section, error) {
	warm, iters := 20, 300
	if opts.quick {
		warm, iters = 5, 50
	}
	progress("(a) SELECT 1: %d warm-ups + %d iterations, queryd and pgx alternating", warm, iters)

	conn, err := pgx.Connect(ctx, benchDSN)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())

	const sql = "SELECT 1"
	viaQueryd := func() (time.Duration, bool, error) {
		t0 := time.Now()
		rid, wasJob, err := e.api.runAdHoc(ctx, e.dsID, sql, 10*time.Second)
		if err == nil && wasJob {
			err = e.api.do(ctx, http.MethodGet, fmt.Sprintf("/api/query_results/%d", rid), nil, nil)
		}
		return time.Since(t0), wasJob, err
	}
	viaPgx := func() (time.Duration, error) {
		t0 := time.Now()
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
			var one int32
			if err := rows.Scan(&one); err != nil {
				rows.Close()
				return 0, err
			}
		}
		rows.Close()
		return time.Since(t0), rows.Err()
	}

	var qd, pg []time.Duration
	jobs := 0
	for i := 0; i < warm+iters; i++ {
		dq, wasJob, err := viaQueryd()
		if err != nil {
			return nil, fmt.Errorf("queryd, iteration %d: %w", i+1, err)
		}
		dp, err := viaPgx()
		if err != nil {
			return nil, fmt.Errorf("pgx, iteration %d: %w", i+1, err)
		}
		if i < warm {
			continue
		}
		qd, pg = append(qd, dq), append(pg, dp)
		if wasJob {
			jobs++
		}
	}
	sortDurations(qd)
	sortDurations(pg)
	q50, q99 := percentile(qd, 50), percentile(qd, 99)
	p50, p99 := percentile(pg, 50), percentile(pg, 99)

	s := &section{
		title: fmt.Sprintf("(a) SELECT 1 end to end: queryd vs pgx direct (%d iterations after %d warm-ups)", iters, warm),
		how: "wall clock around each call, queryd (net/http keep-alive, POST max_age 0 wait 10 → result in the answer) " +
			"and pgx (one pgx.Conn, conn.Query + read rows) alternating per iteration; nearest-rank percentiles.",
		header: []string{"percentile", "queryd", "pgx direct", "queryd − pgx", "target", "result"},
	}
	s.row("p50", ms(q50), ms(p50), signedMS(q50-p50), "≤ 25 ms", verdict(q50-p50 <= latencyTarget))
	s.row("p99", ms(q99), ms(p99), signedMS(q99-p99), "—", "")
	s.row("min / max", ms(qd[0])+" / "+ms(qd[len(qd)-1]), ms(pg[0])+" / "+ms(pg[len(pg)-1]), "", "", "")
	s.note("queryd answered with the result itself %d of %d times; a job (then GET /api/jobs, GET /api/query_results/<id>) %d times.",
		iters-jobs, iters, jobs)
	return s, nil
}
