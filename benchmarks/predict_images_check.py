#!/usr/bin/env python3
"""Check `blendset predict` output on exported images (issue 14's acceptance runs).

    benchmarks/predict_images_check.py PREDICT.csv [OTHER_PREDICT.csv] [--extract EXTRACT.csv]

PREDICT.csv is `blendset predict --model M DIR` output for images written by
`blendset export --format png` (named <row>-<label>-<item>.png, so the true label is the
second field). Prints the accuracy over the images with a face, the no-face count, and
with OTHER_PREDICT.csv (e.g. the same images as JPEG) the share of images whose label is
the same (matched by file stem), how many of the changes lost the face, and how close to a
decision boundary the others were. Either file may also be `predict --input` output (id,
class, "no face" as the class), e.g. for MediaPipe's blendshapes from mediapipe_folder.py.
With --extract, checks that exactly the images that `blendset extract` found no face in are
"no face" in PREDICT.csv.
"""
import csv, os, sys

def rows(path):
    """Image predictions (path, face, class, ...) or `predict --input` ones (id, class, with
    "no face" as the class), keyed by file stem, each with a "face" field of yes / no / error."""
    with open(path) as f:
        out = {}
        for r in csv.DictReader(f):
            if "face" not in r and "class" in r:
                r["face"] = "no" if r["class"] == "no face" else "yes"
            out[os.path.splitext(os.path.basename(r["path"] if "path" in r else r["id"]))[0]] = r
        return out

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
    if not common:
        sys.exit(f"{args[0]} and {args[1]} share no image (matched by file stem): are they predictions for the same folder?")
    same = sum(a[k]["class"] == b[k]["class"] for k in common)
    print(f"same label in {args[1]}: {same}/{len(common)} = {100 * same / len(common):.2f}%")
    # How close to a decision boundary the changed labels were: the gap between the two
    # highest probabilities on the first file's side.
    def margin(r):
        p = sorted((float(v) for c, v in r.items() if c.startswith("p_") and v), reverse=True)
        return p[0] - p[1] if len(p) > 1 else float("nan")
    changed = [k for k in common if a[k]["class"] != b[k]["class"]]
    lost = [k for k in changed if a[k]["face"] == "yes" and b[k]["face"] != "yes"]
    flips = sorted(margin(a[k]) for k in changed if a[k]["face"] == "yes" and b[k]["face"] == "yes")
    every = sorted(margin(r) for r in faces.values())
    if flips:
        under = lambda xs, t: sum(x < t for x in xs)
        print(f"changed: {len(changed)} ({len(lost)} lose their face, {len(flips)} change class); top-two probability gap "
              f"of the class changes: median {flips[len(flips) // 2]:.3f}, {under(flips, 0.05)} of {len(flips)} under 0.05 "
              f"(of all faces: median {every[len(every) // 2]:.3f}, {100 * under(every, 0.05) / len(every):.1f}% under 0.05)")
if extract:
    e = rows(extract)
    no_face_extract = {k for k, r in e.items() if r["detected"] == "0"}
    no_face_predict = {k for k, r in a.items() if r["face"] == "no"}
    print(f"extract: {len(no_face_extract)} no face; predict: {len(no_face_predict)} no face; "
          f"same set: {no_face_extract == no_face_predict}")
