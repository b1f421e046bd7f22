#!/usr/bin/env bash
# Single-image latency, warm, single thread (issue 14): a 640x480 RGB JPEG with one face through
# decode -> landmarker -> blendshapes -> model. Both sides are pinned to the same one core
# (taskset -c CORE) and run one after the other in this script, so they see the same machine.
#
#   benchmarks/latency.sh [RUNS] [IMAGE]     (defaults: 50, ../shared/photos/astronaut-640x480.jpg)
#
# $ROUNDS (default 5) rounds of: Python, then each native path; the summary line per path is
# the median of the rounds' ratios (a noisy machine moves single rounds by 20% or more).
#
# Python side: MediaPipe 0.10.14 + the researcher's Keras LSTM (benchmarks/latency_mediapipe.py),
# in the venv at $VENV (default /work/venv-mp):
#   python3 -m venv /work/venv-mp && /work/venv-mp/bin/pip install mediapipe==0.10.14 tensorflow-cpu
# Native side: `blendset-bench image` (release build: swift build -c release --product blendset-bench)
# with $MODEL, a trained .blsmodel (e.g. the default pipeline's, from `blendset metrics --save DIR`),
# once per kernel path ($PATHS, default "avx512 avx2"; BLENDSET_SIMD forces the path). $BENCH_AVX2
# names the binary for the avx2 path (default: the native one); a faithful AVX2 build on an AVX-512
# machine is BLENDSET_TARGET_CPU=znver3 swift build -c release --build-path .build-avx2 --product blendset-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-50}
ROUNDS=${ROUNDS:-5}
IMAGE=${2:-../shared/photos/astronaut-640x480.jpg}
VENV=${VENV:-/work/venv-mp}
CORE=${CORE:-0}
OUT=${OUT:-/tmp/latency-$$}
MODEL=${MODEL:?set MODEL to a trained .blsmodel, e.g. from blendset metrics --save DIR}
PATHS=${PATHS:-avx512 avx2}
mkdir -p "$OUT"
: > "$OUT/ratios.txt"
{ lscpu | grep -m1 "Model name"; grep -o -m1 -w "avx512f" /proc/cpuinfo || echo "no avx512f"; date -u; } >&2

# ROUNDS rounds, each Python then every native path: the machine's speed drifts between
# rounds, so each round's ratio pairs measurements taken moments apart, and the summary is
# the median of those ratios.
for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS" >&2
  echo "python: MediaPipe + Keras, core $CORE, $RUNS runs" >&2
  taskset -c "$CORE" "$VENV/bin/python" benchmarks/latency_mediapipe.py --image "$IMAGE" --runs "$RUNS" > "$OUT/python-$round.json"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("python  total median %.2f ms  (decode %.2f, landmarker+blendshapes %.2f, features %.3f, keras %.2f; keras predict() %.2f)" % tuple([d["ms"][k]["median"] for k in ("total","decode","landmarker","features","keras")] + [d["keras_predict_ms"]["median"]]))' "$OUT/python-$round.json"
  python_ms=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ms"]["total"]["median"])' "$OUT/python-$round.json")
  for path in $PATHS; do
    echo "native: blendset-bench image, BLENDSET_SIMD=$path, core $CORE, $RUNS runs" >&2
    bench=.build/release/blendset-bench
    [ "$path" = avx2 ] && bench=${BENCH_AVX2:-$bench}
    echo "native binary: $bench" >&2
    BLENDSET_SIMD=$path taskset -c "$CORE" "$bench" image "$MODEL" "$IMAGE" ../shared/models/face_landmarker.task "$RUNS" | tee "$OUT/native-$path-$round.txt"
    native_ms=$(sed -n 's/.*median total \([0-9.]*\) ms.*/\1/p' "$OUT/native-$path-$round.txt")
    python3 -c 'import sys; p, n = float(sys.argv[1]), float(sys.argv[2]); print("ratio python / native (%s): %.2f / %.2f ms = %.2fx" % (sys.argv[3], p, n, p / n))' "$python_ms" "$native_ms" "$path"
    echo "$path $python_ms $native_ms" >> "$OUT/ratios.txt"
  done
done
python3 - "$OUT/ratios.txt" <<'SUMMARY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    path, p, n = line.split()
    rows[path].append((float(p), float(n)))
for path, pairs in rows.items():
    ratios = [p / n for p, n in pairs]
    print("summary (%s), %d rounds: python median %.2f ms, native median %.2f ms, ratio per round %s, median ratio %.2fx"
          % (path, len(pairs), statistics.median(p for p, _ in pairs), statistics.median(n for _, n in pairs),
             " ".join("%.2f" % r for r in ratios), statistics.median(ratios)))
SUMMARY
echo "full results: $OUT" >&2
