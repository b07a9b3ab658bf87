package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config is queryd's configuration, read once from QUERYD_* environment
// variables. README.md lists every variable.
type Config struct {
	DatabaseURL       string        `env:"DATABASE_URL,required"`
	DatabaseMaxConns  int32         `env:"DATABASE_MAX_CONNS" envDefault:"20"`
	RedisURL          string        `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"`
	HTTPAddr          string        `env:"HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	ResultsURL        string        `env:"RESULTS_URL" envDefault:"file:///var/lib/queryd/results"`
	SecretKey         string        `env:"SECRET_KEY,required,unset"`
	WorkerConcurrency int           `env:"WORKER_CONCURRENCY" envDefault:"10"`
	QueryTimeout      time.Duration `env:"QUERY_TIMEOUT" envDefault:"1h"`
	QueryMaxRetry     int           `env:"QUERY_MAX_RETRY" envDefault:"3"`
	TaskCheckInterval time.Duration `env:"TASK_CHECK_INTERVAL" envDefault:"10ms"`
	HeartbeatInterval time.Duration `env:"HEARTBEAT_INTERVAL" envDefault:"2s"`
	ReconcileInterval time.Duration `env:"RECONCILE_INTERVAL" envDefault:"10s"`
	PendingAfter      time.Duration `env:"RECONCILE_PENDING_AFTER" envDefault:"30s"`
	StaleAfter        time.Duration `env:"RECONCILE_STALE_AFTER" envDefault:"30s"`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"25s"`
	MaxWait           time.Duration `env:"MAX_WAIT" envDefault:"30s"`
	AuthCacheTTL      time.Duration `env:"AUTH_CACHE_TTL" envDefault:"10s"`
	SchedulerTick     time.Duration `env:"SCHEDULER_TICK" envDefault:"10s"`
	CancelledStatus   int           `env:"CANCELLED_STATUS" envDefault:"5"`
	LogLevel          string        `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat         string        `env:"LOG_FORMAT" envDefault:"json"`
}

// loadConfig reads the environment (environ, as from os.Environ) and
// validates the result, naming each bad variable.
func loadConfig(environ map[string]string) (Config, error) {
	var cfg Config
	err := env.ParseWithOptions(&cfg, env.Options{Prefix: "QUERYD_", Environment: environ})
	var parse env.ParseError
	if errors.As(err, &parse) {
		// env names the Go field; the user set a variable.
		if f, ok := reflect.TypeFor[Config]().FieldByName(parse.Name); ok {
			name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
			want := map[string]string{"time.Duration": "duration such as 30s", "int": "whole number", "bool": "true or false"}[parse.Type.String()]
			if want == "" {
				want = parse.Type.String()
			}
			return Config{}, fmt.Errorf("configuration: QUERYD_%s=%q is not a %s", name, environ["QUERYD_"+name], want)
		}
	}
	if err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, cfg.validate()
}

func (c Config) validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("QUERYD_%s %s", name, fmt.Sprintf(format, args...)))
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("DATABASE_URL", "must be a postgres:// URL")
	}
	if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
		bad("REDIS_URL", "must be a redis://, rediss:// or unix:// URL")
	}
	if !strings.Contains(c.ResultsURL, "://") {
		bad("RESULTS_URL", "must be a URL such as file:///var/lib/queryd/results or s3://bucket")
	}
	if len(c.SecretKey) < 32 {
		bad("SECRET_KEY", "must be at least 32 characters (it encrypts data source secrets)")
	}
	if c.DatabaseMaxConns < 2 {
		bad("DATABASE_MAX_CONNS", "must be at least 2, not %d", c.DatabaseMaxConns)
	}
	if c.WorkerConcurrency < 1 || c.WorkerConcurrency > 1000 {
		bad("WORKER_CONCURRENCY", "must be from 1 to 1000, not %d", c.WorkerConcurrency)
	}
	if c.QueryMaxRetry < 0 {
		bad("QUERY_MAX_RETRY", "must not be negative")
	}
	for name, d := range map[string]time.Duration{
		"QUERY_TIMEOUT": c.QueryTimeout, "TASK_CHECK_INTERVAL": c.TaskCheckInterval,
		"HEARTBEAT_INTERVAL": c.HeartbeatInterval, "RECONCILE_INTERVAL": c.ReconcileInterval,
		"RECONCILE_PENDING_AFTER": c.PendingAfter, "SHUTDOWN_TIMEOUT": c.ShutdownTimeout, "MAX_WAIT": c.MaxWait,
	} {
		if d <= 0 {
			bad(name, "must be a positive duration such as 30s")
		}
	}
	if c.SchedulerTick <= 0 || c.SchedulerTick > time.Minute {
		bad("SCHEDULER_TICK", "must be a positive duration of at most 1m (the shortest schedule interval), such as 10s")
	}
	if c.CancelledStatus != 4 && c.CancelledStatus != 5 {
		bad("CANCELLED_STATUS", "must be 5 (queryd's status for a cancelled job) or 4 (Redash's, for clients that wait for 3 or 4)")
	}
	if c.AuthCacheTTL < 0 {
		bad("AUTH_CACHE_TTL", "must not be negative (0 turns the cache off)")
	}
	if c.StaleAfter < 3*c.HeartbeatInterval {
		bad("RECONCILE_STALE_AFTER", "must be at least 3 × QUERYD_HEARTBEAT_INTERVAL (%s)", 3*c.HeartbeatInterval)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("LOG_LEVEL", "must be debug, info, warn or error")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("LOG_FORMAT", "must be json or text")
	}
	return errors.Join(errs...)
}
