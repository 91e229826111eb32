"""ADD, MUL, MEAN, SOFTMAX, LOGISTIC, QUANTIZE and DEQUANTIZE kernels against TFLite's reference kernels.

Models come from two places. Small Keras models go through the real converter, so the quantisation
is the one users get; the kernel then runs on the interpreter's own intermediate tensors. Single-
operator .tflite files are also written here with chosen quantisation, for what the converter does
not produce on demand: broadcast operands, softmax beta, int8 -> int8 QUANTIZE, fused RELU6 and
sweeps over scales and zero points (often on every possible input). Every comparison is exact.

Known limits of the reference itself (not differences): SOFTMAX CHECK-fails in TFLite when a row's
sum of exponentials reaches 512 (checked here only for staying defined), and QUANTIZE of a float
whose quotient by the scale is NaN or beyond int32 is undefined behaviour in the reference; the kernel
reproduces what the x86 interpreter does there (127 if the zero point is negative, else -128).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from generator.codegen import qparams_eltwise as qe
from generator.errors import InputError
from generator.ir import Activation, ElementwiseAttrs, Graph, MeanAttrs, Op, OpKind, SoftmaxAttrs
from generator.numerics import Numerics
from generator.resources import runtime_dir
from tests.support import ckernels_eltwise as ck
from tests.support.single_op import T, single_op

I8 = npt.NDArray[np.int8]
N_RANDOM = 24  # random inputs per converted model, besides the edge inputs

# ---- single-operator models ------------------------------------------------------------------


def ref1(model: bytes, *inputs: npt.NDArray[Any]) -> npt.NDArray[Any]:
    from generator.importer.reference import run_reference

    return run_reference(model, list(inputs))[0]


_ACT_CODE = {
    Activation.NONE: 0,
    Activation.RELU: 1,
    Activation.RELU_N1_TO_1: 2,
    Activation.RELU6: 3,
}


def _binary_options(op: str, act: Activation) -> Any:
    from ai_edge_litert import schema_py_generated as S

    opts = S.AddOptionsT() if op == "ADD" else S.MulOptionsT()
    opts.fusedActivationFunction = _ACT_CODE[act]
    return opts


def _all_pairs() -> tuple[I8, I8]:
    a = np.repeat(np.arange(-128, 128, dtype=np.int8), 256).reshape(256, 256)
    return a, np.ascontiguousarray(a.T)


ALL_I8 = np.arange(-128, 128, dtype=np.int8)

# per binary operator: its parameter function and its kernel wrapper
BINARY: dict[str, tuple[Callable[..., Any], Callable[..., I8]]] = {
    "ADD": (qe.add_params, ck.add),
    "MUL": (qe.mul_params, ck.mul),
}


def rand_scale(rng: np.random.Generator, lo: float = -3.0, hi: float = 0.0) -> float:
    return float(np.float32(10 ** rng.uniform(lo, hi)))


def rand_zp(rng: np.random.Generator) -> int:
    return int(rng.integers(-128, 128))


# ---- converted Keras models ------------------------------------------------------------------


@dataclass(frozen=True)
class Converted:
    tflite: bytes
    graph: Graph

    def op(self, kind: OpKind) -> Op:
        return next(o for o in self.graph.ops if o.kind is kind)

    def q(self, tid: int) -> tuple[float, int]:
        quant = self.graph.tensors[tid].quant
        assert quant is not None
        return quant.single_scale, quant.single_zero_point

    def int8_inputs(self, rng: np.random.Generator) -> Iterator[I8]:
        """Random int8 model inputs over the full range, then all -128, all 127, all the zero point."""
        shape = self.graph.tensors[self.graph.inputs[0]].shape
        for _ in range(N_RANDOM):
            yield rng.integers(-128, 128, size=shape, dtype=np.int8)
        for v in (-128, 127, self.q(self.graph.inputs[0])[1]):
            yield np.full(shape, v, dtype=np.int8)

    def tensors(self, x: npt.NDArray[Any]) -> dict[int, npt.NDArray[Any]]:
        from generator.importer.reference import run_reference_all

        return run_reference_all(self.tflite, [x])


def convert(
    build: Callable[[Any], Any], shape: tuple[int, ...], float_io: bool = False
) -> Converted:
    import tensorflow as tf

    from generator.importer.keras_import import QuantizeOptions, quantize_keras
    from generator.importer.tflite_reader import read_tflite

    tf.keras.utils.set_random_seed(7)
    inp = tf.keras.Input(shape)
    model = tf.keras.Model(inp, build(inp))
    calib = np.random.default_rng(11).normal(size=(48, *shape)).astype(np.float32)
    data = quantize_keras(model, QuantizeOptions(calibration=calib, float_io=float_io))
    return Converted(data, read_tflite(data))


@pytest.fixture(scope="module")
def layers() -> Any:
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    return tf.keras.layers


def _two_branches(layers: Any, merge: Any) -> Callable[[Any], Any]:
    # all-ones weights make the second branch's range, hence its scale, clearly larger
    return lambda x: merge(
        [layers.Conv2D(6, 1)(x), layers.Conv2D(6, 1, kernel_initializer="ones")(x)]
    )


@pytest.fixture(scope="module")
def keras_add(layers: Any) -> Converted:
    return convert(_two_branches(layers, layers.Add()), (5, 4, 3))


@pytest.fixture(scope="module")
def keras_add_relu(layers: Any) -> Converted:
    add = _two_branches(layers, layers.Add())
    return convert(lambda x: layers.ReLU()(add(x)), (5, 4, 3))


@pytest.fixture(scope="module")
def keras_mul(layers: Any) -> Converted:
    return convert(_two_branches(layers, layers.Multiply()), (5, 4, 3))


@pytest.fixture(scope="module", params=[False, True], ids=["flat", "keepdims"])
def keras_gap(layers: Any, request: pytest.FixtureRequest) -> Converted:
    keep = request.param
    return convert(
        lambda x: layers.GlobalAveragePooling2D(keepdims=keep)(layers.Conv2D(8, 3)(x)), (7, 6, 3)
    )


@pytest.fixture(scope="module", params=[3, 10, 64])
def keras_softmax(layers: Any, request: pytest.FixtureRequest) -> Converted:
    return convert(lambda x: layers.Softmax()(layers.Dense(request.param)(x)), (12,))


@pytest.fixture(scope="module")
def keras_sigmoid(layers: Any) -> Converted:
    return convert(lambda x: layers.Activation("sigmoid")(layers.Dense(16)(x)), (12,))


@pytest.fixture(scope="module")
def keras_float_io(layers: Any) -> Converted:
    return convert(lambda x: layers.Dense(9)(x), (12,), float_io=True)


def _binary_params(m: Converted, op: Op, fn: Callable[..., Any]) -> Any:
    (s1, z1), (s2, z2), (so, zo) = m.q(op.inputs[0]), m.q(op.inputs[1]), m.q(op.outputs[0])
    assert isinstance(op.attrs, ElementwiseAttrs)
    return fn(s1, z1, s2, z2, so, zo, op.attrs.activation)


def _check_binary_model(m: Converted, kind: OpKind) -> None:
    op = m.op(kind)
    fn, kernel = BINARY[kind.value]
    params = _binary_params(m, op, fn)
    assert m.q(op.inputs[0])[0] != m.q(op.inputs[1])[0]
    shape = m.graph.tensors[op.outputs[0]].shape
    n, c = int(np.prod(shape[:-1])), shape[-1]
    rng = np.random.default_rng(1)
    for x in m.int8_inputs(rng):
        t = m.tensors(x)
        a, b = t[op.inputs[0]].reshape(n, c), t[op.inputs[1]].reshape(n, c)
        np.testing.assert_array_equal(kernel(params, a, b, n, c), t[op.outputs[0]].reshape(-1))
    # and on every pair of operand values, with the same quantisation
    quant = [T((256, 256), scale=s, zp=z) for s, z in (m.q(i) for i in (*op.inputs, op.outputs[0]))]
    assert isinstance(op.attrs, ElementwiseAttrs)
    model = single_op(
        kind.value, quant[:2], quant[2:], _binary_options(kind.value, op.attrs.activation)
    )
    a, b = _all_pairs()
    np.testing.assert_array_equal(kernel(params, a, b, 256, 256), ref1(model, a, b).reshape(-1))


@pytest.mark.hostc
@pytest.mark.tflite
def test_add_converted(keras_add: Converted) -> None:
    _check_binary_model(keras_add, OpKind.ADD)


@pytest.mark.hostc
@pytest.mark.tflite
def test_add_relu_converted(keras_add_relu: Converted) -> None:
    op = keras_add_relu.op(OpKind.ADD)
    assert isinstance(op.attrs, ElementwiseAttrs) and op.attrs.activation is Activation.RELU
    _check_binary_model(keras_add_relu, OpKind.ADD)


@pytest.mark.hostc
@pytest.mark.tflite
def test_mul_converted(keras_mul: Converted) -> None:
    _check_binary_model(keras_mul, OpKind.MUL)


@pytest.mark.hostc
@pytest.mark.tflite
def test_mean_converted(keras_gap: Converted) -> None:
    m = keras_gap
    op = m.op(OpKind.MEAN)
    assert isinstance(op.attrs, MeanAttrs) and sorted(op.attrs.axes) == [1, 2]
    _, h, w, _ = m.graph.tensors[op.inputs[0]].shape
    (si, zi), (so, zo) = m.q(op.inputs[0]), m.q(op.outputs[0])
    params = qe.mean_params(si, zi, so, zo, h * w)
    for x in m.int8_inputs(np.random.default_rng(2)):
        t = m.tensors(x)
        np.testing.assert_array_equal(
            ck.mean_hw(params, t[op.inputs[0]][0]), t[op.outputs[0]].ravel()
        )


@pytest.mark.hostc
@pytest.mark.tflite
def test_softmax_converted(keras_softmax: Converted) -> None:
    m = keras_softmax
    op = m.op(OpKind.SOFTMAX)
    assert isinstance(op.attrs, SoftmaxAttrs)
    assert m.q(op.outputs[0]) == (1.0 / 256.0, -128)
    params = qe.softmax_params(m.q(op.inputs[0])[0], op.attrs.beta)
    for x in m.int8_inputs(np.random.default_rng(3)):
        t = m.tensors(x)
        np.testing.assert_array_equal(ck.softmax(params, t[op.inputs[0]]), t[op.outputs[0]])


@pytest.mark.hostc
@pytest.mark.tflite
def test_logistic_converted(keras_sigmoid: Converted) -> None:
    m = keras_sigmoid
    op = m.op(OpKind.LOGISTIC)
    (si, zi), (so, zo) = m.q(op.inputs[0]), m.q(op.outputs[0])
    assert (so, zo) == (1.0 / 256.0, -128)
    params = qe.logistic_params(si, zi)
    for x in m.int8_inputs(np.random.default_rng(4)):
        t = m.tensors(x)
        np.testing.assert_array_equal(ck.logistic(params, t[op.inputs[0]]), t[op.outputs[0]])
    model = single_op("LOGISTIC", [T((256,), scale=si, zp=zi)], [T((256,), scale=so, zp=zo)])
    np.testing.assert_array_equal(ck.logistic(params, ALL_I8), ref1(model, ALL_I8))


def _float_inputs(shape: tuple[int, ...], scale: float, rng: np.random.Generator) -> Iterator[Any]:
    for _ in range(N_RANDOM):
        yield rng.normal(scale=40 * scale, size=shape).astype(np.float32)
    k = rng.integers(-140, 140, size=shape)
    yield ((k + 0.5) * scale).astype(np.float32)  # on (or within an ulp of) rounding ties
    yield np.nextafter(((k + 0.5) * scale).astype(np.float32), np.float32(0))
    for v in (0.0, -0.0, 1e-30, 1e6, -1e6):
        yield np.full(shape, v, dtype=np.float32)


@pytest.mark.hostc
@pytest.mark.tflite
def test_quantize_dequantize_converted(keras_float_io: Converted) -> None:
    m = keras_float_io
    qop, dqop = m.op(OpKind.QUANTIZE), m.op(OpKind.DEQUANTIZE)
    qs, qz = m.q(qop.outputs[0])
    ds, dz = m.q(dqop.inputs[0])
    shape = m.graph.tensors[m.graph.inputs[0]].shape
    for x in _float_inputs(shape, qs, np.random.default_rng(5)):
        t = m.tensors(x)
        np.testing.assert_array_equal(ck.quantize(x, qs, qz), t[qop.outputs[0]])
        got = ck.dequantize(t[dqop.inputs[0]], ds, dz)
        np.testing.assert_array_equal(got.view(np.int32), t[dqop.outputs[0]].view(np.int32))


# ---- single-operator sweeps ------------------------------------------------------------------


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.parametrize("op", ["ADD", "MUL"])
def test_binary_sweep_all_pairs(op: str) -> None:
    """Random quantisations, each fused activation, every pair of operand values."""
    rng = np.random.default_rng(6)
    fn, kernel = BINARY[op]
    a, b = _all_pairs()
    for trial in range(16):
        act = list(_ACT_CODE)[trial % 4]
        qs = [(rand_scale(rng), rand_zp(rng)) for _ in range(3)]
        if trial == 0:
            qs[1] = qs[0]  # equal input scales
        params = fn(*qs[0], *qs[1], *qs[2], act)
        tensors = [T((256, 256), scale=s, zp=z) for s, z in qs]
        model = single_op(op, tensors[:2], tensors[2:], _binary_options(op, act))
        np.testing.assert_array_equal(
            kernel(params, a, b, 256, 256), ref1(model, a, b).reshape(-1), err_msg=f"{qs} {act}"
        )


@pytest.mark.hostc
@pytest.mark.tflite
def test_relu6_bound_next_to_a_rounding_tie() -> None:
    """6 / 0.049792532f is 120.49999 in float64 but 120.5f in float32, so TFLite's RELU6 bound is one
    higher than a float64 computation gives."""
    a, b = _all_pairs()
    qs = [(0.05, 0), (0.05, 0), (0.04979253187775612, -128)]
    fn, kernel = BINARY["ADD"]
    tensors = [T((256, 256), scale=s, zp=z) for s, z in qs]
    model = single_op("ADD", tensors[:2], tensors[2:], _binary_options("ADD", Activation.RELU6))
    params = fn(*qs[0], *qs[1], *qs[2], Activation.RELU6)
    np.testing.assert_array_equal(kernel(params, a, b, 256, 256), ref1(model, a, b).reshape(-1))


# operand forms of a 1x3x5x7 map: (TFLite shape, shape handed to the kernel wrapper)
H, W, C = 3, 5, 7
FORMS = {
    "full": ((1, H, W, C), (H * W, C)),
    "channel": ((1, 1, 1, C), (C,)),
    "channel_1d": ((C,), (C,)),
    "pixel": ((1, H, W, 1), (H * W, 1)),
    "scalar": ((1,), (1,)),
    "scalar_0d": ((), (1,)),
}
PAIRS = [("full", f) for f in FORMS] + [(f, "full") for f in FORMS if f != "full"]


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.parametrize("op", ["ADD", "MUL"])
@pytest.mark.parametrize(("form1", "form2"), PAIRS)
def test_binary_broadcast(op: str, form1: str, form2: str) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{op} {form1} {form2}".encode()))
    fn, kernel = BINARY[op]
    qs = [(rand_scale(rng, -2), rand_zp(rng)) for _ in range(3)]
    (shape1, view1), (shape2, view2) = FORMS[form1], FORMS[form2]
    model = single_op(
        op,
        [T(shape1, scale=qs[0][0], zp=qs[0][1]), T(shape2, scale=qs[1][0], zp=qs[1][1])],
        [T((1, H, W, C), scale=qs[2][0], zp=qs[2][1])],
        _binary_options(op, Activation.NONE),
    )
    params = fn(*qs[0], *qs[1], *qs[2])
    for _ in range(4):
        a = rng.integers(-128, 128, size=shape1, dtype=np.int8)
        b = rng.integers(-128, 128, size=shape2, dtype=np.int8)
        got = kernel(params, a.reshape(view1), b.reshape(view2), H * W, C)
        np.testing.assert_array_equal(got, ref1(model, a, b).reshape(-1))


def _edge_maps(rng: np.random.Generator, shape: tuple[int, ...], zp: int) -> Iterator[I8]:
    yield from (rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(3))
    yield from (np.full(shape, v, dtype=np.int8) for v in (-128, 127, zp))


@pytest.mark.hostc
@pytest.mark.tflite
def test_mean_sweep() -> None:
    """Sizes (so 1/count multipliers), keep_dims, equal and different input/output quantisation."""
    from ai_edge_litert import schema_py_generated as S

    rng = np.random.default_rng(8)
    sizes = [(1, 1), (2, 2), (3, 5), (7, 7), (8, 8), (13, 11), (16, 16), (32, 40), (64, 64)]
    for trial, (h, w) in enumerate(sizes * 3):
        c, keep = int(rng.integers(1, 9)), trial % 2 == 0
        si, zi = rand_scale(rng), rand_zp(rng)
        so, zo = (si, zi) if trial % 3 == 0 else (rand_scale(rng), rand_zp(rng))
        if (h, w) == (64, 64) and trial < len(sizes):
            si = 1e-8  # tiny in/out ratio: the 1/count fold is limited by 31 + shift
        opts = S.ReducerOptionsT()
        opts.keepDims = keep
        axes = T((2,), "int32", data=np.array([1, 2], dtype=np.int32))
        out = T((1, 1, 1, c) if keep else (1, c), scale=so, zp=zo)
        model = single_op("MEAN", [T((1, h, w, c), scale=si, zp=zi), axes], [out], opts)
        params = qe.mean_params(si, zi, so, zo, h * w)
        for x in _edge_maps(rng, (1, h, w, c), zi):
            np.testing.assert_array_equal(
                ck.mean_hw(params, x[0]), ref1(model, x).ravel(), err_msg=f"{h}x{w}x{c} {params}"
            )


@pytest.mark.hostc
@pytest.mark.tflite
def test_softmax_sweep() -> None:
    """Depths, beta, input scales up to 30 (where the multiplier saturates), edge rows."""
    from ai_edge_litert import schema_py_generated as S

    rng = np.random.default_rng(9)
    for trial in range(40):
        depth = int(rng.choice([1, 2, 3, 5, 10, 64, 100, 300, 500]))
        si, zi = rand_scale(rng, -3, 1.5), rand_zp(rng)
        beta = float(np.float32(rng.choice([1.0, 0.5, 2.0, rng.uniform(0.1, 3.0)])))
        if trial < 2:  # beta * scale >= 16: the multiplier saturates at 2^31 - 1, shift 31
            si, beta = (16.0, 20.0)[trial], 1.0
        opts = S.SoftmaxOptionsT()
        opts.beta = beta
        shape = (3, depth)
        model = single_op(
            "SOFTMAX", [T(shape, scale=si, zp=zi)], [T(shape, scale=1 / 256, zp=-128)], opts
        )
        params = qe.softmax_params(si, beta)
        peak = np.full(shape, -128, dtype=np.int8)
        peak[:, 0] = 127
        for x in [*_edge_maps(rng, shape, zi), peak]:
            np.testing.assert_array_equal(
                ck.softmax(params, x), ref1(model, x), err_msg=f"{depth} {si} {beta}"
            )


@pytest.mark.hostc
def test_softmax_stays_defined_where_tflite_aborts() -> None:
    """600 equal entries: TFLite's reference CHECK-fails; the kernel stays within 1 of 1/600."""
    params = qe.softmax_params(0.05)
    out = ck.softmax(params, np.zeros((1, 600), dtype=np.int8)).astype(int)
    assert np.all(np.abs(out - (round(256 / 600) - 128)) <= 1)


