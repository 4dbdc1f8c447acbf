#!/usr/bin/env bash
# Local PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) for development and tests.
#
# Usage:
#   .ci/services.sh up                  ensure both are running (install/start if needed)
#   .ci/services.sh createdb NAME       create database NAME if it does not exist
#   .ci/services.sh down                stop what `up` started (listed in var/services.started)
#   .ci/services.sh run [--createdb NAME] -- COMMAND [ARGS...]
#                                       up (+ createdb), run COMMAND, and on exit (Ctrl-C
#                                       included) stop only what this invocation started
#
# Services that are already running are reused and never stopped. Whatever `up` starts
# is appended to var/services.started ("postgresql <version> <cluster>" / "redis <port>").
# The configuration of an existing PostgreSQL installation is never modified; only a
# cluster installed by this script gets trust authentication for 127.0.0.1 and ::1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR_DIR="$ROOT/var"
STATE_FILE="$VAR_DIR/services.started"

PG_HOST=127.0.0.1
PG_PORT=5432
PG_CLUSTER=main
PG_TIMEOUT=30
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
REDIS_TIMEOUT=15

# Entries this invocation added to the state file (used by `run` to stop only those).
STARTED=()

log() { printf 'services: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# Run a command as root: directly when root, through sudo when available.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif have sudo; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

apt_install() {
	log "installing $* with apt-get"
	as_root apt-get update -qq >&2
	# C.UTF-8 so that a freshly created PostgreSQL cluster gets UTF8 encoding.
	as_root env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8 \
		apt-get install -y -qq "$@" >&2
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { timeout 2 bash -c ": </dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds.
wait_until() {
	local timeout=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + timeout))
	until "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.5
	done
	log "$what is ready"
}

record() {
	mkdir -p "$VAR_DIR"
	if ! grep -qxF -- "$1" "$STATE_FILE" 2>/dev/null; then
		printf '%s\n' "$1" >>"$STATE_FILE"
	fi
	STARTED+=("$1")
}

# --- PostgreSQL -----------------------------------------------------------------------

pg_ready() { have pg_isready && pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2; }

# Newest version directory in /etc/postgresql (empty when none).
pg_version() {
	find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null |
		sort -V | tail -n 1
}

pg_installed() { have pg_ctlcluster && [ -n "$(pg_version)" ]; }

pg_ctl() { as_root pg_ctlcluster --skip-systemctl-redirect "$@"; }

# Prepend trust rules for local TCP connections (only for clusters installed here).
pg_trust_local() {
	local hba="/etc/postgresql/$1/$PG_CLUSTER/pg_hba.conf" marker tmp
	marker='# portalwerk .ci/services.sh: trust local TCP connections (development only)'
	if as_root grep -qxF -- "$marker" "$hba"; then
		return
	fi
	log "adding trust authentication for 127.0.0.1 and ::1 to $hba"
	tmp=$(mktemp)
	{
		printf '%s\n' "$marker" \
			'host all all 127.0.0.1/32 trust' \
			'host all all ::1/128 trust'
		as_root cat "$hba"
	} >"$tmp"
	as_root cp "$tmp" "$hba" # cp keeps the owner and mode of the existing file
	rm -f "$tmp"
}

ensure_postgres() {
	local fresh="" version
	if pg_ready; then
		log "PostgreSQL already running on $PG_HOST:$PG_PORT, reusing it"
		return
	fi
	if port_open "$PG_PORT"; then
		# Something listens (e.g. a container) but the client tools are missing.
		have pg_isready || apt_install postgresql-client
		if pg_ready; then
			log "PostgreSQL already running on $PG_HOST:$PG_PORT, reusing it"
			return
		fi
		die "port $PG_PORT is in use but PostgreSQL does not answer there"
	fi

	if ! pg_installed; then
		apt_install postgresql
		fresh=1
	fi
	version=$(pg_version)
	[ -d "/etc/postgresql/$version/$PG_CLUSTER" ] ||
		die "no PostgreSQL cluster /etc/postgresql/$version/$PG_CLUSTER (create one with pg_createcluster)"
	if [ -n "$fresh" ]; then
		pg_trust_local "$version"
	fi

	if pg_ctl "$version" "$PG_CLUSTER" status >/dev/null 2>&1; then
		# Only a cluster just started by the package installation gets here legitimately.
		[ -n "$fresh" ] ||
			die "cluster $version/$PG_CLUSTER is running but not answering on $PG_HOST:$PG_PORT (check its port)"
		log "reloading PostgreSQL $version/$PG_CLUSTER (started by the package installation)"
		pg_ctl "$version" "$PG_CLUSTER" reload
	else
		log "starting PostgreSQL $version/$PG_CLUSTER"
		pg_ctl "$version" "$PG_CLUSTER" start
	fi
	record "postgresql $version $PG_CLUSTER"

	wait_until "$PG_TIMEOUT" "PostgreSQL on $PG_HOST:$PG_PORT" pg_ready ||
		die "PostgreSQL not ready on $PG_HOST:$PG_PORT after ${PG_TIMEOUT}s; see /var/log/postgresql/postgresql-$version-$PG_CLUSTER.log"
	if ! psql_postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
		log "warning: cannot connect as user postgres without a password; allow it in pg_hba.conf (trust for 127.0.0.1/32)"
	fi
}

psql_postgres() {
	PGCONNECT_TIMEOUT=5 psql -X -q -w -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres "$@"
}

db_exists() {
	[ "$(psql_postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$1'")" = 1 ]
}

cmd_createdb() {
	local db=${1:-}
	[[ $db =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "usage: services.sh createdb NAME (letters, digits, _)"
	have psql || die "psql not found; run '$0 up' first"
	if db_exists "$db"; then
		log "database $db already exists"
		return
	fi
	log "creating database $db"
	# A concurrent createdb may win the race; that is fine as long as the database exists.
	psql_postgres -d postgres -c "CREATE DATABASE \"$db\"" >/dev/null || db_exists "$db" ||
		die "could not create database $db"
}

# --- Redis ----------------------------------------------------------------------------

redis_cli() { timeout 5 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }
redis_ready() { have redis-cli && [ "$(redis_cli ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
	local dir="$VAR_DIR/redis"
	if redis_ready; then
		log "Redis already running on $REDIS_HOST:$REDIS_PORT, reusing it"
		return
	fi
	if port_open "$REDIS_PORT"; then
		have redis-cli || apt_install redis-tools
		if redis_ready; then
			log "Redis already running on $REDIS_HOST:$REDIS_PORT, reusing it"
			return
		fi
		die "port $REDIS_PORT is in use but Redis does not answer PING there"
	fi

	if ! have redis-server; then
		apt_install redis-server
		if redis_ready; then # the package installation started it
			record "redis $REDIS_PORT"
			log "Redis started by the package installation"
			return
		fi
	fi

	log "starting Redis on $REDIS_HOST:$REDIS_PORT (no persistence, files in $dir)"
	mkdir -p "$dir"
	redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" \
		--save "" --appendonly no --dir "$dir" \
		--logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
	record "redis $REDIS_PORT"
	wait_until "$REDIS_TIMEOUT" "Redis on $REDIS_HOST:$REDIS_PORT" redis_ready ||
		die "Redis not ready on $REDIS_HOST:$REDIS_PORT after ${REDIS_TIMEOUT}s; see $dir/redis.log"
}

# --- up / down / run ------------------------------------------------------------------

cmd_up() {
	ensure_postgres
	ensure_redis
}

stop_entry() {
	local kind a b
	read -r kind a b <<<"$1"
	case $kind in
	postgresql)
		log "stopping PostgreSQL $a/$b"
		pg_ctl "$a" "$b" stop || log "warning: could not stop PostgreSQL $a/$b"
		;;
	redis)
		log "stopping Redis on $REDIS_HOST:$a"
		timeout 10 redis-cli -h "$REDIS_HOST" -p "$a" shutdown nosave >/dev/null 2>&1 || true
		if [ "$(timeout 5 redis-cli -h "$REDIS_HOST" -p "$a" ping 2>/dev/null)" = PONG ]; then
			log "warning: could not stop Redis on port $a"
		fi
		;;
	*) log "warning: ignoring unknown entry in $STATE_FILE: $1" ;;
	esac
}

# stop_recorded [ENTRY...]: stop the given recorded entries (default: all of them) in
# reverse start order and remove them from the state file (the file when it is empty).
stop_recorded() {
	local -a entries=() keep=()
	local line i arg wanted
	if [ ! -s "$STATE_FILE" ]; then
		rm -f "$STATE_FILE"
		return
	fi
	mapfile -t entries <"$STATE_FILE"
	for ((i = ${#entries[@]} - 1; i >= 0; i--)); do
		line=${entries[i]}
		[ -n "$line" ] || continue
		wanted=""
		if [ $# -eq 0 ]; then
			wanted=yes
		fi
		for arg in "$@"; do
			if [ "$arg" = "$line" ]; then
				wanted=yes
			fi
		done
		if [ -n "$wanted" ]; then
			stop_entry "$line"
		else
			keep=("$line" "${keep[@]}")
		fi
	done
	if [ ${#keep[@]} -eq 0 ]; then
		rm -f "$STATE_FILE"
	else
		printf '%s\n' "${keep[@]}" >"$STATE_FILE"
	fi
}

cmd_down() {
	if [ ! -s "$STATE_FILE" ]; then
		log "nothing was started by services.sh, nothing to stop"
		rm -f "$STATE_FILE"
		return
	fi
	stop_recorded
}

cmd_run() {
	local db="" child="" signal="" status=0
	while [ $# -gt 0 ]; do
		case $1 in
		--createdb)
			db=${2:-}
			shift 2 || die "--createdb needs a database name"
			;;
		--)
			shift
			break
			;;
		*) die "usage: services.sh run [--createdb NAME] -- COMMAND [ARGS...]" ;;
		esac
	done
	[ $# -gt 0 ] || die "usage: services.sh run [--createdb NAME] -- COMMAND [ARGS...]"

	# Whatever happens from here on, stop what this invocation started (and only that).
	trap 'if [ ${#STARTED[@]} -gt 0 ]; then stop_recorded "${STARTED[@]}"; fi' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	cmd_up
	if [ -n "$db" ]; then
		cmd_createdb "$db"
	fi

	# The command gets its own session/process group; Ctrl-C and TERM are forwarded to
	# it as TERM, and we wait for it to finish its graceful shutdown.
	trap 'signal=INT; kill -TERM -- "-$child" 2>/dev/null || true' INT
	trap 'signal=TERM; kill -TERM -- "-$child" 2>/dev/null || true' TERM
	setsid "$@" &
	child=$!
	while :; do
		if wait "$child"; then status=0; else status=$?; fi
		kill -0 "$child" 2>/dev/null || break
	done
	case $signal in
	INT) exit 130 ;;
	TERM) exit 143 ;;
	*) exit "$status" ;;
	esac
}

main() {
	local cmd=${1:-}
	shift || true
	case $cmd in
	up) cmd_up ;;
	down) cmd_down ;;
	createdb) cmd_createdb "$@" ;;
	run) cmd_run "$@" ;;
	*)
		echo "usage: $0 up | down | createdb NAME | run [--createdb NAME] -- COMMAND [ARGS...]" >&2
		exit 2
		;;
	esac
}

main "$@"
