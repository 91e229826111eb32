"""A zoo of int8 test models written in Keras, with random but calibrated weights.

Every model is built from a fixed seed, so a name always stands for the same weights. Layers with a
bias get small random biases, and BatchNormalization layers get moving statistics taken from the
calibration data and then perturbed, so that folding them into the convolution is really exercised
and activations stay in a useful range through deep stacks.

``zoo_tflite(name)`` converts once and keeps the ``.tflite`` in a disk cache (``$MCUFORGE_ZOO_CACHE``
or ``~/.cache/mcuforge/zoo``) keyed by this file's source, the converter module's source and the
TensorFlow version; a cache hit does not import TensorFlow.

Groups: :data:`LARGE` holds the reference workloads (KWS DS-CNN, VWW MobileNets, MLPerf Tiny ResNet-8
and anomaly-detection autoencoder); :data:`CORNERS` holds small models that each pin down one
operator shape or quantisation case.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import keras

CALIBRATION_SAMPLES = 64
SEED = 1234


@dataclass(frozen=True)
class ZooSpec:
    """How one zoo model is built, calibrated and fed."""

    build: Callable[[], Any]
    input_shape: tuple[int, ...]
    input_range: tuple[float, float]
    float_io: bool = False


# ----------------------------------------------------------------------------- layer helpers


def _k() -> Any:
    import keras

    return keras


def _conv_bn(x: Any, filters: int, kernel: int | tuple[int, int], strides: int = 1,
             act: str | None = "relu") -> Any:
    L = _k().layers
    x = L.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    return _act(x, act)


def _dw_bn(x: Any, strides: int = 1, act: str | None = "relu") -> Any:
    L = _k().layers
    x = L.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    return _act(x, act)


def _act(x: Any, act: str | None) -> Any:
    L = _k().layers
    if act == "relu":
        return L.ReLU()(x)
    if act == "relu6":
        return L.ReLU(max_value=6.0)(x)
    return x


def _round8(v: float, divisor: int = 8) -> int:
    """Channel rounding of the MobileNet papers: nearest multiple of 8, never more than 10 % down."""
    r = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return r + divisor if r < 0.9 * v else r


def _head(x: Any, classes: int) -> Any:
    L = _k().layers
    x = L.GlobalAveragePooling2D()(x)
    return L.Dense(classes, activation="softmax")(x)


# ----------------------------------------------------------------------------- large models


def ds_cnn() -> Any:
    """DS-CNN-S keyword spotting (Hello Edge / MLPerf Tiny KWS): 49x10 MFCC -> 12 classes."""
    keras = _k()
    inp = keras.Input((49, 10, 1))
    x = _conv_bn(inp, 64, (10, 4), strides=2)
    for _ in range(4):
        x = _dw_bn(x)
        x = _conv_bn(x, 64, 1)
    return keras.Model(inp, _head(x, 12), name="ds_cnn")


MOBILENET_V1_LAYERS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                       (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def mobilenet_v1() -> Any:
    """MobileNet v1, alpha 0.25, 96x96x3 -> 2 classes (Visual Wake Words)."""
    keras = _k()
    alpha = 0.25
    inp = keras.Input((96, 96, 3))
    x = _conv_bn(inp, int(32 * alpha), 3, strides=2, act="relu6")
    for filters, stride in MOBILENET_V1_LAYERS:
        x = _dw_bn(x, strides=stride, act="relu6")
        x = _conv_bn(x, int(filters * alpha), 1, act="relu6")
    return keras.Model(inp, _head(x, 2), name="mobilenet_v1")


# (expansion t, channels c, repeats n, first stride s) of the MobileNet v2 paper.
MOBILENET_V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _inverted_residual(x: Any, expansion: int, out_ch: int, stride: int) -> Any:
    in_ch = int(x.shape[-1])
    y = _conv_bn(x, in_ch * expansion, 1, act="relu6") if expansion != 1 else x
    y = _dw_bn(y, strides=stride, act="relu6")
    y = _conv_bn(y, out_ch, 1, act=None)
    if stride == 1 and in_ch == out_ch:
        y = _k().layers.Add()([x, y])
    return y


def mobilenet_v2() -> Any:
    """MobileNet v2, alpha 0.35, 96x96x3 -> 2 classes, last conv 1280 wide as in the paper."""
    keras = _k()
    alpha = 0.35
    inp = keras.Input((96, 96, 3))
    x = _conv_bn(inp, _round8(32 * alpha), 3, strides=2, act="relu6")
    for t, c, n, s in MOBILENET_V2_BLOCKS:
        for i in range(n):
            x = _inverted_residual(x, t, _round8(c * alpha), s if i == 0 else 1)
    x = _conv_bn(x, 1280, 1, act="relu6")
    return keras.Model(inp, _head(x, 2), name="mobilenet_v2")


def _resnet_stack(x: Any, filters: int, stride: int) -> Any:
    L = _k().layers
    y = _conv_bn(x, filters, 3, strides=stride)
    y = _conv_bn(y, filters, 3, act=None)
    if stride != 1:
        x = L.Conv2D(filters, 1, strides=stride, padding="same")(x)
    return L.ReLU()(L.Add()([x, y]))


def resnet8() -> Any:
    """ResNet-8 of MLPerf Tiny image classification: 32x32x3 -> 10 classes (CIFAR-10)."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((32, 32, 3))
    x = _conv_bn(inp, 16, 3)
    x = _resnet_stack(x, 16, 1)
    x = _resnet_stack(x, 32, 2)
    x = _resnet_stack(x, 64, 2)
    x = L.AveragePooling2D(pool_size=int(x.shape[1]))(x)
    x = L.Flatten()(x)
    return keras.Model(inp, L.Dense(10, activation="softmax")(x), name="resnet8")


