"""The linear, pooling and data-movement kernels, exactly equal to TFLite's reference kernels.

Small Keras models are quantised to int8 (a few branches each, so that one conversion covers several
operator variants), and every operator is recomputed with the C kernel from the reference
interpreter's own input tensor: the result must equal the interpreter's output tensor bit for bit.
The kernel arguments are derived from the IR here, independently of the code generator.

Channel-slice addressing (pixel strides) and the split-input accumulate-then-requantise forms are
checked against the same reference tensors, and with random geometries against a NumPy twin of the
reference arithmetic (no TensorFlow needed for those).
"""

from __future__ import annotations

import ctypes
import itertools
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from generator.codegen import qparams as qp
from generator.ir import (
    Activation,
    ConcatAttrs,
    Conv2DAttrs,
    DepthwiseConv2DAttrs,
    FullyConnectedAttrs,
    Graph,
    Op,
    OpKind,
    PadAttrs,
    Padding,
    Pool2DAttrs,
)
from generator.numerics import Numerics
from generator.resources import runtime_dir
from tests.support import ckernels as ck
from tests.support import cortex_m

N_INPUTS = 20
I8 = npt.NDArray[np.int8]

# ---- kernel arguments from the IR ------------------------------------------------------------------


def _scale_zp(g: Graph, tid: int) -> tuple[float, int]:
    q = g.tensors[tid].quant
    assert q is not None
    return q.single_scale, q.single_zero_point


def quant_of(g: Graph, op: Op, act: Activation = Activation.NONE) -> ck.Quant:
    _, zp_in = _scale_zp(g, op.inputs[0])
    s_out, zp_out = _scale_zp(g, op.outputs[0])
    lo, hi = qp.activation_range(act, s_out, zp_out)
    return ck.Quant(in_offset=-zp_in, out_offset=zp_out, act_min=lo, act_max=hi)


def window_of(padding: Padding, in_hw: tuple[int, int], k_hw: tuple[int, int],
              stride: tuple[int, int], dil: tuple[int, int]) -> ck.Window:
    """TFLite's output size and padding-before for SAME / VALID."""
    out, pads = [], []
    for i in range(2):
        if padding is Padding.SAME:
            o, before = qp.same_padding(in_hw[i], k_hw[i], stride[i], dil[i])
        else:
            o, before = qp.valid_out(in_hw[i], k_hw[i], stride[i], dil[i]), 0
        out.append(o)
        pads.append(before)
    return ck.Window(out[0], out[1], stride[0], stride[1], dil[0], dil[1], pads[0], pads[1])


@dataclass(frozen=True)
class Weights:
    w: npt.NDArray[np.int8]
    bias: npt.NDArray[np.int32] | None
    mult: npt.NDArray[np.int32]
    shift: npt.NDArray[np.int32]
    per_channel: bool
    scale: npt.NDArray[np.float64]  # in_scale * filter_scale / out_scale in double (FC reference)


def reference_rescales(in_scale: float, filter_scales: tuple[float, ...],
                       out_scale: float) -> npt.NDArray[np.float64]:
    """The double multipliers of TFLite's reference FULLY_CONNECTED: the float32 scales widened to
    double, multiplied, then divided, in that order."""
    return np.array([float(in_scale) * float(f) / float(out_scale) for f in filter_scales])


def weights_of(g: Graph, op: Op) -> Weights:
    w = g.tensors[op.inputs[1]]
    assert w.data is not None and w.quant is not None
    s_in, _ = _scale_zp(g, op.inputs[0])
    s_out, _ = _scale_zp(g, op.outputs[0])
    mult, shift = qp.conv_multipliers(s_in, w.quant.scale, s_out)
    has_bias = len(op.inputs) > 2 and op.inputs[2] >= 0
    bias = g.tensors[op.inputs[2]].data if has_bias else None
    return Weights(np.asarray(w.data, np.int8), None if bias is None else np.asarray(bias, np.int32),
                   np.asarray(mult, np.int32), np.asarray(shift, np.int32), w.quant.per_channel,
                   reference_rescales(s_in, w.quant.scale, s_out))


def _per_out(a: npt.NDArray[np.int32], n: int) -> npt.NDArray[np.int32]:
    return a if a.size == n else np.repeat(a[:1], n)


# ---- each operator through the C kernels -----------------------------------------------------------

Tensors = dict[int, npt.NDArray[Any]]


def conv_args(g: Graph, op: Op) -> tuple[Weights, ck.Window, ck.Quant]:
    a = op.attrs
    assert isinstance(a, Conv2DAttrs)
    k = weights_of(g, op)
    _, ih, iw, _ = g.tensors[op.inputs[0]].shape
    win = window_of(a.padding, (ih, iw), k.w.shape[1:3], (a.stride_h, a.stride_w),
                    (a.dilation_h, a.dilation_w))
    oc = k.w.shape[0]
    k = Weights(k.w, k.bias, _per_out(k.mult, oc), _per_out(k.shift, oc), k.per_channel, k.scale)
    return k, win, quant_of(g, op, a.activation)


def dw_args(g: Graph, op: Op) -> tuple[Weights, ck.Window, ck.Quant]:
    a = op.attrs
    assert isinstance(a, DepthwiseConv2DAttrs)
    k = weights_of(g, op)
    _, kh, kw, oc = k.w.shape
    _, ih, iw, _ = g.tensors[op.inputs[0]].shape
    win = window_of(a.padding, (ih, iw), (kh, kw), (a.stride_h, a.stride_w),
                    (a.dilation_h, a.dilation_w))
    k = Weights(k.w.reshape(kh, kw, oc), k.bias, _per_out(k.mult, oc), _per_out(k.shift, oc),
                k.per_channel, k.scale)
    return k, win, quant_of(g, op, a.activation)


def pool_args(g: Graph, op: Op) -> tuple[tuple[int, int], ck.Window, ck.Quant]:
    a = op.attrs
    assert isinstance(a, Pool2DAttrs)
    _, ih, iw, _ = g.tensors[op.inputs[0]].shape
    k_hw = (a.filter_h, a.filter_w)
    win = window_of(a.padding, (ih, iw), k_hw, (a.stride_h, a.stride_w), (1, 1))
    return k_hw, win, quant_of(g, op, a.activation)


def _conv(g: Graph, op: Op, t: Tensors) -> I8:
    k, win, q = conv_args(g, op)
    return ck.conv2d(t[op.inputs[0]][0], k.w, k.bias, k.mult, k.shift, win, q)


def _dwconv(g: Graph, op: Op, t: Tensors) -> I8:
    k, win, q = dw_args(g, op)
    return ck.dwconv2d(t[op.inputs[0]][0], k.w, k.bias, k.mult, k.shift, win, q)


