"""SVDF (int8, int16 state and time weights): single-operator models (the converter rarely emits
SVDF) of random sizes, ranks, memories and quantisation; the Python twin of TFLite Micro's integer
kernel against both runtimes, the compiled engine run on the host against both, and the refusals,
each naming the tensor.

Every run is one invoke of a fresh interpreter: the engine resets the state every inference
(TFLite Micro keeps it across invokes, which a streaming model relies on; not yet an engine
option). The TFLite interpreter runs the integer SVDF only with a fused RELU, which it does not
apply (nor does TFLite Micro, which ignores the field): models with activation NONE are compared
with TFLite Micro alone."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from generator.codegen import qparams_svdf as qs
from generator.compiler import compile_graph
from generator.errors import InputError, ModelFormatError, UnsupportedOpsError
from generator.host import build_host
from generator.importer.reference import run_reference
from generator.importer.tflite_reader import read_tflite
from generator.numerics import Numerics
from tests.support.single_op import T, single_op

pytestmark = pytest.mark.tflite

_SETTINGS = settings(max_examples=5, deadline=None, database=None, derandomize=True,
                     phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=[HealthCheck.too_slow])


def _tflm(model: bytes, xs: list[np.ndarray]) -> list[np.ndarray]:
    """One fresh TFLite Micro interpreter per input (each an inference from a reset state)."""
    from tflite_micro.python.tflite_micro import runtime

    outs = []
    for x in xs:
        it = runtime.Interpreter.from_bytes(model, arena_size=4 << 20)
        it.set_input(x, 0)
        it.invoke()
        outs.append(np.array(it.get_output(0)))
    return outs


def svdf_model(batch: int, n_in: int, units: int, rank: int, memory: int, act: str = "RELU",
               xq: tuple[float, int] = (0.05, 3), wfs: float = 0.01, state_scale: float = 2**-10,
               wts: float = 2**-12, yq: tuple[float, int] = (0.1, -2), seed: int = 0,
               state: dict[str, Any] | None = None, bias_scale: float | None = None,
               bias: bool = True, bias_values: np.ndarray | None = None,
               state_zp: int | None = None) -> tuple[bytes, Any]:
    """``state_zp`` set: the int8 form (int8 state of that zero point, int8 time weights)."""
    from ai_edge_litert import schema_py_generated as S

    rng = np.random.default_rng(seed)
    filters = units * rank
    wf = rng.integers(-127, 128, (filters, n_in), dtype=np.int8)
    bits = 16 if state_zp is None else 8
    wt = rng.integers(-3000, 3001, (filters, memory)).astype(np.int16) if bits == 16 else \
        rng.integers(-128, 128, (filters, memory)).astype(np.int8)
    b = rng.integers(-5000, 5001, units).astype(np.int32) if bias_values is None else bias_values
    o = S.SVDFOptionsT()
    o.rank, o.fusedActivationFunction = rank, getattr(S.ActivationFunctionType, act)
    bs = float(np.float32(state_scale) * np.float32(wts)) if bias_scale is None else bias_scale
    st_kw = dict(shape=(batch, memory * filters), dtype=f"int{bits}", scale=state_scale,
                 zp=state_zp or 0, variable=True) | (state or {})
    ins = [T((batch, n_in), scale=xq[0], zp=xq[1]), T((filters, n_in), scale=wfs, data=wf),
           T((filters, memory), f"int{bits}", scale=wts, data=wt),
           T((units,), "int32", scale=bs, data=b), T(**st_kw)]
    if not bias:
        ins[3] = T((units,), "int32", scale=bs)  # replaced by an absent slot below
    model = single_op("SVDF", ins, [T((batch, units), scale=yq[0], zp=yq[1])], o, version=4)
    if not bias:
        model = _without_bias(model)
    p = qs.svdf_params(xq[0], wfs, state_scale, wts, yq[0])
    return model, lambda x: qs.svdf_fresh(p, x, xq[1], wf, wt, b, rank, yq[1], bits,
                                          state_zp or 0)


def _without_bias(model: bytes) -> bytes:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    m = S.ModelT.InitFromObj(S.Model.GetRootAsModel(model, 0))
    op = m.subgraphs[0].operators[0]
    op.inputs = [*op.inputs[:3], -1, op.inputs[4]]
    m.subgraphs[0].inputs = [0]
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@st.composite
def svdfs(draw: Any) -> dict[str, Any]:
    return dict(batch=draw(st.integers(1, 3)), n_in=draw(st.integers(1, 40)),
                units=draw(st.integers(1, 8)), rank=draw(st.integers(1, 3)),
                memory=draw(st.integers(1, 10)), act=draw(st.sampled_from(["NONE", "RELU"])),
                xq=(draw(st.floats(0.005, 0.5)), draw(st.integers(-128, 127))),
                wfs=draw(st.floats(0.002, 0.02)),
                state_scale=2.0 ** draw(st.integers(-14, -6)) * draw(st.floats(0.6, 1.0)),
                wts=draw(st.floats(1e-5, 1e-3)),
                yq=(draw(st.floats(0.01, 0.5)), draw(st.integers(-128, 127))),
                seed=draw(st.integers(0, 2**31)))


def _inputs(shape: tuple[int, int], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, shape, dtype=np.int8) for _ in range(3)]
    return [*xs, np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)]


def _check_runtimes(model: bytes, act: str, xs: list[np.ndarray],
                    gots: list[np.ndarray]) -> None:
    for x, got, want in zip(xs, gots, _tflm(model, xs), strict=True):
        np.testing.assert_array_equal(np.reshape(got, want.shape), want, err_msg="TFLM")
        if act == "RELU":  # the interpreter runs no other (and applies none)
            ref = run_reference(model, [x], Numerics.TFLITE_REF)[0]
            np.testing.assert_array_equal(np.reshape(got, ref.shape), ref, err_msg="TFLite")


@settings(max_examples=150, deadline=None, database=None)
@given(case=svdfs())
def test_twin_equals_both_runtimes(case: dict[str, Any]) -> None:
    """The Python twin of the kernel (the oracle of the C) equals TFLite Micro and the
    interpreter (with RELU) on 150 random sizes, ranks, memories and quantisations."""
    model, twin = svdf_model(**case)
    xs = _inputs((case["batch"], case["n_in"]), case["seed"])
    _check_runtimes(model, case["act"], xs, [twin(x) for x in xs])


@pytest.mark.hostc
@pytest.mark.slow
@_SETTINGS
@given(case=svdfs())
def test_random_svdf_engine_is_exact(case: dict[str, Any]) -> None:
    model, _ = svdf_model(**case)
    _engine_exact(model, case["act"], (case["batch"], case["n_in"]), case["seed"])


@pytest.mark.hostc
@pytest.mark.slow
def test_svdf_engine_is_exact() -> None:
    """A micro_speech-like SVDF layer (rank 1, 16 units over 40 features, memory 8) and a rank-2,
    batch-of-two one, compiled and run on the host."""
    for kw in (dict(batch=1, n_in=40, units=16, rank=1, memory=8),
               dict(batch=2, n_in=7, units=3, rank=2, memory=4, act="NONE")):
        model, _ = svdf_model(**kw)  # type: ignore[arg-type]
        _engine_exact(model, str(kw.get("act", "RELU")), (int(kw["batch"]), int(kw["n_in"])), 1)


def _engine_exact(model: bytes, act: str, shape: tuple[int, int], seed: int) -> None:
    xs = _inputs(shape, seed)
    compiled = compile_graph(read_tflite(model, where="svdf"), model, source="svdf")
    with tempfile.TemporaryDirectory() as d:
        outs = build_host(compiled, Path(d)).run([[x] for x in xs])
    _check_runtimes(model, act, xs, [o[0] for o in outs])


@pytest.mark.hostc
def test_unit_sums_wrap_as_tflm_does() -> None:
    """Biases near +-2^31 (TFLite Micro's keyword benchmark model has them) take a unit's sum
    over int32; TFLite Micro's addition wraps, and so do the engine and the twin."""
    big = np.array([2**31 - 50, -(2**31) + 50, 2**31 - 1, 0], np.int32)
    kw: dict[str, Any] = dict(batch=1, n_in=16, units=4, rank=1, memory=3, xq=(0.5, 0),
                              wfs=0.02, state_scale=2**-14, yq=(0.5, 0), bias_values=big)
    model, twin = svdf_model(**kw)
    xs = _inputs((1, 16), 3)
    assert any(fp_sum_wraps(twin, x) for x in xs)
    _check_runtimes(model, "RELU", xs, [twin(x) for x in xs])
    _engine_exact(model, "RELU", (1, 16), 3)


def fp_sum_wraps(twin: Any, x: np.ndarray) -> bool:
    """Whether the first two units' outputs show a wrapped sum (a bias near +2^31 giving a low
    output, or near -2^31 a high one)."""
    y = twin(x)[0]
    return bool(y[0] < 0 or y[1] > 0)


@settings(max_examples=100, deadline=None, database=None)
@given(case=svdfs(), state_zp=st.integers(-128, 127))
def test_int8_state_twin_equals_tflm(case: dict[str, Any], state_zp: int) -> None:
    """The int8 form (int8 state and time weights; TFLite Micro only, the interpreter refuses it):
    the rescaled feature product clamped to int8, stored with the state's zero point (wrapping)
    and read back, on random cases and zero points."""
    case = case | dict(state_scale=case["state_scale"] * 2**6, wts=case["wts"] * 2**7)
    model, twin = svdf_model(**case, state_zp=state_zp)
    xs = _inputs((case["batch"], case["n_in"]), case["seed"])
    for x, want in zip(xs, _tflm(model, xs), strict=True):
        np.testing.assert_array_equal(twin(x), want)


@pytest.mark.hostc
def test_int8_state_engine_equals_tflm() -> None:
    model, _ = svdf_model(batch=2, n_in=12, units=5, rank=2, memory=4, state_scale=0.05,
                          wts=0.02, state_zp=-100)
    xs = _inputs((2, 12), 4)
    compiled = compile_graph(read_tflite(model, where="svdf"), model, source="svdf")
    with tempfile.TemporaryDirectory() as d:
        outs = build_host(compiled, Path(d)).run([[x] for x in xs])
    for got, want in zip(outs, _tflm(model, xs), strict=True):
        np.testing.assert_array_equal(np.reshape(got[0], want.shape), want)
    with pytest.raises(UnsupportedOpsError, match="int8 state"):
        compile_graph(read_tflite(model, where="svdf"), model, source="svdf",
                      numerics=Numerics.TFLITE_REF)


def test_tflite_ref_numerics_refuses_an_svdf_the_interpreter_does_not_run() -> None:
    model, _ = svdf_model(**(_BASE | dict(act="NONE")))
    graph = read_tflite(model, where="m")
    with pytest.raises(UnsupportedOpsError, match="only with RELU"):
        compile_graph(graph, model, source="m", numerics=Numerics.TFLITE_REF)
    compile_graph(graph, model, source="m")


def test_tflm_keeps_the_state_across_invokes() -> None:
    """What the engine does not do (said in the README): a second invoke of the same TFLite Micro
    interpreter reads the first one's state, so it differs from a fresh one's."""
    from tflite_micro.python.tflite_micro import runtime

    model, twin = svdf_model(1, 12, 4, 1, 5)
    x = np.random.default_rng(0).integers(-128, 128, (1, 12), dtype=np.int8)
    it = runtime.Interpreter.from_bytes(model, arena_size=4 << 20)
    it.set_input(x, 0)
    it.invoke()
    first = np.array(it.get_output(0))
    it.invoke()
    np.testing.assert_array_equal(first, twin(x))
    assert not np.array_equal(np.array(it.get_output(0)), first)


# ---- refusals -----------------------------------------------------------------------------------

_BASE: dict[str, Any] = dict(batch=1, n_in=6, units=4, rank=2, memory=3)


@pytest.mark.parametrize("change,error,pattern", [
    (dict(act="RELU6"), UnsupportedOpsError, "fused RELU6 activation"),
    (dict(state=dict(dtype="int8", scale=0.01)), UnsupportedOpsError,
     "weights_time \\(input 2\\) 't2' is int16; .* int8 time weights with an int8 state"),
    (dict(state=dict(dtype="float32")), UnsupportedOpsError,
     "activation_state \\(input 4\\) 't4' is float32"),
    (dict(state=dict(zp=3)), InputError, "'t4' has zero point 3"),
    (dict(state=dict(shape=(1, 5))), ModelFormatError, "'t4' has shape \\(1, 5\\)"),
    (dict(state=dict(variable=False)), InputError, "t4"),
    (dict(bias_scale=1e-3), UnsupportedOpsError, "bias \\(input 3\\) 't3' has scale"),
    (dict(bias=False), UnsupportedOpsError, "has no bias \\(input 3\\)"),
])
def test_bad_svdf_is_refused(change: dict[str, Any], error: type[InputError], pattern: str) -> None:
    model, _ = svdf_model(**(_BASE | change))
    with pytest.raises(error, match=pattern):
        read_tflite(model, where="m")


def test_rank_must_divide_the_filters() -> None:
    from ai_edge_litert import schema_py_generated as S

    o = S.SVDFOptionsT()
    o.rank, o.fusedActivationFunction = 3, S.ActivationFunctionType.RELU
    wf = np.ones((4, 6), np.int8)
    ins = [T((1, 6), scale=0.05), T((4, 6), scale=0.01, data=wf),
           T((4, 3), "int16", scale=1e-4, data=np.ones((4, 3), np.int16)),
           T((1,), "int32", scale=float(np.float32(2**-10) * np.float32(1e-4)),
             data=np.zeros(1, np.int32)),
           T((1, 12), "int16", scale=2**-10, variable=True)]
    model = single_op("SVDF", ins, [T((1, 1), scale=0.1)], o, version=4)
    with pytest.raises(ModelFormatError, match="4 filters, not a multiple of the rank 3"):
        read_tflite(model, where="m")
