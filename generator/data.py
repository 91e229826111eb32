"""Labelled data for fine-tuning, calibration and accuracy: class folders or an ``.npz``.

Accepted layouts (``path`` is what the user passes as ``--data``):

* ``data.npz`` with arrays ``x`` (samples in the model's input shape; a missing trailing channel axis of
  1 is added) and ``y`` (integer class labels ``0..K-1``, or one-hot rows);
* a folder with one subfolder per class (classes are the subfolder names, sorted, or in the order
  of :attr:`DataOptions.classes` when the model's outputs have a fixed order) holding
  - ``.wav`` files: 16-bit PCM mono at the MFCC sample rate, turned into float MFCCs by the keyword
    spotting front-end's Python twin (:func:`generator.dsp.audio.mfcc_float`), with ``n_frames``
    and ``n_coeffs`` taken from the model input (``(frames, coeffs)`` or ``(frames, coeffs, 1)``);
  - images: ``.ppm``/``.pgm`` (binary netpbm, read here) or ``.png``/``.jpg``/``.bmp``/``.gif`` (read
    with Pillow), converted to the model's channels (BT.601 luma for grey), resized bilinearly to its
    height and width and scaled as :attr:`DataOptions.image_scale` says;
  - ``.npy`` files, one sample each, already in the model's input shape.

:func:`split_dataset` holds out the same share of every class for validation, chosen by a seeded
permutation, so the same data and seed always give the same split.
"""

from __future__ import annotations

import math
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from generator import inputs
from generator.dsp.audio import MfccConfig, mfcc_float
from generator.errors import InputError

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

AUDIO_SUFFIXES = frozenset({".wav"})
NETPBM_SUFFIXES = frozenset({".ppm", ".pgm"})
PIL_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif"})
ARRAY_SUFFIXES = frozenset({".npy"})
KINDS = {"audio": AUDIO_SUFFIXES, "image": NETPBM_SUFFIXES | PIL_SUFFIXES, "array": ARRAY_SUFFIXES}


@dataclass(frozen=True)
class DataOptions:
    """How raw files become model inputs."""

    image_scale: Literal["unit", "symmetric", "raw"] = "unit"   # pixel/255, pixel/127.5 - 1, pixel
    sample_rate: int = 16000
    classes: tuple[str, ...] | None = None    # class folders in model-output order (default: sorted)


@dataclass(frozen=True, eq=False)
class Dataset:
    x: F32
    y: I64
    classes: tuple[str, ...]
    source: str
    kind: str

    def counts(self) -> list[int]:
        return [int(np.sum(self.y == k)) for k in range(len(self.classes))]


@dataclass(frozen=True, eq=False)
class DataSplit:
    """A deterministic stratified train/validation split."""

    train_x: F32
    train_y: I64
    val_x: F32
    val_y: I64
    classes: tuple[str, ...]
    source: str
    val_share: float
    seed: int
    train_counts: tuple[int, ...] = field(default=())
    val_counts: tuple[int, ...] = field(default=())

    def describe(self) -> str:
        per = ", ".join(f"{c} {t}/{v}" for c, t, v in
                        zip(self.classes, self.train_counts, self.val_counts, strict=True))
        return (f"{self.source}: {len(self.train_y)} train / {len(self.val_y)} validation samples "
                f"({self.val_share:.0%} of each class held out, seed {self.seed}); per class "
                f"train/val: {per}")


# ---- entry points ----------------------------------------------------------------------------------


def load_dataset(path: Path, input_shape: Sequence[int], opts: DataOptions | None = None) -> Dataset:
    """Samples shaped like one model input (``input_shape`` without the batch axis), with labels."""
    opts = opts or DataOptions()
    shape = tuple(int(d) for d in input_shape)
    if not stat.S_ISDIR(inputs.stat_input(path, "data set", allow_dir=True).st_mode):
        if path.suffix != ".npz":
            raise InputError(f"{path}: not a data set ('{path.suffix}')",
                             "give a folder with one subfolder per class, or an .npz with x and y")
        ds = _load_npz(path, shape)
    else:
        ds = _load_folder(path, shape, opts)
    _check_classes(ds)
    return ds