def _fc(g: Graph, op: Op, t: Tensors) -> I8:
    a = op.attrs
    assert isinstance(a, FullyConnectedAttrs)
    k = weights_of(g, op)
    x = t[op.inputs[0]].reshape(-1, k.w.shape[1])
    return ck.fc_f64(x, k.w, k.bias, k.scale, quant_of(g, op, a.activation), k.per_channel)


def _pool(g: Graph, op: Op, t: Tensors) -> I8:
    k_hw, win, q = pool_args(g, op)
    run = ck.avgpool if op.kind is OpKind.AVERAGE_POOL_2D else ck.maxpool
    return run(t[op.inputs[0]][0], k_hw, win, q)


def _pad(g: Graph, op: Op, t: Tensors) -> I8:
    a = op.attrs
    assert isinstance(a, PadAttrs) and a.paddings[0] == (0, 0)
    return ck.pad(t[op.inputs[0]][0], a.paddings[1:], _scale_zp(g, op.outputs[0])[1])


def _concat(g: Graph, op: Op, t: Tensors) -> I8:
    """Each input's rows copied into its column range of the output (equal quantisation: the
    reference int8 kernel requires it)."""
    a = op.attrs
    assert isinstance(a, ConcatAttrs)
    shape = g.tensors[op.outputs[0]].shape
    rows = int(np.prod(shape[: a.axis]))
    y = np.zeros((rows, int(np.prod(shape[a.axis :]))), dtype=np.int8)
    col = 0
    for tid in op.inputs:
        assert _scale_zp(g, tid) == _scale_zp(g, op.outputs[0])
        src = t[tid].reshape(rows, -1)
        ck.copy_rows(src, y[:, col : col + src.shape[1]])
        col += src.shape[1]
    return y


RUN: dict[OpKind, Callable[[Graph, Op, Tensors], I8]] = {
    OpKind.CONV_2D: _conv,
    OpKind.DEPTHWISE_CONV_2D: _dwconv,
    OpKind.FULLY_CONNECTED: _fc,
    OpKind.AVERAGE_POOL_2D: _pool,
    OpKind.MAX_POOL_2D: _pool,
    OpKind.PAD: _pad,
    OpKind.CONCATENATION: _concat,
}

# ---- the Keras models ------------------------------------------------------------------------------


def _conv_model(keras: Any, x: Any) -> list[Any]:
    L = keras.layers
    a = L.Conv2D(5, 3, padding="same", activation="relu")(x)
    return [
        a,
        L.Conv2D(6, 3, strides=2, padding="valid", activation="relu6")(x),
        L.Conv2D(4, 3, dilation_rate=2, padding="same")(x),
        L.Conv2D(3, (4, 2), strides=(2, 1), padding="same")(x),
        L.Conv2D(4, (2, 3), strides=(1, 2), padding="valid", dilation_rate=1)(x),
        L.Conv2D(7, 3, strides=2, padding="same", activation="relu")(a),  # input zero point -128
    ]


def _dw_model(keras: Any, x: Any) -> list[Any]:
    L = keras.layers
    a = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    return [
        a,
        L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)(x),
        L.DepthwiseConv2D(3, dilation_rate=2, padding="valid", depth_multiplier=2)(x),
        L.DepthwiseConv2D((3, 2), strides=2, padding="valid", activation="relu6")(a),
    ]


def _fc_model(keras: Any, x: Any) -> list[Any]:
    L = keras.layers
    return [L.Dense(7)(L.Dense(10, activation="relu")(x))]


def _fc_batch_model(keras: Any, x: Any) -> list[Any]:
    return [keras.layers.Dense(6, activation="relu6")(x)]


def _pool_model(keras: Any, x: Any) -> list[Any]:
    L = keras.layers
    return [
        L.AveragePooling2D(3, strides=2, padding="same")(x),
        L.AveragePooling2D(2, strides=2, padding="valid")(x),
        L.AveragePooling2D((2, 3), strides=(1, 2), padding="same")(x),
        L.MaxPooling2D(3, strides=2, padding="same")(x),
        L.MaxPooling2D(2, padding="valid")(x),
        L.MaxPooling2D((3, 1), strides=(2, 1), padding="same")(x),
    ]


def _pad_model(keras: Any, x: Any) -> list[Any]:
    L = keras.layers
    relu = L.Conv2D(3, 1, activation="relu")(x)  # zero point -128: the pad value
    return [
        L.ZeroPadding2D(((1, 2), (0, 3)))(x),
        keras.ops.pad(x, [[0, 0], [1, 0], [0, 1], [2, 1]]),
        L.ZeroPadding2D(1)(relu),
    ]


def _concat_model(keras: Any, x: Any) -> list[Any]:
    L = keras.layers
    a = L.Conv2D(4, 1)(x)
    b = L.Conv2D(2, 3, padding="same")(x)
    return [L.Concatenate()([a, b, x]), L.Concatenate(axis=2)([a, L.Conv2D(4, (1, 3))(x)])]


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[[Any, Any], list[Any]]
    input_shape: tuple[int, ...]
    kinds: frozenset[OpKind]
    per_tensor: bool = False


MODELS: dict[str, ModelSpec] = {
    "conv": ModelSpec(_conv_model, (9, 7, 4), frozenset({OpKind.CONV_2D})),
    "dwconv": ModelSpec(_dw_model, (8, 9, 3), frozenset({OpKind.DEPTHWISE_CONV_2D})),
    "fc_per_channel": ModelSpec(_fc_model, (24,), frozenset({OpKind.FULLY_CONNECTED})),
    "fc_per_tensor": ModelSpec(_fc_model, (24,), frozenset({OpKind.FULLY_CONNECTED}), True),
    "fc_batches": ModelSpec(_fc_batch_model, (3, 24), frozenset({OpKind.FULLY_CONNECTED})),
    "pool": ModelSpec(_pool_model, (7, 9, 5),
                      frozenset({OpKind.AVERAGE_POOL_2D, OpKind.MAX_POOL_2D})),
    "pad": ModelSpec(_pad_model, (5, 6, 3), frozenset({OpKind.PAD, OpKind.CONV_2D})),
    "concat": ModelSpec(_concat_model, (5, 5, 3),
                        frozenset({OpKind.CONCATENATION, OpKind.CONV_2D})),
}