def fc_autoencoder() -> Any:
    """The MLPerf Tiny anomaly-detection autoencoder: 640 -> 128x4 -> 8 -> 128x4 -> 640."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((640,))
    x = inp
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = L.Dense(units)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
    return keras.Model(inp, L.Dense(640)(x), name="fc_autoencoder")


# ----------------------------------------------------------------------------- corner models


def conv_strides() -> Any:
    """Stride-2 SAME and VALID convolutions on odd sizes (15x13), odd kernels, a 1xN kernel."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((15, 13, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)     # 8x7
    y = L.Conv2D(8, 3, strides=2, padding="valid", activation="relu")(inp)    # 7x6
    y = L.Conv2D(8, (2, 2), strides=1, padding="valid")(L.ZeroPadding2D(1)(y))  # 8x7
    x = L.Conv2D(6, (5, 3), strides=2, padding="same")(L.Concatenate()([x, y]))  # 4x4
    x = L.Conv2D(5, (1, 3), strides=(1, 2), padding="valid", activation="relu6")(x)
    return keras.Model(inp, x, name="conv_strides")


def depthwise_multiplier() -> Any:
    """Depthwise convolutions with depth multiplier 2, SAME stride 1 and VALID stride 2."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((11, 11, 4))
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu")(inp)
    x = L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="valid")(x)
    x = L.Conv2D(6, 1)(x)
    return keras.Model(inp, x, name="depthwise_multiplier")


def residual_scales() -> Any:
    """Residual adds and a multiply of branches whose quantisation scales differ widely."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((9, 9, 8))
    init = keras.initializers.RandomUniform
    small = L.Conv2D(8, 1, kernel_initializer=init(-0.05, 0.05, seed=1))(inp)
    big = L.Conv2D(8, 3, padding="same", kernel_initializer=init(-1.0, 1.0, seed=2))(inp)
    x = L.Add()([small, big])
    x = L.Add()([x, inp])
    x = L.ReLU()(x)
    gate = L.Conv2D(8, 1, activation="sigmoid")(x)
    return keras.Model(inp, L.Multiply()([x, gate]), name="residual_scales")


