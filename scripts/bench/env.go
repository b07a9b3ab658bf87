package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL as scripts/services.sh sets it up.
const (
	pgHost     = "127.0.0.1"
	pgPort     = 5432
	pgUser     = "queryd"
	pgPassword = "queryd" // the documented local-development password
	benchDB    = "queryd_bench"
)

// benchDSN is the URL of the benchmark database; queryd keeps its own
// records there too, so dropping it removes every trace.
var benchDSN = fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", pgUser, pgPassword, pgHost, pgPort, benchDB)

// environment is everything the benchmark started: the temp dir, the
// database, a private Redis, and the queryd process with its API key.
type environment struct {
	repo    string // module root
	dir     string // temp dir: binary, redis socket, results, logs
	bin     string // the queryd binary
	dbMade  bool
	redis   *exec.Cmd
	queryd  *process
	qenv    []string // queryd's environment
	api     *client
	dsID    int64
	facts   []fact // machine facts for the report
	started time.Time
}

// fact is one line of machine facts.
type fact struct{ name, value string }

// setUp builds queryd and starts everything. On error the returned
// environment (if not nil) holds what was started, for tearDown.
func setUp(ctx context.Context, opts options) (*environment, error) {
	repo, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "queryd-bench-")
	if err != nil {
		return nil, err
	}
	e := &environment{repo: repo, dir: dir, started: time.Now()}

	progress("building queryd into %s", dir)
	e.bin = filepath.Join(dir, "queryd")
	build := exec.CommandContext(ctx, "go", "build", "-o", e.bin, "./cmd/queryd")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		return e, fmt.Errorf("go build ./cmd/queryd: %w\n%s", err, out)
	}

	progress("creating database %s", benchDB)
	pgVersion, err := recreateDatabase(ctx)
	if err != nil {
		return e, err
	}
	e.dbMade = true

	progress("starting a private redis-server")
	sock, err := e.startRedis(ctx)
	if err != nil {
		return e, err
	}

	addr, err := freeAddr()
	if err != nil {
		return e, err
	}
	resultsDir := filepath.Join(dir, "results")
	if err := os.MkdirAll(resultsDir, 0o700); err != nil {
		return e, err
	}
	e.qenv = append(os.Environ(),
		"QUERYD_DATABASE_URL="+benchDSN,
		"QUERYD_REDIS_URL=unix://"+sock,
		"QUERYD_HTTP_ADDR="+addr,
		"QUERYD_RESULTS_URL=file://"+resultsDir,
		"QUERYD_SECRET_KEY=queryd-bench-secret-key-0123456789abcdef",
		"QUERYD_LOG_LEVEL=warn",
		"QUERYD_SHUTDOWN_TIMEOUT=10s",
	)

	progress("queryd migrate, users create, datasources create")
	if _, err := e.cli(ctx, "migrate"); err != nil {
		return e, err
	}
	key, err := e.cli(ctx, "users", "create", "--email", "bench@example.com", "--admin")
	if err != nil {
		return e, err
	}
	dsOptions := fmt.Sprintf(`{"host":%q,"port":%d,"user":%q,"password":%q,"dbname":%q,"sslmode":"disable"}`,
		pgHost, pgPort, pgUser, pgPassword, benchDB)
	idText, err := e.cli(ctx, "datasources", "create", "--name", "bench", "--type", "pg", "--options", dsOptions, "--or-update")
	if err != nil {
		return e, err
	}
	if e.dsID, err = strconv.ParseInt(idText, 10, 64); err != nil {
		return e, fmt.Errorf("datasources create printed %q as its last line, not an id", idText)
	}

	e.queryd = &process{bin: e.bin, env: e.qenv, log: filepath.Join(dir, "queryd.log"), addr: addr}
	progress("starting queryd all on %s", addr)
	if err := e.queryd.start(ctx); err != nil {
		return e, err
	}
	e.api = newClient("http://"+addr, key)
	e.facts = machineFacts(pgVersion)
	return e, nil
}

// tearDown stops queryd and Redis, drops the database and removes the temp
// dir (unless keep). It never uses the caller's (maybe cancelled) context.
func (e *environment) tearDown(keep bool) {
	progress("cleaning up")
	if e.queryd != nil {
		e.queryd.stop()
	}
	if e.redis != nil && e.redis.Process != nil {
		e.redis.Process.Signal(syscall.SIGTERM)
		waitOrKill(e.redis, 5*time.Second)
	}
	if e.dbMade {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := dropDatabase(ctx); err != nil {
			progress("could not drop database %s: %v", benchDB, err)
		}
		cancel()
	}
	if keep {
		progress("kept %s", e.dir)
		return
	}
	os.RemoveAll(e.dir)
}

