#!/usr/bin/env python3
"""Re-encode every PNG of a folder as JPEG with Pillow (issue 14's JPEG acceptance).

    benchmarks/reencode_jpeg.py SRC_DIR DST_DIR [QUALITY]

Writes DST_DIR/<name>.jpg for each SRC_DIR/<name>.png (quality 95 by default, Pillow's
default 4:2:0 subsampling for colour, gray stays gray). Needs Pillow (`pip install Pillow`).
"""
import os, sys
from PIL import Image

src, dst = sys.argv[1], sys.argv[2]
quality = int(sys.argv[3]) if len(sys.argv) > 3 else 95
os.makedirs(dst, exist_ok=True)
n = 0
for name in sorted(os.listdir(src)):
    if name.lower().endswith(".png"):
        Image.open(os.path.join(src, name)).save(os.path.join(dst, name[:-4] + ".jpg"), quality=quality)
        n += 1
print(f"wrote {n} JPEG files (quality {quality}) to {dst}")