# (scale, zero point) of LOGISTIC inputs at the edges: a negative input shift (scale below 2^-28),
# an input radius of 0 (scale 16 and above), near powers of two, and a scale where TFLite Micro's
# fixed-point kernel and the interpreter's float table differ (input -32: -128 against -127)
LOGISTIC_EDGES = [(1e-9, -128), (2.0**-27, 5), (1e-6, 0), (0.0625, -128), (0.5, 127), (1.0, 0),
                  (8.0, -3), (15.9, 40), (16.0, 0), (20.0, -128), (2.0540807247161865, -29)]


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.parametrize("numerics", list(Numerics), ids=[n.value for n in Numerics])
def test_logistic_sweep_every_input(numerics: Numerics) -> None:
    """Each mode's table against its own reference (TFLite Micro's fixed-point kernel, or the
    interpreter's float table), on every input of random and edge quantisations."""
    from generator.importer.reference import run_reference

    rng = np.random.default_rng(10)
    cases = LOGISTIC_EDGES + [(rand_scale(rng, -4, 1.3), rand_zp(rng)) for _ in range(1000)]
    for si, zi in cases:
        model = single_op(
            "LOGISTIC", [T((256,), scale=si, zp=zi)], [T((256,), scale=1 / 256, zp=-128)]
        )
        np.testing.assert_array_equal(
            ck.logistic(qe.logistic_params(si, zi, numerics=numerics), ALL_I8),
            run_reference(model, [ALL_I8], numerics=numerics)[0],
            err_msg=f"{numerics} {si} {zi}",
        )


