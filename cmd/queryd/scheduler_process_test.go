package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/queryd/queryd/store"
	"github.com/queryd/queryd/store/storetest"
	"github.com/queryd/queryd/worker/workertest"
)

// asCommand, set in a child's environment, makes the test binary run
// queryd's main with the child's arguments instead of the tests, so that a
// test can start real queryd processes.
const asCommand = "QUERYD_TEST_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(asCommand) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// process is a queryd started as its own OS process.
type process struct {
	cmd      *exec.Cmd
	logs     *syncBuffer
	done     chan error
	stopOnce sync.Once
}

// startProcess runs `queryd args…` with env in a child process until the
// test ends.
func startProcess(t *testing.T, env map[string]string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asCommand+"=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &process{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("logs of queryd %s (pid %d):\n%s", strings.Join(args, " "), cmd.Process.Pid, p.logs)
		}
	})
	return p
}

// stop sends SIGTERM and waits for the process to exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.stopOnce.Do(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("queryd pid %d exited with %v after SIGTERM, want 0", p.cmd.Process.Pid, err)
			}
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			t.Errorf("queryd pid %d did not stop within 20s of SIGTERM", p.cmd.Process.Pid)
		}
	})
}

func (p *process) count(msg string) int {
	return strings.Count(p.logs.String(), `"msg":"`+msg+`"`)
}

// TestTwoSchedulerProcesses runs two `queryd scheduler` processes on one
// database: one leads and fires every due run once; when it stops, the
// other takes over, and no run fires twice.
func TestTwoSchedulerProcesses(t *testing.T) {
	st, schemaURL := storetest.New(t)
	env := map[string]string{
		"QUERYD_DATABASE_URL":   schemaURL,
		"QUERYD_REDIS_URL":      workertest.Redis(t),
		"QUERYD_RESULTS_URL":    "file://" + t.TempDir(),
		"QUERYD_SECRET_KEY":     storetest.SecretKey,
		"QUERYD_SCHEDULER_TICK": "20ms",
		"QUERYD_LOG_LEVEL":      "info",
	}
	ctx := context.Background()
	u, _, err := st.CreateUser(ctx, "owner@example.com", "", false)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := st.CreateDataSource(ctx, "pg", "pg", mustJSON(t, pgOptions(t)))
	if err != nil {
		t.Fatal(err)
	}
	schedule := mustJSON(t, store.QuerySchedule{Interval: 3600})
	// addQueries saves n queries due at once (never run, hourly).
	next := 0
	addQueries := func(n int) {
		for range n {
			next++
			text := fmt.Sprintf("SELECT %d", next)
			if _, err := st.CreateQuery(ctx, store.Query{Name: text, Query: text, QueryHash: text,
				DataSourceID: &ds.ID, UserID: u.ID, Schedule: schedule}); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("waited 20s for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	runs := func() (all, distinct int) {
		t.Helper()
		if err := st.Pool().QueryRow(ctx, `SELECT count(*), count(DISTINCT (object_id, due_at))
			FROM schedule_runs WHERE kind = 'query'`).Scan(&all, &distinct); err != nil {
			t.Fatal(err)
		}
		return all, distinct
	}

	a := startProcess(t, env, "scheduler")
	b := startProcess(t, env, "scheduler")
	waitFor("both schedulers to start", func() bool { return a.count("scheduler started") == 1 && b.count("scheduler started") == 1 })
	waitFor("one scheduler to lead", func() bool { return a.count("scheduler leading")+b.count("scheduler leading") == 1 })
	leader, other := a, b
	if b.count("scheduler leading") == 1 {
		leader, other = b, a
	}

	addQueries(10)
	waitFor("10 runs", func() bool { n, _ := runs(); return n >= 10 })
	leader.stop(t)
	waitFor("the other scheduler to lead", func() bool { return other.count("scheduler leading") == 1 })
	addQueries(10)
	waitFor("20 runs", func() bool { n, _ := runs(); return n >= 20 })
	time.Sleep(200 * time.Millisecond) // ten more ticks, for a duplicate to show

	if all, distinct := runs(); all != 20 || distinct != 20 {
		t.Errorf("schedule_runs = %d rows, %d distinct (query, due time); want 20 and 20", all, distinct)
	}
	var jobs int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&jobs); err != nil || jobs != 20 {
		t.Errorf("jobs = %d, %v; want 20", jobs, err)
	}
	if fa, fb := leader.count("scheduled run fired"), other.count("scheduled run fired"); fa != 10 || fb != 10 {
		t.Errorf("runs fired by the first leader = %d, by the second = %d; want 10 and 10", fa, fb)
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
