#!/usr/bin/env bash
# Sharded builds' CPU overhead (issue 15): N shard processes at once on one empty cache, each
# under /usr/bin/time -f "%U %S", then the merge, then an unsharded cold build on another empty
# cache. Prints each process's CPU time (user + sys), the sums and the ratio shards / unsharded,
# and checks that the merge gives the unsharded version id with 0 images extracted.
#   benchmarks/shard-cpu.sh [SHARDS (default 4)] [-- extra build arguments, e.g. --set ...]
# Default: full FER2013, benchmarks/pipeline-dataset.json (several minutes of CPU per side).
# BLENDSET=path/to/blendset picks the binary; WORK=dir keeps the caches there (default: a
# temporary folder, removed at the end).
set -uo pipefail
cd "$(dirname "$0")/.."
shards=${1:-4}; shift || true
[ "${1:-}" = "--" ] && shift
extra=("$@")
bin=${BLENDSET:-.build/release/blendset}
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
pipeline=benchmarks/pipeline-dataset.json
if [ -n "${WORK:-}" ]; then work=$WORK; mkdir -p "$work"; else work=$(mktemp -d /tmp/blendset-shard-cpu.XXXXXX); trap 'rm -rf "$work"' EXIT; fi
rm -rf "$work/sharded" "$work/unsharded"

cpu() { awk '{ printf "%.2f", $1 + $2 }' "$1"; }
version_of() { sed -n 's/^version \([0-9a-f]*\).*/\1/p' "$1" | head -1; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); BLENDSET_SIMD=${BLENDSET_SIMD:-auto}"
pids=()
for k in $(seq 0 $((shards - 1))); do
  /usr/bin/time -f "%U %S" -o "$work/shard-$k.time" \
    "$bin" build --pipeline "$pipeline" --cache "$work/sharded" --shard "$k/$shards" "${extra[@]}" \
    >"$work/shard-$k.out" 2>"$work/shard-$k.err" &
  pids+=($!)
done
failed=0
for k in $(seq 0 $((shards - 1))); do
  wait "${pids[$k]}" || { echo "shard $k/$shards failed:"; tail -5 "$work/shard-$k.err"; failed=1; }
done
[ "$failed" = 0 ] || exit 1
sum=0
for k in $(seq 0 $((shards - 1))); do
  c=$(cpu "$work/shard-$k.time"); sum=$(awk -v a="$sum" -v b="$c" 'BEGIN { printf "%.2f", a + b }')
  last=$(grep -c "also did" "$work/shard-$k.out")
  echo "shard $k/$shards: $c s CPU ($(head -1 "$work/shard-$k.out" | sed 's/^shard [0-9\/]* of plan [0-9a-f]*: //'))$([ "$last" -gt 0 ] && echo '; did the deferred work')"
done

/usr/bin/time -f "%U %S" -o "$work/merge.time" "$bin" build --pipeline "$pipeline" --cache "$work/sharded" "${extra[@]}" >"$work/merge.out" 2>"$work/merge.err" \
  || { echo "merge failed:"; tail -5 "$work/merge.err"; exit 1; }
merge=$(cpu "$work/merge.time")
echo "merge: $merge s CPU; $(grep -o 'face models: [^;]*' "$work/merge.out" | head -1); $(grep -o 'shards: .*' "$work/merge.out" | head -1)"

/usr/bin/time -f "%U %S" -o "$work/unsharded.time" "$bin" build --pipeline "$pipeline" --cache "$work/unsharded" "${extra[@]}" >"$work/unsharded.out" 2>"$work/unsharded.err" \
  || { echo "unsharded build failed:"; tail -5 "$work/unsharded.err"; exit 1; }
whole=$(cpu "$work/unsharded.time")
echo "unsharded cold build: $whole s CPU"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

a=$(version_of "$work/merge.out"); b=$(version_of "$work/unsharded.out")
echo "version: merge $a, unsharded $b: $([ -n "$a" ] && [ "$a" = "$b" ] && echo same || echo DIFFERENT)"
awk -v s="$sum" -v m="$merge" -v w="$whole" -v n="$shards" 'BEGIN {
  printf "shards summed: %.1f s vs unsharded %.1f s: ratio %.3f (%+.1f %%); with the merge %.1f s: %.3f\n", s, w, s / w, (s / w - 1) * 100, s + m, (s + m) / w
}'
[ -n "$a" ] && [ "$a" = "$b" ]
