#!/usr/bin/env bash
# Runs the "4am storm" (internal/e2e/consistency/cmd/storm) through steadyrest and
# through `rclone serve restic` (the rclone-lag build, same rclone version),
# each on a fresh lagging remote of the same kind, and prints the two side by
# side. Not run by CI: rclone serve restic takes minutes on a lagging remote.
#
#   scripts/compare-storm.sh [-plans N] [-parallel] [-lag 3s]
#
# Needs restic ($RESTIC, else .tools/bin/restic, else restic from PATH).
set -euo pipefail

plans=5
parallel=
lag=3s
while [[ $# -gt 0 ]]; do
	case "$1" in
	-plans) plans="$2"; shift 2 ;;
	-parallel) parallel=-parallel; shift ;;
	-lag) lag="$2"; shift 2 ;;
	*) echo "usage: $0 [-plans N] [-parallel] [-lag DURATION]" >&2; exit 2 ;;
	esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
restic="${RESTIC:-}"
if [[ -z "$restic" ]]; then
	if [[ -x "$root/.tools/bin/restic" ]]; then restic="$root/.tools/bin/restic"; else restic="$(command -v restic)"; fi
fi

work="$(mktemp -d -t compare-storm-XXXXXX)"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

echo "building steadyrest, rclone-lag and storm..." >&2
(cd "$root" && go build -o "$work/bin/steadyrest" ./cmd/steadyrest \
	&& go build -o "$work/bin/rclone-lag" ./cmd/rclone-lag \
	&& go build -o "$work/bin/storm" ./internal/e2e/consistency/cmd/storm)

# wait_addr LOG REGEX: prints the first capture group once the log has it.
wait_addr() {
	for _ in $(seq 1 300); do
		a="$(sed -nE "s/$2/\1/p" "$1" | head -n1)"
		if [[ -n "$a" ]]; then echo "$a"; return 0; fi
		sleep 0.1
	done
	echo "no address in $1:" >&2; cat "$1" >&2; return 1
}

# After init, wait out the lag so that the storm measures lock handling,
# not the "wrong password or no key found" right after init.
init_wait="$(( ${lag%s} + 1 ))s"

remote() { echo ":lag,remote=$1,create_lag=$lag,delete_lag=$lag:"; }

mkdir -p "$work/sr/remote" "$work/sr/state" "$work/rc/remote"
"$work/bin/steadyrest" --remote "$(remote "$work/sr/remote")" --listen 127.0.0.1:0 \
	--state-dir "$work/sr/state" --no-auth --no-request-log >"$work/sr/log" 2>&1 &
pids+=($!)
RCLONE_CONFIG=/nonexistent "$work/bin/rclone-lag" serve restic --addr 127.0.0.1:0 \
	"$(remote "$work/rc/remote")" >"$work/rc/log" 2>&1 &
pids+=($!)
sr_addr="$(wait_addr "$work/sr/log" '.*msg="steadyrest serving".* addr=([0-9.:]+).*')"
rc_addr="$(wait_addr "$work/rc/log" '.*Serving restic REST API on \[https?:\/\/([0-9.:]+)\/.*')"

run_storm() { # name addr
	echo "storm through $1 ($2): $plans plans ${parallel:-back-to-back}, lag $lag" >&2
	"$work/bin/storm" -restic "$restic" -repo "rest:http://$2/storm/" -plans "$plans" $parallel \
		-init -init-wait "$init_wait" -work-dir "$work/$1-work" -json >"$work/$1.json" || true
}
run_storm steadyrest "$sr_addr"
run_storm rclone "$rc_addr"

# summary NAME: ok/total, commands with warning lines, warning lines, wall seconds
summary() {
	python3 - "$work/$1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["commands"]
ok = sum(1 for x in c if x["exit_code"] == 0 and x["json_clean"])
e0 = sum(1 for x in c if x["exit_code"] == 0)
ww = sum(1 for x in c if x["warning_lines"] > 0)
wl = sum(x["warning_lines"] for x in c)
print(f'{ok}/{len(c)} {e0}/{len(c)} {ww} {wl} {r["wall_ns"]/1e9:.1f}')
PY
}
read -r sr_ok sr_e0 sr_ww sr_wl sr_wall <<<"$(summary steadyrest)"
read -r rc_ok rc_e0 rc_ww rc_wl rc_wall <<<"$(summary rclone)"

printf '\n%-34s %14s %22s\n' "storm: $plans plans ${parallel:-back-to-back}, lag $lag" "steadyrest" "rclone serve restic"
printf '%-34s %14s %22s\n' "commands ok (exit 0, JSON only)" "$sr_ok" "$rc_ok"
printf '%-34s %14s %22s\n' "commands exit 0" "$sr_e0" "$rc_e0"
printf '%-34s %14s %22s\n' "commands with warning lines" "$sr_ww" "$rc_ww"
printf '%-34s %14s %22s\n' "warning lines" "$sr_wl" "$rc_wl"
printf '%-34s %14s %22s\n' "wall time (s)" "$sr_wall" "$rc_wall"
echo
echo "first warning lines through rclone serve restic:"
python3 -c '
import json,sys
r=json.load(open(sys.argv[1]))
n=0
for c in r["commands"]:
    for l in c.get("bad_lines") or []:
        if n < 5: print("  plan%02d %s: %s" % (c["plan"], c["command"], l[:160])); n+=1
' "$work/rclone.json"
