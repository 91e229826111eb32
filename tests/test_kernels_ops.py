"""The elementwise and reduction operators beyond the activations of test_kernels_unary (TANH,
HARD_SWISH, ...): Python's twin of TFLite Micro's integer arithmetic, the C kernel, and a compiled
single-operator model, each exact against TFLite Micro and the TFLite interpreter on random shapes
and quantisations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from generator.codegen import qparams_unary as qu
from generator.codegen.qparams_eltwise import LogisticParams
from generator.errors import ModelFormatError, UnsupportedOpsError
from generator.importer.reference import run_reference
from generator.importer.tflite_reader import read_tflite
from generator.numerics import Numerics
from tests.support import ckernels_eltwise as ck
from tests.support.opcheck import engine_matches
from tests.support.single_op import T, single_op

ALL_I8 = np.arange(-128, 128, dtype=np.int8)
scales = st.floats(-3.0, 0.7).map(lambda e: float(np.float32(10**e)))
zps = st.integers(-128, 127)
shapes = st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)
BUILDS = settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.generate])


def _rand(shape: tuple[int, ...], seed: int, n: int = 3) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.integers(-128, 128, size=shape, dtype=np.int8)] for _ in range(n)]


def _each_runtime(model: bytes, table: dict[Numerics, tuple[int, ...]], what: str) -> None:
    """The table, looked up by the C kernel on every int8 input, equals each runtime."""
    for mode, t in table.items():
        got = ck.logistic(LogisticParams(t), ALL_I8)
        np.testing.assert_array_equal(got, run_reference(model, [ALL_I8], mode)[0],
                                      err_msg=f"{mode.value} {what}")


# ---- TANH ----------------------------------------------------------------------------------------

TANH_OUT = T((256,), scale=1.0 / 128.0, zp=0)


@pytest.mark.hostc
@pytest.mark.tflite
@settings(max_examples=60, deadline=None)
@given(si=scales, zi=zps)
def test_tanh_every_input(si: float, zi: int) -> None:
    model = single_op("TANH", [T((256,), scale=si, zp=zi)], [TANH_OUT])
    _each_runtime(model, {m: qu.tanh_table(si, zi, 1 / 128, 0, m) for m in Numerics},
                  f"{si} {zi}")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@BUILDS
@given(shape=shapes, si=scales, zi=zps)
def test_tanh_compiled(shape: tuple[int, ...], si: float, zi: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    model = single_op("TANH", [T(shape, scale=si, zp=zi)], [T(shape, scale=1 / 128, zp=0)])
    engine_matches(model, _rand(shape, 1), tmp_path_factory.mktemp("tanh"), what="TANH")


def test_tanh_output_quantisation_refused() -> None:
    """TFLite Micro writes 1/128 steps whatever the output says; the interpreter rescales."""
    model = single_op("TANH", [T((4,), scale=0.05, zp=0)], [T((4,), scale=0.01, zp=3)])
    with pytest.raises(UnsupportedOpsError, match=r"'t1' has scale 0\.00999.* 1/128"):
        read_tflite(model, where="m")


# ---- HARD_SWISH -----------------------------------------------------------------------------------


def _hard_swish(si: float, zi: int, so: float, zo: int, shape: tuple[int, ...] = (256,)) -> bytes:
    # version 1: the interpreter's HARD_SWISH kernel registers no other
    return single_op("HARD_SWISH", [T(shape, scale=si, zp=zi)], [T(shape, scale=so, zp=zo)],
                     version=1)


@pytest.mark.hostc
@pytest.mark.tflite
@settings(max_examples=80, deadline=None)
@given(si=scales, zi=zps, so=scales, zo=zps)
def test_hard_swish_every_input(si: float, zi: int, so: float, zo: int) -> None:
    if np.float32(np.float32(si / 128) / np.float32(so)) >= 1.0:  # TFLite Micro refuses these
        so = si
    model = _hard_swish(si, zi, so, zo)
    table = qu.hard_swish_table(si, zi, so, zo)
    _each_runtime(model, dict.fromkeys(Numerics, table), f"{si} {zi} {so} {zo}")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@BUILDS
@given(shape=shapes, si=scales, zi=zps, zo=zps)
def test_hard_swish_compiled(shape: tuple[int, ...], si: float, zi: int, zo: int,
                             tmp_path_factory: pytest.TempPathFactory) -> None:
    model = _hard_swish(si, zi, si * 0.7, zo, shape)
    engine_matches(model, _rand(shape, 2), tmp_path_factory.mktemp("hs"), what="HARD_SWISH")


def test_hard_swish_left_shift_refused() -> None:
    """TFLite Micro's Prepare fails where the output multiplier would shift left."""
    with pytest.raises(ModelFormatError, match=r"HARD_SWISH.*shift left"):
        read_tflite(_hard_swish(1.0, 0, 0.005, 0, (4,)), where="m")


