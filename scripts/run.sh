#!/usr/bin/env bash
# scripts/run.sh (make run) — run queryd on this machine with demo data:
# ensures PostgreSQL and Redis (services.sh), builds bin/queryd, loads the demo
# tables into queryd_demo, migrates, makes an admin user with a fresh API key
# and a "demo" data source, starts `queryd all`, waits until it is ready and
# prints curl commands to try. Ctrl-C stops queryd cleanly.
#
# State lives in .data/ (gitignored): secret-key (made once; it encrypts data
# source secrets, so keep it), results/, queryd.log. QUERYD_* variables set in
# the environment win over the defaults below.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'run: %s\n' "$*"; }
die() {
    printf 'run: error: %s\n' "$*" >&2
    exit 1
}

bash scripts/services.sh
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
    export PATH="$PATH:/usr/local/go/bin"
fi
command -v curl >/dev/null || die "curl not found (it checks readiness and the examples use it): apt-get install curl"

say "go build -o bin/queryd ./cmd/queryd"
go build -o bin/queryd ./cmd/queryd

# ---------------------------------------------------------------- state

mkdir -p .data/results
if [[ -s .data/secret-key ]]; then
    say "secret key: .data/secret-key (reused)"
else
    # 36 random bytes are 48 base64 characters. noclobber: if two runs race,
    # the first key written is the one kept.
    (
        umask 077
        set -o noclobber
        head -c 36 /dev/urandom | base64 >.data/secret-key
    ) 2>/dev/null || true
    [[ -s .data/secret-key ]] || die "could not write .data/secret-key"
    say "secret key: .data/secret-key (created; keep it: it encrypts data source secrets)"
fi

export QUERYD_DATABASE_URL="${QUERYD_DATABASE_URL:-postgres://queryd:queryd@127.0.0.1:5432/queryd?sslmode=disable}"
export QUERYD_REDIS_URL="${QUERYD_REDIS_URL:-redis://127.0.0.1:6379/0}"
export QUERYD_HTTP_ADDR="${QUERYD_HTTP_ADDR:-127.0.0.1:8080}"
export QUERYD_RESULTS_URL="${QUERYD_RESULTS_URL:-file://$PWD/.data/results}"
export QUERYD_LOG_FORMAT="${QUERYD_LOG_FORMAT:-text}"
if [[ -z ${QUERYD_SECRET_KEY:-} ]]; then
    QUERYD_SECRET_KEY=$(<.data/secret-key)
fi
export QUERYD_SECRET_KEY

# The base URL to reach QUERYD_HTTP_ADDR from here (":8080" and "0.0.0.0:8080"
# listen everywhere, loopback included).
host=${QUERYD_HTTP_ADDR%:*}
port=${QUERYD_HTTP_ADDR##*:}
case $host in
"" | 0.0.0.0) host=127.0.0.1 ;;
"[::]") host="[::1]" ;;
esac
base="http://$host:$port"

# Refuse to start a second queryd behind one that already answers: the
# readiness check below would be fooled by the old one.
if curl -s -o /dev/null --max-time 2 "$base/healthz"; then
    die "something already answers on $base (another make run?): stop it, or set QUERYD_HTTP_ADDR=127.0.0.1:8081"
fi

# ---------------------------------------------------------------- data

say "demo data: psql -f scripts/demo.sql (queryd_demo, as role queryd)"
PGPASSWORD=queryd psql -X -q -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U queryd -d queryd_demo \
    -f scripts/demo.sql 2>&1 | sed -e 's/^psql:[^ ]* NOTICE: */run: /'

say "bin/queryd migrate"
bin/queryd migrate || die "bin/queryd migrate failed (its error is above)"

email=admin@queryd.local
errs=$(mktemp)
trap 'rm -f "$errs"' EXIT
if key=$(bin/queryd users create --email "$email" --admin 2>"$errs" | tail -n 1) && [[ -n $key ]]; then
    say "admin user: $email (created, with an API key)"
elif key=$(bin/queryd users key --email "$email" 2>>"$errs" | tail -n 1) && [[ -n $key ]]; then
    say "admin user: $email (exists; minted a new API key)"
