# queryd — developer tasks. `make` alone lists them.
# Each target's description is the `## ` comment on its line.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Go from /usr/local/go when it is not on PATH already.
export PATH := $(PATH):/usr/local/go/bin

# Pinned: `go list -m honnef.co/go/tools@latest` answered v0.8.2 (staticcheck
# 2026.2.2), which supports Go 1.26.
STATICCHECK_VERSION := v0.8.2

# Extra arguments for go test / the benchmarks: make test ARGS='-run X ./api/...'
ARGS ?=

LOCAL_DATABASE_URL := postgres://queryd:queryd@127.0.0.1:5432/queryd?sslmode=disable

.PHONY: help run test bench lint build migrate clean

help: ## list the targets (the default)
	@echo 'make TARGET, where TARGET is one of:'
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-9s %s\n", $$1, $$2}'

run: ## start PostgreSQL/Redis, load demo data, run `queryd all` on 127.0.0.1:8080 (Ctrl-C stops)
	@bash scripts/run.sh

test: ## go vet + go test -race on local PostgreSQL/Redis; ARGS='-run X ./api/...' narrows it
	@bash scripts/test.sh $(ARGS)

bench: ## run the benchmarks (go run ./scripts/bench) against local services
	@bash scripts/services.sh
	go run ./scripts/bench $(ARGS)

lint: ## gofmt -l (must list nothing), go vet, staticcheck (pinned version)
	@echo 'gofmt -l'
	@files=$$(find . -name '*.go' -not -path './.git/*' -not -path './.data/*' -not -path '*/testdata/*' -print | xargs -r gofmt -l); \
	if [[ -n $$files ]]; then \
		echo "lint: these files need gofmt -w:"; echo "$$files"; exit 1; \
	fi
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

build: ## build bin/queryd
	go build -o bin/queryd ./cmd/queryd

migrate: ## apply database migrations to the local queryd database (QUERYD_DATABASE_URL overrides)
	@bash scripts/services.sh
	go build -o bin/queryd ./cmd/queryd
	@export QUERYD_DATABASE_URL="$${QUERYD_DATABASE_URL:-$(LOCAL_DATABASE_URL)}"; \
	if [[ -z $${QUERYD_SECRET_KEY:-} ]]; then \
		[[ -s .data/secret-key ]] || { echo "migrate: no QUERYD_SECRET_KEY and no .data/secret-key: set one, or run make run once"; exit 1; }; \
		export QUERYD_SECRET_KEY="$$(<.data/secret-key)"; \
	fi; \
	echo "bin/queryd migrate"; bin/queryd migrate

clean: ## remove bin/ and the run log (keeps .data/secret-key and .data/results)
	rm -rf bin .data/queryd.log
	@echo 'clean: kept .data/secret-key (it encrypts the data source secrets stored in the queryd database) and .data/results (results it points at)'
