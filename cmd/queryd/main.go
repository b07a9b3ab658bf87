// Command queryd runs queryd: the HTTP API, the workers, or both in one
// process, plus migrations and admin commands. Configuration comes from
// QUERYD_* environment variables (see README.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // schedules name IANA zones; images may lack a zone database

	"github.com/queryd/queryd/store"
)

const usage = `usage: queryd <command> [flags]

commands:
  all                     run the API, a worker and the scheduler in one process (single machine)
  api                     run the HTTP API
  worker                  run a worker
  scheduler               run the scheduler: fires due schedules; any number may run, one leads
  migrate                 apply database migrations
  users create --email E [--name N] [--admin]
                          create a user; prints its API key as the last line
  users key --email E     mint another API key for a user; prints it as the last line
  datasources create --name N --type T --options JSON [--or-update]
                          create (or update) a data source; prints its id as the last line

Configuration comes from QUERYD_* environment variables; see README.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "queryd:", err)
		os.Exit(1)
	}
}

func environ() map[string]string {
	m := make(map[string]string)
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// errUsage reports a command line queryd does not understand.
var errUsage = errors.New("see 'queryd help'")

func run(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)

	a, err := openApp(ctx, cfg, newRegistry(), log)
	if err != nil {
		return err
	}
	defer a.close()

	switch cmd := strings.Join(args[:min(len(args), 2)], " "); {
	case args[0] == "all", args[0] == "api":
		if err := store.Migrate(ctx, a.store.Pool()); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("listen on QUERYD_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
		}
		if args[0] == "all" {
			return a.serveAll(ctx, ln)
		}
		return a.serve(ctx, ln, false)
	case args[0] == "worker":
		return a.serve(ctx, nil, true)
	case args[0] == "scheduler":
		return a.runScheduler(ctx)
	case args[0] == "migrate":
		if err := store.Migrate(ctx, a.store.Pool()); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	case cmd == "users create":
		return usersCreate(ctx, a, args[2:], stdout)
	case cmd == "users key":
		return usersKey(ctx, a, args[2:], stdout)
	case cmd == "datasources create":
		return dataSourcesCreate(ctx, a, args[2:], stdout)
	default:
		return fmt.Errorf("unknown command %q: %w", strings.Join(args, " "), errUsage)
	}
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated in loadConfig
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
