"""Train the DS-CNN keyword spotter on Speech Commands v2, or on the synthetic set of synth_data.py.

The features are the package's MFCC twin (:func:`generator.dsp.mfcc_float`, default
:class:`~generator.dsp.MfccConfig`): the float values the firmware's C front-end computes
before it quantises them, so the model is trained on exactly what the device will feed it.

Data layout (Speech Commands v2): one folder per word of 1 s 16 kHz mono WAVs, named
``<speaker>_nohash_<n>.wav``, and ``_background_noise_/``. Labels are ``silence``, ``unknown`` and
the ``--words``; every other word folder is "unknown"; silence clips are cut from the background
noise. The split follows ``validation_list.txt`` / ``testing_list.txt`` when they exist (Speech
Commands ships them, synth_data.py writes them), otherwise the speaker's hash, so one speaker never
lands in two splits. As in the Speech Commands recipe, training clips are shifted by up to 100 ms
and 80 % of them get background noise at up to 0.1 of its level; the test split is reported clean
(as Speech Commands reports it) and with the same noise mixed in.

Writes to ``--out``: ``model.keras``, ``labels.txt``, ``calib.npz`` (``x``: float MFCCs of training
clips, shape (64, 49, 10, 1), for the int8 conversion) and ``metrics.json``.

Usage::

    python train.py --data ~/speech_commands_v2 --words yes,no,up,down --out kws_real
    python train.py --synthetic --out .            # makes the synthetic set first if needed
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import sys
import time
import warnings
import wave
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from generator.dsp import MfccConfig, mfcc_float
from generator.dsp.audio import quantise

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import model as kws_model  # noqa: E402  (a sibling file, found through sys.path)
import synth_data  # noqa: E402

SAMPLE_RATE = 16000
SILENCE, UNKNOWN = "silence", "unknown"
CALIB_SAMPLES = 64
F32 = npt.NDArray[np.float32]
I16 = npt.NDArray[np.int16]


@dataclass(frozen=True)
class Clip:
    path: Path | None  # None: a silence clip (background noise only)
    label: int


@dataclass(frozen=True)
class Augment:
    """Speech Commands recipe defaults: +-100 ms shift, noise on 80 % of clips at up to 0.1."""

    shift: int = SAMPLE_RATE // 10
    noise_prob: float = 0.8
    noise_volume: float = 0.1


CLEAN = Augment(shift=0, noise_prob=0.0, noise_volume=0.0)
NOISY_TEST = Augment(shift=0)


@dataclass
class DataSet:
    labels: list[str]
    splits: dict[str, list[Clip]]
    noise: list[I16]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


# ---- reading the layout --------------------------------------------------------------------------


def read_wav(path: Path) -> I16:
    """A 16 kHz mono int16 WAV as exactly one second (shorter clips padded with silence)."""
    with wave.open(str(path), "rb") as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, SAMPLE_RATE):
            raise ValueError(f"{path}: not 16 kHz mono 16-bit; resample with "
                             f"`sox {path} -r 16000 -c 1 -b 16 out.wav`")
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    out = np.zeros(SAMPLE_RATE, np.int16)
    out[: min(x.size, SAMPLE_RATE)] = x[:SAMPLE_RATE]
    return out


def read_noise(root: Path) -> list[I16]:
    folder = root / "_background_noise_"
    noise = []
    for path in sorted(folder.glob("*.wav")):
        with wave.open(str(path), "rb") as w:
            noise.append(np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16))
    if not noise:
        raise SystemExit(f"{folder}: no background noise WAVs; the silence class is made from them")
    return noise


def speaker_of(path: Path) -> str:
    return re.sub(r"_nohash_.*$", "", path.name)


def hash_split(speaker: str, validation_pct: float = 10.0, testing_pct: float = 10.0) -> str:
    """The Speech Commands README's split by a stable hash of the speaker."""
    h = int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % 100_000
    pct = h * 100.0 / 100_000
    if pct < validation_pct:
        return "validation"
    return "testing" if pct < validation_pct + testing_pct else "training"


