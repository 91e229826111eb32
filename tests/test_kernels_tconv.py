"""TRANSPOSE_CONV (int8, per-channel filters): single-operator models of random geometry, strides,
padding, fused activation and quantisation compiled to C, run on the host and compared bit for bit
with TFLite Micro's Python runtime and the TFLite interpreter (they agree on every case here,
fused activations included); a converted Keras Conv2DTranspose model compiled and run on the host;
and the refusals, each naming the tensor."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from generator.codegen import qparams_tconv as qt
from generator.compiler import compile_graph
from generator.errors import InputError, ModelFormatError, UnsupportedOpsError
from generator.host import build_host
from generator.importer.reference import run_reference
from generator.importer.reference_tflm import run_tflm
from generator.importer.tflite_reader import read_tflite
from generator.ir import OpKind, Padding
from generator.numerics import Numerics
from tests.support.single_op import T, single_op

_SETTINGS = settings(max_examples=6, deadline=None, database=None, derandomize=True,
                     phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=[HealthCheck.too_slow])


def _options(padding: str = "SAME", stride: tuple[int, int] = (1, 1), act: str = "NONE") -> Any:
    from ai_edge_litert import schema_py_generated as S

    o = S.TransposeConvOptionsT()
    o.padding = getattr(S.Padding, padding)
    o.strideH, o.strideW = stride
    o.fusedActivationFunction = getattr(S.ActivationFunctionType, act)
    return o


def tconv_model(x_shape: tuple[int, int, int, int], y_shape: tuple[int, int, int, int],
                k: tuple[int, int], stride: tuple[int, int], padding: str = "SAME",
                act: str = "NONE", per_channel: bool = True, bias: bool = True,
                xq: tuple[float, int] = (0.05, -3), yq: tuple[float, int] = (0.2, 4),
                seed: int = 0, shape_input: tuple[int, ...] | None = None) -> bytes:
    """A one-TRANSPOSE_CONV model with random filters (and bias) in TFLite's operand order."""
    rng = np.random.default_rng(seed)
    ic, oc = x_shape[3], y_shape[3]
    w = rng.integers(-127, 128, (oc, *k, ic), dtype=np.int8)
    ws = tuple(float(np.float32(v)) for v in rng.uniform(0.002, 0.02, oc if per_channel else 1))
    wz = (0,) * len(ws)
    ins = [T((4,), "int32", data=np.array(shape_input or y_shape, np.int32)),
           T(w.shape, scale=ws if per_channel else ws[0], zp=wz if per_channel else 0, data=w),
           T(x_shape, scale=xq[0], zp=xq[1])]
    if bias:
        bs = tuple(xq[0] * s for s in (ws if per_channel else ws * oc))
        ins.append(T((oc,), "int32", scale=bs, zp=(0,) * oc,
                     data=rng.integers(-3000, 3000, oc).astype(np.int32)))
    return single_op("TRANSPOSE_CONV", ins, [T(y_shape, scale=yq[0], zp=yq[1])],
                     _options(padding, stride, act), version=3)


def _exact(model: bytes, seed: int, partial: bool = True) -> None:
    """The compiled engine equals TFLite Micro and the interpreter on random int8 inputs and the
    extremes."""
    g = read_tflite(model, where="tconv")
    shape = g.tensors[g.inputs[0]].shape
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, shape, dtype=np.int8) for _ in range(3)]
    xs += [np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)]
    compiled = compile_graph(g, model, source="tconv", partial=partial)
    with tempfile.TemporaryDirectory() as d:
        outs = build_host(compiled, Path(d)).run([[x] for x in xs])
    for x, got in zip(xs, outs, strict=True):
        for name, want in (("TFLM", run_tflm(model, [x])[0]),
                           ("TFLite", run_reference(model, [x], Numerics.TFLITE_REF)[0])):
            np.testing.assert_array_equal(got[0].reshape(want.shape), want, err_msg=name)


