"""MobileNet v1 for Visual Wake Words: 96x96x3 -> (non_person, person).

The MLPerf Tiny / TFLM person-detection network is MobileNet v1 with width multiplier ``alpha`` =
0.25 on a 96x96 input: a 3x3 stride-2 convolution, thirteen depthwise-separable blocks (3x3
depthwise + 1x1 pointwise, batch normalisation and ReLU6 after each), global average pooling and a
2-way softmax. ``alpha`` scales every layer's channels (0.25: 8 ... 256 channels, 219 k parameters,
7.5 M multiply-accumulates per inference). ``blocks`` below 13 keeps only the first blocks (a
shallower, much smaller network for small tasks: 7 blocks end at 128 channels on a 6x6 map).
"""

from __future__ import annotations

from typing import Any

INPUT_SHAPE = (96, 96, 3)
# (pointwise filters at alpha 1, depthwise stride) of the thirteen blocks, as in the paper.
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _bn_relu6(x: Any) -> Any:
    import keras

    L = keras.layers
    return L.ReLU(max_value=6.0)(L.BatchNormalization()(x))


def mobilenet_v1(alpha: float = 0.25, classes: int = 2, dropout: float = 0.1,
                 blocks: int = len(BLOCKS)) -> Any:
    """The network as a functional Keras model named ``mobilenet_v1``."""
    if not 1 <= blocks <= len(BLOCKS):
        raise ValueError(f"blocks must be 1..{len(BLOCKS)}, got {blocks}")
    import keras

    L = keras.layers
    inp = keras.Input(INPUT_SHAPE, name="image")
    x = L.Conv2D(max(1, int(32 * alpha)), 3, strides=2, padding="same", use_bias=False)(inp)
    x = _bn_relu6(x)
    for filters, stride in BLOCKS[:blocks]:
        x = _bn_relu6(L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x))
        x = _bn_relu6(L.Conv2D(max(1, int(filters * alpha)), 1, use_bias=False)(x))
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(dropout)(x)
    out = L.Dense(classes, activation="softmax", name="scores")(x)
    return keras.Model(inp, out, name="mobilenet_v1")
