#!/usr/bin/env python3
"""MediaPipe 0.10.14's blendshapes for every image of a folder, as a CSV that
`blendset predict --model M --input FILE` reads (id, detected, the 52 names): the reference
for how much JPEG re-encoding moves MediaPipe itself (issue 14).

    python benchmarks/mediapipe_folder.py FOLDER OUT.csv [LIMIT]     (a venv with mediapipe==0.10.14)

Gray images are replicated to 3 channels (SRGB), as the FER2013 references were made.
"""
import sys, os, csv
import mediapipe as mp
from mediapipe.tasks.python import vision, BaseOptions
folder, out = sys.argv[1], sys.argv[2]
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 10**9
opts = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path="../shared/models/face_landmarker.task"),
    running_mode=vision.RunningMode.IMAGE, num_faces=1, output_face_blendshapes=True)
lm = vision.FaceLandmarker.create_from_options(opts)
# Only images: an export folder also holds index.csv and export.json.
names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".png", ".jpg", ".jpeg")))[:limit]
rows = []; header = None
import numpy as np
for n in names:
    img = mp.Image.create_from_file(os.path.join(folder, n))
    a = img.numpy_view()
    if a.ndim == 2 or a.shape[-1] == 1:
        a = np.repeat(a.reshape(a.shape[0], a.shape[1], 1), 3, axis=2)
    img = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(a[..., :3]))
    r = lm.detect(img)
    if r.face_blendshapes:
        cats = r.face_blendshapes[0]
        if header is None: header = [c.category_name for c in cats]
        rows.append([os.path.splitext(n)[0], 1] + [f"{c.score:.9g}" for c in cats])
    else:
        rows.append([os.path.splitext(n)[0], 0])
with open(out, "w", newline="") as f:
    w = csv.writer(f); w.writerow(["id", "detected"] + header)
    for r in rows: w.writerow(r + [""] * (2 + len(header) - len(r)))
