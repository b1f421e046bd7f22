#!/usr/bin/env python3
"""Small, known image perturbations for the label-stability runs (issue 14's JPEG point).

    benchmarks/perturb_images.py noise SRC_DIR DST_DIR AMPLITUDE SEED
        writes DST_DIR/<name>.png: each SRC_DIR/<name>.png plus seeded uniform integer noise
        in [-AMPLITUDE, AMPLITUDE] per pixel, clipped to 0..255
    benchmarks/perturb_images.py error SRC_DIR DST_DIR
        how far DST_DIR's images (<name>.jpg or <name>.png) are from SRC_DIR's PNGs: the mean
        over images of the per-image RMS pixel difference, and the largest single difference

Needs Pillow and NumPy (`pip install Pillow numpy`).
"""
import os, sys
import numpy as np
from PIL import Image

def pngs(folder):
    return sorted(n for n in os.listdir(folder) if n.lower().endswith(".png"))

def noise(src, dst, amplitude, seed):
    os.makedirs(dst, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in pngs(src):
        pixels = np.asarray(Image.open(os.path.join(src, name))).astype(np.int16)
        noisy = pixels + rng.integers(-amplitude, amplitude + 1, size=pixels.shape)
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(os.path.join(dst, name))
    print(f"wrote {len(pngs(src))} PNG files with ±{amplitude} noise (seed {seed}) to {dst}")

def error(src, dst):
    rms, largest, count = [], 0.0, 0
    for name in pngs(src):
        stem = name[:-4]
        other = next((os.path.join(dst, stem + e) for e in (".jpg", ".jpeg", ".png") if os.path.exists(os.path.join(dst, stem + e))), None)
        if other is None:
            sys.exit(f"{dst}: no image named {stem}.jpg, .jpeg or .png to compare with {os.path.join(src, name)}")
        a = np.asarray(Image.open(os.path.join(src, name))).astype(float)
        b = np.asarray(Image.open(other)).astype(float)
        if a.shape != b.shape:
            sys.exit(f"{other}: {b.shape} pixels, but {os.path.join(src, name)} has {a.shape}")
        rms.append(np.sqrt(((a - b) ** 2).mean())); largest = max(largest, np.abs(a - b).max()); count += 1
    print(f"{dst}: {count} images; RMS pixel difference, mean over images {np.mean(rms):.3f}; largest difference {largest:.0f}")

if len(sys.argv) == 6 and sys.argv[1] == "noise":
    noise(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
elif len(sys.argv) == 4 and sys.argv[1] == "error":
    error(sys.argv[2], sys.argv[3])
else:
    sys.exit(__doc__)
