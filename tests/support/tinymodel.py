"""A tiny int8 model made at test time (conv, depthwise, pool, dense, softmax)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np


@cache
def tiny_tflite() -> bytes:
    import keras

    from generator.importer.keras_import import QuantizeOptions, quantize_keras

    keras.utils.set_random_seed(7)
    inp = keras.Input((12, 12, 2))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = keras.layers.Conv2D(6, 1)(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(4)(x)
    model = keras.Model(inp, out)
    calib = np.random.default_rng(0).uniform(-1, 1, size=(32, 12, 12, 2)).astype(np.float32)
    return quantize_keras(model, QuantizeOptions(calibration=calib))


def write_tiny_tflite(path: Path) -> Path:
    path.write_bytes(tiny_tflite())
    return path
