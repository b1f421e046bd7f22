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
# Native side: to be added (blendset's own image path, release build).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-50}
IMAGE=${2:-../shared/photos/astronaut-640x480.jpg}
VENV=${VENV:-/work/venv-mp}
CORE=${CORE:-0}
OUT=${OUT:-/tmp/latency-$$}
mkdir -p "$OUT"

echo "python: MediaPipe + Keras, core $CORE, $RUNS runs" >&2
taskset -c "$CORE" "$VENV/bin/python" benchmarks/latency_mediapipe.py --image "$IMAGE" --runs "$RUNS" > "$OUT/python.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("python  total median %.2f ms  (decode %.2f, landmarker+blendshapes %.2f, features %.3f, keras %.2f; keras predict() %.2f)" % tuple([d["ms"][k]["median"] for k in ("total","decode","landmarker","features","keras")] + [d["keras_predict_ms"]["median"]]))' "$OUT/python.json"

# Native side (the lead adds it here): the same image, the same core, the same RUNS, e.g.
#   taskset -c "$CORE" .build/release/blendset-bench latency --image "$IMAGE" --runs "$RUNS" > "$OUT/native.json"
# then print the ratio python / native of the total medians.
echo "full results: $OUT" >&2