@pytest.mark.hostc
@pytest.mark.tflite
def test_quantize_sweep() -> None:
    """Floats at and next to rounding ties, both signs of zero, huge values, infinities, NaN."""
    rng = np.random.default_rng(12)
    special = np.array([0.0, -0.0, 1e-40, -1e-40, 1e30, -1e30, np.inf, -np.inf, np.nan], np.float32)
    for trial in range(30):
        so, zo = rand_scale(rng), (-1, 0)[trial % 2] if trial < 2 else rand_zp(rng)
        k = rng.integers(-300, 300, size=600)
        ties = (k + 0.5) * so
        x = np.concatenate([
            rng.normal(scale=60 * so, size=600),
            ties,
            np.nextafter(ties.astype(np.float32), np.float32(0)),
            np.nextafter(ties.astype(np.float32), np.float32(np.inf)),
            rng.uniform(-3e9, 3e9, size=100) * so,  # some beyond int32 after division
            special,
        ]).astype(np.float32)  # fmt: skip
        model = single_op("QUANTIZE", [T(x.shape, "float32")], [T(x.shape, scale=so, zp=zo)])
        np.testing.assert_array_equal(ck.quantize(x, so, zo), ref1(model, x), err_msg=f"{so} {zo}")


@pytest.mark.hostc
@pytest.mark.tflite
def test_dequantize_sweep_every_input() -> None:
    rng = np.random.default_rng(13)
    for _ in range(30):
        s, z = rand_scale(rng, -4, 1), rand_zp(rng)
        model = single_op("DEQUANTIZE", [T((256,), scale=s, zp=z)], [T((256,), "float32")])
        got = ck.dequantize(ALL_I8, s, z)
        np.testing.assert_array_equal(got.view(np.int32), ref1(model, ALL_I8).view(np.int32))


