#!/usr/bin/env bash
# Minimal Procfile runner (a tiny foreman) for local development.
#
# Usage: .ci/procfile.sh [Procfile]
#
# Every "name: command" line (blank lines and # comments are skipped) is started with
# `bash -c` in its own session/process group, its stdout+stderr prefixed with "name | ".
# On INT/TERM every process group gets TERM and PROCFILE_GRACE seconds (default 15) to
# exit gracefully before it is killed; a second INT/TERM kills right away. When one
# process exits on its own, the others are stopped the same way and the runner exits
# non-zero.
set -euo pipefail

procfile=${1:-Procfile}
grace=${PROCFILE_GRACE:-15}

# A terminal or pipe that went away (`make run | tee log`, then Ctrl-C kills tee too) must
# not kill the runner halfway through stopping its processes: ignore SIGPIPE, and let a
# failed log write be just that.
trap '' PIPE
log() { printf 'procfile: %s\n' "$*" >&2 || true; }
die() {
	log "error: $*"
	exit 2
}

if ((BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
	die "bash >= 5.1 is required (wait -n -p)"
fi
command -v setsid >/dev/null || die "setsid (util-linux) is required"
[ -r "$procfile" ] || die "cannot read $procfile"

# --- parse --------------------------------------------------------------------------

names=()
commands=()
width=0
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
	lineno=$((lineno + 1))
	line=${line%$'\r'}
	if [[ $line =~ ^[[:space:]]*(#.*)?$ ]]; then
		continue
	fi
	if [[ ! $line =~ ^[[:space:]]*([A-Za-z0-9_.-]+)[[:space:]]*:[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]]; then
		die "$procfile:$lineno: expected 'name: command', got: $line"
	fi
	names+=("${BASH_REMATCH[1]}")
	commands+=("${BASH_REMATCH[2]}")
	if [ "${#BASH_REMATCH[1]}" -gt "$width" ]; then
		width=${#BASH_REMATCH[1]}
	fi
done <"$procfile"
[ ${#names[@]} -gt 0 ] || die "no processes in $procfile"

# --- start --------------------------------------------------------------------------

pids=()    # one per process: its session/process-group leader
stopping=""
force=""
signal=""

name_of() {
	local i
	for i in "${!pids[@]}"; do
		if [ "${pids[i]}" = "$1" ]; then
			printf '%s' "${names[i]}"
			return
		fi
	done
	printf 'pid %s' "$1"
}

# This small wrapper leads the process group (setsid), so the whole group can be
# signalled. It catches TERM itself (a no-op; the command gets the default action) so it
# stays around to reap the pipeline. The prefixing sed ignores INT/TERM and keeps
# relaying the output of a gracefully stopping process until EOF (if it died first, that
# process would get SIGPIPE).
# shellcheck disable=SC2016 # expanded by the child bash
child_script='
set -o pipefail
trap : TERM
exec 3>&2 2>/dev/null # silence the wrapper itself ("Terminated" notices)
bash -c "$2" </dev/null 2>&1 3>&- | { trap "" INT TERM; exec sed -u "s/^/$1 | /" 2>&3 3>&-; }'

start() {
	local name=$1 command=$2 label
	label=$(printf '%-*s' "$width" "$name")
	setsid bash -c "$child_script" "procfile-$name" "$label" "$command" &
	pids+=("$!")
	log "started $name (pid $!): $command"
}

alive_groups() {
	local pg
	for pg in "${pids[@]}"; do
		if kill -0 -- "-$pg" 2>/dev/null; then
			printf '%s\n' "$pg"
		fi
	done
}

# Stop every process group: TERM, wait up to $grace seconds, then KILL what is left.
shutdown() {
	local pg deadline
	local -a alive
	[ -z "$stopping" ] && [ ${#pids[@]} -gt 0 ] || return 0
	stopping=1
	trap 'force=1' INT TERM
	mapfile -t alive < <(alive_groups)
	if [ ${#alive[@]} -gt 0 ]; then
		log "stopping $(for pg in "${alive[@]}"; do printf '%s ' "$(name_of "$pg")"; done)(TERM, up to ${grace}s)"
		for pg in "${alive[@]}"; do
			kill -TERM -- "-$pg" 2>/dev/null || true
		done
	fi
	deadline=$((SECONDS + grace))
	while :; do
		mapfile -t alive < <(alive_groups)
		[ ${#alive[@]} -gt 0 ] || break
		if [ -n "$force" ] || [ "$SECONDS" -ge "$deadline" ]; then
			log "killing $(for pg in "${alive[@]}"; do printf '%s ' "$(name_of "$pg")"; done)(KILL)"
			for pg in "${alive[@]}"; do
				kill -KILL -- "-$pg" 2>/dev/null || true
			done
			break
		fi
		sleep 0.2
	done
	wait 2>/dev/null || true
	log "all processes stopped"
}

trap 'signal=INT' INT
trap 'signal=TERM' TERM
trap shutdown EXIT

for i in "${!names[@]}"; do
	start "${names[i]}" "${commands[i]}"
done

# --- supervise ----------------------------------------------------------------------

exited=""
status=0
while [ -z "$signal" ]; do
	exited=""
	if wait -n -p exited "${pids[@]}"; then status=0; else status=$?; fi
	# wait -n unsets $exited when interrupted by a signal.
	if [ -n "${exited:-}" ] || [ "$status" -eq 127 ]; then
		break
	fi
done

case $signal in
INT) code=130 ;;
TERM) code=143 ;;
*)
	log "$(name_of "${exited:-}") exited on its own (status $status); stopping the others"
	code=$((status == 0 ? 1 : status))
	;;
esac
shutdown
exit "$code"