@st.composite
def geometries(draw: Any) -> dict[str, Any]:
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    # any output size whose convolution gives back an input of at least one pixel (the
    # interpreter requires the input to be that size; output sizes beyond the converter's
    # (i - 1) * s + k are Keras' output_padding)
    pad = Padding[padding]
    oh, ow = draw(st.integers(kh, 12)), draw(st.integers(kw, 12))
    ih, iw = qt.out_size(pad, oh, kh, sh), qt.out_size(pad, ow, kw, sw)
    return dict(x_shape=(1, ih, iw, draw(st.integers(1, 6))),
                y_shape=(1, oh, ow, draw(st.integers(1, 6))),
                k=(kh, kw), stride=(sh, sw), padding=padding,
                act=draw(st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])),
                per_channel=draw(st.booleans()), bias=draw(st.booleans()),
                xq=(draw(st.floats(0.005, 0.5)), draw(st.integers(-128, 127))),
                yq=(draw(st.floats(0.02, 1.0)), draw(st.integers(-128, 127))))


@pytest.mark.tflite
@pytest.mark.hostc
@pytest.mark.slow
@_SETTINGS
@given(geo=geometries(), seed=st.integers(0, 2**31))
def test_random_transpose_conv_is_exact(geo: dict[str, Any], seed: int) -> None:
    _exact(tconv_model(**geo, seed=seed), seed)


@pytest.mark.tflite
@pytest.mark.hostc
@pytest.mark.parametrize("padding,stride,k,act", [
    ("SAME", (2, 2), (3, 3), "RELU"),
    pytest.param("VALID", (2, 1), (2, 3), "NONE", marks=pytest.mark.slow)])
def test_transpose_conv_is_exact(padding: str, stride: tuple[int, int], k: tuple[int, int],
                                 act: str) -> None:
    """A decoder's upsampling (SAME, stride 2, 3x3, fused RELU) and a VALID, uneven-stride case."""
    ih, iw = 4, 3
    size = (lambda i, kk, s: i * s) if padding == "SAME" else (lambda i, kk, s: (i - 1) * s + kk)
    y = (1, size(ih, k[0], stride[0]), size(iw, k[1], stride[1]), 5)
    _exact(tconv_model((1, ih, iw, 6), y, k, stride, padding, act), 1)


def test_padding_follows_the_output_size() -> None:
    """TFLite's padding before of a transpose convolution is the SAME rule on the output's size."""
    assert qt.pad_before(Padding.SAME, 8, 3, 2) == 0  # out 4: (4-1)*2+3-8 = 1 -> 0
    assert qt.pad_before(Padding.SAME, 8, 4, 2) == 1  # 2 -> 1
    assert qt.pad_before(Padding.SAME, 9, 5, 3) == 1  # out 3: 6+5-9 = 2 -> 1
    assert qt.pad_before(Padding.VALID, 9, 3, 2) == 0
    assert qt.pad_before(Padding.VALID, 10, 3, 2) == 0


@pytest.mark.tflite
@pytest.mark.hostc
@pytest.mark.slow
def test_keras_conv2d_transpose_compiles_bit_exact() -> None:
    """A small UNet-like decoder (Conv2D down, Conv2DTranspose up: SAME and VALID, uneven strides,
    output_padding, fused ReLU and ReLU6, a standalone ReLU) through the real converter, planned,
    compiled and run on the host: every output equals TFLite Micro's and the interpreter's, and
    the plan slices no TRANSPOSE_CONV."""
    import tensorflow as tf

    from tests.test_kernels_eltwise import convert

    k = tf.keras.layers
    init = tf.keras.initializers.RandomUniform(-0.3, 0.3, seed=3)

    def build(x: Any) -> Any:
        y = k.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
        y = k.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu",
                              bias_initializer=init)(y)
        y = k.Conv2DTranspose(4, 2, strides=2, padding="valid", bias_initializer=init)(y)
        y = k.Conv2DTranspose(3, 3, strides=(2, 1), padding="valid", output_padding=(1, 0),
                              activation="relu6", bias_initializer=init)(k.ReLU()(y))
        return k.Conv2D(2, 1)(y)

    m = convert(build, (8, 8, 3))
    ops = [o for o in m.graph.ops if o.kind is OpKind.TRANSPOSE_CONV]
    assert len(ops) == 3 and all(len(o.inputs) == 4 for o in ops), [o.kind for o in m.graph.ops]
    inputs = list(m.int8_inputs(np.random.default_rng(5)))
    compiled = compile_graph(m.graph, m.tflite, source="keras", partial=True)
    tconvs = {i for i, o in enumerate(m.graph.ops) if o.kind is OpKind.TRANSPOSE_CONV}
    assert not any(tconvs & set(s.chain.ops) for s in compiled.program.splits)
    with tempfile.TemporaryDirectory() as d:
        outs = build_host(compiled, Path(d)).run([[x] for x in inputs])
    for x, got in zip(inputs, outs, strict=True):
        for numerics in Numerics:
            want = run_reference(m.tflite, [x], numerics)[0]
            np.testing.assert_array_equal(got[0].reshape(want.shape), want, err_msg=numerics.value)