@pytest.mark.hostc
@pytest.mark.tflite
def test_requantize_sweep_every_input() -> None:
    """int8 -> int8 QUANTIZE; the first case has equal scales (multiplier 2^30, shift 1)."""
    rng = np.random.default_rng(14)
    for trial in range(40):
        si, zi, zo = rand_scale(rng), rand_zp(rng), rand_zp(rng)
        so = si if trial == 0 else rand_scale(rng)
        model = single_op("QUANTIZE", [T((256,), scale=si, zp=zi)], [T((256,), scale=so, zp=zo)])
        params = qe.requantize_params(si, zi, so, zo)
        np.testing.assert_array_equal(
            ck.requantize(params, ALL_I8), ref1(model, ALL_I8), err_msg=f"{si} {so} {zi} {zo}"
        )


# ---- compile-time constants and the C contract -----------------------------------------------


def _header_struct(name: str) -> list[str]:
    """The field names of a struct in mcuf_kernels.h, in order."""
    text = (runtime_dir() / "include" / "mcuf_kernels.h").read_text()
    body = re.search(r"typedef struct \{([^}]*)\}\s*" + name + ";", text)
    assert body is not None, name
    names: list[str] = []
    for decl in re.sub(r"/\*.*?\*/", "", body.group(1), flags=re.DOTALL).split(";"):
        m = re.match(r"\s*(?:const\s+)?\w+\s+(.*)", decl, flags=re.DOTALL)
        if m:
            names += [n.strip().lstrip("*").strip() for n in m.group(1).split(",")]
    return names


