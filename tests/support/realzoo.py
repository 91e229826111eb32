"""Keras architectures users write for microcontrollers, built here with random weights (no training).

Each builder returns a small float Keras model; :func:`realzoo_tflite` converts it to full int8 with
TFLiteConverter (int8 I/O, or uint8 I/O for the ``*_uint8`` cases, as ``inference_input_type=tf.uint8``
gives) on random calibration data from the model's natural input range, and keeps the bytes in memory.

:data:`PENDING` names the architectures that need an operator mcuforge does not have yet, with the
operator: the tests leave them out until that operator is merged, then they move to the tested list.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

SEED = 7
CALIBRATION_SAMPLES = 32


@dataclass(frozen=True)
class Arch:
    """How one architecture is built, calibrated and converted."""

    build: Callable[[], Any]
    input_range: tuple[float, float]
    uint8_io: bool = False
    tflm_lacks: str = ""
    """An operator of the converted model TFLite Micro has no kernel for (the TFLite interpreter is
    then the only reference)."""
    tflm_only: bool = False
    """Converted through a Keras 2 rebuild, as mcuforge's importer converts Keras 3 LSTMs (the
    fused int8 LSTM), and exact in TFLite Micro's numerics only (the interpreter's LSTM differs)."""


def _k() -> Any:
    import keras

    return keras


# ----------------------------------------------------------------------------- builders


def _hard_swish(x: Any) -> Any:
    return _k().layers.Activation("hard_swish")(x)


def _se_block(x: Any, squeeze: int) -> Any:
    """Squeeze-and-excitation: global pool, bottleneck, hard sigmoid gate, channel scaling."""
    L = _k().layers
    ch = int(x.shape[-1])
    s = L.GlobalAveragePooling2D(keepdims=True)(x)
    s = L.Conv2D(squeeze, 1, activation="relu")(s)
    s = L.Conv2D(ch, 1, activation="hard_sigmoid")(s)
    return L.Multiply()([x, s])


def mobilenet_v3_small() -> Any:
    """MobileNetV3-Small-like: hard_swish stem, an inverted residual with SE, 32x32x3 -> 4 classes."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((32, 32, 3))
    x = _hard_swish(L.Conv2D(8, 3, strides=2, padding="same")(inp))
    y = L.Conv2D(24, 1)(x)
    y = _hard_swish(y)
    y = L.DepthwiseConv2D(3, padding="same")(y)
    y = _hard_swish(y)
    y = _se_block(y, 8)
    y = L.Conv2D(8, 1)(y)
    x = L.Add()([x, y])
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(4, activation="softmax")(x), name="mobilenet_v3_small")


def conv1d_imu() -> Any:
    """An IMU gesture head: 128 samples x 6 axes, two Conv1D, GlobalAveragePooling1D, 5 classes."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((128, 6))
    x = L.Conv1D(16, 5, padding="same", activation="relu")(inp)
    x = L.Conv1D(24, 3, strides=2, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(inp, L.Dense(5, activation="softmax")(x), name="conv1d_imu")


def unet_small() -> Any:
    """A two-level UNet: 32x32x1 -> MaxPool -> UpSampling2D -> Concatenate skip -> sigmoid mask."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((32, 32, 1))
    e1 = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    e2 = L.Conv2D(16, 3, padding="same", activation="relu")(L.MaxPooling2D()(e1))
    u1 = L.UpSampling2D()(e2)
    d1 = L.Conv2D(8, 3, padding="same", activation="relu")(L.Concatenate()([u1, e1]))
    out = L.Conv2D(1, 1, activation="sigmoid")(d1)
    return keras.Model(inp, out, name="unet_small")


def unet_tconv() -> Any:
    """The two-level UNet with a learned upsampling: Conv2DTranspose (stride 2) instead of
    UpSampling2D before the skip concatenation, as UNet decoders are usually written."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((32, 32, 1))
    e1 = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    e2 = L.Conv2D(16, 3, padding="same", activation="relu")(L.MaxPooling2D()(e1))
    u1 = L.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(e2)
    d1 = L.Conv2D(8, 3, padding="same", activation="relu")(L.Concatenate()([u1, e1]))
    out = L.Conv2D(1, 1, activation="sigmoid")(d1)
    return keras.Model(inp, out, name="unet_tconv")


def ds_cnn_kws() -> Any:
    """DS-CNN keyword spotting on 49x10 MFCC: strided conv, two depthwise-separable blocks, 12 classes."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((49, 10, 1))
    x = L.Conv2D(32, (10, 4), strides=2, padding="same", activation="relu")(inp)
    for _ in range(2):
        x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        x = L.Conv2D(32, 1, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(12, activation="softmax")(x), name="ds_cnn_kws")


