#!/usr/bin/env bash
# Installs Debian's chromium, which the status page's browser test drives
# (status/browser). Idempotent: does nothing when it is on PATH.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if command -v chromium >/dev/null 2>&1; then
	printf 'install-chromium: present: %s\n' "$(chromium --version 2>/dev/null || echo unknown)" >&2
	exit 0
fi
"$repo_root/scripts/apt-install.sh" chromium
if command -v chromium >/dev/null 2>&1; then chromium --version; fi
