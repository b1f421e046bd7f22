# Mean test accuracy of scikit-learn HistGradientBoosting (lr 0.05, 600 iterations, L2 1, early
# stopping; seeds 1,2,3 or $SEEDS) on a blendset npz export; extra arguments are regexes of the
# geo_* columns to keep (every non-geo_ column is always kept). Usage: features_hgb.py FILE.npz LABEL [REGEX ...]
import sys, time, json
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score, accuracy_score
# usage: hgb.py file.npz label [feature-prefix-filter...]
f = np.load(sys.argv[1]); label = sys.argv[2]
names = [str(n) for n in f["feature_names"]]
keep = list(range(len(names)))
if len(sys.argv) > 3:
    import re
    pats = sys.argv[3:]
    keep = [i for i, n in enumerate(names) if not n.startswith('geo_') or any(re.match(p, n) for p in pats)]
X = {s: f["X_" + s][:, keep] for s in ["train", "val", "test"]}
y = {s: f["y_" + s].argmax(1) for s in ["train", "val", "test"]}
accs, f1s, secs = [], [], []
import os
for seed in [int(s) for s in os.environ.get("SEEDS", "1,2,3").split(",")]:
    t = time.time()
    m = HistGradientBoostingClassifier(learning_rate=0.05, max_iter=600, l2_regularization=1.0, early_stopping=True, random_state=seed)
    m.fit(X["train"], y["train"])
    secs.append(time.time() - t)
    p = m.predict(X["test"])
    accs.append(accuracy_score(y["test"], p)); f1s.append(f1_score(y["test"], p, average="macro"))
print(json.dumps({"label": label, "features": len(keep), "test_acc": [round(a, 4) for a in accs], "mean_acc": round(float(np.mean(accs)), 4),
                  "std_acc": round(float(np.std(accs, ddof=1)), 4) if len(accs) > 1 else None, "mean_macro_f1": round(float(np.mean(f1s)), 4), "seconds": round(float(np.mean(secs)), 1),
                  "iters": int(m.n_iter_)}), flush=True)
