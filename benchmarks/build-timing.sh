#!/usr/bin/env bash
# Whole-process timings of `blendset build` (release), medians over several runs.
#   benchmarks/build-timing.sh cold [RUNS] [extra build args…]   empty cache each run
#   benchmarks/build-timing.sh noop [RUNS] [extra build args…]   rebuild of a built cache
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-cold}; runs=${2:-5}; shift $(( $# >= 2 ? 2 : $# ))
# Extra arguments go to `blendset build`, e.g. --pipeline benchmarks/pipeline-no-faces.json.
bin=.build/release/blendset
[ -x "$bin" ] || swift build -c release --product blendset >/dev/null
cache=$(mktemp -d /tmp/blendset-bench-cache.XXXXXX)
trap 'rm -rf "$cache"' EXIT
if [ "$mode" = noop ]; then "$bin" build --cache "$cache" "$@" >/dev/null 2>&1; fi
times=()
for _ in $(seq "$runs"); do
  [ "$mode" = cold ] && rm -rf "$cache"
  start=$(date +%s.%N)
  "$bin" build --cache "$cache" "$@" >/dev/null 2>&1
  end=$(date +%s.%N)
  times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", b - a }')")
done
printf '%s\n' "${times[@]}" | sort -n | awk -v mode="$mode" '{ t[NR] = $1 } END {
  m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
  printf "%s build: median %.3f s  (min %.3f, max %.3f, %d runs)\n", mode, m, t[1], t[NR], NR }'
