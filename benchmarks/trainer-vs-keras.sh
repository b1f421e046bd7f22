#!/usr/bin/env bash
# Side-by-side anchor for the native trainer (issue 6): the default pipeline's `train` stage
# and ../shared/tools/keras_anchor.py (TensorFlow/Keras, CPU) on the same dataset version,
# exported as npz. Prints test accuracy, macro-F1 and seconds per epoch of both.
#
#   benchmarks/trainer-vs-keras.sh [EPOCHS]        (default 100)
#
# Needs a release build (swift build -c release) and, for the Keras half,
# `pip install tensorflow-cpu scikit-learn`; without TensorFlow only the native half runs.
# Run it on an otherwise idle machine: both trainers use every core, and timings taken
# while something else runs are not comparable. Results go to out/trainer-vs-keras/.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-100}
BIN=${BLENDSET:-.build/release/blendset}
OUT=out/trainer-vs-keras
mkdir -p "$OUT"

# Native: a build with the epoch count as an override. A configuration trained before comes
# from the cache; its recorded training time is the original run's.
"$BIN" build --set "train.epochs=$EPOCHS" > "$OUT/native-build.txt"
"$BIN" metrics --json > "$OUT/native-$EPOCHS.json"
"$BIN" metrics --save "$OUT/native-model" > /dev/null
"$BIN" export --format npz --out "$OUT/dataset.npz" > /dev/null

if python3 -c "import tensorflow, sklearn" 2> /dev/null; then
    python3 ../shared/tools/keras_anchor.py "$OUT/dataset.npz" --epochs "$EPOCHS" --seed 42 --out "$OUT/keras-$EPOCHS.json" > "$OUT/keras-$EPOCHS.log"
else
    echo "TensorFlow is not installed: Keras half skipped (pip install tensorflow-cpu scikit-learn)" >&2
fi

python3 - "$OUT" "$EPOCHS" <<'PY'
import json, os, sys
out, epochs = sys.argv[1], int(sys.argv[2])
n = json.load(open(f"{out}/native-{epochs}.json"))
rows = [("native (blendset train)", n["test"]["accuracy"], n["test"]["macro_f1"], n["seconds"] / n["epochs"], n["seconds"], n["test"]["confusion"])]
k_path = f"{out}/keras-{epochs}.json"
if os.path.exists(k_path):
    k = json.load(open(k_path))
    rows.append((f"Keras {k['keras']}", k["test_accuracy"], k["test_macro_f1"], k["mean_epoch_seconds"], k["fit_seconds"], k["test_confusion"]))
print(f"{'trainer':26} {'test acc':>9} {'macro-F1':>9} {'s/epoch':>8} {'total s':>8}  confusion (rows = true)")
for name, acc, f1, spe, tot, conf in rows:
    print(f"{name:26} {acc:9.4f} {f1:9.4f} {spe:8.2f} {tot:8.1f}  {conf}")
PY
