#!/usr/bin/env bash
# How stable `blendset predict`'s labels are under small changes of the image (issue 14's JPEG
# point): the test images re-encoded as JPEG at several qualities (Pillow), and ±1 gray-level
# noise as a control. For each: the pixel difference from the PNGs, and the share of images
# whose label stays the same, with how close to a decision boundary the changed ones were.
#
#   benchmarks/jpeg_stability.sh MODEL PNG_DIR [OUT]
#
# MODEL is a trained .blsmodel (`blendset metrics VERSION --save DIR`), PNG_DIR the test images
# (`blendset export VERSION --format png --stage blendshapes --split test --rows 100000 --order source
# --out PNG_DIR`). $PY is a Python with Pillow and NumPy (default python3), $B the blendset binary
# (default .build/release/blendset), $QUALITIES the JPEG qualities (default "90 95 97 98 100").
set -euo pipefail
# The arguments are paths from the caller's folder; the script then runs from the project's.
MODEL=$(realpath "${1:?usage: benchmarks/jpeg_stability.sh MODEL PNG_DIR [OUT]}")
PNG=$(realpath "${2:?usage: benchmarks/jpeg_stability.sh MODEL PNG_DIR [OUT]}")
OUT=$(realpath -m "${3:-/tmp/jpeg-stability-$$}")
cd "$(dirname "$0")/.."
PY=${PY:-python3}
B=${B:-.build/release/blendset}
QUALITIES=${QUALITIES:-90 95 97 98 100}
mkdir -p "$OUT"
"$B" predict --model "$MODEL" "$PNG" 2>/dev/null > "$OUT/predict-png.csv"
python3 benchmarks/predict_images_check.py "$OUT/predict-png.csv"
compare() {  # folder, name
  "$PY" benchmarks/perturb_images.py error "$PNG" "$1"
  "$B" predict --model "$MODEL" "$1" 2>/dev/null > "$OUT/predict-$2.csv"
  python3 benchmarks/predict_images_check.py "$OUT/predict-png.csv" "$OUT/predict-$2.csv" | tail -n +2
}
for q in $QUALITIES; do
  echo "== JPEG quality $q"
  "$PY" benchmarks/reencode_jpeg.py "$PNG" "$OUT/jpg$q" "$q" > /dev/null
  compare "$OUT/jpg$q" "jpg$q"
done
for seed in 1 2; do
  echo "== PNG with ±1 noise, seed $seed"
  "$PY" benchmarks/perturb_images.py noise "$PNG" "$OUT/noise1-$seed" 1 "$seed" > /dev/null
  compare "$OUT/noise1-$seed" "noise1-$seed"
done
