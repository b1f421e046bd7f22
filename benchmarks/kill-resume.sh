#!/usr/bin/env bash
# Crash safety, re-checked end to end with the built binary (issue 10):
#   1. kill -9: TRIALS fixture builds, each into a fresh cache, killed at a seeded random moment
#      spread over a clean build's duration, then rebuilt; the version id must equal a clean build's.
#   2. concurrency: 3 builds started at once on one fresh cache wait for the lock and give that id.
#   3. full disk (root only): a build into a 2 MB tmpfs exits 74 and leaves nothing half-written
#      (no .tmp- files, every object's SHA-256 equals its name).
# Usage: benchmarks/kill-resume.sh [TRIALS (default 20)] [SEED (default 1)]
set -uo pipefail
cd "$(dirname "$0")/.."
trials=${1:-20}; seed=${2:-1}
bin=${BLENDSET:-.build/release/blendset}  # or BLENDSET=path/to/blendset
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
fixture=$(cd ../shared/fixtures && pwd)/fer2013-mini.csv
args=(--pipeline pipeline.json --set "ingest.source=$fixture" --set augment.per_class_target=0
      --set balance.per_class=50 --set train.epochs=3 --jobs 2)
work=$(mktemp -d /tmp/blendset-kill-resume.XXXXXX)
trap 'mountpoint -q "$work/full" 2>/dev/null && umount "$work/full"; rm -rf "$work"' EXIT

version_of() { sed -n 's/.*"version" *: *"\([0-9a-f]\{64\}\)".*/\1/p' "$1" | tail -1; }
now_ms() { date +%s%3N; }

# A clean build: the reference id and the time window to kill in.
start=$(now_ms)
"$bin" build --cache "$work/clean" --json "${args[@]}" >"$work/clean.json" 2>"$work/clean.err" || { cat "$work/clean.err"; exit 1; }
clean_ms=$(( $(now_ms) - start ))
clean=$(version_of "$work/clean.json")
echo "clean build: ${clean:0:12} in ${clean_ms} ms"

# 1. kill -9 at seeded moments over [0, clean build time).
RANDOM=$seed
ok=0; killed=0; finished=0
for i in $(seq "$trials"); do
  cache="$work/trial-$i"
  delay_ms=$(( (RANDOM * 32768 + RANDOM) % clean_ms ))
  "$bin" build --cache "$cache" "${args[@]}" >/dev/null 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); how=killed; else finished=$((finished + 1)); how=finished; fi
  wait "$pid" 2>/dev/null
  "$bin" build --cache "$cache" --json "${args[@]}" >"$work/resume-$i.json" 2>"$work/resume-$i.err"
  status=$?
  id=$(version_of "$work/resume-$i.json")
  if [ "$status" = 0 ] && [ "$id" = "$clean" ]; then ok=$((ok + 1)); verdict=ok; else verdict="FAILED (exit $status, id ${id:0:12})"; sed 's/^/    /' "$work/resume-$i.err"; fi
  printf 'trial %2d: %-8s at %5d ms → %s\n' "$i" "$how" "$delay_ms" "$verdict"
  rm -rf "$cache"
done
echo "kill -9: $ok/$trials resumed to ${clean:0:12} ($killed killed mid-build, $finished had finished)"

# 2. Three concurrent builds on one fresh cache.
pids=()
for j in 1 2 3; do
  "$bin" build --cache "$work/shared-cache" --json "${args[@]}" >"$work/concurrent-$j.json" 2>"$work/concurrent-$j.err" &
  pids+=($!)
done
same=0
for j in 1 2 3; do
  wait "${pids[$((j - 1))]}"; status=$?
  id=$(version_of "$work/concurrent-$j.json")
  waited=$(grep -c "locked by another build" "$work/concurrent-$j.err")
  [ "$status" = 0 ] && [ "$id" = "$clean" ] && same=$((same + 1))
  echo "concurrent build $j: exit $status, id ${id:0:12}, waited for the lock: $([ "$waited" -gt 0 ] && echo yes || echo no)"
done
echo "concurrency: $same/3 gave ${clean:0:12}"

# 3. Full disk: a 2 MB tmpfs (needs root to mount).
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$work/full"
  mount -t tmpfs -o size=2m tmpfs "$work/full"
  "$bin" build --cache "$work/full/cache" "${args[@]}" >/dev/null 2>"$work/full.err"
  status=$?
  temporaries=$(find "$work/full" -name '.tmp-*' | wc -l)
  bad=0; objects=0
  while IFS= read -r f; do
    objects=$((objects + 1))
    name=$(basename "$(dirname "$f")")$(basename "$f")
    [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$name" ] || bad=$((bad + 1))
  done < <(find "$work/full/cache/objects" -type f 2>/dev/null)
  echo "full disk: exit $status ($(grep -o 'No space left on device' "$work/full.err" | head -1)); $objects objects, $bad damaged; $temporaries .tmp- files left"
  umount "$work/full"
else
  echo "full disk: skipped (mounting a tmpfs needs root)"
fi
[ "$ok" = "$trials" ] && [ "$same" = 3 ]
