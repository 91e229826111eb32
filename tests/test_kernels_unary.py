"""RELU, RELU6, LEAKY_RELU and ABS (elementwise and reductions family): the compile-time table run through the C
lookup kernel, on every int8 input, against TFLite Micro's Python runtime and the interpreter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from generator.codegen import qparams_unary as qu
from generator.codegen.qparams_eltwise import LogisticParams
from generator.importer.reference import run_reference
from generator.importer.reference_tflm import run_tflm
from generator.ir import OpKind
from generator.numerics import Numerics
from tests.support import ckernels_eltwise as ck
from tests.test_kernels_eltwise import ALL_I8, T, single_op

scales = st.floats(-3.0, 0.5).map(lambda e: float(np.float32(10**e)))
zps = st.integers(-128, 127)


def _both(model: bytes, got: np.ndarray, what: str) -> None:
    np.testing.assert_array_equal(got, run_tflm(model, [ALL_I8])[0], err_msg=f"TFLM {what}")
    np.testing.assert_array_equal(got, run_reference(model, [ALL_I8], Numerics.TFLITE_REF)[0],
                                  err_msg=f"TFLite {what}")


@pytest.mark.hostc
@pytest.mark.tflite
@settings(max_examples=60, deadline=None)
@given(si=scales, zi=zps, so=scales, zo=zps)
def test_relu_every_input(si: float, zi: int, so: float, zo: int) -> None:
    model = single_op("RELU", [T((256,), scale=si, zp=zi)], [T((256,), scale=so, zp=zo)])
    got = ck.logistic(LogisticParams(qu.relu_table(si, zi, so, zo)), ALL_I8)
    _both(model, got, f"{si} {zi} {so} {zo}")


@pytest.mark.hostc
@pytest.mark.tflite
@settings(max_examples=60, deadline=None)
@given(si=scales, zi=zps, so=scales, zo=zps, same=st.booleans())
def test_abs_every_input(si: float, zi: int, so: float, zo: int, same: bool) -> None:
    so = si if same else so
    model = single_op("ABS", [T((256,), scale=si, zp=zi)], [T((256,), scale=so, zp=zo)])
    got = ck.logistic(LogisticParams(qu.abs_table(si, zi, so, zo)), ALL_I8)
    _both(model, got, f"{si} {zi} {so} {zo}")


@pytest.mark.hostc
@pytest.mark.tflite
@settings(max_examples=60, deadline=None)
@given(si=scales, zi=zps)
def test_relu6_every_input(si: float, zi: int) -> None:
    model = single_op("RELU6", [T((256,), scale=si, zp=zi)], [T((256,), scale=si, zp=zi)])
    got = ck.logistic(LogisticParams(qu.relu6_table(si, zi)), ALL_I8)
    _both(model, got, f"{si} {zi}")


@pytest.mark.hostc
@pytest.mark.tflite
@settings(max_examples=60, deadline=None)
@given(si=scales, zi=zps, so=scales, zo=zps, alpha=st.floats(-2.0, 2.0, width=32))
@example(si=0.316, zi=0, so=0.316, zo=0, alpha=-0.5)  # ties: a negative alpha rounds them down
def test_leaky_relu_every_input(si: float, zi: int, so: float, zo: int, alpha: float) -> None:
    from ai_edge_litert import schema_py_generated as S

    opts = S.LeakyReluOptionsT()
    opts.alpha = alpha
    model = single_op("LEAKY_RELU", [T((256,), scale=si, zp=zi)], [T((256,), scale=so, zp=zo)],
                      opts)
    got = ck.logistic(LogisticParams(qu.leaky_relu_table(si, zi, so, zo, alpha)), ALL_I8)
    _both(model, got, f"{si} {zi} {so} {zo} {alpha}")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.parametrize("op", ["RELU", "RELU6", "ABS"])
def test_compiled_model_matches_both_runtimes(op: str, tmp_path: object) -> None:
    """A whole RELU / RELU6 model compiled to C and run on the host equals both runtimes."""
    from pathlib import Path

    from generator.compiler import compile_graph
    from generator.host import build_host
    from generator.importer.tflite_reader import read_tflite

    si, zi, so, zo = 0.05, -7, (0.05 if op == "RELU6" else 0.03), (-7 if op == "RELU6" else -128)
    model = single_op(op, [T((1, 8, 16), scale=si, zp=zi)], [T((1, 8, 16), scale=so, zp=zo)])
    compiled = compile_graph(read_tflite(model, where=op), model, source=op, partial=False)
    engine = build_host(compiled, Path(str(tmp_path)))
    rng = np.random.default_rng(3)
    inputs = [rng.integers(-128, 128, size=(1, 8, 16), dtype=np.int8) for _ in range(8)]
    for x, got in zip(inputs, engine.run([[x] for x in inputs]), strict=True):
        for want in (run_tflm(model, [x])[0], run_reference(model, [x], Numerics.TFLITE_REF)[0]):
            np.testing.assert_array_equal(got[0].reshape(want.shape), want)


def test_relu6_with_a_rescale_is_refused() -> None:
    from generator.errors import UnsupportedOpsError
    from generator.importer.tflite_reader import read_tflite

    model = single_op("RELU6", [T((4,), scale=0.05, zp=0)], [T((4,), scale=0.1, zp=0)])
    with pytest.raises(UnsupportedOpsError, match="RELU6"):
        read_tflite(model, where="m")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.parametrize("act", ["leaky"])
def test_keras_model_compiles_bit_exact(act: str, tmp_path: object) -> None:
    """Conv1D then a standalone activation layer, through the real converter, compiled and run on
    the host: every output equals TFLite Micro's and the interpreter's."""
    from pathlib import Path

    import tensorflow as tf

    from generator.compiler import compile_graph
    from generator.host import build_host
    from tests.test_kernels_eltwise import convert

    k = tf.keras.layers

    def build(x: object) -> object:
        y = k.Conv1D(8, 3)(x)
        return k.Dense(4)(k.Flatten()(k.LeakyReLU(negative_slope=0.2)(y)))

    m = convert(build, (16, 3))
    kinds = {o.kind for o in m.graph.ops}
    assert OpKind.LEAKY_RELU in kinds, kinds
    inputs = list(m.int8_inputs(np.random.default_rng(5)))
    # each numerics mode against its own reference (their FULLY_CONNECTED rescales differ)
    for numerics in Numerics:
        compiled = compile_graph(m.graph, m.tflite, source=act, partial=False, numerics=numerics)
        engine = build_host(compiled, Path(str(tmp_path)) / numerics.value)
        for x, got in zip(inputs, engine.run([[x] for x in inputs]), strict=True):
            want = run_reference(m.tflite, [x], numerics)[0]
            np.testing.assert_array_equal(got[0].reshape(want.shape), want,
                                          err_msg=f"{numerics.value} {kinds}")
