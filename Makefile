# Developer entry points for portalwerk.
#
#   make run      PostgreSQL + Redis (installed/started if needed), database, build,
#                 migrate, then every Procfile process; Ctrl-C stops everything it started
#   make test     PostgreSQL + Redis, chromium (browser test), then go test -race -count=1 ./...
#   make build    bin/enqueuer and bin/worker
#   make migrate  apply database migrations to DATABASE_URL
#   make vet      go vet ./...
#   make bench    go run ./bench
#
# Service handling lives in .ci/services.sh, chromium's installation in .ci/chromium.sh,
# the Procfile runner in .ci/procfile.sh.

GO ?= go

# Local development defaults; a value already set in the environment wins.
DEV_TARGETS := run migrate bench
$(DEV_TARGETS): export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portalwerk?sslmode=disable
$(DEV_TARGETS): export REDIS_URL ?= redis://127.0.0.1:6379/0
$(DEV_TARGETS): export HTTP_ADDR ?= :8080
$(DEV_TARGETS): export PUBLIC_BASE_URL ?= http://localhost:8080
$(DEV_TARGETS): export MAIL_URL ?= file://./var/outbox
$(DEV_TARGETS): export MAIL_FROM ?= Portalwerk <noreply@portalwerk.local>
$(DEV_TARGETS): export OPS_USER ?= ops
$(DEV_TARGETS): export OPS_PASSWORD ?= ops
$(DEV_TARGETS): export APP_ENV ?= development
# A fixed development key, so links minted by the worker open in the enqueuer; never use it in production.
$(DEV_TARGETS): export LOGIN_KEYS ?= dev1:cG9ydGFsd2Vyay1kZXYta2V5LW5vdC1mb3ItcHJvZCE=

# Read by the Go test helpers (tests create their own databases).
TEST_TARGETS := test bench
$(TEST_TARGETS): export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
$(TEST_TARGETS): export TEST_REDIS_ADDR ?= 127.0.0.1:6379

SERVICES := bash .ci/services.sh

# The database named in DATABASE_URL (postgres://user@host:port/NAME?…), which run and
# migrate create on the local PostgreSQL when it is missing.
DB_NAME = $$(printf '%s' "$$DATABASE_URL" | sed -E 's|^[a-z]+://[^/]*/([^?]*).*$$|\1|')

.PHONY: help run test build migrate vet bench
.DEFAULT_GOAL := help

help:
	@sed -n '3,9s/^# \{0,1\}//p' Makefile

build:
	$(GO) build -o bin/ ./enqueuer ./worker

# services.sh run: up + createdb, runs the command, and when it ends (Ctrl-C included)
# stops PostgreSQL/Redis only if this invocation started them.
run: build
	@echo 'make run: the ops login defaults to ops/ops (OPS_USER/OPS_PASSWORD): development credentials only.' >&2
	@echo "make run: mail goes to $$MAIL_URL; Ctrl-C stops everything." >&2
	@mkdir -p var/outbox
	@$(SERVICES) run --createdb "$(DB_NAME)" -- \
		bash -c './bin/enqueuer migrate && exec bash .ci/procfile.sh Procfile'

migrate: build
	@$(SERVICES) up
	@$(SERVICES) createdb "$(DB_NAME)"
	./bin/enqueuer migrate

test:
	@if [ "$$($(GO) env CGO_ENABLED)" != 1 ]; then \
		echo 'make test: go test -race needs cgo and a C compiler (apt-get install -y gcc)' >&2; \
		exit 1; \
	fi
	@$(SERVICES) up
	@bash .ci/chromium.sh
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

bench:
	@$(SERVICES) up
	@$(SERVICES) createdb portalwerk
	$(GO) run ./bench
