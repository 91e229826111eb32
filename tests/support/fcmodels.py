"""Random int8 FULLY_CONNECTED models written as TFLite flatbuffers (no TensorFlow needed), for
exactness tests against TFLite Micro and the TFLite interpreter on shapes no zoo model has."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tests.support.badgen import FULLY_CONNECTED, INT32, OpSpec, TensorSpec, TfliteBuilder

FC_OPTIONS = 8  # BuiltinOptions.FullyConnectedOptions
ACTIVATIONS = {"none": 0, "relu": 1, "relu_n1_to_1": 2, "relu6": 3}


@dataclass(frozen=True)
class FcLayer:
    """One layer: its output width, weight granularity and fused activation."""

    units: int
    per_channel: bool = True
    activation: str = "none"


def _f32(v: float) -> float:
    return float(np.float32(v))


def fc_stack(seed: int, in_shape: Sequence[int], layers: Sequence[FcLayer]) -> bytes:
    """A chain of FULLY_CONNECTED layers on ``in_shape`` ([batches, depth]) with random int8 weights,
    int32 biases and quantisation (bias scale = input scale * weight scale, as TFLite requires);
    output scales are chosen so that accumulators land in a useful int8 range."""
    rng = np.random.default_rng(seed)
    m = TfliteBuilder()
    batches, depth = in_shape
    x_scale = _f32(rng.uniform(0.005, 0.1))
    x = m.tensor(TensorSpec(tuple(in_shape), scale=(x_scale,),
                            zero_point=(int(rng.integers(-128, 128)),), name="input"))
    first = x
    for i, layer in enumerate(layers):
        n = layer.units
        w = rng.integers(-127, 128, size=(n, depth), dtype=np.int8)
        w_scales = [_f32(s) for s in rng.uniform(0.002, 0.05, size=n if layer.per_channel else 1)]
        bias_scales = [_f32(x_scale * s) for s in w_scales]
        bias = rng.integers(-3000, 3000, size=n).astype(np.int32)
        wt = m.tensor(TensorSpec((n, depth), data=w.tobytes(), scale=w_scales,
                                 zero_point=(0,) * len(w_scales), name=f"fc{i}/w"))
        bt = m.tensor(TensorSpec((n,), INT32, data=bias.tobytes(), scale=bias_scales,
                                 zero_point=(0,) * len(bias_scales), name=f"fc{i}/b"))
        # a typical |accumulator| is about 128 * 40 * sqrt(depth); map it to about 100 output steps
        y_scale = _f32(x_scale * float(np.mean(w_scales)) * 50.0 * np.sqrt(depth) * rng.uniform(0.5, 2))
        y = m.tensor(TensorSpec((batches, n), scale=(y_scale,),
                                zero_point=(int(rng.integers(-100, 100)),), name=f"fc{i}/out"))
        m.ops.append(OpSpec(FULLY_CONNECTED, (x, wt, bt), (y,), options_type=FC_OPTIONS,
                            byte_options={0: ACTIVATIONS[layer.activation]}))
        x, x_scale, depth = y, y_scale, n
    m.inputs, m.outputs = [first], [x]
    return m.build()
