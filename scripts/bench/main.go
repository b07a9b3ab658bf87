// Command bench measures queryd on one machine, end to end, against the
// PostgreSQL it fronts:
//
//	(a) SELECT 1 latency through queryd vs. pgx directly;
//	(b) cached-hit throughput of POST /api/queries/<id>/results;
//	(c) a multi-million-row result: wall time vs. psql \copy, CSV download,
//	    and queryd's peak RSS at two sizes.
//
// It builds queryd, creates the database queryd_bench, starts a private
// redis-server and queryd itself, and removes all of it when it ends (also
// on failure or Ctrl-C). PostgreSQL must run on 127.0.0.1:5432 with the role
// queryd/queryd (CREATEDB): scripts/services.sh sees to that. Other QUERYD_*
// variables of the caller's environment reach queryd (for example
// QUERYD_TASK_CHECK_INTERVAL=1ms); the ones the benchmark sets win.
//
//	go run ./scripts/bench [-quick] [-sections a,b,c] [-gen auto|wrk|go] [-keep]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	quick    bool
	sections map[string]bool
	gen      string // load generator for (b): auto, wrk or go
	keep     bool   // keep the temp dir (logs, results) for inspection
}

func main() {
	quick := flag.Bool("quick", false, "smoke run: smaller sizes, fewer iterations, shorter load")
	sections := flag.String("sections", "a,b,c", "sections to run, comma-separated: a, b, c")
	gen := flag.String("gen", "auto", "load generator for section b: auto (wrk if present or installable, else go), wrk or go")
	keep := flag.Bool("keep", false, "keep the temp dir (queryd.log, results) instead of removing it")
	flag.Parse()

	opts := options{quick: *quick, gen: *gen, keep: *keep, sections: map[string]bool{}}
	for _, s := range strings.Split(*sections, ",") {
		s = strings.TrimSpace(strings.ToLower(s))
		if s != "a" && s != "b" && s != "c" {
			fmt.Fprintf(os.Stderr, "bench: -sections: unknown section %q (want a, b, c)\n", s)
			os.Exit(2)
		}
		opts.sections[s] = true
	}
	if opts.gen != "auto" && opts.gen != "wrk" && opts.gen != "go" {
		fmt.Fprintf(os.Stderr, "bench: -gen must be auto, wrk or go\n")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once
	}()
	if err := run(ctx, opts); err != nil {
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			err = errors.New("interrupted; everything it started has been stopped and removed")
		}
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// run sets the machine up, runs the chosen sections and prints the report.
// Everything it starts is stopped before it returns.
func run(ctx context.Context, opts options) (err error) {
	started := time.Now()
	env, err := setUp(ctx, opts)
	if env != nil {
		defer func() {
			if err != nil {
				env.showLogTail(20)
			}
			env.tearDown(opts.keep)
		}()
	}
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}

	var reports []*section
	if opts.sections["a"] {
		r, err := benchLatency(ctx, env, opts)
		if err != nil {
			return fmt.Errorf("section a: %w", err)
		}
		reports = append(reports, r)
	}
	if opts.sections["b"] {
		r, err := benchCachedHits(ctx, env, opts)
		if err != nil {
			return fmt.Errorf("section b: %w", err)
		}
		reports = append(reports, r)
	}
	if opts.sections["c"] {
		r, err := benchLargeResult(ctx, env, opts)
		if err != nil {
			return fmt.Errorf("section c: %w", err)
		}
		reports = append(reports, r)
	}

	printReport(os.Stdout, env.facts, reports, opts, time.Since(started))
	return nil
}

// progress prints a progress line on stderr; the report goes to stdout.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
