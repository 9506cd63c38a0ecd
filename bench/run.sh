#!/usr/bin/env bash
# Benchmarks steadyrest against `rclone serve restic` (rclone v1.76.0, the
# version steadyrest links) in one run, alternating the two servers, and
# prints a markdown table of medians and ratios. Not run by CI: it takes
# minutes and wants an otherwise idle machine.
#
#   bench/run.sh [--rounds 2] [--size 1G] [--plans 15] [--storm-rounds 1]
#                [--snapshots 200] [--packs 100000]
#                [--scenarios throughput,farcloud,storm,list,farwebdav,pcloud,multi,freshread,prune]
#                [--prune-packs 20000] [--prune-rounds 1] [--prune-remotes webdav,pcloud]
#                [--tail 15s] [--peer-limit 10m] [--multi-one-redis] [--check-limit 6m]
#                [--fresh-init-wait 4s]
#                [--json out.json]
#
# BENCH_WORK (default /tmp/steadyrest-bench) keeps generated data between
# runs; RESTIC names the restic binary (default .tools/bin/restic, then
# restic from PATH). Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_WORK:-/tmp/steadyrest-bench}
bin=$work/bin
mkdir -p "$bin"
restic=${RESTIC:-}
if [[ -z $restic ]]; then
  if [[ -x .tools/bin/restic ]]; then restic=$PWD/.tools/bin/restic; else restic=$(command -v restic); fi
fi
echo "building into $bin (restic: $restic, $("$restic" version | head -1))" >&2
go build -o "$bin/steadyrest" ./cmd/steadyrest
go build -o "$bin/rclone-lag" ./cmd/rclone-lag
go build -o "$bin/rclone-lag-stats" ./bench/cmd/rclone-lag-stats
go build -o "$bin/bench" ./bench/cmd/bench
exec "$bin/bench" --steadyrest "$bin/steadyrest" --rclone "$bin/rclone-lag" \
  --rclone-stats "$bin/rclone-lag-stats" --restic "$restic" --work "$work" "$@"