def _listed(root: Path, name: str) -> set[str] | None:
    path = root / name
    return set(path.read_text().split()) if path.is_file() else None


def scan(root: Path, words: list[str]) -> dict[str, dict[str, list[Path]]]:
    """split -> label -> files, for the keywords and "unknown"."""
    val, test = _listed(root, "validation_list.txt"), _listed(root, "testing_list.txt")
    out: dict[str, dict[str, list[Path]]] = {s: {} for s in ("training", "validation", "testing")}
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    missing = [w for w in words if not (root / w).is_dir()]
    if missing:
        raise SystemExit(f"{root}: no folder for {', '.join(missing)}")
    for folder in folders:
        label = folder.name if folder.name in words else UNKNOWN
        for path in sorted(folder.glob("*.wav")):
            rel = f"{folder.name}/{path.name}"
            if val is not None and test is not None:
                split = "validation" if rel in val else "testing" if rel in test else "training"
            else:
                split = hash_split(speaker_of(path))
            out[split].setdefault(label, []).append(path)
    return out


def load(root: Path, words: list[str], seed: int) -> DataSet:
    """Keyword clips, plus as many unknown and silence clips as an average keyword has."""
    labels = [SILENCE, UNKNOWN, *words]
    rng = np.random.default_rng(seed)
    files = scan(root, words)
    data = DataSet(labels=labels, splits={}, noise=read_noise(root))
    for split, by_label in files.items():
        per_word = int(np.mean([len(by_label.get(w, [])) for w in words]))
        unknown = by_label.get(UNKNOWN, [])
        picked = rng.permutation(len(unknown))[:per_word]
        clips = [Clip(p, labels.index(w)) for w in words for p in by_label.get(w, [])]
        clips += [Clip(unknown[i], 1) for i in sorted(picked)]
        clips += [Clip(None, 0)] * per_word
        data.splits[split] = clips
        data.counts[split] = {lab: sum(c.label == i for c in clips) for i, lab in enumerate(labels)}
    return data


# ---- augmentation and features ------------------------------------------------------------------


def noise_segment(noise: list[I16], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    rec = noise[int(rng.integers(len(noise)))]
    if rec.size <= SAMPLE_RATE:
        return np.resize(rec, SAMPLE_RATE).astype(np.float64)
    start = int(rng.integers(0, rec.size - SAMPLE_RATE))
    return rec[start : start + SAMPLE_RATE].astype(np.float64)


def make_clip(clip: Clip, noise: list[I16], aug: Augment, rng: np.random.Generator) -> I16:
    if clip.path is None:  # silence: background noise at any level from nothing to full
        x = noise_segment(noise, rng) * rng.uniform(0.0, 1.0)
        return np.clip(np.round(x), -32768, 32767).astype(np.int16)
    x = read_wav(clip.path).astype(np.float64)
    if aug.shift:
        s = int(rng.integers(-aug.shift, aug.shift + 1))
        x = np.roll(x, s)
        if s > 0:
            x[:s] = 0
        elif s < 0:
            x[s:] = 0
    if rng.uniform() < aug.noise_prob:
        x += noise_segment(noise, rng) * rng.uniform(0.0, aug.noise_volume)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _batches(clips: list[Clip], size: int) -> Iterator[list[Clip]]:
    for i in range(0, len(clips), size):
        yield clips[i : i + size]


def featurise(clips: list[Clip], noise: list[I16], aug: Augment, seed: int,
              cfg: MfccConfig) -> tuple[F32, npt.NDArray[np.int64]]:
    """(N, 49, 10, 1) float MFCCs from the twin, and the labels."""
    rng = np.random.default_rng(seed)
    feats = []
    for batch in _batches(clips, 256):
        pcm = np.stack([make_clip(c, noise, aug, rng) for c in batch])
        feats.append(mfcc_float(pcm, cfg))
    x = np.concatenate(feats)[..., None].astype(np.float32)
    return x, np.array([c.label for c in clips], np.int64)


# ---- training -----------------------------------------------------------------------------------


class KeepBest(keras.callbacks.Callback):  # type: ignore[misc]
    """Keep the weights of the epoch with the best validation accuracy; restore them at the end."""

    def __init__(self) -> None:
        super().__init__()
        self.best, self.epoch, self.weights = -1.0, -1, None

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        acc = logs.get("val_accuracy", logs.get("accuracy", 0.0))
        if acc > self.best:
            self.best, self.epoch, self.weights = acc, epoch, self.model.get_weights()

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self.weights is not None:
            self.model.set_weights(self.weights)


def train(x: F32, y: npt.NDArray[np.int64], val: tuple[F32, npt.NDArray[np.int64]] | None,
          classes: int, epochs: int, batch: int, seed: int) -> tuple[Any, KeepBest]:
    keras.utils.set_random_seed(seed)
    net = kws_model.ds_cnn(classes)
    steps = epochs * int(np.ceil(len(x) / batch))
    lr = keras.optimizers.schedules.CosineDecay(3e-3, decay_steps=max(1, steps), alpha=0.03)
    net.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    keep = KeepBest()
    net.fit(x, y, batch_size=batch, epochs=epochs, validation_data=val, shuffle=True,
            callbacks=[keep], verbose=2)
    return net, keep


def accuracy(net: Any, x: F32, y: npt.NDArray[np.int64]) -> float:
    if len(x) == 0:
        return float("nan")
    pred = np.argmax(net.predict(x, batch_size=256, verbose=0), axis=-1)
    return float(np.mean(pred == y))


def confusion(pred: npt.NDArray[np.int64], y: npt.NDArray[np.int64], n: int) -> list[list[int]]:
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (y, pred), 1)
    return m.tolist()