# ---- SUB ------------------------------------------------------------------------------------------

_ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}


def _sub_options(act: str) -> object:
    from ai_edge_litert import schema_py_generated as S

    opts = S.SubOptionsT()
    opts.fusedActivationFunction = _ACT[act]
    return opts


def _all_pairs() -> tuple[np.ndarray, np.ndarray]:
    a = np.repeat(ALL_I8, 256).reshape(256, 256)
    return a, np.ascontiguousarray(a.T)


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@BUILDS
@given(q=st.tuples(scales, zps, scales, zps, scales, zps), act=st.sampled_from(sorted(_ACT)))
def test_sub_every_pair(q: tuple[float, int, float, int, float, int], act: str,
                        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every pair of int8 operands, random quantisations and each fused activation."""
    s1, z1, s2, z2, so, zo = q
    ts = [T((256, 256), scale=s, zp=z) for s, z in ((s1, z1), (s2, z2), (so, zo))]
    model = single_op("SUB", ts[:2], ts[2:], _sub_options(act))
    engine_matches(model, [list(_all_pairs())], tmp_path_factory.mktemp("sub"), what=f"SUB {q}")


BROADCASTS = [((1, 3, 4, 5), (1, 3, 4, 5)), ((1, 3, 4, 5), (5,)), ((1,), (1, 3, 4, 5)),
              ((1, 3, 4, 1), (1, 3, 4, 5)), ((2, 7), (1, 7)), ((1, 1, 5), (1, 6, 5))]


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
def test_sub_broadcast(shapes: tuple[tuple[int, ...], tuple[int, ...]], tmp_path: Path) -> None:
    """Same-shape, per-channel, scalar and per-pixel operands, either side, as ADD's."""
    a, b = shapes
    out = tuple(np.broadcast_shapes(a, b))
    rng = np.random.default_rng(len(a) * 7 + len(b))
    q = [(float(np.float32(10 ** rng.uniform(-2, 0))), int(rng.integers(-128, 128)))
         for _ in range(3)]
    model = single_op("SUB", [T(a, scale=q[0][0], zp=q[0][1]), T(b, scale=q[1][0], zp=q[1][1])],
                      [T(out, scale=q[2][0], zp=q[2][1])], _sub_options("NONE"))
    runs = [[rng.integers(-128, 128, size=a, dtype=np.int8),
             rng.integers(-128, 128, size=b, dtype=np.int8)] for _ in range(3)]
    engine_matches(model, runs, tmp_path, what=f"SUB {shapes}")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
def test_keras_subtract_compiles_bit_exact(tmp_path: Path) -> None:
    """keras Subtract through the real converter (a constant second operand folded in)."""
    import tensorflow as tf

    from tests.test_kernels_eltwise import convert

    k = tf.keras.layers
    m = convert(lambda x: k.Subtract()([k.Conv2D(4, 1)(x), k.Conv2D(4, 3, padding="same")(x)]),
                (6, 6, 3))
    assert any(o.kind.value == "SUB" for o in m.graph.ops)
    engine_matches(m.tflite, [[x] for x in m.int8_inputs(np.random.default_rng(9))][:6], tmp_path,
                   what="keras Subtract")


# ---- MAXIMUM, MINIMUM -----------------------------------------------------------------------------


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@pytest.mark.parametrize("op", ["MAXIMUM", "MINIMUM"])
@pytest.mark.parametrize("shapes", [((256, 256), (256, 256)), *BROADCASTS[1:]], ids=str)
def test_maxmin(op: str, shapes: tuple[tuple[int, ...], tuple[int, ...]], tmp_path: Path) -> None:
    """Equal quantisations (what TFLite's raw comparison needs); every pair, then broadcasts."""
    a, b = shapes
    out = tuple(np.broadcast_shapes(a, b))
    rng = np.random.default_rng(len(a) + 3 * len(b))
    s, z = float(np.float32(10 ** rng.uniform(-2, 0))), int(rng.integers(-128, 128))
    model = single_op(op, [T(a, scale=s, zp=z), T(b, scale=s, zp=z)], [T(out, scale=s, zp=z)])
    runs = [list(_all_pairs())] if a == (256, 256) else [
        [rng.integers(-128, 128, size=a, dtype=np.int8),
         rng.integers(-128, 128, size=b, dtype=np.int8)] for _ in range(3)]
    engine_matches(model, runs, tmp_path, numerics=(Numerics.TFLM,) if a != (256, 256) else
                   tuple(Numerics), what=f"{op} {shapes}")


def test_maxmin_differing_quantisation_refused() -> None:
    model = single_op("MAXIMUM", [T((4,), scale=0.1, zp=0), T((4,), scale=0.2, zp=0)],
                      [T((4,), scale=0.1, zp=0)])
    with pytest.raises(UnsupportedOpsError, match=r"second input 't1'.*compares raw values"):
        read_tflite(model, where="m")


# ---- PRELU ----------------------------------------------------------------------------------------


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@BUILDS
@given(hw=st.tuples(st.integers(1, 5), st.integers(1, 5)), c=st.integers(1, 9),
       q=st.tuples(scales, zps, scales, zps, scales, zps), form=st.sampled_from(["c", "11c", "hwc", "1"]))
def test_prelu(hw: tuple[int, int], c: int, q: tuple[float, int, float, int, float, int],
               form: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Random quantisations of input, alpha (per-channel values, one scale) and output; alpha
    per channel, per pixel and channel, or one value; constant alpha as keras PReLU writes it."""
    si, zi, sa, za, so, zo = q
    shape = (1, *hw, c)
    ashape = {"c": (c,), "11c": (1, 1, c), "hwc": (*hw, c), "1": (1,)}[form]
    rng = np.random.default_rng(c)
    alpha = rng.integers(-128, 128, size=ashape, dtype=np.int8)
    model = single_op("PRELU", [T(shape, scale=si, zp=zi), T(ashape, scale=sa, zp=za, data=alpha)],
                      [T(shape, scale=so, zp=zo)], version=1)
    runs = [[rng.integers(-128, 128, size=shape, dtype=np.int8)] for _ in range(3)]
    runs.append([np.repeat(ALL_I8, -(-shape[1] * shape[2] * c // 256))[:np.prod(shape)]
                 .reshape(shape)])
    engine_matches(model, runs, tmp_path_factory.mktemp("prelu"), what=f"PRELU {q} {form}")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
def test_keras_prelu_compiles_bit_exact(tmp_path: Path) -> None:
    import tensorflow as tf

    from tests.test_kernels_eltwise import convert

    k = tf.keras.layers
    m = convert(lambda x: k.PReLU(shared_axes=[1, 2],
                                  alpha_initializer=tf.keras.initializers.RandomUniform(-1, 1))(
        k.Conv2D(6, 3)(x)), (7, 7, 3))
    assert any(o.kind.value == "PRELU" for o in m.graph.ops), [o.kind for o in m.graph.ops]
    engine_matches(m.tflite, [[x] for x in m.int8_inputs(np.random.default_rng(4))][:6], tmp_path,
                   what="keras PReLU")


# ---- reductions -----------------------------------------------------------------------------------


@st.composite
def reductions(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...], bool]:
    shape = draw(st.lists(st.integers(1, 6), min_size=1, max_size=5).map(tuple))
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=3))
    return shape, tuple(axes), draw(st.booleans())


def _reduce_model(op: str, shape: tuple[int, ...], axes: tuple[int, ...], keep: bool,
                  qi: tuple[float, int], qo: tuple[float, int]) -> bytes:
    from ai_edge_litert import schema_py_generated as S

    resolved = {a % len(shape) for a in axes}
    out = tuple(1 if i in resolved else d for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i not in resolved)
    opts = S.ReducerOptionsT()
    opts.keepDims = keep
    return single_op(op, [T(shape, scale=qi[0], zp=qi[1]),
                          T((len(axes),), "int32", data=np.array(axes, dtype=np.int32))],
                     [T(out, scale=qo[0], zp=qo[1])], opts, version=1)


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@pytest.mark.parametrize("op", ["MEAN", "SUM"])
@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.generate])
@given(r=reductions(), qi=st.tuples(scales, zps), qo=st.tuples(scales, zps))
def test_mean_sum_any_axes(op: str, r: tuple[tuple[int, ...], tuple[int, ...], bool],
                           qi: tuple[float, int], qo: tuple[float, int],
                           tmp_path_factory: pytest.TempPathFactory) -> None:
    """Random shapes (rank 1 to 5), axes (negative, repeated) and quantisations."""
    shape, axes, keep = r
    if op == "SUM":  # keep the sum's rescale inside int32, as the import requires
        qo = (max(qo[0], qi[0] * float(np.prod(shape)) / 64), qo[1])
    model = _reduce_model(op, shape, axes, keep, qi, qo)
    # the interpreter's reference int8 SUM reads its input as uint8 (a TFLite bug): SUM is held
    # to TFLite Micro alone, and --numerics tflite-ref refuses it (test_sum_tflite_ref_refused)
    modes = (Numerics.TFLM,) if op == "SUM" else tuple(Numerics)
    engine_matches(model, _rand(shape, 3), tmp_path_factory.mktemp(op), numerics=modes,
                   what=f"{op} {r}")


def test_sum_tflite_ref_refused() -> None:
    from generator.compiler import compile_graph

    model = _reduce_model("SUM", (1, 4, 3), (1,), False, (0.1, 0), (0.5, 0))
    with pytest.raises(UnsupportedOpsError, match=r"reads its input as uint8"):
        compile_graph(read_tflite(model, where="m"), model, partial=False,
                      numerics=Numerics.TFLITE_REF)


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@pytest.mark.parametrize("op", ["REDUCE_MAX", "REDUCE_MIN"])
@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.generate])
@given(r=reductions(), q=st.tuples(scales, zps))
def test_reduce_max_min_any_axes(op: str, r: tuple[tuple[int, ...], tuple[int, ...], bool],
                                 q: tuple[float, int],
                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    shape, axes, keep = r
    model = _reduce_model(op, shape, axes, keep, q, q)
    engine_matches(model, _rand(shape, 4), tmp_path_factory.mktemp(op), what=f"{op} {r}")


def test_reduce_max_rescale_refused() -> None:
    model = _reduce_model("REDUCE_MAX", (1, 4, 3), (1,), False, (0.1, 0), (0.2, 0))
    with pytest.raises(ModelFormatError, match=r"REDUCE_MAX needs them equal"):
        read_tflite(model, where="m")


def _arg_model(op: str, shape: tuple[int, ...], axis: int, q: tuple[float, int],
               out_type: str = "int32") -> bytes:
    from ai_edge_litert import schema_py_generated as S

    opts = S.ArgMaxOptionsT() if op == "ARG_MAX" else S.ArgMinOptionsT()
    opts.outputType = {"int32": S.TensorType.INT32, "int64": S.TensorType.INT64}[out_type]
    out = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    return single_op(op, [T(shape, scale=q[0], zp=q[1]),
                          T((1,), "int32", data=np.array([axis], dtype=np.int32))],
                     [T(out, out_type)], opts, version=1)


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@pytest.mark.parametrize("op", ["ARG_MAX", "ARG_MIN"])
@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.generate])
@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=4).map(tuple), data=st.data(),
       q=st.tuples(scales, zps))
def test_arg_max_min(op: str, shape: tuple[int, ...], data: st.DataObject, q: tuple[float, int],
                     tmp_path_factory: pytest.TempPathFactory) -> None:
    """int32 indices along any axis; ties (few distinct values) resolve to the first index."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    model = _arg_model(op, shape, axis, q)
    rng = np.random.default_rng(5)
    runs = [*_rand(shape, 5), [rng.integers(-2, 2, size=shape, dtype=np.int8)]]
    engine_matches(model, runs, tmp_path_factory.mktemp(op), what=f"{op} {shape} {axis}")


def test_arg_max_int64_refused() -> None:
    with pytest.raises(UnsupportedOpsError, match=r"output 't2' is int64.*int32"):
        read_tflite(_arg_model("ARG_MAX", (1, 5), 1, (0.1, 0), "int64"), where="m")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@pytest.mark.parametrize("pool", ["max", "avg"])
def test_keras_global_pooling_1d_compiles_bit_exact(pool: str, tmp_path: Path) -> None:
    """Conv1D then GlobalMaxPooling1D (REDUCE_MAX over time) or GlobalAveragePooling1D (MEAN over
    axis 1 of a rank-3 tensor), through the converter, with partial execution."""
    import tensorflow as tf

    from tests.test_kernels_eltwise import convert

    k = tf.keras.layers
    layer = k.GlobalMaxPooling1D() if pool == "max" else k.GlobalAveragePooling1D()
    m = convert(lambda x: k.Dense(3)(layer(k.Conv1D(8, 3, activation="relu")(x))), (20, 4))
    kind = "REDUCE_MAX" if pool == "max" else "MEAN"
    assert any(o.kind.value == kind for o in m.graph.ops), [o.kind for o in m.graph.ops]
    engine_matches(m.tflite, [[x] for x in m.int8_inputs(np.random.default_rng(6))][:6], tmp_path,
                   partial=True, what=f"keras global {pool} pooling 1D")


# ---- RSQRT ----------------------------------------------------------------------------------------


@pytest.mark.hostc
@pytest.mark.tflite
@settings(max_examples=40, deadline=None)
@given(si=scales, zi=zps, so=scales, zo=zps)
def test_rsqrt_every_input(si: float, zi: int, so: float, zo: int) -> None:
    """Every input from the zero point up (below it both runtimes stop with an error: negative
    reals have no square root)."""
    x = np.arange(zi, 128, dtype=np.int8)
    model = single_op("RSQRT", [T(x.shape, scale=si, zp=zi)], [T(x.shape, scale=so, zp=zo)],
                      version=2)
    got = ck.logistic(LogisticParams(qu.rsqrt_table(si, zi, so, zo)), x)
    for mode in Numerics:
        np.testing.assert_array_equal(got, run_reference(model, [x], mode)[0],
                                      err_msg=f"{mode.value} {si} {zi} {so} {zo}")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
def test_rsqrt_compiled(tmp_path: Path) -> None:
    shape, zi = (1, 5, 7), -100
    model = single_op("RSQRT", [T(shape, scale=0.02, zp=zi)], [T(shape, scale=0.05, zp=-128)],
                      version=2)
    rng = np.random.default_rng(8)
    runs = [[rng.integers(zi, 128, size=shape, dtype=np.int8)] for _ in range(3)]
    engine_matches(model, runs, tmp_path, what="RSQRT")


# ---- L2_NORMALIZATION -----------------------------------------------------------------------------


@pytest.mark.hostc
def test_inv_sqrt_matches_the_c_kernel() -> None:
    """mcuf_inv_sqrt_qm equals its Python twin (GetInvSqrtQuantizedMultiplierExp): every input
    below 12,000 and random ones up to 2^31."""
    import ctypes
    import subprocess
    import tempfile

    from generator.codegen import fixedpoint as fp
    from generator.resources import runtime_dir
    from tests.support.cruntime import CFLAGS

    rt = runtime_dir()
    lib = Path(tempfile.mkdtemp(prefix="mcuf_l2_")) / "libl2.so"
    subprocess.run(["gcc", *CFLAGS, f"-I{rt / 'include'}", str(rt / "src" / "mcuf_fixedpoint.c"),
                    str(rt / "src" / "mcuf_l2norm.c"), "-o", str(lib)], check=True)
    fn = ctypes.CDLL(str(lib)).mcuf_inv_sqrt_qm
    m, s = ctypes.c_int32(), ctypes.c_int32()
    rng = np.random.default_rng(0)
    xs = [*range(0, 12000), *rng.integers(0, 2**31 - 1, size=6000).tolist(), 2**31 - 1]
    for x in xs:
        fn(ctypes.c_int32(x), ctypes.byref(m), ctypes.byref(s))
        assert (m.value, s.value) == fp.inv_sqrt_quantized_multiplier(x), x


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@BUILDS
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple), q=st.tuples(scales, zps))
def test_l2_normalization(shape: tuple[int, ...], q: tuple[float, int],
                          tmp_path_factory: pytest.TempPathFactory) -> None:
    model = single_op("L2_NORMALIZATION", [T(shape, scale=q[0], zp=q[1])],
                      [T(shape, scale=1 / 128, zp=0)], version=2)
    rng = np.random.default_rng(len(shape))
    runs = [*_rand(shape, 7), [np.full(shape, q[1], dtype=np.int8)],
            [rng.integers(q[1] - 2, q[1] + 3, size=shape).clip(-128, 127).astype(np.int8)]]
    engine_matches(model, runs, tmp_path_factory.mktemp("l2"), what=f"L2_NORMALIZATION {shape} {q}")


