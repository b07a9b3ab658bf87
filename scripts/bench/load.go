package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// throughputTarget is the cached-hit rate queryd must sustain at 64 clients.
const throughputTarget = 5000.0

// loadResult is what one load run measured.
type loadResult struct {
	requests int64
	elapsed  time.Duration
	p50, p99 time.Duration
	errors   int64 // transport errors, non-200 answers, answers without a result
}

func (r loadResult) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// generator runs a load of POST requests with body {} on a URL.
type generator interface {
	name() string
	run(ctx context.Context, clients int, d time.Duration) (loadResult, error)
}

// benchCachedHits is section (b): POST /api/queries/<id>/results with body
// {} on a saved query that ran once, so every answer is a cached hit, at 8
// and 64 concurrent clients.
func benchCachedHits(ctx context.Context, e *environment, opts options) (*section, error) {
	warm, dur := 2*time.Second, 10*time.Second
	if opts.quick {
		warm, dur = time.Second, 2*time.Second
	}
	qid, err := e.api.createQuery(ctx, e.dsID, "bench cached hit", "SELECT 1 AS one")
	if err != nil {
		return nil, err
	}
	path := fmt.Sprintf("/api/queries/%d/results", qid)
	if _, _, err := e.api.execute(ctx, path, map[string]any{}, 30*time.Second); err != nil {
		return nil, fmt.Errorf("first run of query %d: %w", qid, err)
	}
	if _, wasJob, err := e.api.execute(ctx, path, map[string]any{}, 30*time.Second); err != nil || wasJob {
		return nil, fmt.Errorf("second POST %s is not a cached hit (job=%t, err=%v)", path, wasJob, err)
	}

	gen, why := pickGenerator(ctx, e, opts.gen, e.api.base+path)
	progress("(b) cached hits: generator %s", gen.name())
	s := &section{
		title: fmt.Sprintf("(b) cached-hit throughput: POST /api/queries/%d/results {} (%s each after a %s warm-up)", qid, dur, warm),
		how: fmt.Sprintf("%s, N concurrent keep-alive connections sending POST {} back to back; req/s = requests / run time; "+
			"p50/p99 over all requests of the run.", gen.name()),
		header: []string{"clients", "req/s", "p50", "p99", "errors", "requests", "target", "result"},
	}
	for _, clients := range []int{8, 64} {
		progress("(b) %d clients: warm-up %s, then %s", clients, warm, dur)
		if _, err := gen.run(ctx, clients, warm); err != nil {
			return nil, fmt.Errorf("warm-up at %d clients: %w", clients, err)
		}
		r, err := gen.run(ctx, clients, dur)
		if err != nil {
			return nil, fmt.Errorf("%d clients: %w", clients, err)
		}
		target, result := "—", ""
		if clients == 64 {
			target, result = "≥ 5,000 req/s", verdict(r.rate() >= throughputTarget && r.errors == 0)
		}
		s.row(strconv.Itoa(clients), fmt.Sprintf("%.0f", r.rate()), ms(r.p50), ms(r.p99),
			groupDigits(r.errors), groupDigits(r.requests), target, result)
	}
	s.note("load generator: %s%s; it shares the machine's %d CPUs with queryd, PostgreSQL and Redis.", gen.name(), why, runtime.NumCPU())
	s.note("errors count transport errors, non-200 answers and 200 answers without a query_result (a job); any error is a MISS.")
	return s, nil
}

// pickGenerator chooses wrk (installing the Debian package when root and it
// is missing) or the Go generator, and says why when it falls back.
func pickGenerator(ctx context.Context, e *environment, want, url string) (generator, string) {
	goGen := &goGenerator{url: url, key: e.api.key}
	if want == "go" {
		return goGen, " (chosen by -gen go)"
	}
	bin, err := exec.LookPath("wrk")
	if err != nil {
		progress("wrk is not installed")
		bin, err = installWrk(ctx)
	}
	if err != nil {
		progress("wrk unavailable (%v): falling back to the Go load generator", err)
		return goGen, fmt.Sprintf(" (wrk unavailable: %v)", err)
	}
	script := filepath.Join(e.dir, "post.lua")
	if err := os.WriteFile(script, []byte(wrkScript(e.api.key)), 0o600); err != nil {
		return goGen, fmt.Sprintf(" (could not write the wrk script: %v)", err)
	}
	version := ""
	if out, _ := exec.Command(bin, "-v").CombinedOutput(); len(out) > 0 {
		version = " (" + strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]) + ")"
	}
	return &wrkGenerator{bin: bin, script: script, url: url}, version
}

