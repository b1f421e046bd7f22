#!/usr/bin/env python3
"""Python side of the single-image latency benchmark (issue 14): one photo, warm, single thread,
decode -> MediaPipe FaceLandmarker (IMAGE mode, blendshapes on) -> the 33 features -> the
researcher's Keras LSTM. Prints one JSON object with the median (and min, max) per stage.

    python3 -m venv /work/venv-mp && /work/venv-mp/bin/pip install mediapipe==0.10.14 tensorflow-cpu
    taskset -c 0 /work/venv-mp/bin/python benchmarks/latency_mediapipe.py [--image F] [--runs N]

Run it through benchmarks/latency.sh, which pins it to one core. The Keras model is the default
recipe's architecture (tools/keras_anchor.py: (33, 1) -> LSTM(33, relu, return_sequences) ->
LSTM(12, relu) -> Dense(3, softmax)) with seeded random weights: the weights do not change the
time. It is called as a compiled graph (tf.function around model(x, training=False)), the
fastest Keras path for one row; model.predict(x), which many scripts use, is timed apart as
keras_predict_ms (it adds per-call overhead).
"""
import argparse, json, os, statistics, time

# One thread everywhere, set before TensorFlow and MediaPipe load.
for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FEATURES = [  # BlendshapesStage.defaultFeatures, the default pipeline's 33 features in model order
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekSquintLeft", "cheekSquintRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight",
    "jawOpen", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
]

ap = argparse.ArgumentParser()
ap.add_argument("--image", default="../shared/photos/astronaut-640x480.jpg")
ap.add_argument("--model", default="../shared/models/face_landmarker.task")
ap.add_argument("--runs", type=int, default=50)
ap.add_argument("--warmup", type=int, default=5)
ap.add_argument("--decoder", choices=["cv2", "pil"], default="cv2")
a = ap.parse_args()

import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
import keras
from keras import layers
import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision

keras.utils.set_random_seed(42)
model = keras.Sequential([keras.Input((33, 1)),
    layers.LSTM(33, activation="relu", return_sequences=True),
    layers.LSTM(12, activation="relu"),
    layers.Dense(3, activation="softmax")])
classify = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec((1, 33, 1), tf.float32)])

if a.decoder == "cv2":
    import cv2
    cv2.setNumThreads(1)
    def decode(path):
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
else:
    from PIL import Image
    def decode(path):
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))

options = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=a.model, delegate=BaseOptions.Delegate.CPU),
                                       running_mode=vision.RunningMode.IMAGE, num_faces=1, output_face_blendshapes=True)
stages = {"decode": [], "landmarker": [], "features": [], "keras": [], "total": []}
predict_ms = []
label = None
with vision.FaceLandmarker.create_from_options(options) as landmarker:
    for i in range(a.warmup + a.runs):
        t0 = time.perf_counter()
        rgb = decode(a.image)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        t1 = time.perf_counter()
        result = landmarker.detect(image)
        t2 = time.perf_counter()
        if not result.face_blendshapes:
            raise SystemExit(f"{a.image}: MediaPipe found no face")
        scores = {c.category_name: c.score for c in result.face_blendshapes[0]}
        x = np.array([scores[n] for n in FEATURES], dtype=np.float32).reshape(1, 33, 1)
        t3 = time.perf_counter()
        p = classify(x).numpy()
        t4 = time.perf_counter()
        label = int(p.argmax())
        if i >= a.warmup:
            for k, (s, e) in {"decode": (t0, t1), "landmarker": (t1, t2), "features": (t2, t3), "keras": (t3, t4), "total": (t0, t4)}.items():
                stages[k].append((e - s) * 1000)
            t5 = time.perf_counter()
            model.predict(x, verbose=0)
            predict_ms.append((time.perf_counter() - t5) * 1000)

def summary(v):
    return {"median": round(statistics.median(v), 3), "min": round(min(v), 3), "max": round(max(v), 3)}

print(json.dumps({
    "image": a.image, "height": int(rgb.shape[0]), "width": int(rgb.shape[1]), "runs": a.runs, "warmup": a.warmup,
    "decoder": a.decoder, "mediapipe": mp.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
    "affinity": sorted(os.sched_getaffinity(0)), "label_index": label,
    "ms": {k: summary(v) for k, v in stages.items()}, "keras_predict_ms": summary(predict_ms),
}, indent=1))