// showLogTail prints the end of queryd's log, to explain a failure.
func (e *environment) showLogTail(n int) {
	if e.queryd == nil {
		return
	}
	data, err := os.ReadFile(e.queryd.log)
	if err != nil || len(data) == 0 {
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	fmt.Fprintf(os.Stderr, "bench: last lines of %s:\n%s\n", e.queryd.log, strings.Join(lines, "\n"))
}

// cli runs a queryd subcommand and returns the last line it printed.
func (e *environment) cli(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = e.qenv
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("queryd %s: %w\n%s%s", args[0], err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// startRedis starts redis-server on a unix socket in the temp dir, without
// persistence, and waits until it answers PING.
func (e *environment) startRedis(ctx context.Context) (string, error) {
	sock := filepath.Join(e.dir, "redis.sock")
	cmd := exec.Command("redis-server", "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", e.dir, "--logfile", filepath.Join(e.dir, "redis.log"))
	cmd.SysProcAttr = childAttrs()
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("redis-server: %w (is it installed? scripts/services.sh installs it)", err)
	}
	e.redis = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if redisPing(sock) == nil {
			return sock, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("redis-server did not answer PING on %s within 10 s (see %s/redis.log)", sock, e.dir)
}

func redisPing(sock string) error {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redis answered %q", line)
	}
	return nil
}

// recreateDatabase drops and creates queryd_bench owned by queryd, and
// returns the server's version.
func recreateDatabase(ctx context.Context) (string, error) {
	conn, err := maintenanceConn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+benchDB+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("drop database %s: %w", benchDB, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+benchDB+" OWNER "+pgUser); err != nil {
		return "", fmt.Errorf("create database %s: %w", benchDB, err)
	}
	return version, nil
}

func dropDatabase(ctx context.Context) error {
	conn, err := maintenanceConn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+benchDB+" WITH (FORCE)")
	return err
}

// maintenanceConn connects as queryd to a database other than queryd_bench.
func maintenanceConn(ctx context.Context) (*pgx.Conn, error) {
	var errs []error
	for _, db := range []string{"postgres", "queryd"} {
		dsn := fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable&connect_timeout=5", pgUser, pgPassword, pgHost, pgPort, db)
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("connect to PostgreSQL on %s:%d as %s (run scripts/services.sh): %w", pgHost, pgPort, pgUser, errors.Join(errs...))
}

// process is a running `queryd all`.
type process struct {
	bin, log, addr string
	env            []string
	cmd            *exec.Cmd
	exited         chan struct{} // closed when the process has exited
}

// start starts `queryd all` (logs appended to p.log) and waits for
// GET /readyz to answer 200.
func (p *process) start(ctx context.Context) error {
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(p.bin, "all")
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttrs()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start queryd all: %w", err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(p.exited) }()

	hc := &http.Client{Timeout: 3 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := hc.Get("http://" + p.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.exited:
			return fmt.Errorf("queryd all exited during start-up (%s); see %s", cmd.ProcessState, p.log)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("queryd all: /readyz not 200 within 60 s; see %s", p.log)
}

// stop sends SIGTERM and waits for a graceful exit, killing after 15 s.
func (p *process) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// restart gives a fresh process (for separate peak-RSS readings).
func (p *process) restart(ctx context.Context) error {
	p.stop()
	return p.start(ctx)
}

// peakRSS returns VmHWM (peak resident set size) of the process, in bytes.
func (p *process) peakRSS() (int64, error) {
	if p.cmd == nil {
		return 0, errors.New("queryd is not running")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/<pid>/status")
}

// childAttrs puts a child in its own process group, so that a terminal's
// Ctrl-C reaches only the benchmark, which then stops children in order; and
// has the kernel kill the child if the benchmark dies without cleaning up.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func waitOrKill(cmd *exec.Cmd, d time.Duration) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
	}
}

// freeAddr returns a 127.0.0.1 address with a port free right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the queryd repository")
		}
		dir = parent
	}
}

// machineFacts describes the machine for the report.
func machineFacts(pgVersion string) []fact {
	facts := []fact{{"nproc", strconv.Itoa(runtime.NumCPU())}}
	if cpu := procField("/proc/cpuinfo", "model name"); cpu != "" {
		facts = append(facts, fact{"CPU", cpu})
	}
	if mem := procField("/proc/meminfo", "MemTotal"); mem != "" {
		if kb, err := strconv.ParseInt(strings.Fields(mem)[0], 10, 64); err == nil {
			mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
		facts = append(facts, fact{"memory", mem})
	}
	facts = append(facts,
		fact{"Go", runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH},
		fact{"PostgreSQL", pgVersion},
	)
	if out, err := exec.Command("redis-server", "--version").Output(); err == nil {
		f := strings.Fields(string(out))
		if len(f) >= 3 {
			facts = append(facts, fact{"Redis", strings.TrimPrefix(f[2], "v=")})
		}
	}
	return facts
}

// procField returns the value of the first "name: value" line of a /proc file.
func procField(path, name string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
