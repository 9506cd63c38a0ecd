#!/usr/bin/env bash
# Installs Debian packages with apt-get, as root or through sudo, for the
# install-*.sh scripts. Waits for the dpkg lock (other jobs may install at
# the same time) and refreshes the package lists only when apt does not know
# the first package yet. Where it cannot install (no apt-get, not root and
# no sudo) it warns and exits 0: the tests that need the package then fail
# in CI and skip elsewhere.
# Usage: scripts/apt-install.sh PACKAGE...
set -euo pipefail

log() { printf 'apt-install: %s\n' "$*" >&2; }

if ! command -v apt-get >/dev/null 2>&1; then
	log "WARNING: no apt-get; $* not installed"
	exit 0
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
		log "WARNING: not root and no sudo; $* not installed"
		exit 0
	fi
fi
if ! apt-cache show "$1" >/dev/null 2>&1; then
	log "apt-get update"
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
fi
install() {
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@" >/dev/null
}
log "apt-get install $*"
if ! install "$@"; then
	# Package lists older than the mirror name files it no longer has.
	log "install failed; apt-get update and again"
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
	install "$@"
fi