def _convert(model: Any, calib: npt.NDArray[np.float32], per_tensor: bool) -> bytes:
    from generator.importer.keras_import import QuantizeOptions, quantize_keras

    if not per_tensor:
        return quantize_keras(model, QuantizeOptions(calibration=calib))
    # The converter's default for Dense is per-channel; this private switch gives per-tensor weights.
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calib[i : i + 1]] for i in range(len(calib)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    return bytes(conv.convert())


@dataclass(frozen=True)
class Case:
    graph: Graph
    refs: list[Tensors]  # every tensor of the reference run, per random input


@cache
def case(name: str, numerics: Numerics = Numerics.TFLITE_REF) -> Case:
    """The model ``name`` and every tensor of ``numerics``'s reference on random inputs: the
    TFLite interpreter by default (the kernels tested here are its reference arithmetic),
    TFLite Micro for the fixed-point FULLY_CONNECTED."""
    import keras

    from generator.importer.reference import run_reference_all
    from generator.importer.tflite_reader import read_tflite

    spec = MODELS[name]
    keras.utils.set_random_seed(7)
    x = keras.Input(spec.input_shape, batch_size=1)
    model = keras.Model(x, spec.build(keras, x))
    rng = np.random.default_rng(11)
    calib = rng.normal(0.0, 1.0, size=(32, *spec.input_shape)).astype(np.float32)
    tflite = _convert(model, calib, spec.per_tensor)
    g = read_tflite(tflite)
    inputs = rng.integers(-128, 128, size=(N_INPUTS, 1, *spec.input_shape), dtype=np.int8)
    refs = [run_reference_all(tflite, [xi], numerics) for xi in inputs]
    return Case(g, refs)


def ops_of(c: Case, kind: OpKind) -> list[Op]:
    ops = [op for op in c.graph.ops if op.kind is kind]
    assert ops, f"the converter produced no {kind.value}"
    return ops


# ---- every operator of every model against the interpreter -----------------------------------------


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.parametrize("name", list(MODELS))
def test_ops_equal_reference(name: str) -> None:
    c = case(name)
    assert MODELS[name].kinds <= {op.kind for op in c.graph.ops}
    mine = [op for op in c.graph.ops if op.kind in RUN]  # e.g. a QUANTIZE the converter inserts
    for t in c.refs:
        for op in mine:
            want = t[op.outputs[0]]
            got = RUN[op.kind](c.graph, op, t)
            np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=op.name)


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.parametrize("name", ["fc_per_channel", "fc_per_tensor", "fc_batches"])
def test_fc_fixed_point_equals_tflite_micro(name: str) -> None:
    """mcuf_fc_s8 requantises in fixed point: exactly TFLite Micro's FULLY_CONNECTED. TFLite's
    reference kernel rescales in double (mcuf_fc_s8_f64, tested above); the two differ by 1 at
    most, on rare outputs."""
    micro, ref = case(name, Numerics.TFLM), case(name)
    differ = total = 0
    for op in ops_of(micro, OpKind.FULLY_CONNECTED):
        a = op.attrs
        assert isinstance(a, FullyConnectedAttrs)
        k = weights_of(micro.graph, op)
        for t, r in zip(micro.refs, ref.refs, strict=True):
            x = t[op.inputs[0]].reshape(-1, k.w.shape[1])
            got = ck.fc(x, k.w, k.bias, k.mult, k.shift, quant_of(micro.graph, op, a.activation),
                        k.per_channel).astype(np.int32)
            np.testing.assert_array_equal(got, t[op.outputs[0]].reshape(got.shape), err_msg=op.name)
            other = r[op.outputs[0]].reshape(got.shape).astype(np.int32)
            assert np.abs(got - other).max() <= 1
            differ += int((got != other).sum())
            total += got.size
    assert differ <= total // 20


@pytest.mark.hostc
@pytest.mark.tflite
def test_fc_quantisation_granularity() -> None:
    """The two FULLY_CONNECTED variants are really exercised: per-channel by default, per-tensor."""
    for name, per_channel in (("fc_per_channel", True), ("fc_per_tensor", False)):
        c = case(name)
        assert all(weights_of(c.graph, op).per_channel is per_channel
                   for op in ops_of(c, OpKind.FULLY_CONNECTED))


# ---- channel slices of wider maps (pixel strides) --------------------------------------------------


def _embed(x: I8, extra_before: int, extra_after: int, rng: np.random.Generator) -> I8:
    """``x`` as a channel slice of a wider map filled with unrelated values."""
    h, w, c = x.shape
    wide = rng.integers(-128, 128, size=(h, w, extra_before + c + extra_after), dtype=np.int8)
    wide[:, :, extra_before : extra_before + c] = x
    return wide[:, :, extra_before : extra_before + c]


def _wide_out(shape: tuple[int, int, int], before: int, after: int) -> tuple[I8, I8]:
    """A sentinel-filled wider output map and the slice view of it a kernel writes."""
    h, w, c = shape
    wide = np.full((h, w, before + c + after), 77, dtype=np.int8)
    return wide, wide[:, :, before : before + c]


def _sentinels_intact(wide: I8, before: int, c: int) -> None:
    assert (wide[:, :, :before] == 77).all() and (wide[:, :, before + c :] == 77).all()


