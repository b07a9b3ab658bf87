#!/usr/bin/env bash
# scripts/test.sh (make test) — go vet and go test -race against this
# machine's PostgreSQL and Redis, which services.sh makes ready first.
#
#   scripts/test.sh                          every package
#   scripts/test.sh -run TestJob -v ./api/...    arguments go to go test; the
#                                                packages named replace ./...
# Under CI=true the tests treat a missing service as a failure, not a skip.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'test: %s\n' "$*"; }
die() {
    printf 'test: error: %s\n' "$*" >&2
    exit 1
}

bash scripts/services.sh
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
    export PATH="$PATH:/usr/local/go/bin"
fi
# -race needs cgo, and cgo a C compiler.
if [[ $(go env CGO_ENABLED) != 1 ]] || ! command -v "$(go env CC)" >/dev/null; then
    die "go test -race needs cgo and a C compiler ($(go env CC)): apt-get install gcc"
fi

export QUERYD_TEST_DATABASE_URL="${QUERYD_TEST_DATABASE_URL:-postgres://queryd:queryd@127.0.0.1:5432/queryd_test?sslmode=disable}"

# Arguments that name packages replace the default ./...; the rest are flags
# (and flag values) for go test.
pkgs=()
for a in "$@"; do
    case $a in
    ./* | ../* | all | github.com/*) pkgs+=("$a") ;;
    esac
done
if ((${#pkgs[@]} == 0)); then
    pkgs=(./...)
    set -- "$@" ./...
fi

say "go vet ${pkgs[*]}"
go vet "${pkgs[@]}"

say "go test -race -count=1 -timeout 30m $*"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
go test -race -count=1 -timeout 30m "$@" 2>&1 | tee "$out" || status=$?

# On success go test's own per-package lines close the output. On failure,
# repeat the failed packages last, where they are easy to find.
if ((status != 0)); then
    echo
    say "failed packages:"
    grep -E $'^FAIL\t' "$out" || echo "  (none named: go test itself failed, see above)"
    say "FAILED: go test exited with status $status"
fi
exit "$status"