else
    cat "$errs" >&2
    die "could not create admin user $email nor mint a key for it (errors above)"
fi
[[ $key =~ ^[A-Za-z0-9._~+/=-]+$ ]] || die "the API key printed for $email has unexpected characters"

ds=$(bin/queryd datasources create --name demo --type pg --or-update \
    --options '{"host":"127.0.0.1","port":5432,"user":"queryd","password":"queryd","dbname":"queryd_demo"}' | tail -n 1) ||
    die "bin/queryd datasources create failed (its error is above)"
[[ $ds =~ ^[0-9]+$ ]] || die "datasources create printed '$ds' last, not a data source id"
say "data source: demo (id $ds, PostgreSQL database queryd_demo)"

# ---------------------------------------------------------------- serve

log=.data/queryd.log
pid=""
stopping=0
# shellcheck disable=SC2317 # stop and cleanup run from traps
stop() {
    if ((stopping)); then
        say "second interrupt: killing queryd (pid $pid)"
        kill -KILL "$pid" 2>/dev/null || true
        return
    fi
    stopping=1
    say "stopping queryd (pid $pid; Ctrl-C again to kill it)"
    kill -TERM "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317
cleanup() {
    rm -f "$errs"
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap stop INT TERM

say "bin/queryd all (listening on $QUERYD_HTTP_ADDR, log $log)"
# Job control gives queryd its own process group, so Ctrl-C reaches only this
# script, which forwards one SIGTERM.
set -m
bin/queryd all >"$log" 2>&1 &
pid=$!
set +m

ready=0
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)) && kill -0 "$pid" 2>/dev/null; do
    if curl -fs -o /dev/null --max-time 2 "$base/readyz"; then
        ready=1
        break
    fi
    sleep 0.5
done
if ((!ready)); then
    if kill -0 "$pid" 2>/dev/null; then
        say "queryd is not ready at $base/readyz after 30 s; last lines of $log:"
    else
        say "queryd exited during start-up; last lines of $log:"
    fi
    tail -n 30 "$log" >&2
    exit 1
fi

cat <<EOF

  queryd is running at $base  (pid $pid, log $log; Ctrl-C stops it)
  admin: $email   API key: $key
  demo data source id: $ds (tables events, customers)

  # 1. Run an ad hoc query; the answer holds a job with its id:
  curl -sS -H 'Authorization: Key $key' -H 'Content-Type: application/json' \\
    -d '{"data_source_id": $ds, "query": "SELECT category, count(*) AS events, sum(amount) AS amount FROM events GROUP BY 1 ORDER BY 1", "max_age": 0}' \\
    $base/api/query_results

  # 2. Poll the job (put the job id printed by step 1 for JOB_ID) until status is 3:
  curl -sS -H 'Authorization: Key $key' $base/api/jobs/JOB_ID

  # 3. Fetch the result as CSV (put the job's query_result_id for RESULT_ID):
  curl -sS -H 'Authorization: Key $key' $base/api/query_results/RESULT_ID.csv

  # Or in one call: wait up to 10 s and get the result itself:
  curl -sS -H 'Authorization: Key $key' -H 'Content-Type: application/json' \\
    -d '{"data_source_id": $ds, "query": "SELECT category, count(*) AS events, sum(amount) AS amount FROM events GROUP BY 1 ORDER BY 1", "max_age": 0}' \\
    '$base/api/query_results?wait=10'

EOF
say "following $log:"
tail -n 0 -f --pid="$pid" "$log" &

# wait returns early (status > 128) when a trapped signal arrives: wait again
# until queryd itself has exited, and exit with its status.
while :; do
    status=0
    wait "$pid" || status=$?
    if ((status > 128)); then
        if kill -0 "$pid" 2>/dev/null; then
            continue
        fi
        # It exited just as the signal came: its status may still be there.
        s=0
        wait "$pid" 2>/dev/null || s=$?
        ((s == 127)) || status=$s
    fi
    break
done
pid=""
say "queryd exited with status $status"
exit "$status"