def test_l2_normalization_output_quantisation_refused() -> None:
    model = single_op("L2_NORMALIZATION", [T((1, 4), scale=0.1, zp=0)],
                      [T((1, 4), scale=0.01, zp=0)], version=2)
    with pytest.raises(UnsupportedOpsError, match=r"L2_NORMALIZATION writes scale 1/128"):
        read_tflite(model, where="m")


# ---- SQUARED_DIFFERENCE ---------------------------------------------------------------------------


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@BUILDS
@given(q=st.tuples(scales, zps, scales, zps, scales, zps))
def test_squared_difference_every_pair(q: tuple[float, int, float, int, float, int],
                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    s1, z1, s2, z2, so, zo = q
    so = max(so, 4 * max(s1, s2) ** 2)  # an output scale whose rescale stays inside int32
    ts = [T((256, 256), scale=s, zp=z) for s, z in ((s1, z1), (s2, z2), (so, zo))]
    model = single_op("SQUARED_DIFFERENCE", ts[:2], ts[2:], version=2)
    engine_matches(model, [list(_all_pairs())], tmp_path_factory.mktemp("sqd"),
                   what=f"SQUARED_DIFFERENCE {q}")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@pytest.mark.parametrize("shapes", BROADCASTS[1:], ids=str)
def test_squared_difference_broadcast(shapes: tuple[tuple[int, ...], tuple[int, ...]],
                                      tmp_path: Path) -> None:
    a, b = shapes
    out = tuple(np.broadcast_shapes(a, b))
    rng = np.random.default_rng(len(a) * 5 + len(b))
    model = single_op("SQUARED_DIFFERENCE", [T(a, scale=0.05, zp=3), T(b, scale=0.08, zp=-9)],
                      [T(out, scale=0.2, zp=-128)], version=2)
    runs = [[rng.integers(-128, 128, size=a, dtype=np.int8),
             rng.integers(-128, 128, size=b, dtype=np.int8)] for _ in range(3)]
    engine_matches(model, runs, tmp_path, what=f"SQUARED_DIFFERENCE {shapes}")


# ---- LOG_SOFTMAX ----------------------------------------------------------------------------------


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@BUILDS
@given(shape=st.lists(st.integers(1, 40), min_size=1, max_size=3).map(tuple),
       q=st.tuples(st.floats(-3.0, 0.5).map(lambda e: float(np.float32(10**e))), zps))
def test_log_softmax(shape: tuple[int, ...], q: tuple[float, int],
                     tmp_path_factory: pytest.TempPathFactory) -> None:
    model = single_op("LOG_SOFTMAX", [T(shape, scale=q[0], zp=q[1])],
                      [T(shape, scale=16 / 256, zp=127)], version=2)
    rng = np.random.default_rng(len(shape))
    runs = [*_rand(shape, 9), [np.full(shape, 5, dtype=np.int8)],
            [rng.integers(120, 128, size=shape, dtype=np.int8)]]
    engine_matches(model, runs, tmp_path_factory.mktemp("ls"), what=f"LOG_SOFTMAX {shape} {q}")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
def test_keras_log_softmax_compiles_bit_exact(tmp_path: Path) -> None:
    import tensorflow as tf

    from tests.test_kernels_eltwise import convert

    k = tf.keras.layers
    m = convert(lambda x: k.Activation("log_softmax")(k.Dense(10)(x)), (12,))
    assert any(o.kind.value == "LOG_SOFTMAX" for o in m.graph.ops), [o.kind for o in m.graph.ops]
    engine_matches(m.tflite, [[x] for x in m.int8_inputs(np.random.default_rng(2))][:8], tmp_path,
                   what="keras log_softmax")


def test_log_softmax_output_quantisation_refused() -> None:
    model = single_op("LOG_SOFTMAX", [T((1, 4), scale=0.1, zp=0)], [T((1, 4), scale=0.1, zp=0)],
                      version=2)
    with pytest.raises(ModelFormatError, match=r"LOG_SOFTMAX requires scale 16/256"):
        read_tflite(model, where="m")


# ---- parameter structs ----------------------------------------------------------------------------


@pytest.mark.unit
def test_params_match_the_header() -> None:
    """Each Python parameter dataclass names fields of its C struct (mcuf_kernels.h)."""
    from dataclasses import fields

    from generator.codegen import qparams_ops as qo
    from tests.test_kernels_eltwise import _header_struct

    pairs = [("mcuf_prelu_params", qo.PreluParams), ("mcuf_reduce_params", qo.SumParams),
             ("mcuf_sqdiff_params", qo.SqDiffParams),
             ("mcuf_log_softmax_params", qo.LogSoftmaxParams)]
    for struct, cls in pairs:
        declared = {n.split("[")[0] for n in _header_struct(struct)}
        assert {f.name for f in fields(cls)} <= declared, struct
    assert {"kd", "ks", "rd", "rs", "count", "mode"} <= {
        n.split("[")[0] for n in _header_struct("mcuf_reduce_params")}


@pytest.mark.unit
def test_mean_is_the_sum_with_the_count_folded() -> None:
    from generator.codegen import qparams_eltwise as qe
    from generator.codegen import qparams_ops as qo

    for count in (1, 3, 49, 128, 1000):
        a = qe.mean_params(0.05, 3, 0.02, -7, count)
        b = qo.sum_params(0.05, 3, 0.02, -7, count, mean=True)
        assert (a.mult, a.shift) == (b.mult, b.shift)


# ---- table operators in place ---------------------------------------------------------------------


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
def test_table_operators_overwrite_their_dying_input(tmp_path: Path) -> None:
    """A table operator (HARD_SWISH, TANH, sigmoid) whose input nothing else reads writes over it;
    one whose input is read again (the residual ADD) does not; the engine stays exact."""
    import tensorflow as tf

    from generator.plan.pex import build_program
    from tests.test_kernels_eltwise import convert

    k = tf.keras.layers

    def build(x: object) -> object:
        y = k.Activation("hard_swish")(k.Conv2D(8, 3, padding="same")(x))
        z = k.Activation("tanh")(k.Conv2D(8, 1)(y))
        return k.Activation("sigmoid")(k.Add()([z, k.Activation("hard_swish")(z)]))

    m = convert(build, (6, 6, 3))
    g = m.graph
    program = build_program(g)
    kinds = {op.kind.value: op for op in g.ops}
    assert {"HARD_SWISH", "TANH", "LOGISTIC"} <= set(kinds)
    in_place = {op.kind.value for op in g.ops if op.outputs[0] in program.alias}
    second_hs = [op for op in g.ops if op.kind.value == "HARD_SWISH"][1]
    assert {"TANH", "LOGISTIC"} <= in_place
    assert second_hs.outputs[0] not in program.alias  # its input feeds the ADD too
    engine_matches(m.tflite, [[x] for x in m.int8_inputs(np.random.default_rng(3))][:6], tmp_path,
                   partial=True, what="table operators in place")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
def test_table_operators_sliced_in_chains(tmp_path: Path) -> None:
    """Chains through table operators (HARD_SWISH, TANH, ReLU, sigmoid between convolutions and
    depthwise convolutions): the longest split 3 ways against both runtimes, it and three others
    split 2 ways against TFLite Micro."""
    import tensorflow as tf

    from generator.compiler import compile_program
    from generator.host import build_host
    from generator.importer.reference import run_reference
    from generator.plan.pex import Split, build_program, candidate_chains
    from generator.plan.relations import TABLE_KINDS
    from tests.test_kernels_eltwise import convert

    k = tf.keras.layers

    def build(x: object) -> object:
        y = k.Activation("hard_swish")(k.Conv2D(8, 3, padding="same")(x))
        y = k.Activation("tanh")(k.DepthwiseConv2D(3, padding="same")(y))
        y = k.ReLU()(k.Conv2D(6, 1)(y))
        return k.Activation("sigmoid")(k.DepthwiseConv2D(3, padding="same")(y))

    m = convert(build, (7, 7, 4))
    g = m.graph
    chains = [c for c in candidate_chains(g)
              if any(g.ops[i].kind in TABLE_KINDS for i in c.ops)]
    assert len(chains) >= 3, chains
    runs = [[x] for x in m.int8_inputs(np.random.default_rng(8))][:4]
    longest = max(chains, key=lambda c: c.end - c.start)
    others = [c for c in chains if c != longest][:3]
    cases = [(longest, 3, tuple(Numerics)), *((c, 2, (Numerics.TFLM,)) for c in [longest, *others])]
    for n, (chain, slices, modes) in enumerate(cases):
        program = build_program(g, [Split(chain, slices)])
        assert program.splits, chain
        for mode in modes:
            compiled = compile_program(g, program, m.tflite, numerics=mode)
            engine = build_host(compiled, tmp_path / f"{n}_{mode.value}")
            for run, got in zip(runs, engine.run(runs), strict=True):
                want = run_reference(m.tflite, run, mode)[0]
                np.testing.assert_array_equal(got[0].reshape(want.shape), want,
                                              err_msg=f"{chain} x{slices} {mode.value}")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
def test_sub_sliced_in_chains(tmp_path: Path) -> None:
    """SUB in a chain, as ADD (its operands' slices, the other operand computed before the chain),
    split 2 and 3 ways: the engine equals both runtimes; and the planner's own choice."""
    import tensorflow as tf

    from generator.compiler import compile_program
    from generator.host import build_host
    from generator.importer.reference import run_reference
    from generator.ir import OpKind
    from generator.plan.pex import Split, build_program, candidate_chains
    from tests.test_kernels_eltwise import convert

    k = tf.keras.layers

    def build(x: object) -> object:
        a = k.Conv2D(8, 1)(x)
        b = k.Conv2D(8, 3, padding="same")(a)
        y = k.DepthwiseConv2D(3, padding="same")(k.Subtract()([b, a]))
        return k.Conv2D(4, 1)(y)

    m = convert(build, (8, 8, 3))
    g = m.graph
    chains = [c for c in candidate_chains(g) if any(g.ops[i].kind is OpKind.SUB for i in c.ops)]
    assert chains, [op.kind for op in g.ops]
    runs = [[x] for x in m.int8_inputs(np.random.default_rng(12))][:4]
    chain = max(chains, key=lambda c: c.end - c.start)
    for slices, modes in ((2, (Numerics.TFLM,)), (3, tuple(Numerics))):
        program = build_program(g, [Split(chain, slices)])
        assert program.splits
        for mode in modes:
            engine = build_host(compile_program(g, program, m.tflite, numerics=mode),
                                tmp_path / f"{slices}_{mode.value}")
            for run, got in zip(runs, engine.run(runs), strict=True):
                want = run_reference(m.tflite, run, mode)[0]
                np.testing.assert_array_equal(got[0].reshape(want.shape), want,
                                              err_msg=f"{chain} x{slices} {mode.value}")
    engine_matches(m.tflite, runs, tmp_path / "planned", numerics=(Numerics.TFLM,), partial=True,
                   what="SUB planned")
