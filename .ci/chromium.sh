#!/usr/bin/env bash
# Debian's chromium for the browser test (enqueuer/portal/browser_test.go): installed with
# apt-get when missing, like the services; nothing happens when it is already there.
set -euo pipefail

log() { printf 'chromium: %s\n' "$*" >&2; }

if command -v chromium >/dev/null 2>&1; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	log "not installed and no apt-get here; the browser test will be skipped"
	exit 0
fi
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		log "need root (or sudo) to run: $*"
		exit 1
	fi
}
log "installing chromium with apt-get (once; the browser test needs it)"
as_root apt-get update -qq >&2
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1 || {
	log "apt-get did not install chromium"
	exit 1
}
