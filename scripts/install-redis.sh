#!/usr/bin/env bash
# Installs Debian's redis-server, which the shared-overlay tests start on a
# unix socket (redistest). Idempotent: does nothing when it is on PATH.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if command -v redis-server >/dev/null 2>&1; then
	printf 'install-redis: present: %s\n' "$(redis-server --version 2>/dev/null || echo unknown)" >&2
	exit 0
fi
"$repo_root/scripts/apt-install.sh" redis-server
# The package starts a system-wide server on port 6379; the tests start
# their own and need nothing of it.
if command -v systemctl >/dev/null 2>&1; then
	sudo=()
	[[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1 && sudo=(sudo)
	"${sudo[@]}" systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
if command -v redis-server >/dev/null 2>&1; then redis-server --version; fi
