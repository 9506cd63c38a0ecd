#!/usr/bin/env bash
# Installs the restic binaries the tests drive:
#   - restic v0.19.1 built from source into <repo>/.tools/bin/restic
#   - Debian's restic (0.14) at /usr/bin/restic, kept working where cheap.
# Idempotent: does nothing (quickly) when both are already in place.
set -euo pipefail

RESTIC_VERSION=0.19.1
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$repo_root/.tools/bin"

log() { printf 'install-restic: %s\n' "$*" >&2; }

if "$bin_dir/restic" version 2>/dev/null | grep -q "restic $RESTIC_VERSION "; then
	log "restic $RESTIC_VERSION already in $bin_dir"
else
	log "building restic $RESTIC_VERSION into $bin_dir"
	mkdir -p "$bin_dir"
	# Run outside the repo so our go.mod does not take part in the build.
	(cd / && GOBIN="$bin_dir" GOFLAGS= go install "github.com/restic/restic/cmd/restic@v$RESTIC_VERSION")
	"$bin_dir/restic" version
fi

if [[ -x /usr/bin/restic ]]; then
	log "Debian restic present: $(/usr/bin/restic version 2>/dev/null || echo unknown)"
else
	"$repo_root/scripts/apt-install.sh" restic
	if [[ -x /usr/bin/restic ]]; then /usr/bin/restic version; fi
fi