def _cuts(n: int) -> list[tuple[int, int]]:
    """Uneven slices of range(n): [0, 1), [1, 1 + (n - 1) // 2), the rest (empty ones dropped)."""
    edges = sorted({0, min(1, n), 1 + (n - 1) // 2, n})
    return [(lo, hi) for lo, hi in itertools.pairwise(edges) if hi > lo]


@pytest.mark.hostc
@pytest.mark.tflite
def test_conv_channel_slices() -> None:
    """Reading the input from a wider map and writing output channels [lo, hi) into a wider map, as
    a producer slice does, reproduces the reference channels."""
    c = case("conv")
    rng = np.random.default_rng(3)
    for op in ops_of(c, OpKind.CONV_2D):
        k, win, q = conv_args(c.graph, op)
        for t in c.refs[:5]:
            x = _embed(t[op.inputs[0]][0], 2, 3, rng)
            want = t[op.outputs[0]][0]
            for lo, hi in _cuts(k.w.shape[0]):
                wide, out = _wide_out((win.out_h, win.out_w, hi - lo), 1, 4)
                ck.conv2d(x, k.w[lo:hi], None if k.bias is None else k.bias[lo:hi],
                          k.mult[lo:hi], k.shift[lo:hi], win, q, out)
                np.testing.assert_array_equal(out, want[:, :, lo:hi])
                _sentinels_intact(wide, 1, hi - lo)


@pytest.mark.hostc
@pytest.mark.tflite
def test_dwconv_channel_slices() -> None:
    c = case("dwconv")
    rng = np.random.default_rng(4)
    for op in ops_of(c, OpKind.DEPTHWISE_CONV_2D):
        k, win, q = dw_args(c.graph, op)
        for t in c.refs[:5]:
            x_full = t[op.inputs[0]][0]
            dm = k.w.shape[2] // x_full.shape[2]
            want = t[op.outputs[0]][0]
            for lo, hi in _cuts(x_full.shape[2]):
                x = _embed(x_full, 0, 0, rng)[:, :, lo:hi]  # a slice of the full input map
                o = slice(lo * dm, hi * dm)
                wide, out = _wide_out((win.out_h, win.out_w, (hi - lo) * dm), 3, 1)
                ck.dwconv2d(x, np.ascontiguousarray(k.w[:, :, o]),
                            None if k.bias is None else k.bias[o], k.mult[o], k.shift[o], win, q,
                            out)
                np.testing.assert_array_equal(out, want[:, :, o])
                _sentinels_intact(wide, 3, (hi - lo) * dm)


@pytest.mark.hostc
@pytest.mark.tflite
def test_pool_and_pad_channel_slices() -> None:
    rng = np.random.default_rng(5)
    c = case("pool")
    for op in c.graph.ops:
        k_hw, win, q = pool_args(c.graph, op)
        run = ck.avgpool if op.kind is OpKind.AVERAGE_POOL_2D else ck.maxpool
        for t in c.refs[:5]:
            x_full, want = t[op.inputs[0]][0], t[op.outputs[0]][0]
            for lo, hi in _cuts(x_full.shape[2]):
                wide, out = _wide_out((win.out_h, win.out_w, hi - lo), 2, 2)
                run(_embed(x_full[:, :, lo:hi], 1, 2, rng), k_hw, win, q, out)
                np.testing.assert_array_equal(out, want[:, :, lo:hi])
                _sentinels_intact(wide, 2, hi - lo)
    c = case("pad")
    for op in ops_of(c, OpKind.PAD):
        a = op.attrs
        assert isinstance(a, PadAttrs)
        cb = a.paddings[3][0]
        for t in c.refs[:5]:
            x_full, want = t[op.inputs[0]][0], t[op.outputs[0]][0]
            h, w, _ = want.shape
            for lo, hi in _cuts(x_full.shape[2]):
                # a slice pads H and W only; channel padding stays with the full op
                wide, out = _wide_out((h, w, hi - lo), cb + lo, 1)
                ck.pad(_embed(x_full[:, :, lo:hi], 2, 0, rng), (*a.paddings[1:3], (0, 0)),
                       _scale_zp(c.graph, op.outputs[0])[1], out)
                np.testing.assert_array_equal(out, want[:, :, cb + lo : cb + hi])
                _sentinels_intact(wide, cb + lo, hi - lo)


# ---- split over input channels: accumulate, then requantise ----------------------------------------


@pytest.mark.hostc
@pytest.mark.tflite
def test_conv_input_split_equals_reference() -> None:
    c = case("conv")
    for op in ops_of(c, OpKind.CONV_2D):
        k, win, q = conv_args(c.graph, op)
        oc = k.w.shape[0]
        for t in c.refs[:8]:
            x = t[op.inputs[0]][0]
            acc = np.zeros((win.out_h, win.out_w, oc), dtype=np.int32)
            for lo, hi in _cuts(x.shape[2]):
                ck.conv2d_acc(x[:, :, lo:hi], np.ascontiguousarray(k.w[..., lo:hi]), win,
                              q.in_offset, acc)
            got = ck.requant(acc.reshape(-1, oc), k.bias, k.mult, k.shift, q)
            np.testing.assert_array_equal(got.reshape(win.out_h, win.out_w, oc),
                                          t[op.outputs[0]][0])


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.parametrize("name", ["fc_per_channel", "fc_per_tensor", "fc_batches"])
def test_fc_input_split_equals_reference(name: str) -> None:
    """Input slices accumulated in int32, then one requantisation: in double, equal to the TFLite
    interpreter; in fixed point, equal to TFLite Micro."""
    for numerics in Numerics:
        c = case(name, numerics)
        for op in ops_of(c, OpKind.FULLY_CONNECTED):
            a = op.attrs
            assert isinstance(a, FullyConnectedAttrs)
            k = weights_of(c.graph, op)
            q = quant_of(c.graph, op, a.activation)
            out_n, in_n = k.w.shape
            for t in c.refs[:8]:
                x = t[op.inputs[0]].reshape(-1, in_n)
                acc = np.zeros((x.shape[0], out_n), dtype=np.int32)
                for lo, hi in _cuts(in_n):
                    ck.fc_acc(np.ascontiguousarray(x[:, lo:hi]),
                              np.ascontiguousarray(k.w[:, lo:hi]), q.in_offset, acc)
                if numerics is Numerics.TFLITE_REF:
                    got = ck.requant_f64(acc, k.bias, np.resize(k.scale, out_n), q)
                else:
                    got = ck.requant(acc, k.bias, np.resize(k.mult, out_n),
                                     np.resize(k.shift, out_n), q)
                np.testing.assert_array_equal(got.reshape(t[op.outputs[0]].shape),
                                              t[op.outputs[0]], err_msg=f"{op.name} {numerics}")


# ---- a NumPy twin of the reference arithmetic, for random geometries -------------------------------


def np_mul_by_qm(x: npt.NDArray[np.int64], mult: npt.ArrayLike,
                 shift: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """MultiplyByQuantizedMultiplier (double rounding), element-wise, in int64."""
    m = np.asarray(mult, np.int64)
    s = np.asarray(shift, np.int64)
    a = x.astype(np.int64) << np.maximum(s, 0)
    a = ((a + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)  # int32 wrap of the left shift
    ab = a * m
    q = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(q >= 0, q >> 31, -((-q) >> 31))  # division truncating toward zero
    right = np.maximum(-s, 0)
    mask = (np.int64(1) << right) - 1
    threshold = (mask >> 1) + (high < 0)
    return np.asarray((high >> right) + ((high & mask) > threshold), dtype=np.int64)


def np_round_half_away(v: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """std::round, exactly: v - trunc(v) is exact in double (floor(|v| + 0.5) is not)."""
    whole = np.trunc(v)
    frac = v - whole
    return (whole + (frac >= 0.5) - (frac <= -0.5)).astype(np.int64)


def np_finish(acc: npt.NDArray[np.int64], bias: npt.NDArray[np.int32] | None,
              mult: npt.ArrayLike, shift: npt.ArrayLike, q: ck.Quant) -> I8:
    if bias is not None:
        acc = acc + bias
    out = np_mul_by_qm(acc, mult, shift) + q.out_offset
    return np.clip(out, q.act_min, q.act_max).astype(np.int8)


def _taps(x: I8, in_offset: int, k_hw: tuple[int, int], win: ck.Window) -> list[
        tuple[int, int, npt.NDArray[np.int64]]]:
    """(ky, kx, (x + in_offset) under tap (ky, kx) for every output pixel), padding as zeros:
    a skipped tap and a zero in the offset domain contribute the same nothing."""
    h, w, c = x.shape
    rows = max(win.pad_top + h, (win.out_h - 1) * win.stride_h + (k_hw[0] - 1) * win.dil_h + 1)
    cols = max(win.pad_left + w, (win.out_w - 1) * win.stride_w + (k_hw[1] - 1) * win.dil_w + 1)
    big = np.zeros((rows, cols, c), dtype=np.int64)
    big[win.pad_top : win.pad_top + h, win.pad_left : win.pad_left + w] = x.astype(np.int64) + in_offset
    out = []
    for ky in range(k_hw[0]):
        for kx in range(k_hw[1]):
            y0, x0 = ky * win.dil_h, kx * win.dil_w
            patch = big[y0 : y0 + (win.out_h - 1) * win.stride_h + 1 : win.stride_h,
                        x0 : x0 + (win.out_w - 1) * win.stride_w + 1 : win.stride_w]
            out.append((ky, kx, patch))
    return out


def np_conv_sums(x: I8, filt: I8, win: ck.Window, in_offset: int) -> npt.NDArray[np.int64]:
    oc, kh, kw, _ = filt.shape
    acc = np.zeros((win.out_h, win.out_w, oc), dtype=np.int64)
    for ky, kx, patch in _taps(x, in_offset, (kh, kw), win):
        acc += patch @ filt[:, ky, kx, :].astype(np.int64).T
    return acc


def np_dw_sums(x: I8, filt: I8, win: ck.Window, in_offset: int) -> npt.NDArray[np.int64]:
    kh, kw, oc = filt.shape
    dm = oc // x.shape[2]
    acc = np.zeros((win.out_h, win.out_w, oc), dtype=np.int64)
    for ky, kx, patch in _taps(x, in_offset, (kh, kw), win):
        acc += np.repeat(patch, dm, axis=2) * filt[ky, kx].astype(np.int64)
    return acc


def np_pool(x: I8, k_hw: tuple[int, int], win: ck.Window, q: ck.Quant, avg: bool) -> I8:
    h, w, c = x.shape
    out = np.zeros((win.out_h, win.out_w, c), dtype=np.int64)
    for oy in range(win.out_h):
        for ox in range(win.out_w):
            y0, x0 = oy * win.stride_h - win.pad_top, ox * win.stride_w - win.pad_left
            region = x[max(y0, 0) : min(y0 + k_hw[0], h), max(x0, 0) : min(x0 + k_hw[1], w)]
            region = region.reshape(-1, c).astype(np.int64)
            if not avg:
                out[oy, ox] = region.max(axis=0)
                continue
            s, n = region.sum(axis=0), region.shape[0]
            out[oy, ox] = np.where(s > 0, (s + n // 2) // n, -((n // 2 - s) // n))
    return np.clip(out, q.act_min, q.act_max).astype(np.int8)


@st.composite
def geometries(draw: st.DrawFn, max_k: int = 4, dilation: bool = True) -> tuple[
        tuple[int, int], tuple[int, int], ck.Window]:
    """(input h, w), (k_h, k_w), and a TFLite SAME/VALID window with an output of at least 1x1."""
    in_hw = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    k_hw = (draw(st.integers(1, max_k)), draw(st.integers(1, max_k)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilation else (1, 1)
    padding = draw(st.sampled_from(Padding))
    win = window_of(padding, in_hw, k_hw, stride, dil)
    assume(win.out_h > 0 and win.out_w > 0)
    return in_hw, k_hw, win


@st.composite
def requant_setup(draw: st.DrawFn, n: int) -> tuple[ck.Quant, npt.NDArray[np.int32],
                                                    npt.NDArray[np.int32],
                                                    npt.NDArray[np.int32] | None]:
    """Offsets, a clamp, and per-channel multipliers for real scales in (2**-14, 1.5)."""
    zp_in = draw(st.integers(-128, 127))
    zp_out = draw(st.integers(-128, 127))
    lo = draw(st.integers(-128, 127))
    hi = draw(st.integers(lo, 127))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mults, shifts = zip(*(qp.quantize_multiplier(float(2.0 ** rng.uniform(-14, 0.58)))
                          for _ in range(n)), strict=True)
    bias = rng.integers(-5000, 5000, size=n, dtype=np.int32) if draw(st.booleans()) else None
    return (ck.Quant(-zp_in, zp_out, lo, hi), np.asarray(mults, np.int32),
            np.asarray(shifts, np.int32), bias)


def _rand(seed: int, shape: tuple[int, ...]) -> I8:
    return np.random.default_rng(seed).integers(-128, 128, size=shape, dtype=np.int8)


PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much])


@pytest.mark.hostc
@PROPERTY
@given(geo=geometries(), c=st.integers(1, 7), oc=st.integers(1, 6), data=st.data())
def test_conv_random_geometry(geo: Any, c: int, oc: int, data: st.DataObject) -> None:
    """Whole kernel == NumPy twin; reading/writing channel slices of wider maps; and input-channel
    splits accumulated then requantised == whole kernel."""
    in_hw, k_hw, win = geo
    q, mult, shift, bias = data.draw(requant_setup(oc))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = _embed(_rand(seed, (*in_hw, c)), data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3)),
               rng)
    filt = _rand(seed + 1, (oc, *k_hw, c))
    want = np_finish(np_conv_sums(x, filt, win, q.in_offset), bias, mult, shift, q)
    before = data.draw(st.integers(0, 3))
    wide, out = _wide_out((win.out_h, win.out_w, oc), before, data.draw(st.integers(0, 3)))
    ck.conv2d(x, filt, bias, mult, shift, win, q, out)
    np.testing.assert_array_equal(out, want)
    _sentinels_intact(wide, before, oc)

    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(c - 1, 1)), max_size=3))) | {0, c})
    acc = np.zeros((win.out_h, win.out_w, oc), dtype=np.int32)
    for lo, hi in itertools.pairwise(cuts):
        if hi > lo:
            ck.conv2d_acc(x[:, :, lo:hi], np.ascontiguousarray(filt[..., lo:hi]), win, q.in_offset,
                          acc)
    wide, out = _wide_out((win.out_h, win.out_w, oc), before, 2)
    ck.requant(acc.reshape(-1, oc), bias, mult, shift, q,
               wide.reshape(-1, wide.shape[2])[:, before : before + oc])
    np.testing.assert_array_equal(out, want)
    _sentinels_intact(wide, before, oc)


