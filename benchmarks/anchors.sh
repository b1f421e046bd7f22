#!/usr/bin/env bash
# The issue-13 anchors side by side, in one run on ONE `blendset export` of a built pipeline
# (default pipelines/best.json): the native gradient-boosted trees, scikit-learn's
# HistGradientBoostingClassifier with the same hyper-parameters, and the researcher's Keras
# LSTM (../shared/tools/keras_anchor.py). Each prints test accuracy, macro-F1 and seconds per
# seed, then mean ± sample std (n − 1).
#
#   CACHE=DIR benchmarks/anchors.sh [SEEDS]          (default seeds 1,2,3)
#
# The pipeline must already be built in $CACHE (`blendset build --pipeline pipelines/best.json
# --cache DIR`); the script builds it again only to check that (every stage cached).
#
# Native, two figures:
#   - "blendset train stage": the pipeline's own train stage, read back with `metrics --json`
#     (per-seed test figures, and the training seconds its run recorded: summed over the
#     seeds, TreeBooster.train of each, at the build's --jobs). Those seconds were measured
#     when the stage ran, perhaps under other load.
#   - "blendset gbt (npz)": the same trainer (TreeBooster.train) rerun here on the exported npz,
#     one process per seed like the other two, with best.json's gbt_* parameters, 2 threads:
#     this is the timing that is side by side with scikit-learn and Keras. Its features are
#     the export's raw values; the train stage standardises them first, which moves a few
#     quantile bin edges, so its accuracies may differ slightly from the stage's.
# scikit-learn: learning_rate 0.05, max_iter 600, l2_regularization 1, early stopping on the
#   export's val split (X_val, y_val) with n_iter_no_change 50, max_leaf_nodes 31,
#   min_samples_leaf 20, max_bins 255, max_features 0.8 (per split, as gbt_feature_fraction);
#   OMP_NUM_THREADS=2 and OMP_WAIT_POLICY=PASSIVE: on a loaded machine OpenMP's default
#   spin-waiting at every barrier makes scikit-learn 10-30x slower (measured: 500 rows x 5
#   features, 147 rounds, 57-76 s by default, 2.4 s passive), a figure of the load, not of the
#   algorithm. It has no row subsampling (gbt_subsample 0.8 has no counterpart).
# Keras: keras_anchor.py --epochs $KERAS_EPOCHS (default 100) --seed S for each seed of
#   $KERAS_SEEDS (default: SEEDS), with $KERAS_PYTHON (default python3; it needs
#   tensorflow-cpu and scikit-learn: use a venv). The LSTM reads the features as a sequence,
#   so its time grows with the feature count (378 steps for best.json). KERAS_SEEDS=none
#   skips it. KERAS_CPUS=1 pins it to that CPU list (taskset) with one TensorFlow thread: its
#   time-step loop keeps about one core busy whatever the thread count, so this frees the
#   other core for about 14% more time (AMD EPYC Zen 4, best.json's export, quiet: 80 s of
#   wall and 84 s of CPU per epoch on 2 threads, 90-91 s per epoch pinned to one).
#
# Results go to out/anchors/ (results.jsonl, one line per model and seed; summary.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-1,2,3}
BIN=${BLENDSET:-.build/release/blendset}
BENCH=${BLENDSET_BENCH:-.build/release/blendset-bench}
PIPELINE=${PIPELINE:-pipelines/best.json}
CACHE=${CACHE:?set CACHE to the cache where $PIPELINE is built}
KERAS_PYTHON=${KERAS_PYTHON:-python3}
KERAS_EPOCHS=${KERAS_EPOCHS:-100}
KERAS_SEEDS=${KERAS_SEEDS:-$SEEDS}
OUT=${OUT:-out/anchors}
mkdir -p "$OUT"

{ lscpu | grep -m1 "Model name"; uname -r; date -u; } > "$OUT/machine.txt" 2>&1 || true
"$BIN" build --pipeline "$PIPELINE" --cache "$CACHE" --jobs 2 > "$OUT/build.txt" 2>&1
"$BIN" metrics --pipeline "$PIPELINE" --cache "$CACHE" --json > "$OUT/native-stage.json"
"$BIN" export --pipeline "$PIPELINE" --cache "$CACHE" --format npz --out "$OUT/dataset.npz" > "$OUT/export.txt"

