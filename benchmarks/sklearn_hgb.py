#!/usr/bin/env python3
"""scikit-learn's HistGradientBoostingClassifier on a `blendset export --format npz` file, the
side-by-side reference for blendset's native gradient-boosted trees (train.model "gbt").

    OMP_NUM_THREADS=2 python3 benchmarks/sklearn_hgb.py DATASET.npz [--seeds 1,2,3]

Defaults are the issue's tuned settings: learning_rate 0.05, max_iter 600, l2_regularization 1,
early stopping (scikit-learn holds out 10% of X_train for it; n_iter_no_change 10). Prints one
JSON line per seed: fit seconds, iterations, test accuracy and macro-F1.

`--early-stopping-on val` early-stops on the file's X_val / y_val instead (as blendset's gbt
does), so all of X_train is fitted; `--patience`, `--max-leaf-nodes`, `--min-samples-leaf`,
`--max-bins` and `--max-features` (scikit-learn's per-split feature share, as blendset's
gbt_feature_fraction) match the other gbt_* parameters (benchmarks/anchors.sh).
"""
import argparse
import json
import time

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, f1_score

p = argparse.ArgumentParser()
p.add_argument("dataset")
p.add_argument("--seeds", default="1,2,3")
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--max-iter", type=int, default=600)
p.add_argument("--l2", type=float, default=1.0)
p.add_argument("--early-stopping-on", choices=["train", "val"], default="train")
p.add_argument("--patience", type=int, default=10)
p.add_argument("--max-leaf-nodes", type=int, default=31)
p.add_argument("--min-samples-leaf", type=int, default=20)
p.add_argument("--max-bins", type=int, default=255)
p.add_argument("--max-features", type=float, default=1.0)
a = p.parse_args()

d = np.load(a.dataset, allow_pickle=False)
X = {k: d[f"X_{k}"].astype(np.float32) for k in ("train", "val", "test")}
y = {k: d[f"y_{k}"].argmax(axis=1) for k in ("train", "val", "test")}
for seed in [int(s) for s in a.seeds.split(",")]:
    m = HistGradientBoostingClassifier(learning_rate=a.lr, max_iter=a.max_iter, l2_regularization=a.l2,
                                       early_stopping=True, n_iter_no_change=a.patience, max_leaf_nodes=a.max_leaf_nodes,
                                       min_samples_leaf=a.min_samples_leaf, max_bins=a.max_bins, max_features=a.max_features,
                                       random_state=seed)
    held_out = {"X_val": X["val"], "y_val": y["val"]} if a.early_stopping_on == "val" else {}
    t = time.perf_counter()
    m.fit(X["train"], y["train"], **held_out)
    seconds = time.perf_counter() - t
    pred = m.predict(X["test"])
    print(json.dumps({"model": f"scikit-learn {sklearn.__version__} HistGradientBoostingClassifier", "seed": seed,
                      "rows": int(X["train"].shape[0]), "features": int(X["train"].shape[1]), "rounds": int(m.n_iter_),
                      "seconds": round(seconds, 3), "test_accuracy": round(float(accuracy_score(y["test"], pred)), 6),
                      "test_macro_f1": round(float(f1_score(y["test"], pred, average="macro")), 6)}), flush=True)