STRUCTS = [
    ("mcuf_add_params", ck.ADD_FIELDS, qe.AddParams),
    ("mcuf_mul_params", ck.MUL_FIELDS, qe.MulParams),
    ("mcuf_mean_params", ck.MEAN_FIELDS, qe.MeanParams),
    ("mcuf_softmax_params", ck.SOFTMAX_FIELDS, qe.SoftmaxParams),
    ("mcuf_logistic_params", ["n", "table"], qe.LogisticParams),
]


@pytest.mark.unit
@pytest.mark.parametrize(("struct", "mirror", "params"), STRUCTS, ids=[s[0] for s in STRUCTS])
def test_mirrors_and_params_match_header(struct: str, mirror: list[str], params: type) -> None:
    declared = _header_struct(struct)
    assert declared == mirror
    assert {f.name for f in fields(params)} <= set(declared)


@pytest.mark.unit
def test_params_reject_what_tflite_rejects() -> None:
    with pytest.raises(InputError):
        qe.add_params(1.0, 0, 1.0, 0, 1e-9, 0)  # output multiplier >= 1
    with pytest.raises(InputError):
        qe.softmax_params(1e-9)  # beta * scale * 2^26 <= 1
    with pytest.raises(InputError):
        qe.mean_params(0.1, 0, 0.1, 0, 0)


