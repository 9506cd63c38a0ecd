#!/usr/bin/env bash
# Runs the "4am storm" (internal/e2e/consistency/cmd/storm) through steadyrest and
# through `rclone serve restic` (the rclone-lag build: rclone v1.76.0, the
# version steadyrest links), both on rclone's real pcloud backend talking to
# one local pCloud API emulator (cmd/pcloud-emulator) with pCloud's
# eventual consistency switched on, and prints the two side by side.
# Everything listens on 127.0.0.1 only. Not run by CI.
#
#   scripts/compare-pcloud.sh [-plans N] [-parallel] [-lag 2s] [-error-rate 0.02] [-latency 5ms]
#
# Needs restic ($RESTIC, else .tools/bin/restic, else restic from PATH) and python3.
set -euo pipefail

plans=5
parallel=
lag=2s
error_rate=0.02
latency=5ms
timeout=2m
while [[ $# -gt 0 ]]; do
	case "$1" in
	-plans) plans="$2"; shift 2 ;;
	-parallel) parallel=-parallel; shift ;;
	-lag) lag="$2"; shift 2 ;;
	-error-rate) error_rate="$2"; shift 2 ;;
	-latency) latency="$2"; shift 2 ;;
	-timeout) timeout="$2"; shift 2 ;;
	*) echo "usage: $0 [-plans N] [-parallel] [-lag DURATION] [-error-rate 0..1] [-latency DURATION] [-timeout DURATION]" >&2; exit 2 ;;
	esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
restic="${RESTIC:-}"
if [[ -z "$restic" ]]; then
	if [[ -x "$root/.tools/bin/restic" ]]; then restic="$root/.tools/bin/restic"; else restic="$(command -v restic)"; fi
fi

work="$(mktemp -d -t compare-pcloud-XXXXXX)"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

# Built rather than `go run`, so that the process this script stops is the
# emulator itself and not a go command that would leave it running.
echo "building steadyrest, rclone-lag, pcloud-emulator and storm..." >&2
(cd "$root" && go build -o "$work/bin/" ./cmd/steadyrest ./cmd/rclone-lag ./cmd/pcloud-emulator ./internal/e2e/consistency/cmd/storm)

# wait_addr LOG REGEX: prints the first capture group once the log has it.
wait_addr() {
	for _ in $(seq 1 300); do
		a="$(sed -nE "s/$2/\1/p" "$1" | head -n1)"
		if [[ -n "$a" ]]; then echo "$a"; return 0; fi
		sleep 0.1
	done
	echo "no address in $1:" >&2; cat "$1" >&2; return 1
}

conf="$work/rclone.conf"
"$work/bin/pcloud-emulator" -list-lag "$lag" -fresh-delete-fails -fresh-link-fails \
	-error-rate "$error_rate" -latency "$latency" -rclone-conf "$conf" -remote-name pcloudemu >"$work/emu.log" 2>&1 &
emu_pid=$!
pids+=($emu_pid)
emu_url="$(wait_addr "$work/emu.log" '^pCloud emulator listening on (https:[^ ]+).*')"
for _ in $(seq 1 50); do [[ -s "$conf" ]] && break; sleep 0.1; done
echo "pCloud emulator on $emu_url: list lag $lag, fresh deletes and links refused, error rate $error_rate, latency $latency" >&2

mkdir -p "$work/sr/state"
"$work/bin/steadyrest" --remote pcloudemu:steadyrest --rclone-config "$conf" --listen 127.0.0.1:0 \
	--state-dir "$work/sr/state" --no-auth --no-request-log >"$work/sr.log" 2>&1 &
pids+=($!)
"$work/bin/rclone-lag" serve restic --config "$conf" --addr 127.0.0.1:0 pcloudemu:rclone >"$work/rc.log" 2>&1 &
pids+=($!)
sr_addr="$(wait_addr "$work/sr.log" '.*msg="steadyrest serving".* addr=([0-9.:]+).*')"
rc_addr="$(wait_addr "$work/rc.log" '.*Serving restic REST API on \[https?:\/\/([0-9.:]+)\/.*')"

# After init, wait out the lag so that the storm measures lock handling,
# not the "wrong password or no key found" right after init (which rclone
# serve restic shows and steadyrest does not; see internal/e2e/pcloud).
init_wait="$(python3 -c 'import re,sys; m=re.fullmatch(r"([0-9.]+)(ms|s|m)",sys.argv[1]); v=float(m[1])*{"ms":.001,"s":1,"m":60}[m[2]]; print(f"{v+1:.3f}s")' "$lag")"

run_storm() { # name addr
	echo "storm through $1 ($2): $plans plans ${parallel:-back-to-back}" >&2
	"$work/bin/storm" -restic "$restic" -repo "rest:http://$2/storm/" -plans "$plans" $parallel \
		-init -init-wait "$init_wait" -timeout "$timeout" -work-dir "$work/$1-work" -json >"$work/$1.json" || true
}
run_storm steadyrest "$sr_addr"
run_storm rclone "$rc_addr"

# summary NAME: ok/total, exit 0/total, commands with warning lines, warning lines, wall seconds
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

title="storm: $plans plans ${parallel:-back-to-back}, pcloud emulator lag $lag, errors $error_rate"
printf '\n%-50s %12s %22s\n' "$title" "steadyrest" "rclone serve restic"
printf '%-50s %12s %22s\n' "commands ok (exit 0, JSON only)" "$sr_ok" "$rc_ok"
printf '%-50s %12s %22s\n' "commands exit 0" "$sr_e0" "$rc_e0"
printf '%-50s %12s %22s\n' "commands with warning lines" "$sr_ww" "$rc_ww"
printf '%-50s %12s %22s\n' "warning lines" "$sr_wl" "$rc_wl"
printf '%-50s %12s %22s\n' "wall time (s)" "$sr_wall" "$rc_wall"
for name in steadyrest rclone; do
	echo
	echo "first warning lines and failures through $name:"
	python3 -c '
import json,sys
r=json.load(open(sys.argv[1]))
n=0
for c in r["commands"]:
    lines = list(c.get("bad_lines") or [])
    if c["exit_code"] != 0 and not lines:
        lines = ["exit %d" % c["exit_code"]]
    for l in lines:
        if n < 6: print("  plan%02d %s: %s" % (c["plan"], c["command"], l[:150])); n+=1
if n == 0: print("  (none)")
' "$work/$name.json"
done
# Stop the emulator now so that it logs its call counts.
kill "$emu_pid" 2>/dev/null || true
wait "$emu_pid" 2>/dev/null || true
echo
echo "emulator: $(sed -nE 's/.*(msg=|INFO )stopping (.*)/\2/p' "$work/emu.log")"
