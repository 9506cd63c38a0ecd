#!/usr/bin/env bash
# Validates the deployment files with the tools that can run here:
# promtool (config, rules, rule unit tests), amtool (Alertmanager config),
# systemd-analyze (unit), and the
# Go tests in deploy/ (compose file, Dockerfile, unit settings, dashboard
# JSON and queries, all cross-checked against the binary's flags and
# metrics). No Docker engine is needed: the image is not built.
#
# Exits non-zero on the first failing check. Prints a closing
# "deploy checks: N passed, N failed" line.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
passed=0

ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() {
	echo "FAIL: $*" >&2
	echo "deploy checks: $passed passed, 1 failed"
	exit 1
}

# promtool and amtool come with Debian's prometheus and
# prometheus-alertmanager packages, installed through scripts/apt-install.sh
# where missing. Installing them must not start a Prometheus or an
# Alertmanager server, hence policy-rc.d where none exists.
if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null; then
	echo "promtool or amtool missing: installing Debian's prometheus and prometheus-alertmanager packages"
	policy_added=""
	if [ "$(id -u)" = 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		policy_added=1
	fi
	apt_rc=0
	"$root/scripts/apt-install.sh" prometheus prometheus-alertmanager || apt_rc=$?
	[ -n "$policy_added" ] && rm -f /usr/sbin/policy-rc.d
	[ "$apt_rc" = 0 ] || fail "scripts/apt-install.sh could not install prometheus and prometheus-alertmanager"
	command -v promtool >/dev/null || fail "promtool not found and could not be installed"
	command -v amtool >/dev/null || fail "amtool not found and could not be installed"
fi

cd "$here/prometheus"
promtool check config prometheus.yml >/dev/null || fail "promtool check config prometheus.yml"
ok "promtool check config prometheus.yml"
promtool check rules alerts.yml >/dev/null || fail "promtool check rules alerts.yml"
ok "promtool check rules alerts.yml"
promtool test rules alerts_test.yml || fail "promtool test rules alerts_test.yml"
ok "promtool test rules alerts_test.yml"
# Where the compose file's Prometheus sends the alerts above.
amtool check-config alertmanager.yml >/dev/null || fail "amtool check-config alertmanager.yml"
ok "amtool check-config alertmanager.yml"

# systemd-analyze verify works offline, without systemd as PID 1. The
# binary is not installed here, so a copy of the unit runs /bin/true
# instead; everything else is checked as written.
if command -v systemd-analyze >/dev/null; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	sed "s|^ExecStart=/usr/local/bin/steadyrest|ExecStart=$(command -v true)|" \
		"$here/systemd/steadyrest.service" >"$tmp/steadyrest.service"
	out=$(systemd-analyze verify "$tmp/steadyrest.service" 2>&1) || fail "systemd-analyze verify: $out"
	[ -z "$out" ] || fail "systemd-analyze verify warned: $out"
	ok "systemd-analyze verify steadyrest.service"
	# --threshold counts in tenths: 20 is an exposure of 2.0 ("OK").
	systemd-analyze security --offline=yes --threshold=20 "$tmp/steadyrest.service" >/dev/null 2>&1 ||
		fail "systemd-analyze security: exposure above 2.0 (run it for the list)"
	ok "systemd-analyze security --offline: exposure at most 2.0 of 10"
	# The socket unit, beside the service it starts.
	cp "$here/systemd/steadyrest.socket" "$tmp/"
	out=$(systemd-analyze verify "$tmp/steadyrest.socket" 2>&1) || fail "systemd-analyze verify steadyrest.socket: $out"
	[ -z "$out" ] || fail "systemd-analyze verify steadyrest.socket warned: $out"
	ok "systemd-analyze verify steadyrest.socket"
else
	echo "NOTE: systemd-analyze not available: the unit was not verified by systemd (the Go test still checks its settings)"
fi

# Compose file, Dockerfile, unit settings, dashboard JSON and queries.
cd "$root"
go test -count=1 ./deploy/ || fail "go test ./deploy/"
ok "go test ./deploy/"

echo "deploy checks: $passed passed, 0 failed"