def resnet_block() -> Any:
    """A ResNet-v1 basic block with a projection shortcut, 16x16x3 -> 10 classes."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((16, 16, 3))
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
    y = L.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    y = L.Conv2D(32, 3, padding="same")(y)
    s = L.Conv2D(32, 1, strides=2)(x)
    x = L.ReLU()(L.Add()([y, s]))
    x = L.AveragePooling2D(8)(x)
    x = L.Flatten()(x)
    return keras.Model(inp, L.Dense(10, activation="softmax")(x), name="resnet_block")


def image_classifier() -> Any:
    """A small vendor-style image classifier for uint8 camera input, 24x24x3 -> 3 classes."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((24, 24, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(inp)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = L.Conv2D(16, 1, activation="relu6")(x)
    x = L.MaxPooling2D()(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(3, activation="softmax")(x), name="image_classifier")


def lstm_kws() -> Any:
    """An LSTM keyword spotter: 49 frames x 10 MFCC, one LSTM(16), 12 classes.

    Unrolled (``unroll=True``): TensorFlow 2.21's converter crashes (segfault) quantising the fused
    int8 LSTM of a Keras 3 model, so the cell becomes FULLY_CONNECTED, LOGISTIC, TANH, MUL and ADD
    per time step, as on microcontrollers without a fused LSTM kernel."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((49, 10))
    x = L.LSTM(16, unroll=True)(inp)
    return keras.Model(inp, L.Dense(12, activation="softmax")(x), name="lstm_kws")


def lstm_kws_fused() -> Any:
    """The LSTM keyword spotter as users write it (not unrolled): LSTM(16) over 49 frames x 10 MFCC,
    every step's hidden state flattened into Dense(12): one fused int8 UNIDIRECTIONAL_SEQUENCE_LSTM."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((49, 10))
    x = L.Flatten()(L.LSTM(16, return_sequences=True)(inp))
    return keras.Model(inp, L.Dense(12, activation="softmax")(x), name="lstm_kws_fused")


def gru_kws() -> Any:
    """A GRU keyword spotter as users write it: GRU(16) over 49 frames x 10 MFCC, Dense(12). The
    importer converts it unrolled (:func:`generator.importer.keras_import.unrolled`): per time step
    FULLY_CONNECTED, LOGISTIC, TANH, SUB, MUL, ADD and the SPLIT / STRIDED_SLICE of the gates."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((49, 10))
    x = L.GRU(16)(inp)
    return keras.Model(inp, L.Dense(12, activation="softmax")(x), name="gru_kws")


def se_cnn() -> Any:
    """A CNN with a squeeze-and-excitation block: conv, GlobalAveragePooling2D -> Dense relu ->
    Dense sigmoid -> Multiply with the feature map, conv, pooled Dense head; 24x24x3 -> 4 classes."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((24, 24, 3))
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inp)
    s = L.GlobalAveragePooling2D(keepdims=True)(x)
    s = L.Dense(4, activation="relu")(s)
    s = L.Dense(16, activation="sigmoid")(s)
    x = L.Multiply()([x, s])
    x = L.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(4, activation="softmax")(x), name="se_cnn")


def imu_tcn() -> Any:
    """An IMU temporal CNN as users write one: dilated Conv1D layers (dilated CONV_2D), a
    hard_sigmoid activation (Keras's piecewise-linear form, which the converter folds into the
    convolution before it), GlobalMaxPooling1D (REDUCE_MAX); 128x3 -> 5 classes."""
    keras = _k()
    L = keras.layers
    inp = keras.Input((128, 3))
    x = L.Conv1D(16, 5, padding="same", activation="relu")(inp)
    x = L.Conv1D(16, 3, padding="same", dilation_rate=2)(x)
    x = L.Activation("hard_sigmoid")(x)
    x = L.Conv1D(24, 3, padding="same", dilation_rate=4, activation="relu")(x)
    x = L.GlobalMaxPooling1D()(x)
    return keras.Model(inp, L.Dense(5, activation="softmax")(x), name="imu_tcn")


