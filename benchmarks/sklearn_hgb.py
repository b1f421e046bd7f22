#!/usr/bin/env python3
"""scikit-learn's HistGradientBoostingClassifier on a `blendset export --format npz` file, the
side-by-side reference for blendset's native gradient-boosted trees (train.model "gbt").

    OMP_NUM_THREADS=2 python3 benchmarks/sklearn_hgb.py DATASET.npz [--seeds 1,2,3]

Defaults are the issue's tuned settings: learning_rate 0.05, max_iter 600, l2_regularization 1,
early stopping (scikit-learn holds out 10% of X_train for it; n_iter_no_change 10). Prints one
JSON line per seed: fit seconds, iterations, test accuracy and macro-F1.
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
a = p.parse_args()

d = np.load(a.dataset, allow_pickle=False)
X = {k: d[f"X_{k}"].astype(np.float32) for k in ("train", "val", "test")}
y = {k: d[f"y_{k}"].argmax(axis=1) for k in ("train", "val", "test")}
for seed in [int(s) for s in a.seeds.split(",")]:
    m = HistGradientBoostingClassifier(learning_rate=a.lr, max_iter=a.max_iter, l2_regularization=a.l2,
                                       early_stopping=True, random_state=seed)
    t = time.perf_counter()
    m.fit(X["train"], y["train"])
    seconds = time.perf_counter() - t
    pred = m.predict(X["test"])
    print(json.dumps({"model": f"scikit-learn {sklearn.__version__} HistGradientBoostingClassifier", "seed": seed,
                      "rows": int(X["train"].shape[0]), "features": int(X["train"].shape[1]), "rounds": int(m.n_iter_),
                      "seconds": round(seconds, 3), "test_accuracy": round(float(accuracy_score(y["test"], pred)), 6),
                      "test_macro_f1": round(float(f1_score(y["test"], pred, average="macro")), 6)}), flush=True)