def pools() -> Any:
    """Average and max pooling: 2x2/2 VALID, 3x3/2 SAME on an odd size, 3x3/1 SAME."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((13, 13, 6))
    a = L.AveragePooling2D(3, strides=1, padding="same")(inp)
    a = L.AveragePooling2D(2, strides=2, padding="valid")(a)       # 6x6
    m = L.MaxPooling2D(3, strides=2, padding="same")(inp)          # 7x7
    m = L.MaxPooling2D(2, strides=1, padding="valid")(m)           # 6x6
    return keras.Model(inp, L.Concatenate()([a, m]), name="pools")


def zero_padding() -> Any:
    """Asymmetric explicit zero padding before VALID convolutions (int8 PAD pads with the zero point)."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((10, 7, 3))
    x = L.ZeroPadding2D(((1, 2), (2, 1)))(inp)
    x = L.Conv2D(8, 3, strides=2, padding="valid", activation="relu")(x)
    x = L.ZeroPadding2D(1)(x)
    x = L.DepthwiseConv2D(3, padding="valid")(x)
    return keras.Model(inp, x, name="zero_padding")


def concat_channels() -> Any:
    """Channel concatenation of three branches with different scales and widths."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((8, 8, 4))
    a = L.Conv2D(3, 1, activation="relu")(inp)
    b = L.Conv2D(5, 3, padding="same")(inp)
    c = L.DepthwiseConv2D(3, padding="same", activation="relu6")(inp)
    x = L.Concatenate(axis=-1)([a, b, c])
    x = L.Conv2D(6, 3, padding="same")(x)
    return keras.Model(inp, x, name="concat_channels")


def sigmoid_out() -> Any:
    """Flatten, two dense layers and a sigmoid output (LOGISTIC)."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((6, 6, 2))
    x = L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(inp)
    x = L.Flatten()(x)
    x = L.Dense(16, activation="relu")(x)
    return keras.Model(inp, L.Dense(3, activation="sigmoid")(x), name="sigmoid_out")


def float_io() -> Any:
    """A small conv net converted with float input/output: QUANTIZE and DEQUANTIZE at the edges."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((12, 12, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(4, activation="softmax")(x), name="float_io")


SPECS: dict[str, ZooSpec] = {
    "ds_cnn": ZooSpec(ds_cnn, (49, 10, 1), (-3.0, 3.0)),
    "mobilenet_v1": ZooSpec(mobilenet_v1, (96, 96, 3), (-1.0, 1.0)),
    "mobilenet_v2": ZooSpec(mobilenet_v2, (96, 96, 3), (-1.0, 1.0)),
    "resnet8": ZooSpec(resnet8, (32, 32, 3), (0.0, 1.0)),
    "fc_autoencoder": ZooSpec(fc_autoencoder, (640,), (-2.0, 6.0)),
    "conv_strides": ZooSpec(conv_strides, (15, 13, 3), (0.0, 1.0)),
    "depthwise_multiplier": ZooSpec(depthwise_multiplier, (11, 11, 4), (-1.0, 1.0)),
    "residual_scales": ZooSpec(residual_scales, (9, 9, 8), (-1.0, 1.0)),
    "pools": ZooSpec(pools, (13, 13, 6), (-2.0, 1.0)),
    "zero_padding": ZooSpec(zero_padding, (10, 7, 3), (0.5, 2.0)),
    "concat_channels": ZooSpec(concat_channels, (8, 8, 4), (-1.0, 1.0)),
    "sigmoid_out": ZooSpec(sigmoid_out, (6, 6, 2), (-1.0, 1.0)),
    "float_io": ZooSpec(float_io, (12, 12, 3), (-1.0, 1.0), float_io=True),
}

LARGE: tuple[str, ...] = ("ds_cnn", "mobilenet_v1", "mobilenet_v2", "resnet8", "fc_autoencoder")
CORNERS: tuple[str, ...] = tuple(n for n in SPECS if n not in LARGE)
GROUPS: dict[str, tuple[str, ...]] = {"large": LARGE, "corners": CORNERS}


# ----------------------------------------------------------------------------- building


def calibration_data(name: str, n: int = CALIBRATION_SAMPLES, seed: int = SEED) -> npt.NDArray[np.float32]:
    """Float inputs spread uniformly over the model's natural input range."""
    spec = SPECS[name]
    lo, hi = spec.input_range
    rng = np.random.default_rng(seed)
    return rng.uniform(lo, hi, size=(n, *spec.input_shape)).astype(np.float32)