@pytest.mark.unit
def test_mean_params_fold_the_count() -> None:
    """Equal scales over 2x2: the multiplier 2^30 (shift 1) becomes 2^30 with shift -1, i.e. 1/4."""
    assert qe.mean_params(0.5, 3, 0.5, -2, 4) == qe.MeanParams(3, -2, 1 << 30, -1)


@pytest.mark.unit
@pytest.mark.parametrize("numerics", list(Numerics), ids=[n.value for n in Numerics])
def test_logistic_table_order_and_range(numerics: Numerics) -> None:
    table = qe.logistic_params(0.1, 0, numerics=numerics).table
    assert len(table) == 256 and table[0] == 0  # logistic(0) = 0.5 -> 128 - 128
    assert table[127] == 127 and table[128] == -128  # inputs 127 and -128 saturate
    assert all(-128 <= v <= 127 for v in table)


@pytest.mark.unit
def test_logistic_tables_of_the_two_modes() -> None:
    """TFLite Micro is the default; its fixed-point logistic rounds input -32 of this quantisation
    down to -128 where the interpreter's float table gives -127, and only that input differs."""
    si, zi = 2.0540807247161865, -29
    tflm = qe.logistic_params(si, zi).table
    assert tflm == qe.logistic_params(si, zi, numerics=Numerics.TFLM).table
    ref = qe.logistic_params(si, zi, numerics=Numerics.TFLITE_REF).table
    diff = [(i, tflm[i], ref[i]) for i in range(256) if tflm[i] != ref[i]]
    assert diff == [(-32 & 0xFF, -128, -127)]


# ---- cross build -----------------------------------------------------------------------------

ARM_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-std=c99",
             "-O2", "-Wall", "-Wextra", "-Werror", "-c"]  # fmt: skip


@pytest.mark.cross
@pytest.mark.parametrize("source", ck.SOURCES[1:])
def test_cross_compiles_for_cortex_m4(source: str, tmp_path: Path) -> None:
    cc = shutil.which("arm-none-eabi-gcc")
    if cc is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    src = runtime_dir() / "src" / source
    inc = runtime_dir() / "include"
    cmd = [cc, *ARM_FLAGS, f"-I{inc}", str(src), "-o", str(tmp_path / "k.o")]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
