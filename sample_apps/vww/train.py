"""Train the Visual Wake Words MobileNet on the COCO person split, or on rendered toy scenes.

Every image goes through the package's image front-end twin exactly as a camera frame would on the
device: fitted (cover and centre crop) into the 160x120 frame, packed to RGB565, then
:func:`generator.dsp.image_pixels` (centre crop to 120x120, bilinear resize to 96x96) and
scaled to [0, 1] as :func:`~generator.dsp.image_float` does. So the firmware's C front-end
feeds the int8 model exactly what the float model was trained on.

``--data DIR``: ``DIR/person/`` and ``DIR/non_person/`` holding images (JPEG, PNG, PPM; the Visual
Wake Words split made by the TF models ``build_visualwakewords_data`` script, or any other);
10 % of the files by name hash are validation, 10 % test.

``--synthetic``: scenes of :mod:`scenes` (rendered here, half with a stylised figure) with
separate seeds for training, validation and test. It is a toy task for running the pipeline end to
end; the model it gives is not a person detector.

Writes to ``--out``: ``model.keras``, ``labels.txt``, ``calib.npz`` (``x``: a few float training
inputs of shape (96, 96, 3) for the int8 conversion), ``metrics.json``, and with ``--synthetic`` an
``example.ppm`` / ``example.npy`` test frame with a figure in it.

Usage::

    python train.py --data ~/vww_coco --out vww_real --epochs 20
    python train.py --synthetic --blocks 7 --out .
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import sys
import time
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from generator.dsp import ImageConfig, image_pixels, pack_frame
from generator.dsp.image import image_tables

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import model as vww_model  # noqa: E402  (a sibling file, found through sys.path)
import scenes  # noqa: E402

LABELS = scenes.LABELS
CFG = ImageConfig()  # 160x120 RGB565 camera frame -> 96x96x3, real = pixel / 255
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp")
U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
Split = tuple[U8, I64]


# ---- the front-end path -------------------------------------------------------------------------


def model_pixels(frames: U8) -> U8:
    """(N, 120, 160, 3) RGB frames -> (N, 96, 96, 3) pixels, as the device computes them."""
    return np.stack([image_pixels(pack_frame(f, CFG.in_format), CFG) for f in frames])


def to_float(pixels: U8) -> F32:
    """The float model input, (pixel - 0) / 255 as ImageConfig's defaults define it."""
    return ((pixels.astype(np.float64) - CFG.pixel_mean) / CFG.pixel_std).astype(np.float32)


def fit_frame(path: Path) -> U8:
    """An image file resized to cover the camera frame and centre-cropped to it."""
    from PIL import Image

    with Image.open(path) as im:
        rgb = im.convert("RGB")
        scale = max(CFG.in_width / rgb.width, CFG.in_height / rgb.height)
        w, h = max(CFG.in_width, round(rgb.width * scale)), max(CFG.in_height,
                                                                  round(rgb.height * scale))
        rgb = rgb.resize((w, h), Image.Resampling.BILINEAR)
        x, y = (w - CFG.in_width) // 2, (h - CFG.in_height) // 2
        return np.asarray(rgb.crop((x, y, x + CFG.in_width, y + CFG.in_height)), np.uint8)


# ---- data sets ----------------------------------------------------------------------------------


def file_split(name: str) -> str:
    pct = int(hashlib.sha1(name.encode()).hexdigest(), 16) % 100
    return "validation" if pct < 10 else "testing" if pct < 20 else "training"


def folder_data(root: Path, limit: int | None) -> dict[str, Split]:
    files: dict[str, list[tuple[Path, int]]] = {"training": [], "validation": [], "testing": []}
    for label, name in enumerate(LABELS):
        folder = root / name
        if not folder.is_dir():
            raise SystemExit(f"{root}: needs the folders {' and '.join(LABELS)}")
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for p in paths[:limit]:
            files[file_split(p.name)].append((p, label))
    out = {}
    for split, items in files.items():
        pixels = model_pixels(np.stack([fit_frame(p) for p, _ in items])) if items else \
            np.zeros((0, *vww_model.INPUT_SHAPE), np.uint8)
        out[split] = (pixels, np.array([y for _, y in items], np.int64))
        print(f"{split}: {len(items)} images", flush=True)
    return out


SEEDS = {"training": 1, "validation": 2, "testing": 3}


def synthetic_data(sizes: dict[str, int], seed: int) -> tuple[dict[str, Split], U8]:
    """Rendered scenes per split (separate seeds), and the test split's first person frame."""
    out, example = {}, None
    for split, n in sizes.items():
        frames, labels = scenes.scenes(n, seed * 10 + SEEDS[split])
        out[split] = (model_pixels(frames), labels)
        if split == "testing":
            example = frames[int(np.flatnonzero(labels == 1)[0])]
        print(f"{split}: {n} scenes", flush=True)
    assert example is not None
    return out, example


# ---- training and evaluation ------------------------------------------------------------------


def dataset(pixels: U8, labels: I64, batch: int, train: bool, seed: int) -> Any:
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((pixels, labels))
    if train:
        ds = ds.shuffle(len(pixels), seed=seed, reshuffle_each_iteration=True)

    def prep(px: Any, y: Any) -> tuple[Any, Any]:
        x = tf.cast(px, tf.float32) / 255.0
        if train:
            x = tf.image.random_flip_left_right(x)
        return x, y

    plain = tf.autograph.experimental.do_not_convert(prep)  # plain TF ops, no AutoGraph needed
    return ds.map(plain, num_parallel_calls=2).batch(batch).prefetch(2)