def split_dataset(ds: Dataset, val_share: float = 0.2, seed: int = 0) -> DataSplit:
    """Hold out ``round(val_share * n)`` samples of every class (at least one) for validation."""
    if not 0.0 < val_share < 1.0:
        raise InputError(f"validation share must be between 0 and 1, got {val_share}",
                         "use e.g. --val-split 0.2")
    inputs.check_seed(seed, "--seed")
    rng = np.random.default_rng(seed)
    train: list[I64] = []
    val: list[I64] = []
    for k, name in enumerate(ds.classes):
        idx = np.flatnonzero(ds.y == k)
        if idx.size < 2:
            raise InputError(f"{ds.source}: class '{name}' has {idx.size} sample(s); at least 2 are "
                             "needed to train on one and validate on another", "add samples")
        idx = idx[rng.permutation(idx.size)]
        n_val = min(max(1, round(val_share * idx.size)), idx.size - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    tr, va = np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
    order = rng.permutation(tr.size)  # train order mixed once, deterministically
    tr = tr[order]
    return DataSplit(ds.x[tr], ds.y[tr], ds.x[va], ds.y[va], ds.classes, ds.source, val_share, seed,
                     tuple(len(t) for t in train), tuple(len(v) for v in val))


# ---- .npz ------------------------------------------------------------------------------------------


def _load_npz(path: Path, shape: tuple[int, ...]) -> Dataset:
    names = inputs.npz_names(path, "data set")
    missing = [k for k in ("x", "y") if k not in names]
    if missing:
        raise InputError(f"{path}: no array named {' or '.join(missing)} (it has "
                         f"{', '.join(names) or 'none'})",
                         "save with np.savez(path, x=samples, y=labels)")
    arrays = inputs.load_npz(path, "data set", ("x", "y"))
    x, y = arrays["x"], arrays["y"]
    x = _fit_shape(_as_float32(x, f"{path}: x"), shape, str(path))
    labels = _labels(y, len(x), str(path))
    if labels.size == 0:
        raise InputError(f"{path}: the data set is empty", "add samples")
    classes = tuple(str(k) for k in range(int(labels.max()) + 1))
    return Dataset(x, labels, classes, str(path), "npz")


def _as_float32(x: npt.NDArray[Any], where: str) -> F32:
    """Numbers as float32, refused before conversion if not numbers or too large as float32."""
    if x.dtype.kind not in "biuf":
        raise InputError(f"{where}: samples are of type {x.dtype}, not real numbers",
                         "save the samples as numbers, e.g. x.astype(np.float32)")
    if x.size * 4 > inputs.MAX_ARRAY_BYTES:
        raise InputError(f"{where}: {x.size:,} values are {x.size * 4:,} bytes as float32, more "
                         f"than the {inputs.MAX_ARRAY_BYTES:,} bytes mcuforge holds",
                         "use fewer samples")
    return x.astype(np.float32)


def _fit_shape(x: F32, shape: tuple[int, ...], where: str) -> F32:
    if x.ndim >= 1 and tuple(x.shape[1:]) == shape:
        out = x
    elif x.ndim >= 1 and shape[-1:] == (1,) and tuple(x.shape[1:]) == shape[:-1]:
        out = x[..., None]
    else:
        raise InputError(f"{where}: samples have shape {tuple(x.shape[1:])}, the model input is "
                         f"{shape}", "give x of shape (N, " + ", ".join(map(str, shape)) + ")")
    if not np.all(np.isfinite(out)):
        raise InputError(f"{where}: samples contain NaN or infinity", "clean the data")
    return np.ascontiguousarray(out)


def _labels(y: npt.NDArray[np.generic], n: int, where: str) -> I64:
    if y.ndim == 2 and y.shape[0] == n and y.shape[1] > 1:
        y = np.argmax(y, axis=1)
    if y.ndim != 1 or y.shape[0] != n:
        raise InputError(f"{where}: y has shape {y.shape}, expected ({n},) labels for {n} samples",
                         "give one integer class label per sample (or one-hot rows)")
    numeric = np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_
    if not numeric or (y.size and (not np.all(np.mod(y, 1) == 0) or y.min() < 0)):
        raise InputError(f"{where}: labels must be non-negative integers", "number classes 0..K-1")
    return y.astype(np.int64)


def _check_classes(ds: Dataset) -> None:
    if len(ds.y) == 0:
        raise InputError(f"{ds.source}: the data set is empty", "add samples")
    present = [name for name, c in zip(ds.classes, ds.counts(), strict=True) if c]
    if len(present) < 2:
        raise InputError(f"{ds.source}: only one class ({present[0]}) has samples",
                         "a classifier needs samples of at least two classes")
    empty = [name for name, c in zip(ds.classes, ds.counts(), strict=True) if not c]
    if empty:
        raise InputError(f"{ds.source}: class(es) {', '.join(empty)} have no samples",
                         "number classes 0..K-1 without gaps, or add samples")


# ---- class folders ---------------------------------------------------------------------------------


def _load_folder(path: Path, shape: tuple[int, ...], opts: DataOptions) -> Dataset:
    dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise InputError(f"{path}: no class subfolders",
                         "put the samples of each class in a subfolder named after the class")
    if opts.classes is not None:
        dirs = _ordered(path, dirs, opts.classes)
    files = {d.name: sorted(f for f in d.iterdir() if f.is_file() and not f.name.startswith("."))
             for d in dirs}
    kinds = {_kind(f) for fs in files.values() for f in fs} - {None}
    if not kinds:
        raise InputError(f"{path}: no .wav, image or .npy files in the class folders",
                         "supported: " + ", ".join(sorted(s for v in KINDS.values() for s in v)))
    if len(kinds) > 1:
        raise InputError(f"{path}: mixes {' and '.join(sorted(k for k in kinds if k))} files",
                         "keep one kind of sample in a data set")
    kind = kinds.pop()
    assert kind is not None
    xs: list[F32] = []
    ys: list[int] = []
    sample_bytes = 4 * math.prod(shape)
    for k, (name, fs) in enumerate(files.items()):
        usable = [f for f in fs if _kind(f) == kind]
        if not usable:
            raise InputError(f"{path / name}: no {kind} files in this class folder",
                             "add samples or remove the folder")
        if (len(xs) + len(usable)) * sample_bytes > inputs.MAX_ARRAY_BYTES:
            raise InputError(f"{path}: {len(xs) + len(usable):,} or more samples of {shape} are more "
                             f"than the {inputs.MAX_ARRAY_BYTES:,} bytes of float32 mcuforge holds",
                             "use fewer samples")
        for f in usable:
            xs.append(_read_sample(f, kind, shape, opts))
            ys.append(k)
    return Dataset(np.stack(xs), np.asarray(ys, np.int64), tuple(files), str(path), kind)


def _ordered(path: Path, dirs: list[Path], classes: tuple[str, ...]) -> list[Path]:
    """The class folders in the order of ``classes`` (the model's output order)."""
    names = {d.name: d for d in dirs}
    unknown = sorted(set(names) - set(classes))
    missing = [c for c in classes if c not in names]
    if unknown or missing:
        said = "; ".join(part for part in (
            f"folders not among the labels: {', '.join(unknown)}" if unknown else "",
            f"labels without a folder: {', '.join(missing)}" if missing else "") if part)
        raise InputError(f"{path}: the class folders do not match the labels ({said})",
                         "give one folder per label, named exactly as the label")
    return [names[c] for c in classes]


def _kind(f: Path) -> str | None:
    suffix = f.suffix.lower()
    return next((k for k, s in KINDS.items() if suffix in s), None)


def _read_sample(f: Path, kind: str, shape: tuple[int, ...], opts: DataOptions) -> F32:
    if kind == "audio":
        return _wav_features(f, shape, opts)
    if kind == "image":
        return _image(f, shape, opts)
    limit = 8 * max(1, math.prod(shape))  # one sample of up to 8-byte numbers
    arr = inputs.load_npy(f, "sample", limit)
    sample: F32 = _fit_shape(_as_float32(arr, str(f))[None], shape, str(f))[0]
    return sample


# ---- audio -----------------------------------------------------------------------------------------


def mfcc_config_for(shape: tuple[int, ...], sample_rate: int = 16000) -> MfccConfig:
    """The MFCC configuration whose output fills a model input of ``shape``."""
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 1):
        raise InputError(f"WAV data needs a model input of shape (frames, coeffs[, 1]), the model "
                         f"takes {shape}", "use a keyword-spotting model, e.g. 49x10x1")
    return MfccConfig(sample_rate=sample_rate, n_frames=shape[0], n_coeffs=shape[1])