ARCHS: dict[str, Arch] = {
    "mobilenet_v3_small": Arch(mobilenet_v3_small, (0.0, 1.0)),
    "conv1d_imu": Arch(conv1d_imu, (-2.0, 2.0)),
    "unet_small": Arch(unet_small, (0.0, 1.0), tflm_lacks="TILE"),
    "unet_tconv": Arch(unet_tconv, (0.0, 1.0)),
    "ds_cnn_kws": Arch(ds_cnn_kws, (-3.0, 3.0)),
    "resnet_block": Arch(resnet_block, (0.0, 1.0)),
    "image_classifier_uint8": Arch(image_classifier, (0.0, 1.0), uint8_io=True),
    "ds_cnn_kws_uint8": Arch(ds_cnn_kws, (-3.0, 3.0), uint8_io=True),
    "lstm_kws": Arch(lstm_kws, (-3.0, 3.0)),
    "lstm_kws_fused": Arch(lstm_kws_fused, (-3.0, 3.0), tflm_only=True),
    "gru_kws": Arch(gru_kws, (-3.0, 3.0)),
    "se_cnn": Arch(se_cnn, (0.0, 1.0)),
    "imu_tcn": Arch(imu_tcn, (-2.0, 2.0)),
}

PENDING: dict[str, str] = {
}
"""Architectures that need an operator being built in parallel: switch them on after the merge."""

TESTED: tuple[str, ...] = tuple(name for name in ARCHS if name not in PENDING)


# ----------------------------------------------------------------------------- conversion


def calibration(name: str, n: int = CALIBRATION_SAMPLES) -> npt.NDArray[np.float32]:
    model_shape = build(name).inputs[0].shape[1:]
    lo, hi = ARCHS[name].input_range
    rng = np.random.default_rng(SEED)
    return rng.uniform(lo, hi, size=(n, *model_shape)).astype(np.float32)


@cache
def build(name: str) -> Any:
    """The float model with seeded random weights (biases too, so zero-bias shortcuts are avoided)."""
    keras = _k()
    keras.utils.set_random_seed(SEED)
    model = ARCHS[name].build()
    rng = np.random.default_rng(SEED)
    for layer in model.layers:
        bias = getattr(layer, "bias", None)
        if bias is not None:
            bias.assign(rng.normal(0.0, 0.05, size=tuple(bias.shape)).astype(np.float32))
    return model


@cache
def realzoo_tflite(name: str) -> bytes:
    """The full-int8 ``.tflite`` of an architecture (int8 or uint8 I/O), converted once per process."""
    import tensorflow as tf

    from generator.importer.keras_import import unrolled

    model = unrolled(build(name))  # GRU / SimpleRNN layers unrolled, as the importer converts them
    calib = calibration(name)
    if ARCHS[name].tflm_only:
        import tf_keras

        from generator.importer.keras_rebuild import rebuild

        conv = tf.lite.TFLiteConverter.from_keras_model(rebuild(model, tf_keras, batch=1))
    else:
        batch1 = [tf.keras.Input(batch_shape=(1, *t.shape[1:])) for t in model.inputs]
        conv = tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(batch1, model(batch1[0])))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calib[i : i + 1]] for i in range(len(calib)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io_type = tf.uint8 if ARCHS[name].uint8_io else tf.int8
    conv.inference_input_type = io_type
    conv.inference_output_type = io_type
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        return bytes(conv.convert())


def random_inputs(data: bytes, runs: int, seed: int = 0) -> list[list[npt.NDArray[Any]]]:
    """``runs`` sets of model inputs over the full range of each input's integer type."""
    from generator.importer.tflite_reader import read_tflite

    graph = read_tflite(data, where="model")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(runs):
        run = []
        for tid in graph.inputs:
            t = graph.tensors[tid]
            info = np.iinfo(np.dtype(t.dtype.value))
            run.append(rng.integers(info.min, int(info.max) + 1, size=t.shape,
                                    dtype=np.dtype(t.dtype.value)))
        out.append(run)
    return out
