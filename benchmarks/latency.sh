#!/usr/bin/env bash
# Single-image latency, warm, single thread (issue 14): a 640x480 RGB JPEG with one face through
# decode -> landmarker -> blendshapes -> model. Both sides are pinned to the same one core
# (taskset -c CORE) and run one after the other in this script, so they see the same machine.
#
#   benchmarks/latency.sh [RUNS] [IMAGE]     (defaults: 50, ../shared/photos/astronaut-640x480.jpg)
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
IMAGE=${2:-../shared/photos/astronaut-640x480.jpg}
VENV=${VENV:-/work/venv-mp}
CORE=${CORE:-0}
OUT=${OUT:-/tmp/latency-$$}
MODEL=${MODEL:?set MODEL to a trained .blsmodel, e.g. from blendset metrics --save DIR}
PATHS=${PATHS:-avx512 avx2}
mkdir -p "$OUT"
{ lscpu | grep -m1 "Model name"; grep -o -m1 -w "avx512f" /proc/cpuinfo || echo "no avx512f"; date -u; } >&2

echo "python: MediaPipe + Keras, core $CORE, $RUNS runs" >&2
taskset -c "$CORE" "$VENV/bin/python" benchmarks/latency_mediapipe.py --image "$IMAGE" --runs "$RUNS" > "$OUT/python.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("python  total median %.2f ms  (decode %.2f, landmarker+blendshapes %.2f, features %.3f, keras %.2f; keras predict() %.2f)" % tuple([d["ms"][k]["median"] for k in ("total","decode","landmarker","features","keras")] + [d["keras_predict_ms"]["median"]]))' "$OUT/python.json"

python_ms=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ms"]["total"]["median"])' "$OUT/python.json")
for path in $PATHS; do
  echo "native: blendset-bench image, BLENDSET_SIMD=$path, core $CORE, $RUNS runs" >&2
  bench=.build/release/blendset-bench
  [ "$path" = avx2 ] && bench=${BENCH_AVX2:-$bench}
  echo "native binary: $bench" >&2
  BLENDSET_SIMD=$path taskset -c "$CORE" "$bench" image "$MODEL" "$IMAGE" ../shared/models/face_landmarker.task "$RUNS" | tee "$OUT/native-$path.txt"
  native_ms=$(sed -n 's/.*median total \([0-9.]*\) ms.*/\1/p' "$OUT/native-$path.txt")
  python3 -c 'import sys; p, n = float(sys.argv[1]), float(sys.argv[2]); print("ratio python / native (%s): %.2f / %.2f ms = %.2fx" % (sys.argv[3], p, n, p / n))' "$python_ms" "$native_ms" "$path"
done
echo "full results: $OUT" >&2