def _wav_features(f: Path, shape: tuple[int, ...], opts: DataOptions) -> F32:
    cfg = mfcc_config_for(shape, opts.sample_rate)
    pcm = read_wav(f, cfg.sample_rate)
    return mfcc_float(pcm, cfg).reshape(shape).astype(np.float32)


def read_wav(f: Path, sample_rate: int) -> npt.NDArray[np.int16]:
    """16-bit PCM samples of a mono WAV file at ``sample_rate`` (at most 10 minutes)."""
    wav = inputs.read_wav(f, "WAV file")
    width, channels, rate, raw = wav.sampwidth, wav.channels, wav.rate, wav.frames
    if width != 2:
        raise InputError(f"{f}: {8 * width}-bit samples; 16-bit PCM is needed",
                         f"convert with: sox in.wav -b 16 -c 1 -r {sample_rate} out.wav")
    if channels != 1:
        raise InputError(f"{f}: {channels} channels; mono is needed",
                         "convert with: sox in.wav -c 1 out.wav")
    if rate != sample_rate:
        raise InputError(f"{f}: sampled at {rate} Hz; the MFCC front-end expects {sample_rate} Hz",
                         f"resample with: sox in.wav -r {sample_rate} out.wav")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)


# ---- images ----------------------------------------------------------------------------------------


