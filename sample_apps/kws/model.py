"""DS-CNN keyword spotter (Hello Edge's DS-CNN-S, as in MLPerf Tiny KWS): 49x10 MFCC -> classes.

A 10x4 stride-2 convolution, then ``blocks`` depthwise-separable blocks (3x3 depthwise + 1x1
pointwise, each followed by batch normalisation and ReLU), global average pooling and a softmax
layer. With 64 filters and 4 blocks it is the 24k-parameter, 5.4 M multiply-accumulate model of the
papers. Dropout is only active in training; the int8 conversion removes it and folds every batch
normalisation into the convolution before it.
"""

from __future__ import annotations

from typing import Any

INPUT_SHAPE = (49, 10, 1)


def _conv_bn_relu(x: Any, filters: int, kernel: int | tuple[int, int], strides: int = 1) -> Any:
    import keras

    L = keras.layers
    x = L.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    return L.ReLU()(L.BatchNormalization()(x))


def _depthwise_bn_relu(x: Any) -> Any:
    import keras

    L = keras.layers
    x = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    return L.ReLU()(L.BatchNormalization()(x))


def ds_cnn(classes: int, filters: int = 64, blocks: int = 4, dropout: float = 0.2) -> Any:
    """The DS-CNN as a functional Keras model named ``ds_cnn``."""
    import keras

    L = keras.layers
    inp = keras.Input(INPUT_SHAPE, name="mfcc")
    x = _conv_bn_relu(inp, filters, (10, 4), strides=2)
    x = L.Dropout(dropout)(x)
    for _ in range(blocks):
        x = _depthwise_bn_relu(x)
        x = _conv_bn_relu(x, filters, 1)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(2 * dropout)(x)
    out = L.Dense(classes, activation="softmax", name="scores")(x)
    return keras.Model(inp, out, name="ds_cnn")
