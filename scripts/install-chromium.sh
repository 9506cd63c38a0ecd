#!/usr/bin/env bash
# Installs Debian's chromium, which the status page's browser test drives
# (status/browser_test.go). Idempotent: does nothing when it is on PATH.
set -euo pipefail

log() { printf 'install-chromium: %s\n' "$*" >&2; }

if command -v chromium >/dev/null 2>&1; then
	log "present: $(chromium --version 2>/dev/null || echo unknown)"
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	log "WARNING: no apt-get; chromium not installed (the browser test fails in CI)"
	exit 0
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
		log "WARNING: not root and no sudo; chromium not installed"
		exit 0
	fi
fi
# Wait for the dpkg lock: other jobs may be installing at the same time.
if ! apt-cache show chromium >/dev/null 2>&1; then
	log "apt-get update"
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
fi
log "apt-get install chromium"
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium >/dev/null
chromium --version
