#!/usr/bin/env bash
# Sharded builds under stress, on the mini fixture (issue 15):
#   1. SHARDS shard processes started at the same moment on one empty cache, then the merge,
#      ROUNDS times: every merge must give the unsharded version id with 0 images extracted,
#      and `blendset check` must find nothing wrong.
#   2. kill -9 of one shard mid-run, then that index rerun alone, then the merge: the clean id.
# Usage: benchmarks/shard-stress.sh [SHARDS (default 16)] [ROUNDS (default 10)]
set -uo pipefail
cd "$(dirname "$0")/.."
shards=${1:-16}; rounds=${2:-10}
bin=${BLENDSET:-.build/release/blendset}
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
fixture=$(cd ../shared/fixtures && pwd)/fer2013-mini.csv
# A class target the fixture cannot reach without filling, so the deferred work runs too.
args=(--pipeline benchmarks/pipeline-dataset.json --set "ingest.source=$fixture" --set augment.per_class_target=60 --set balance.per_class=50)
work=$(mktemp -d /tmp/blendset-shard-stress.XXXXXX)
trap 'rm -rf "$work"' EXIT
version_of() { sed -n 's/^version \([0-9a-f]*\).*/\1/p' "$1" | head -1; }

"$bin" build --cache "$work/clean" "${args[@]}" >"$work/clean.out" 2>&1 || { cat "$work/clean.out"; exit 1; }
clean=$(version_of "$work/clean.out")
echo "unsharded: $clean"

ok=0
for round in $(seq "$rounds"); do
  cache="$work/round-$round"
  pids=()
  for k in $(seq 0 $((shards - 1))); do
    "$bin" build --cache "$cache" --shard "$k/$shards" --jobs 1 "${args[@]}" >"$work/shard-$k.out" 2>&1 &
    pids+=($!)
  done
  failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  "$bin" build --cache "$cache" "${args[@]}" >"$work/merge.out" 2>&1
  id=$(version_of "$work/merge.out")
  extracted=$(grep -o 'face models: [0-9]* images extracted' "$work/merge.out" | head -1)
  "$bin" check --cache "$cache" >"$work/check.out" 2>&1; check=$?
  if [ "$failed" = 0 ] && [ "$id" = "$clean" ] && [ "$extracted" = "face models: 0 images extracted" ] && [ "$check" = 0 ]; then
    ok=$((ok + 1)); verdict=ok
  else
    verdict="FAILED ($failed shards failed, id $id, $extracted, check exit $check)"
  fi
  echo "round $round: $shards shards, merge $id, $extracted, check exit $check: $verdict"
  rm -rf "$cache"
done
echo "$shards shards at once: $ok/$rounds rounds gave $clean with 0 images extracted and a clean check"

# kill -9 of shard 1 of 4 once it has computed something, then rerun it alone.
cache="$work/killed"
pids=()
for k in 0 1 2 3; do
  "$bin" build --cache "$cache" --shard "$k/4" --jobs 1 "${args[@]}" >"$work/k-$k.out" 2>&1 &
  pids+=($!)
done
for _ in $(seq 200); do
  [ -n "$(find "$cache/memo" -name '*.pack' 2>/dev/null | head -1)" ] && break
  sleep 0.05
done
kill -9 "${pids[1]}" 2>/dev/null && killed=yes || killed="no (it had finished)"
for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
"$bin" build --cache "$cache" --shard 1/4 --jobs 1 "${args[@]}" >"$work/rerun.out" 2>&1 || { echo "rerun failed"; cat "$work/rerun.out"; exit 1; }
"$bin" build --cache "$cache" "${args[@]}" >"$work/merge.out" 2>&1
id=$(version_of "$work/merge.out")
echo "kill -9 of shard 1/4: killed $killed; rerun alone: $(grep '^shard 1/4 of plan' "$work/rerun.out" | sed 's/^shard [0-9\/]* of plan [0-9a-f]*: //'); merge $id, $(grep -o 'face models: [0-9]* images extracted' "$work/merge.out" | head -1): $([ "$id" = "$clean" ] && echo same as unsharded || echo DIFFERENT)"
[ "$ok" = "$rounds" ] && [ "$id" = "$clean" ]
