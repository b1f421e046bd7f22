#!/usr/bin/env python3
"""MediaPipe's own Face Landmarker over FER2013 rows, for a side-by-side speed comparison
with `blendset extract`. Needs `pip install mediapipe==0.10.14 numpy`.

    benchmarks/mediapipe_extract.py CSV[.zst] MODEL.task --emotions 3,4,6 --limit N --processes 2

Runs as MediaPipe was run for the references: Tasks API, IMAGE mode, one face, blendshapes
on, each 48x48 gray image replicated to RGB. Prints images/s over all processes.
"""
import argparse, csv, io, multiprocessing as mp, subprocess, time
import numpy as np

def rows(path, emotions, limit):
    text = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True, text=True).stdout if path.endswith(".zst") else open(path).read()
    out = []
    for r in csv.DictReader(io.StringIO(text)):
        if emotions and int(r["emotion"]) not in emotions:
            continue
        out.append(np.array(r["pixels"].split(), dtype=np.uint8).reshape(48, 48))
        if len(out) == limit:
            break
    return out

def work(args):
    model, images = args
    import mediapipe as mp_
    from mediapipe.tasks.python import vision, BaseOptions
    options = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=model),
                                           running_mode=vision.RunningMode.IMAGE, num_faces=1,
                                           output_face_blendshapes=True)
    faces = 0
    with vision.FaceLandmarker.create_from_options(options) as landmarker:
        for g in images:
            rgb = np.ascontiguousarray(np.stack([g, g, g], axis=-1))
            result = landmarker.detect(mp_.Image(image_format=mp_.ImageFormat.SRGB, data=rgb))
            faces += bool(result.face_blendshapes)
    return faces

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("csv"); p.add_argument("model")
    p.add_argument("--emotions", default="3,4,6"); p.add_argument("--limit", type=int, default=2000)
    p.add_argument("--processes", type=int, default=2)
    a = p.parse_args()
    images = rows(a.csv, {int(e) for e in a.emotions.split(",")} if a.emotions else None, a.limit)
    chunks = [(a.model, images[i::a.processes]) for i in range(a.processes)]
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(a.processes) as pool:
        faces = sum(pool.map(work, chunks))
    seconds = time.perf_counter() - start
    print(f"mediapipe: {len(images)} images, {faces} with a face, {seconds:.1f} s, {len(images) / seconds:.1f} images/s "
          f"on {a.processes} processes (includes model loading)")