@pytest.mark.hostc
@PROPERTY
@given(geo=geometries(), c=st.integers(1, 6), dm=st.integers(1, 3), data=st.data())
def test_dwconv_random_geometry(geo: Any, c: int, dm: int, data: st.DataObject) -> None:
    in_hw, k_hw, win = geo
    q, mult, shift, bias = data.draw(requant_setup(c * dm))
    seed = data.draw(st.integers(0, 2**32 - 1))
    x = _embed(_rand(seed, (*in_hw, c)), data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)),
               np.random.default_rng(seed))
    filt = _rand(seed + 1, (*k_hw, c * dm))
    want = np_finish(np_dw_sums(x, filt, win, q.in_offset), bias, mult, shift, q)
    wide, out = _wide_out((win.out_h, win.out_w, c * dm), 1, 2)
    ck.dwconv2d(x, filt, bias, mult, shift, win, q, out)
    np.testing.assert_array_equal(out, want)
    _sentinels_intact(wide, 1, c * dm)


@pytest.mark.hostc
@PROPERTY
@given(batches=st.integers(1, 3), in_n=st.integers(1, 40), out_n=st.integers(1, 9),
       per_channel=st.booleans(), data=st.data())
def test_fc_random(batches: int, in_n: int, out_n: int, per_channel: bool,
                   data: st.DataObject) -> None:
    q, mult, shift, bias = data.draw(requant_setup(out_n))
    if not per_channel:
        mult, shift = np.repeat(mult[:1], out_n), np.repeat(shift[:1], out_n)
    seed = data.draw(st.integers(0, 2**32 - 1))
    x, w = _rand(seed, (batches, in_n)), _rand(seed + 1, (out_n, in_n))
    sums = (x.astype(np.int64) + q.in_offset) @ w.astype(np.int64).T
    want = np_finish(sums, bias, mult, shift, q)
    got = ck.fc(x, w, bias, mult if per_channel else mult[:1], shift if per_channel else shift[:1],
                q, per_channel)
    np.testing.assert_array_equal(got, want)

    rng = np.random.default_rng(seed)
    scales = reference_rescales(
        float(np.float32(rng.uniform(1e-3, 0.1))),
        tuple(float(np.float32(f)) for f in rng.uniform(1e-4, 1e-2, out_n if per_channel else 1)),
        float(np.float32(rng.uniform(1e-3, 0.2))))
    scaled = (sums + (0 if bias is None else bias)).astype(np.float64) * np.resize(scales, out_n)
    want_f64 = np.clip(np_round_half_away(scaled) + q.out_offset, q.act_min, q.act_max)
    np.testing.assert_array_equal(ck.fc_f64(x, w, bias, scales, q, per_channel), want_f64)

    cut = data.draw(st.integers(0, in_n))
    acc = np.zeros((batches, out_n), dtype=np.int32)
    for lo, hi in ((0, cut), (cut, in_n)):
        if hi > lo:
            ck.fc_acc(np.ascontiguousarray(x[:, lo:hi]), np.ascontiguousarray(w[:, lo:hi]),
                      q.in_offset, acc)
    np.testing.assert_array_equal(ck.requant(acc, bias, mult, shift, q), want)
    np.testing.assert_array_equal(ck.requant_f64(acc, bias, np.resize(scales, out_n), q), want_f64)


