"""Helpers for the project-generator tests: models, replay inputs, and the host reference.

The host reference of a generated project is its app's Python twin (``expected_inputs``: the
front-end twin applied to the replay data on the firmware's inference schedule) followed by the
TFLite interpreter on the int8 features; the firmware's printed scores must equal it exactly.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from generator.importer.reference import run_reference
from generator.project.apps import AppPlan, expected_inputs
from generator.project.generate import Project
from tests.support import wavs
from tests.support.zoo import cache_dir, zoo_tflite

SENSOR_SAMPLES = 64
SENSOR_AXES = 3
SENSOR_CLASSES = 4


def model_file(dest: Path, name: str) -> Path:
    """A zoo model copied to ``dest/<name>.tflite`` (a stable file name for generated text)."""
    path = dest / f"{name}.tflite"
    if not path.is_file():
        path.write_bytes(zoo_tflite(name))
    return path


def sensor_tflite() -> bytes:
    """A small int8 IMU classifier: 64 samples x 3 axes (in g) -> 4 classes; cached on disk."""
    from generator.importer import keras_import

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(Path(keras_import.__file__).read_bytes())
    digest.update(_tf_version().encode())
    path = cache_dir() / f"project-sensor-{digest.hexdigest()[:16]}.tflite"
    if path.is_file():
        return path.read_bytes()
    data = _build_sensor_model()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)
    os.replace(tmp, path)
    return data


def _tf_version() -> str:
    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "none"


def _build_sensor_model() -> bytes:
    import keras

    from generator.importer.keras_import import QuantizeOptions, quantize_keras

    keras.utils.clear_session()
    keras.utils.set_random_seed(11)
    inp = keras.Input((SENSOR_SAMPLES, SENSOR_AXES, 1))
    x = keras.layers.Conv2D(8, (5, SENSOR_AXES), activation="relu")(inp)
    x = keras.layers.Conv2D(12, (5, 1), strides=(2, 1), activation="relu")(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(SENSOR_CLASSES, activation="softmax")(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(3)
    calib = rng.uniform(-1.5, 1.5, size=(64, SENSOR_SAMPLES, SENSOR_AXES, 1)).astype(np.float32)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        return quantize_keras(model, QuantizeOptions(calibration=calib))


def speech_replay(dest: Path, seconds: float = 1.4) -> Path:
    """'yes' spoken by espeak-ng (1 s, from 0.2 s) padded with silence to ``seconds``."""
    wavs.require_tools()
    dest.mkdir(parents=True, exist_ok=True)
    speech = wavs.read_wav(wavs.speech_wav(dest, "yes", "en-us", 140))
    total = int(seconds * wavs.SAMPLE_RATE)
    padded = np.zeros(total, np.int16)
    padded[: min(total, speech.size)] = speech[:total]
    return wavs.write_wav(dest / "replay_yes.wav", padded)


def scene_frames(n: int, height: int = 120, width: int = 160, seed: int = 5
                 ) -> npt.NDArray[np.uint8]:
    """``n`` RGB frames: smooth colour blobs over noise, different per frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for _ in range(n):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (width / 5) ** 2))
        colour = rng.uniform(0, 255, size=3)
        noise = rng.normal(0, 20, size=(height, width, 3))
        img = 60 + blob[..., None] * colour + noise
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


def write_ppm(path: Path, rgb: npt.NDArray[np.uint8]) -> Path:
    h, w, _ = rgb.shape
    path.write_bytes(f"P6\n# mcuforge test\n{w} {h}\n255\n".encode() + rgb.tobytes())
    return path


@dataclass(frozen=True)
class Reference:
    inputs: list[npt.NDArray[np.int8]]
    scores: list[tuple[int, ...]]


def host_reference(project: Project) -> Reference:
    """The scores the firmware must print: Python twin of the app loop + TFLite interpreter."""
    inputs = expected_inputs(project.plan)
    scores = [tuple(int(v) for v in run_reference(project.compiled.tflite, [x])[0].reshape(-1))
              for x in inputs]
    return Reference(inputs, scores)


def kws_detections(plan: AppPlan, scores: list[tuple[int, ...]]) -> list[tuple[str, int, int]]:
    """Twin of the kws detection logic: (label, average, inference) of every detection line."""
    cfg = plan.config
    zp, smoothing = int(cfg["out_zero_point"]), int(cfg["smoothing"])
    threshold, suppression = int(cfg["threshold_q"]), int(cfg["suppression"])
    quiet, found = 0, []
    for n in range(len(scores)):
        window = scores[max(0, n - smoothing + 1) : n + 1]
        sums = [sum(s[c] - zp for s in window) for c in range(len(plan.labels))]
        best = max((c for c in range(len(plan.labels)) if not plan.labels[c].startswith("_")),
                   key=lambda c: (sums[c], -c))
        if quiet > 0:
            quiet -= 1
            continue
        if sums[best] < len(window) * (threshold - zp):
            continue
        quiet = suppression
        found.append((plan.labels[best], int(sums[best] / len(window)) + zp, n))
    return found


def vww_transitions(plan: AppPlan, scores: list[tuple[int, ...]]) -> list[tuple[str, int, int]]:
    """Twin of the vww hysteresis: (present|absent, score, inference) at every change."""
    cfg = plan.config
    person, on, off = int(cfg["person_class"]), int(cfg["on_q"]), int(cfg["off_q"])
    present, found = False, []
    for n, s in enumerate(scores):
        if not present and s[person] >= on:
            present = True
            found.append(("present", s[person], n))
        elif present and s[person] <= off:
            present = False
            found.append(("absent", s[person], n))
    return found


def tools_missing() -> str | None:
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm", "timeout"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None