def build_model(name: str) -> keras.Model:
    """A fresh, seeded Keras model with non-trivial biases and BatchNorm statistics."""
    keras = _k()
    keras.utils.clear_session()
    keras.utils.set_random_seed(SEED)
    model = SPECS[name].build()
    rng = np.random.default_rng(SEED + 1)
    _randomise_biases(model, rng)
    _calibrate_batchnorm(model, calibration_data(name), rng)
    return model


def _randomise_biases(model: Any, rng: np.random.Generator) -> None:
    for layer in model.layers:
        bias = getattr(layer, "bias", None)
        if bias is not None and getattr(layer, "use_bias", False):
            bias.assign(rng.normal(0.0, 0.05, size=tuple(bias.shape)).astype(np.float32))


def _calibrate_batchnorm(model: Any, x: npt.NDArray[np.float32], rng: np.random.Generator) -> None:
    """Moving stats from one training-mode pass (momentum 0), then gamma/beta/stats perturbed."""
    keras = _k()
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        return
    for bn in bns:
        bn.momentum = 0.0
    model(x, training=True)
    for bn in bns:
        bn.momentum = 0.99
        shape = tuple(bn.gamma.shape)
        bn.gamma.assign(rng.uniform(0.5, 1.5, size=shape).astype(np.float32))
        bn.beta.assign(rng.normal(0.1, 0.2, size=shape).astype(np.float32))
        std = np.sqrt(bn.moving_variance.numpy())
        bn.moving_mean.assign(bn.moving_mean.numpy() + rng.normal(0.0, 0.1, size=shape) * std)
        bn.moving_variance.assign(bn.moving_variance.numpy() * rng.uniform(0.7, 1.4, size=shape))


ZOO: dict[str, Callable[[], keras.Model]] = {name: partial(build_model, name) for name in SPECS}


def convert(name: str) -> bytes:
    """Build and quantise a zoo model (no cache)."""
    from generator.importer.keras_import import QuantizeOptions, quantize_keras

    model = build_model(name)
    opts = QuantizeOptions(calibration=calibration_data(name), float_io=SPECS[name].float_io,
                           calibration_steps=CALIBRATION_SAMPLES)
    # The Keras export lists every captured variable on stdout; the converter warns that int8 I/O
    # has no input statistics, which is expected: the calibration data sets them.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return quantize_keras(model, opts)


# ----------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    env = os.environ.get("MCUFORGE_ZOO_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "mcuforge" / "zoo"


def _tf_version() -> str:
    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "none"


def cache_key(name: str) -> str:
    """Hash of the builders, the converter front end and the TensorFlow version."""
    from generator.importer import keras_import

    h = hashlib.sha256()
    for src in (Path(__file__), Path(keras_import.__file__)):
        h.update(src.read_bytes())
    h.update(f"{name}\0{_tf_version()}".encode())
    return h.hexdigest()[:16]


def cache_path(name: str) -> Path:
    return cache_dir() / f"{name}-{cache_key(name)}.tflite"


def zoo_tflite(name: str) -> bytes:
    """The int8 .tflite of a zoo model, converted once and then read from the disk cache."""
    if name not in SPECS:
        raise KeyError(f"no zoo model '{name}'; known: {', '.join(SPECS)}")
    path = cache_path(name)
    if path.is_file():
        return path.read_bytes()
    data = convert(name)
    _write_atomic(path, data)
    _prune_stale(name, keep=path)
    return data


def _prune_stale(name: str, keep: Path) -> None:
    """Drop this model's entries made from older sources or another TensorFlow."""
    for old in keep.parent.glob(f"{name}-*.tflite"):
        if old != keep and re.fullmatch(rf"{re.escape(name)}-[0-9a-f]{{16}}\.tflite", old.name):
            old.unlink(missing_ok=True)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------- inputs


def zoo_inputs(name: str, n: int, seed: int = 0) -> list[npt.NDArray[Any]]:
    """``n`` random inputs of shape ``(1, *input_shape)``: int8 over the full range, or float32
    over the natural range for the float-I/O model."""
    spec = SPECS[name]
    rng = np.random.default_rng(seed)
    shape = (1, *spec.input_shape)
    if spec.float_io:
        lo, hi = spec.input_range
        return [rng.uniform(lo, hi, size=shape).astype(np.float32) for _ in range(n)]
    return [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(n)]