def train(data: dict[str, Split], alpha: float, blocks: int, epochs: int, batch: int,
          seed: int) -> Any:
    keras.utils.set_random_seed(seed)
    net = vww_model.mobilenet_v1(alpha=alpha, classes=len(LABELS), blocks=blocks)
    steps = epochs * int(np.ceil(len(data["training"][0]) / batch))
    lr = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=max(1, steps), alpha=0.05)
    net.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    val = data["validation"]
    net.fit(dataset(*data["training"], batch, True, seed), epochs=epochs, verbose=2, shuffle=False,
            validation_data=dataset(*val, batch, False, seed) if len(val[0]) else None)
    return net


def accuracy(net: Any, pixels: U8, labels: I64) -> float:
    if len(pixels) == 0:
        return float("nan")
    pred = np.argmax(net.predict(to_float(pixels), batch_size=128, verbose=0), axis=-1)
    return float(np.mean(pred == labels))


def convert_int8(net: Any, calib: F32) -> bytes:
    from generator.importer.keras_import import QuantizeOptions, quantize_keras

    # The Keras export lists every captured variable on stdout; the converter warns that int8 I/O
    # has no input statistics, which is expected: the calibration data sets them.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return quantize_keras(net, QuantizeOptions(calibration=calib,
                                                   calibration_steps=len(calib)))


def int8_accuracy(tflite: bytes, pixels: U8, labels: I64) -> float:
    """The C front-end's lookup table on the device pixels, then the TFLite reference kernels."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=tflite,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    scale, zero = inp["quantization"]
    lut = image_tables(ImageConfig(out_scale=float(scale), out_zero_point=int(zero))).lut
    right = 0
    for px, y in zip(pixels, labels, strict=True):
        interp.set_tensor(inp["index"], lut[px][None])
        interp.invoke()
        right += int(np.argmax(interp.get_tensor(out["index"])[0]) == y)
    return right / max(1, len(labels))


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


def calibration(pixels: U8, labels: I64, n: int) -> F32:
    """The first ``n`` training inputs, classes alternating."""
    order = [int(i) for pair in zip(np.flatnonzero(labels == 0), np.flatnonzero(labels == 1),
                                    strict=False)
             for i in pair]
    return to_float(pixels[order[:n]])


def write_outputs(out: Path, net: Any, calib: F32, metrics: dict[str, Any],
                  example: U8 | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    save_compact(net, out / "model.keras")
    (out / "labels.txt").write_text("".join(f"{lab}\n" for lab in LABELS))
    np.savez_compressed(out / "calib.npz", x=calib)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    if example is not None:
        scenes.write_ppm(out / "example.ppm", example)
        np.save(out / "example.npy", example)
    print(f"wrote {out}/model.keras, labels.txt, calib.npz, metrics.json"
          + (", example.ppm, example.npy" if example is not None else ""))


# ---- command line -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="folder with person/ and non_person/ images")
    src.add_argument("--synthetic", action="store_true", help="rendered toy scenes (scenes.py)")
    p.add_argument("--train-scenes", type=int, default=6000)
    p.add_argument("--val-scenes", type=int, default=400)
    p.add_argument("--test-scenes", type=int, default=1000)
    p.add_argument("--limit", type=int, help="at most this many images per class (--data)")
    p.add_argument("--alpha", type=float, default=0.25, help="MobileNet width multiplier")
    p.add_argument("--blocks", type=int, default=len(vww_model.BLOCKS),
                   help="depthwise-separable blocks kept (13: the full network)")
    p.add_argument("--out", type=Path, default=HERE, help="folder for the model and its files")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--calib-samples", type=int, default=8,
                   help="inputs kept in calib.npz (each is 110 KB of float32)")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--no-int8", action="store_true", help="skip the int8 conversion check")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    example = None
    if args.synthetic:
        sizes = {"training": args.train_scenes, "validation": args.val_scenes,
                 "testing": args.test_scenes}
        data, example = synthetic_data(sizes, args.seed)
    else:
        data = folder_data(args.data, args.limit)
    print(f"inputs ready ({time.time() - t0:.0f} s)", flush=True)
    net = train(data, args.alpha, args.blocks, args.epochs, args.batch, args.seed)
    calib = calibration(*data["training"], args.calib_samples)
    metrics: dict[str, Any] = {
        "data": "synthetic scenes (scenes.py)" if args.synthetic else str(args.data),
        "labels": list(LABELS), "frontend": CFG.describe(), "alpha": args.alpha,
        "blocks": args.blocks,
        "examples": {s: len(d[1]) for s, d in data.items()},
        "epochs": args.epochs, "params": int(net.count_params()),
        "accuracy": {s: accuracy(net, *d) for s, d in data.items()},
    }
    if not args.no_int8 and len(data["testing"][1]):
        tflite = convert_int8(net, calib)
        metrics["accuracy"]["testing_int8"] = int8_accuracy(tflite, *data["testing"])
        metrics["tflite_bytes"] = len(tflite)
        scale, zero = input_quant(tflite)
        metrics["input_quantisation"] = {"scale": scale, "zero_point": zero}
        metrics["frontend"] = replace(CFG, out_scale=scale, out_zero_point=zero).describe()
    metrics["seconds"] = round(time.time() - t0)
    write_outputs(args.out, net, calib, metrics, example)
    print(json.dumps(metrics["accuracy"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
