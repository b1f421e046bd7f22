#!/usr/bin/env python3
"""Check `blendset predict` output on exported images (issue 14's acceptance runs).

    benchmarks/predict_images_check.py PREDICT.csv [OTHER_PREDICT.csv] [--extract EXTRACT.csv]

PREDICT.csv is `blendset predict --model M DIR` output for images written by
`blendset export --format png` (named <row>-<label>-<item>.png, so the true label is the
second field). Prints the accuracy over the images with a face, the no-face count, and
with OTHER_PREDICT.csv (e.g. the same images as JPEG) the share of images whose label is
the same (matched by file stem). With --extract, checks that exactly the images that
`blendset extract` found no face in are "no face" in PREDICT.csv.
"""
import csv, os, sys

def rows(path):
    with open(path) as f:
        return {os.path.splitext(os.path.basename(r["path"] if "path" in r else r["id"]))[0]: r for r in csv.DictReader(f)}

args = sys.argv[1:]
extract = None
if "--extract" in args:
    i = args.index("--extract"); extract = args[i + 1]; del args[i:i + 2]
a = rows(args[0])
faces = {k: r for k, r in a.items() if r["face"] == "yes"}
correct = sum(r["class"] == k.split("-")[1] for k, r in faces.items())
print(f"{args[0]}: {len(a)} images, {len(faces)} with a face, {len(a) - len(faces)} no face, "
      f"{sum(r['face'] == 'error' for r in a.values())} errors; accuracy on faces {100 * correct / max(len(faces), 1):.2f}% ({correct}/{len(faces)})")
if len(args) > 1:
    b = rows(args[1])
    common = sorted(set(a) & set(b))
    same = sum(a[k]["class"] == b[k]["class"] for k in common)
    print(f"same label in {args[1]}: {same}/{len(common)} = {100 * same / len(common):.2f}%")
if extract:
    e = rows(extract)
    no_face_extract = {k for k, r in e.items() if r["detected"] == "0"}
    no_face_predict = {k for k, r in a.items() if r["face"] == "no"}
    print(f"extract: {len(no_face_extract)} no face; predict: {len(no_face_predict)} no face; "
          f"same set: {no_face_extract == no_face_predict}")