@pytest.mark.hostc
@PROPERTY
@given(geo=geometries(dilation=False), c=st.integers(1, 5), avg=st.booleans(), data=st.data())
def test_pool_random_geometry(geo: Any, c: int, avg: bool, data: st.DataObject) -> None:
    in_hw, k_hw, win = geo
    assume(win.pad_top < k_hw[0] and win.pad_left < k_hw[1])  # every window sees the input
    lo = data.draw(st.integers(-128, 127))
    q = ck.Quant(act_min=lo, act_max=data.draw(st.integers(lo, 127)))
    seed = data.draw(st.integers(0, 2**32 - 1))
    x = _embed(_rand(seed, (*in_hw, c)), 1, 1, np.random.default_rng(seed))
    wide, out = _wide_out((win.out_h, win.out_w, c), 2, 0)
    (ck.avgpool if avg else ck.maxpool)(x, k_hw, win, q, out)
    np.testing.assert_array_equal(out, np_pool(x, k_hw, win, q, avg))
    _sentinels_intact(wide, 2, c)


@pytest.mark.hostc
@PROPERTY
@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 4)),
       pads=st.lists(st.integers(0, 3), min_size=6, max_size=6), value=st.integers(-128, 127),
       seed=st.integers(0, 2**32 - 1))
def test_pad_random(shape: tuple[int, int, int], pads: list[int], value: int, seed: int) -> None:
    x = _embed(_rand(seed, shape), 2, 1, np.random.default_rng(seed))
    pairs = ((pads[0], pads[1]), (pads[2], pads[3]), (pads[4], pads[5]))
    want = np.pad(np.asarray(x), pairs, constant_values=value)
    wide, out = _wide_out(want.shape, 1, 1)
    ck.pad(x, pairs, value, out)
    np.testing.assert_array_equal(out, want)
    _sentinels_intact(wide, 1, want.shape[2])


# ---- row copies --------------------------------------------------------------------------------------


@pytest.mark.hostc
@pytest.mark.parametrize("src_pitch,dst_pitch,shift", [(4, 9, 0), (4, 9, 5), (9, 4, 0), (7, 7, 3),
                                                       (7, 7, -3)])
def test_copy_rows_in_place(src_pitch: int, dst_pitch: int, shift: int) -> None:
    """Rows moved apart or together inside one buffer (an in-place concatenation)."""
    rows, length = 6, 4
    buf = np.arange(200, dtype=np.int64).astype(np.int8)
    base = 40
    s0, d0 = base, base + shift
    src = np.lib.stride_tricks.as_strided(buf[s0:], (rows, length), (src_pitch, 1))
    dst = np.lib.stride_tricks.as_strided(buf[d0:], (rows, length), (dst_pitch, 1))
    if (src_pitch < dst_pitch and shift < 0) or (src_pitch > dst_pitch and shift > 0):
        pytest.skip("no row order is overlap-safe for this combination")
    want_rows = np.array(src)  # the values before the move
    expected = buf.copy()
    for r in range(rows):
        expected[d0 + r * dst_pitch : d0 + r * dst_pitch + length] = want_rows[r]
    ck.copy_rows(src, dst)
    np.testing.assert_array_equal(buf, expected)