# ---- refusals -----------------------------------------------------------------------------------

_X, _Y = (1, 3, 3, 2), (1, 6, 6, 4)


@pytest.mark.tflite
@pytest.mark.parametrize("case,error,pattern", [
    ("shape", ModelFormatError, r"output shape 't0' says \[1, 6, 7, 4\], output 't4' is"),
    ("act", UnsupportedOpsError, "fused TANH activation"),
    ("batch", UnsupportedOpsError, "batch of 2"),
    ("channels", ModelFormatError, "filter 't1' .* does not match input"),
    ("stride", ModelFormatError, r"stride \(0, 2\)"),
    ("zero_point", ModelFormatError, "filter 't1' has quantization.zero_point"),
    ("overflow", ModelFormatError, "accumulator can reach"),
    ("input_size", UnsupportedOpsError, r"input 't2' is 3x4; .* gives 3x3"),
])
def test_bad_transpose_conv_is_refused(case: str, error: type[InputError], pattern: str) -> None:
    kw: dict[str, Any] = dict(x_shape=_X, y_shape=_Y, k=(3, 3), stride=(2, 2))
    if case == "shape":
        kw["shape_input"] = (1, 6, 7, 4)
    elif case == "act":
        kw["act"] = "TANH"
    elif case == "batch":
        kw["x_shape"], kw["y_shape"] = (2, 3, 3, 2), (2, 6, 6, 4)
    elif case == "stride":
        kw["stride"] = (0, 2)
    elif case == "input_size":
        kw["x_shape"] = (1, 3, 4, 2)
    elif case == "overflow":
        kw["k"], kw["x_shape"], kw["yq"] = (30, 30), (1, 3, 3, 64), (1e-6, 0)
    model = tconv_model(**kw)
    if case == "channels":
        model = _with_filter(kw, (4, 3, 3, 3))
    if case == "zero_point":
        model = _with_filter(kw, (4, 3, 3, 2), zp=1)
    with pytest.raises(error, match=pattern):
        read_tflite(model, where="m")


def _with_filter(kw: dict[str, Any], shape: tuple[int, ...], zp: int = 0) -> bytes:
    w = np.ones(shape, np.int8)
    ins = [T((4,), "int32", data=np.array(kw["y_shape"], np.int32)),
           T(shape, scale=0.01, zp=zp, data=w), T(kw["x_shape"], scale=0.05, zp=0)]
    return single_op("TRANSPOSE_CONV", ins, [T(kw["y_shape"], scale=0.2, zp=0)],
                     _options("SAME", kw["stride"]), version=3)


@pytest.mark.tflite
def test_computed_output_shape_is_refused() -> None:
    """An output shape that is not a constant (computed in the graph) names the tensor."""
    ins = [T((4,), "int32"), T((4, 3, 3, 2), scale=0.01, data=np.ones((4, 3, 3, 2), np.int8)),
           T(_X, scale=0.05, zp=0)]
    model = single_op("TRANSPOSE_CONV", ins, [T(_Y, scale=0.2, zp=0)], _options("SAME", (2, 2)),
                      version=3)
    with pytest.raises(InputError, match="output shape 't0'"):
        read_tflite(model, where="m")


def test_pruning_leaves_transposed_convolutions_whole() -> None:
    """The pruner does not cut a Conv2DTranspose's channels (its kernel is [k_h, k_w, out, in],
    not a Conv2D's [k_h, k_w, in, out]): the layer is opaque to it."""
    import keras

    from generator.prune.channels import Role, layer_role

    inp = keras.Input((8, 8, 3))
    layer = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same")
    keras.Model(inp, layer(inp))
    assert layer_role(layer) is Role.OPAQUE