// installWrk runs apt-get install -y wrk when root (apt-get update first if
// the package is unknown).
func installWrk(ctx context.Context) (string, error) {
	if os.Geteuid() != 0 {
		return "", errors.New("not installed, and not root to apt-get install it")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("not installed, and no apt-get")
	}
	install := func() error {
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get install wrk: %w: %s", err, lastLine(out))
		}
		return nil
	}
	progress("trying apt-get install -y wrk")
	if err := install(); err != nil {
		progress("apt-get install failed; running apt-get update and trying again")
		if out, err := exec.CommandContext(ctx, "apt-get", "update", "-q").CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get update: %w: %s", err, lastLine(out))
		}
		if err := install(); err != nil {
			return "", err
		}
	}
	return exec.LookPath("wrk")
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// wrkScript makes wrk POST {} with the API key, and count answers that are
// not 200 with a query_result ("bad"), summed over threads in done().
func wrkScript(key string) string {
	return `wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Key ` + key + `"

bad = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"query_result"', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("bad")
  end
  io.write(string.format("BENCH_BAD %d\n", total))
end
`
}

// wrkGenerator runs wrk with the Lua script and parses its --latency output.
type wrkGenerator struct{ bin, script, url string }

func (g *wrkGenerator) name() string { return "wrk" }

func (g *wrkGenerator) run(ctx context.Context, clients int, d time.Duration) (loadResult, error) {
	threads := min(clients, runtime.NumCPU())
	secs := max(1, int(d.Round(time.Second).Seconds())) // wrk takes whole seconds, not ms
	cmd := exec.CommandContext(ctx, g.bin, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(clients),
		"-d", fmt.Sprintf("%ds", secs), "--latency", "-s", g.script, g.url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return loadResult{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	return parseWrk(string(out))
}

var (
	wrkTotal   = regexp.MustCompile(`(\d+) requests in ([0-9.]+)(us|ms|s|m|h)`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s|m|h)\s*$`)
	wrkSocket  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkBad     = regexp.MustCompile(`BENCH_BAD (\d+)`)
	wrkUnitDur = map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour}
)

// parseWrk reads requests, duration, the 50% and 99% latencies, socket
// errors and the script's BENCH_BAD count from wrk's output.
func parseWrk(out string) (loadResult, error) {
	var r loadResult
	m := wrkTotal.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk output has no request count:\n%s", out)
	}
	r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	r.elapsed = wrkDuration(m[2], m[3])
	for _, m := range wrkPct.FindAllStringSubmatch(out, -1) {
		if m[1] == "50" {
			r.p50 = wrkDuration(m[2], m[3])
		} else {
			r.p99 = wrkDuration(m[2], m[3])
		}
	}
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		for _, n := range m[1:] {
			v, _ := strconv.ParseInt(n, 10, 64)
			r.errors += v
		}
	}
	if m := wrkBad.FindStringSubmatch(out); m != nil {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		r.errors += v
	}
	if r.elapsed <= 0 || r.p50 == 0 {
		return r, fmt.Errorf("could not parse wrk's --latency output:\n%s", out)
	}
	return r, nil
}

func wrkDuration(num, unit string) time.Duration {
	f, _ := strconv.ParseFloat(num, 64)
	return time.Duration(f * float64(wrkUnitDur[unit]))
}

// goGenerator is the fallback: clients goroutines on one keep-alive
// transport (MaxIdleConnsPerHost = clients), each sending requests back to
// back and timing them.
type goGenerator struct {
	url, key string
	hc       *http.Client
	clients  int
}

func (g *goGenerator) name() string { return "Go load generator (net/http, keep-alive)" }

func (g *goGenerator) run(ctx context.Context, clients int, d time.Duration) (loadResult, error) {
	if g.hc == nil || g.clients != clients {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = clients, clients
		g.hc, g.clients = &http.Client{Transport: tr, Timeout: 10 * time.Second}, clients
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int64
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var bad int64
			for ctx.Err() == nil {
				t0 := time.Now()
				ok, err := g.post(ctx)
				if ctx.Err() != nil {
					break // cut off by the end of the run: not counted
				}
				if err != nil || !ok {
					bad++
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies, errs = append(latencies, mine...), errs+bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return loadResult{}, err
	}
	sortDurations(latencies)
	return loadResult{
		requests: int64(len(latencies)), elapsed: elapsed, errors: errs,
		p50: percentile(latencies, 50), p99: percentile(latencies, 99),
	}, nil
}

// post sends one request and reports whether it was a 200 with a result.
func (g *goGenerator) post(ctx context.Context) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url, strings.NewReader("{}"))
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Key "+g.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"query_result"`)), err
}
