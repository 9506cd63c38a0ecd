#!/usr/bin/env bash
# The project's test command: installs restic, checks formatting, vets, and
# runs every test with the race detector against the real restic binaries.
# Exits non-zero on any failure. Extra arguments go to `go test` (e.g. -run).
#
# Environment:
#   TEST_TIMEOUT  go test -timeout (default 25m)
#   E2E_SERVER    steadyrest (default) or rclone: server the e2e tests drive
#   E2E_RACE      1 (default here): build the server the e2e tests start with
#                 -race too, so a data race under real restic fails the run;
#                 0 to build it without
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

start=$(date +%s)
declare -a steps=()
status=0

step() { printf '\n==== %s ====\n' "$*"; }
record() { steps+=("$(printf '%-8s %-32s %4ds' "$1" "$2" "$3")"); }

summary() {
	printf '\n================ scripts/test.sh ================\n'
	for s in "${steps[@]}"; do printf '%s\n' "$s"; done
	printf 'total %ds: %s\n' "$(($(date +%s) - start))" "$([[ $status -eq 0 ]] && echo PASS || echo FAIL)"
}
trap summary EXIT

run_step() {
	local name=$1
	shift
	local t0=$(date +%s)
	step "$name"
	if "$@"; then
		record ok "$name" $(($(date +%s) - t0))
	else
		record FAILED "$name" $(($(date +%s) - t0))
		status=1
	fi
}

check_gofmt() {
	local out
	out=$(gofmt -l $(git ls-files --cached --others --exclude-standard '*.go'))
	if [[ -n $out ]]; then
		printf 'not gofmt-clean:\n%s\n' "$out"
		return 1
	fi
}

run_step "install restic" scripts/install-restic.sh
export RESTIC="$repo_root/.tools/bin/restic"
if [[ -x /usr/bin/restic ]]; then
	export RESTIC014=/usr/bin/restic
else
	# Leave it unset: the 0.14 test then fails in CI and skips elsewhere.
	echo "WARNING: /usr/bin/restic missing; RESTIC014 unset" >&2
	unset RESTIC014
fi
"$RESTIC" version
# Debian's chromium renders the status page in status/browser's test.
run_step "install chromium" scripts/install-chromium.sh
# Debian's redis-server backs the shared-overlay tests (redistest).
run_step "install redis-server" scripts/install-redis.sh
export E2E_RACE="${E2E_RACE-1}"
[[ -n ${RESTIC014:-} ]] && "$RESTIC014" version

run_step "gofmt" check_gofmt
run_step "go vet" go vet ./...
# Installs promtool (Debian's prometheus package) if missing, which the
# deploy/ Go tests need, and validates rules, alerts and the systemd unit.
run_step "deploy checks" deploy/check.sh

go_tests() {
	mkdir -p .tools/test-artifacts # go test -outputdir must exist
	local json=.tools/last-test.json
	set +e
	# -artifacts keeps what tests save (the status page's screenshot) under
	# .tools/test-artifacts.
	go test -race -count=1 -timeout "${TEST_TIMEOUT:-25m}" -artifacts -outputdir "$repo_root/.tools/test-artifacts" -json "$@" ./... 2>&1 | tee "$json" | go run ./scripts/testsummary
	local rc=("${PIPESTATUS[@]}")
	set -e
	echo "raw go test -json output: $repo_root/$json"
	[[ ${rc[0]} -eq 0 && ${rc[2]} -eq 0 ]]
}
run_step "go test -race ./..." go_tests "$@"

# A short run of each fuzz target on top of its committed seed corpus
# (-fuzz takes one target per run). The budget is a count of executions,
# about 10 s each here: Go 1.26's fuzz coordinator can report a spurious
# "context deadline exceeded" at the end of a duration-based -fuzztime
# (golang/go#75804, fixed in Go 1.27), and a count has no deadline.
# FUZZTIME overrides it for every target (e.g. 1m, 100000x); 0 skips.
fuzz_short() {
	local t
	for t in FuzzParsePath:50000x FuzzParseRange:50000x FuzzHtpasswd:10000x; do
		go test ./proxy/ -run '^$' -fuzz "^${t%%:*}\$" -fuzztime "${FUZZTIME:-${t#*:}}" || return 1
	done
}
if [[ $# -eq 0 && ${FUZZTIME:-} != 0 ]]; then
	run_step "fuzz (short)" fuzz_short
fi

exit $status