def np_requant_rows(src: I8, scale: np.float32, bias: np.float32, out_zp: int) -> I8:
    """TFLite ConcatenationWithScaling in float32, rounding half away from zero."""
    v = (src.astype(np.float32) * scale + bias).astype(np.float32).astype(np.float64)
    return np.clip(np_round_half_away(v) + out_zp, -128, 127).astype(np.int8)


@pytest.mark.hostc
@PROPERTY
@given(in_scale=st.floats(1e-3, 1.0), out_scale=st.floats(1e-3, 1.0),
       in_zp=st.integers(-128, 127), out_zp=st.integers(-128, 127), seed=st.integers(0, 2**32 - 1))
def test_requant_rows_random(in_scale: float, out_scale: float, in_zp: int, out_zp: int,
                             seed: int) -> None:
    scale = np.float32(in_scale) * np.float32(1.0 / np.float32(out_scale))
    bias = -np.float32(in_zp) * scale
    src = _rand(seed, (5, 7))
    dst = np.zeros((5, 11), dtype=np.int8)
    ck.requant_rows(src, dst[:, 2:9], float(scale), float(bias), out_zp)
    np.testing.assert_array_equal(dst[:, 2:9], np_requant_rows(src, scale, bias, out_zp))
    assert not dst[:, :2].any() and not dst[:, 9:].any()


# ---- cross compilation --------------------------------------------------------------------------------

CROSS_TARGETS = {
    "cortex-m4f": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m0plus": ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"],
}


@pytest.mark.cross
@pytest.mark.parametrize("target", list(CROSS_TARGETS))
@pytest.mark.parametrize("source", ck.SOURCES[1:])
def test_cross_compiles(target: str, source: str, tmp_path: Any) -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    rt = runtime_dir()
    cmd = ["arm-none-eabi-gcc", *CROSS_TARGETS[target], "-std=c99", "-O2", "-Wall", "-Wextra",
           "-Werror", f"-I{rt / 'include'}", "-c", str(rt / "src" / source), "-o",
           str(tmp_path / "k.o")]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


# ---- the Cortex-M build (SMLAD fast path, soft/hard double) on the emulator ---------------------------


def _c_values(values: npt.NDArray[Any]) -> str:
    flat = values.reshape(-1)
    if flat.dtype == np.float64:
        return ", ".join(float(v).hex() for v in flat)
    return ", ".join(str(int(v)) for v in flat)


@dataclass
class Firmware:
    """A test program: constant arrays, parameter structs, kernel calls and expected outputs."""

    decls: list[str]
    body: list[str]

    def array(self, name: str, ctype: str, values: npt.ArrayLike | None) -> str:
        if values is None:
            return "NULL"
        arr = np.asarray(values)
        self.decls.append(f"static const {ctype} {name}[{max(arr.size, 1)}] = "
                          f"{{{_c_values(arr) or '0'}}};")
        return name

    def params(self, name: str, ctype: str, p: ctypes.Structure) -> str:
        fields = ", ".join(f".{f[0]} = {getattr(p, f[0])}" for f in p._fields_)
        self.decls.append(f"static const {ctype} {name} = {{{fields}}};")
        return f"&{name}"

    def check(self, name: str, call: str, want: npt.NDArray[np.int8], out_size: int | None = None,
              pre: str = "") -> None:
        """``call`` writes into ``out_<name>``; compared with ``want`` (flattened)."""
        n = out_size or want.size
        exp = self.array(f"want_{name}", "int8_t", want.reshape(-1))
        self.decls.append(f"static int8_t out_{name}[{n}];")
        self.body.append(f"    {pre}{call};\n    fails += check(\"{name}\", out_{name}, {exp}, "
                         f"{want.size});")

    def source(self) -> str:
        return "\n".join([_FIRMWARE_PRELUDE, *self.decls, _FIRMWARE_CHECK, "int main(void)", "{",
                          "    int fails = 0;", *self.body,
                          '    mcuf_port_print(fails ? "FAIL\\n" : "OK\\n");',
                          "    return fails ? 1 : 0;", "}", ""])


_FIRMWARE_PRELUDE = """#include <stddef.h>
#include <stdint.h>
#include "mcuf_kernels.h"
#include "mcuf_port.h"
"""

_FIRMWARE_CHECK = """static int check(const char *name, const int8_t *got, const int8_t *want, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        bad += got[i] != want[i];
    }
    if (bad) {
        mcuf_port_print(name);
        mcuf_port_print(": ");
        mcuf_port_print_int(bad);
        mcuf_port_print(" mismatches\\n");
    }
    return bad;
}
"""