def _image(f: Path, shape: tuple[int, ...], opts: DataOptions) -> F32:
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise InputError(f"image data needs a model input of shape (height, width, 1 or 3), the "
                         f"model takes {shape}", "use an image model, or give .npy samples")
    px = read_netpbm(f) if f.suffix.lower() in NETPBM_SUFFIXES else _read_pil(f)
    px = _to_channels(px, shape[2])
    out = resize_bilinear(px.astype(np.float32), shape[0], shape[1])
    scale = {"unit": (1 / 255.0, 0.0), "symmetric": (1 / 127.5, -1.0), "raw": (1.0, 0.0)}
    mul, add = scale[opts.image_scale]
    return (out * np.float32(mul) + np.float32(add)).astype(np.float32)


def read_netpbm(f: Path) -> npt.NDArray[np.uint8]:
    """A binary PGM (P5) or PPM (P6) with at most 8 bits per sample, as (H, W, 1 or 3)."""
    return inputs.read_netpbm(f, "image")[0]


def _read_pil(f: Path) -> npt.NDArray[np.uint8]:
    return inputs.read_image(f, "image")


def _to_channels(px: npt.NDArray[np.uint8], channels: int) -> npt.NDArray[np.uint8]:
    if px.shape[2] == channels:
        return px
    if channels == 3:
        return np.repeat(px, 3, axis=2)
    rgb = px.astype(np.uint32)
    luma = (77 * rgb[..., 0] + 150 * rgb[..., 1] + 29 * rgb[..., 2] + 128) >> 8
    return luma.astype(np.uint8)[..., None]


def resize_bilinear(img: F32, height: int, width: int) -> F32:
    """Bilinear resize with half-pixel centres (TensorFlow's ``half_pixel_centers=True``)."""
    h, w = img.shape[:2]

    def axis(n_out: int, n_in: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], F32]:
        pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo).astype(np.float32)

    y0, y1, fy = axis(height, h)
    x0, x1, fx = axis(width, w)
    top = img[y0][:, x0] * (1 - fx)[None, :, None] + img[y0][:, x1] * fx[None, :, None]
    bot = img[y1][:, x0] * (1 - fx)[None, :, None] + img[y1][:, x1] * fx[None, :, None]
    out: F32 = (top * (1 - fy)[:, None, None] + bot * fy[:, None, None]).astype(np.float32)
    return out