# best.json's gbt parameters, as the train stage has them (defaults for the ones it leaves out).
NATIVE_OPTIONS=${NATIVE_OPTIONS:-rounds=600 lr=0.05 l2=1 patience=50 max_leaves=31 min_samples_leaf=20 max_bins=255 feature_fraction=0.8 subsample=0.8 threads=2}
SKLEARN_OPTIONS=${SKLEARN_OPTIONS:---lr 0.05 --max-iter 600 --l2 1 --early-stopping-on val --patience 50 --max-leaf-nodes 31 --min-samples-leaf 20 --max-bins 255 --max-features 0.8}

: > "$OUT/results.jsonl"
for seed in ${SEEDS//,/ }; do
    # shellcheck disable=SC2086
    "$BENCH" gbt "$OUT/dataset.npz" seeds="$seed" $NATIVE_OPTIONS | tee -a "$OUT/results.jsonl"
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} python3 benchmarks/sklearn_hgb.py "$OUT/dataset.npz" --seeds "$seed" $SKLEARN_OPTIONS | tee -a "$OUT/results.jsonl"
done
if [ "$KERAS_SEEDS" != none ]; then
    for seed in ${KERAS_SEEDS//,/ }; do
        if [ -n "${KERAS_CPUS:-}" ]; then pin=(taskset -c "$KERAS_CPUS"); threads=1; else pin=(); threads=2; fi
        OMP_NUM_THREADS=$threads TF_NUM_INTRAOP_THREADS=$threads TF_NUM_INTEROP_THREADS=1 "${pin[@]}" "$KERAS_PYTHON" ../shared/tools/keras_anchor.py "$OUT/dataset.npz" \
            --epochs "$KERAS_EPOCHS" --seed "$seed" --out "$OUT/keras-$seed.json" > "$OUT/keras-$seed.log" 2>&1
        python3 - "$OUT/keras-$seed.json" "$seed" <<'PY' | tee -a "$OUT/results.jsonl"
import json, sys
k = json.load(open(sys.argv[1]))
print(json.dumps({"model": f"Keras {k['keras']} LSTM, {k['epochs']} epochs", "seed": int(sys.argv[2]), "seconds": round(k["fit_seconds"], 3),
                  "test_accuracy": round(k["test_accuracy"], 6), "test_macro_f1": round(k["test_macro_f1"], 6)}))
PY
    done
fi

python3 - "$OUT" <<'PY' | tee "$OUT/summary.txt"
import json, statistics, sys
out = sys.argv[1]
rows = [json.loads(l) for l in open(f"{out}/results.jsonl") if l.strip()]
stage = json.load(open(f"{out}/native-stage.json"))
# The train stage's own figures: one row per seed, the recorded seconds (all seeds) on the first.
seeds = stage.get("seeds") or [dict(seed=None, test=stage["test"])]
total = (stage.get("stats") or {}).get("seconds", {}).get("total") if isinstance(stage.get("stats"), dict) else stage.get("seconds")
for i, s in enumerate(seeds):
    rows.insert(i, {"model": "blendset train stage (recorded s: all seeds)", "seed": s["seed"],
                    "seconds": total if i == 0 else None,
                    "test_accuracy": s["test"]["accuracy"], "test_macro_f1": s["test"]["macro_f1"]})
print(open(f"{out}/machine.txt").read().strip())
print(f"{'model':48} {'seed':>4} {'seconds':>9} {'test acc':>9} {'macro-F1':>9}")
for r in rows:
    sec = f"{r['seconds']:9.1f}" if r.get("seconds") is not None else f"{'-':>9}"
    print(f"{r['model']:48} {str(r['seed']):>4} {sec} {r['test_accuracy']:9.4f} {r['test_macro_f1']:9.4f}")
print()
print(f"{'model':48} {'seeds':>5} {'seconds (mean)':>14} {'test acc mean ± std':>20} {'macro-F1 mean ± std':>20}")
for name in dict.fromkeys(r["model"] for r in rows):
    rs = [r for r in rows if r["model"] == name]
    def ms(k):
        xs = [r[k] for r in rs]
        return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs) if len(xs) > 1 else 0:.4f}"
    secs = [r["seconds"] for r in rs if r.get("seconds") is not None]
    sec = f"{statistics.mean(secs):14.1f}" if secs else f"{'-':>14}"
    print(f"{name:48} {len(rs):5d} {sec} {ms('test_accuracy'):>20} {ms('test_macro_f1'):>20}")
if "test" in stage:
    print(f"\nblendset ensemble (the model): test accuracy {stage['test']['accuracy']:.4f}, macro-F1 {stage['test']['macro_f1']:.4f}")
PY