def _firmware_cases(rng: np.random.Generator) -> Firmware:
    """Kernel calls with odd lengths and offsets; expected outputs from the host build."""
    fw = Firmware([], [])
    # CONV_2D reading a 5-channel slice of a 9-channel map (dot lengths 5: SIMD body plus tail).
    wide = rng.integers(-128, 128, size=(7, 6, 9), dtype=np.int8)
    x = wide[:, :, 2:7]
    filt = rng.integers(-128, 128, size=(6, 3, 3, 5), dtype=np.int8)
    bias = rng.integers(-3000, 3000, size=6, dtype=np.int32)
    mult, shift = zip(*(qp.quantize_multiplier(float(v)) for v in rng.uniform(1e-3, 2e-2, 6)),
                      strict=True)
    win = window_of(Padding.SAME, (7, 6), (3, 3), (2, 1), (1, 1))
    q = ck.Quant(in_offset=37, out_offset=-5, act_min=-100, act_max=120)
    want = ck.conv2d(x, filt, bias, mult, shift, win, q)
    p = ck.conv_params(x, (3, 3), 6, win, q)
    fw.array("conv_wide", "int8_t", wide)
    fw.check("conv", f"mcuf_conv2d_s8({fw.params('conv_p', 'mcuf_conv_params', p)}, conv_wide + 2, "
             f"{fw.array('conv_w', 'int8_t', filt)}, {fw.array('conv_b', 'int32_t', bias)}, "
             f"{fw.array('conv_m', 'int32_t', mult)}, {fw.array('conv_s', 'int32_t', shift)}, "
             "out_conv)", want)
    # The same conv as two input slices (2 + 3 channels), accumulated, then requantised.
    acc_n = want.size
    fw.decls.append(f"static int32_t acc_conv[{acc_n}];")
    pre = [f"mcuf_zero_s32({acc_n}, acc_conv);"]
    for i, (lo, hi) in enumerate(((0, 2), (2, 5))):
        ps = ck.conv_params(x[:, :, lo:hi], (3, 3), 6, win, q)
        w = fw.array(f"conv_w{i}", "int8_t", np.ascontiguousarray(filt[..., lo:hi]))
        pre.append(f"mcuf_conv2d_s8_acc({fw.params(f'conv_p{i}', 'mcuf_conv_params', ps)}, "
                   f"conv_wide + {2 + lo}, {w}, acc_conv);")
    fw.check("conv_split", f"mcuf_requant_s32({acc_n // 6}, 6, acc_conv, conv_b, conv_m, conv_s, "
             f"{q.out_offset}, {q.act_min}, {q.act_max}, out_conv_split, 6)", want,
             pre=" ".join(pre) + "\n    ")
    # DEPTHWISE_CONV_2D, depth multiplier 2, dilation 2.
    xd = rng.integers(-128, 128, size=(8, 7, 3), dtype=np.int8)
    fd = rng.integers(-128, 128, size=(3, 3, 6), dtype=np.int8)
    wind = window_of(Padding.SAME, (8, 7), (3, 3), (1, 1), (2, 2))
    want = ck.dwconv2d(xd, fd, bias, mult, shift, wind, q)
    h, w_, c, cs = ck.hwc(xd)
    pd = ck.DwConvParams(h, w_, c, cs, wind.out_h, wind.out_w, 6, 6, 3, 3, 1, 1, 2, 2,
                         wind.pad_top, wind.pad_left, 2, q.in_offset, q.out_offset, q.act_min,
                         q.act_max)
    fw.check("dwconv", f"mcuf_dwconv2d_s8({fw.params('dw_p', 'mcuf_dwconv_params', pd)}, "
             f"{fw.array('dw_in', 'int8_t', xd)}, {fw.array('dw_w', 'int8_t', fd)}, conv_b, conv_m, "
             "conv_s, out_dwconv)", want)
    # FULLY_CONNECTED: fixed point, double (per-channel and per-tensor), and split + double requant.
    xf = rng.integers(-128, 128, size=(2, 37), dtype=np.int8)
    wf = rng.integers(-128, 128, size=(6, 37), dtype=np.int8)
    scales = reference_rescales(0.02, tuple(float(np.float32(v)) for v in
                                            rng.uniform(1e-3, 5e-3, 6)), 0.11)
    fw.array("fc_in", "int8_t", xf)
    fw.array("fc_w", "int8_t", wf)
    fw.array("fc_scale", "double", scales)
    for per_channel in (True, False):
        tag = "pc" if per_channel else "pt"
        pf = ck.FcParams(2, 37, 6, q.in_offset, q.out_offset, q.act_min, q.act_max,
                         int(per_channel))
        pref = fw.params(f"fc_p_{tag}", "mcuf_fc_params", pf)
        fw.check(f"fc_{tag}", f"mcuf_fc_s8({pref}, fc_in, fc_w, conv_b, conv_m, conv_s, out_fc_{tag})",
                 ck.fc(xf, wf, bias, mult, shift, q, per_channel))
        fw.check(f"fc_f64_{tag}", f"mcuf_fc_s8_f64({pref}, fc_in, fc_w, conv_b, fc_scale, "
                 f"out_fc_f64_{tag})", ck.fc_f64(xf, wf, bias, scales, q, per_channel))
    acc = np.zeros((2, 6), dtype=np.int32)
    ck.fc_acc(np.ascontiguousarray(xf[:, :17]), np.ascontiguousarray(wf[:, :17]), q.in_offset, acc)
    ck.fc_acc(np.ascontiguousarray(xf[:, 17:]), np.ascontiguousarray(wf[:, 17:]), q.in_offset, acc)
    fw.check("fc_split", f"mcuf_requant_s32_f64(2, 6, {fw.array('fc_acc', 'int32_t', acc)}, conv_b, "
             f"fc_scale, {q.out_offset}, {q.act_min}, {q.act_max}, out_fc_split, 6)",
             ck.requant_f64(acc, bias, scales, q))
    # Pooling, PAD, and the float requantising row copy.
    kp, winp = (3, 2), window_of(Padding.SAME, (7, 6), (3, 2), (2, 2), (1, 1))
    for kind in ("avg", "max"):
        want = getattr(ck, f"{kind}pool")(x, kp, winp, q)
        pp = ck.PoolParams(7, 6, 5, 9, winp.out_h, winp.out_w, 5, *kp, 2, 2, winp.pad_top,
                           winp.pad_left, q.act_min, q.act_max)
        fw.check(f"{kind}pool", f"mcuf_{kind}pool_s8({fw.params(f'{kind}_p', 'mcuf_pool_params', pp)}"
                 f", conv_wide + 2, out_{kind}pool)", want)
    want = ck.pad(x, ((1, 2), (0, 1), (2, 1)), -7)
    ppad = ck.PadParams(7, 6, 5, 9, 1, 2, 0, 1, 2, 1, 8, -7)
    fw.check("pad", f"mcuf_pad_s8({fw.params('pad_p', 'mcuf_pad_params', ppad)}, conv_wide + 2, "
             "out_pad)", want)
    src = rng.integers(-128, 128, size=(4, 33), dtype=np.int8)
    dst = np.zeros((4, 33), dtype=np.int8)
    scale = np.float32(0.37) * np.float32(1.0 / np.float32(0.23))
    fbias = -np.float32(-3) * scale
    ck.requant_rows(src, dst, float(scale), float(fbias), 9)
    fw.check("requant_rows", f"mcuf_requant_rows_s8(4, 33, {fw.array('rr_src', 'int8_t', src)}, 33, "
             f"out_requant_rows, 33, {float(scale).hex()}f, {float(fbias).hex()}f, 9)", dst)
    return fw


@pytest.mark.emulator
@pytest.mark.cross
@pytest.mark.parametrize("board", ["qemu_mps2_an386", "qemu_mps2_an500"])
def test_cortex_m_build_matches_host(board: str, tmp_path: Any) -> None:
    """The kernels built for Cortex-M4F / M7 (SMLAD inner loops, software or hardware double, GNU C
    with fused multiply-add allowed) give the host build's outputs, in QEMU."""
    if (missing := cortex_m.tools_missing()) is not None:
        pytest.skip(missing)
    elf = cortex_m.build(board, _firmware_cases(np.random.default_rng(21)).source(), tmp_path,
                         ck.SOURCES, opt="-O2", warnings=("-Wall",))
    assert "smlad" in cortex_m.disassembly(elf), "the DSP inner loop was not compiled in"
    cortex_m.run_checks(board, elf)
