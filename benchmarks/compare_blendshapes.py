#!/usr/bin/env python3
"""Compare `blendset extract` output with MediaPipe's reference blendshapes.

    benchmarks/compare_blendshapes.py OURS.csv REFERENCE.csv[.zst]

OURS is `id,row,detected,<52 names>` (row = 0-based data row); REFERENCE is MediaPipe's
file with a `fer2013_row` column (or `fixture_row` for the mini fixture). Prints the
face-found agreement and the |Δ| of the 52 scores (median, 99th percentile, max) over
the rows both found a face in, against the bounds of issue 3.
"""
import csv, io, subprocess, sys
import numpy as np

def read(path):
    if path.endswith(".zst"):
        text = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True, text=True).stdout
    else:
        text = open(path).read()
    return list(csv.DictReader(io.StringIO(text)))

ours_rows, ref_rows = read(sys.argv[1]), read(sys.argv[2])
key = "fer2013_row" if "fer2013_row" in ref_rows[0] else "fixture_row"
names = [n for n in ours_rows[0].keys() if n not in ("id", "row", "detected")]
ours = {int(r["row"]): r for r in ours_rows}
common = [r for r in ref_rows if int(r[key]) in ours]
missing = len(ref_rows) - len(common)
agree = sum((ours[int(r[key])]["detected"] == "1") == (r["detected"] in ("1", "True", "true")) for r in common)
both = [(ours[int(r[key])], r) for r in common if ours[int(r[key])]["detected"] == "1" and r["detected"] in ("1", "True", "true")]
d = np.abs(np.array([[float(o[n]) for n in names] for o, _ in both]) - np.array([[float(r[n]) for n in names] for _, r in both]))
agreement = agree / len(common)
print(f"reference rows: {len(ref_rows)}, compared: {len(common)}, missing from ours: {missing}")
print(f"face found / not found agrees: {agree}/{len(common)} = {100 * agreement:.3f}%  (bound >= 99.8%)")
print(f"blendshape |delta| over {len(both)} faces x {len(names)} scores: median {np.median(d):.3e} (bound <= 1e-4), "
      f"p99 {np.percentile(d, 99):.3e} (bound <= 2e-3), max {d.max():.3e}")
ok = agreement >= 0.998 and np.median(d) <= 1e-4 and np.percentile(d, 99) <= 2e-3 and missing == 0
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