# ---- int8 check -----------------------------------------------------------------------------


def int8_predictions(tflite: bytes, x: F32) -> npt.NDArray[np.int64]:
    """Quantise the twin's floats as the C front-end does, run the TFLite reference kernels."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=tflite,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    scale, zero = inp["quantization"]
    q = quantise(x, float(scale), int(zero))
    pred = []
    for sample in q:
        interp.set_tensor(inp["index"], sample[None])
        interp.invoke()
        pred.append(int(np.argmax(interp.get_tensor(out["index"])[0])))
    return np.array(pred, np.int64)


def convert_int8(net: Any, calib: F32) -> bytes:
    from generator.importer.keras_import import QuantizeOptions, quantize_keras

    # The Keras export lists every captured variable on stdout; the converter warns that int8 I/O
    # has no input statistics, which is expected: the calibration data sets them.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return quantize_keras(net, QuantizeOptions(calibration=calib,
                                                   calibration_steps=len(calib)))


def input_quant(tflite: bytes) -> tuple[float, int]:
    """The converted model's input scale and zero point: the front-end's int8 output format."""
    from ai_edge_litert.interpreter import Interpreter

    scale, zero = Interpreter(model_content=tflite).get_input_details()[0]["quantization"]
    return float(scale), int(zero)


# ---- outputs ------------------------------------------------------------------------------------


def save_compact(net: Any, path: Path) -> None:
    """Save the weights in a fresh, uncompiled copy of the architecture (no optimizer state), and
    deflate the zip that ``model.save`` writes uncompressed (Keras loads either)."""
    plain = keras.Model.from_config(net.get_config())
    plain.set_weights(net.get_weights())
    tmp = path.with_suffix(".tmp.keras")
    plain.save(tmp)
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(
            path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    tmp.unlink()


def calibration(x: F32, y: npt.NDArray[np.int64], n: int, seed: int) -> F32:
    """``n`` training samples, classes interleaved so any prefix is balanced."""
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    order = [int(idx[i]) for i in range(max(map(len, per_class))) for idx in per_class
             if i < len(idx)]
    return x[order[:n]]


# ---- command line -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="Speech Commands v2 layout")
    src.add_argument("--synthetic", action="store_true",
                     help="use --synthetic-dir, making it with synth_data.py if it is missing")
    p.add_argument("--synthetic-dir", type=Path, default=Path("out/kws_data"))
    p.add_argument("--words", type=lambda s: [w for w in s.split(",") if w],
                   default=list(synth_data.KEYWORDS), help="keywords, comma separated")
    p.add_argument("--out", type=Path, default=HERE, help="folder for the model and its files")
    p.add_argument("--epochs", type=int, default=24)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--augment", type=int, default=2,
                   help="augmented copies of each training clip (shift + noise)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-int8", action="store_true", help="skip the int8 conversion check")
    return p.parse_args(argv)


def data_root(args: argparse.Namespace) -> Path:
    if args.data is not None:
        return Path(args.data)
    root = Path(args.synthetic_dir)
    if not (root / "testing_list.txt").is_file():
        print(f"making the synthetic data set in {root}", flush=True)
        synth_data.main(["--out", str(root)])
    return root


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    root = data_root(args)
    cfg = MfccConfig()
    data = load(root, args.words, args.seed)
    print(f"labels {data.labels}; clips per split and label: {data.counts}", flush=True)
    train_clips = data.splits["training"] * args.augment
    x, y = featurise(train_clips, data.noise, Augment(), args.seed, cfg)
    xv, yv = featurise(data.splits["validation"], data.noise, CLEAN, args.seed + 1, cfg)
    xt, yt = featurise(data.splits["testing"], data.noise, CLEAN, args.seed + 2, cfg)
    xn, yn = featurise(data.splits["testing"], data.noise, NOISY_TEST, args.seed + 3, cfg)
    print(f"features: train {x.shape}, validation {xv.shape}, test {xt.shape} "
          f"({time.time() - t0:.0f} s)", flush=True)
    net, keep = train(x, y, (xv, yv) if len(xv) else None, len(data.labels), args.epochs,
                      args.batch, args.seed)
    calib = calibration(x, y, CALIB_SAMPLES, args.seed)
    pred_t = np.argmax(net.predict(xt, batch_size=256, verbose=0), axis=-1) if len(xt) else yt
    metrics: dict[str, Any] = {
        "data": str(root), "labels": data.labels, "clips": data.counts,
        "train_examples": len(x), "frontend": cfg.describe(),
        "epochs": args.epochs, "best_epoch": keep.epoch + 1,
        "accuracy": {
            "train_augmented": accuracy(net, x, y),
            "validation": accuracy(net, xv, yv),
            "test_clean": accuracy(net, xt, yt),
            "test_noisy": accuracy(net, xn, yn),
        },
        "confusion_test_clean": confusion(pred_t, yt, len(data.labels)),
        "params": int(net.count_params()),
    }
    if not args.no_int8 and len(xt):
        tflite = convert_int8(net, calib)
        metrics["accuracy"]["test_clean_int8"] = float(np.mean(int8_predictions(tflite, xt) == yt))
        metrics["accuracy"]["test_noisy_int8"] = float(np.mean(int8_predictions(tflite, xn) == yn))
        metrics["tflite_bytes"] = len(tflite)
        scale, zero = input_quant(tflite)
        metrics["input_quantisation"] = {"scale": scale, "zero_point": zero}
        metrics["frontend"] = replace(cfg, out_scale=scale, out_zero_point=zero).describe()
    metrics["seconds"] = round(time.time() - t0)
    write_outputs(args.out, net, data.labels, calib, metrics)
    print(json.dumps(metrics["accuracy"], indent=1))
    return 0


def write_outputs(out: Path, net: Any, labels: list[str], calib: F32,
                  metrics: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    save_compact(net, out / "model.keras")
    (out / "labels.txt").write_text("".join(f"{lab}\n" for lab in labels))
    np.savez_compressed(out / "calib.npz", x=calib)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    print(f"wrote {out}/model.keras, labels.txt, calib.npz, metrics.json")


if __name__ == "__main__":
    sys.exit(main())
