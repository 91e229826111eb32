"""Constant folding at import (generator.importer.fold): shape subgraphs of dynamic-batch models
become constants, and the NumPy STRIDED_SLICE it evaluates equals TFLite's and TFLM's."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator import layout
from generator.compiler import compile_graph
from generator.host import build_host
from generator.importer.fold import strided_slice
from generator.importer.reference import run_reference
from generator.importer.tflite_reader import read_tflite
from generator.ir import OpKind, StridedSliceAttrs
from generator.numerics import Numerics
from tests.test_kernels_eltwise import T, single_op

pytestmark = [pytest.mark.tflite]


def _i32(v: list[int]) -> T:
    return T((len(v),), "int32", data=np.array(v, np.int32))


def _slice_model(shape: tuple[int, ...], out: tuple[int, ...], b: list[int], e: list[int],
                 s: list[int], a: StridedSliceAttrs) -> bytes:
    from ai_edge_litert import schema_py_generated as S

    o = S.StridedSliceOptionsT()
    o.beginMask, o.endMask, o.shrinkAxisMask, o.offset = (a.begin_mask, a.end_mask,
                                                          a.shrink_axis_mask, a.offset)
    return single_op("STRIDED_SLICE", [T(shape, scale=0.1, zp=2), _i32(b), _i32(e), _i32(s)],
                     [T(out, scale=0.1, zp=2)], o)


def _tflm(model: bytes, x: np.ndarray[Any, Any]) -> Any:
    """TFLM's output, without the import checks (they refuse a STRIDED_SLICE of an activation)."""
    from generator.importer.reference_tflm import _interpreter, _invoke

    interp = _interpreter(model, preserve_all=False)
    _invoke(interp, [x])
    return np.array(interp.get_output(0))


@st.composite
def slices(draw: Any) -> tuple[Any, ...]:
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    rank = len(shape)
    n = rank
    b = [draw(st.integers(-d - 2, d + 2)) for d in shape[:n]]
    e = [draw(st.integers(-d - 2, d + 2)) for d in shape[:n]]
    s = [draw(st.sampled_from([1, 2, 3])) for _ in range(n)]
    masks = [draw(st.integers(0, (1 << n) - 1)) for _ in range(3)]
    shrink = 0
    for d in range(n):  # shrink only where the begin index is in range
        if masks[2] >> d & 1 and -shape[d] <= b[d] < shape[d]:
            shrink |= 1 << d
    a = StridedSliceAttrs(begin_mask=masks[0], end_mask=masks[1], shrink_axis_mask=shrink,
                          offset=False)
    return shape, b, e, s, a


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=slices(), seed=st.integers(0, 2**31))
def test_numpy_strided_slice_equals_both_interpreters(case: tuple[Any, ...], seed: int) -> None:
    shape, b, e, s, a = case
    x = np.random.default_rng(seed).integers(-128, 128, shape, dtype=np.int8)
    want = strided_slice(x, tuple(b), tuple(e), tuple(s), a)
    if want.size == 0 or want.ndim == 0:
        return  # the engine has no empty or scalar activations to compare
    model = _slice_model(shape, want.shape, b, e, s, a)
    np.testing.assert_array_equal(run_reference(model, [x], Numerics.TFLITE_REF)[0], want)
    np.testing.assert_array_equal(_tflm(model, x), want)
    moves = layout.strided_slice(shape, b, e, s, a.begin_mask, a.end_mask, a.shrink_axis_mask)
    np.testing.assert_array_equal(layout.apply(moves, [x])[0], want)  # the compiled form agrees


def test_strided_slice_of_an_activation_compiles() -> None:
    """Not folded (its input is an activation): a data-movement operator of the graph
    (tests/test_layout_moves.py holds it exact against both runtimes)."""
    model = _slice_model((4, 3), (2, 3), [0, 0], [2, 3], [1, 1], StridedSliceAttrs())
    g = read_tflite(model, where="m")
    assert [op.kind.value for op in g.ops] == ["STRIDED_SLICE"]


@pytest.fixture(scope="module")
def dynamic_batch() -> bytes:
    """Keras Reshape and Flatten with batch size None: shapes come from SHAPE/STRIDED_SLICE/PACK."""
    import tensorflow as tf

    keras = tf.keras
    keras.utils.set_random_seed(5)
    inp = keras.Input((4, 4, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inp)
    x = keras.layers.Reshape((16, 8))(x)
    x = keras.layers.Flatten()(x)
    m = keras.Model(inp, keras.layers.Dense(5)(x))
    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    conv.representative_dataset = lambda: (
        [rng.standard_normal((1, 4, 4, 3)).astype(np.float32)] for _ in range(20))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    return bytes(conv.convert())


@pytest.mark.hostc
def test_dynamic_batch_model_folds_and_is_exact(dynamic_batch: bytes, tmp_path: Path) -> None:
    g = read_tflite(dynamic_batch, where="dyn")
    assert [op.kind for op in g.ops] == [OpKind.CONV_2D, OpKind.RESHAPE, OpKind.RESHAPE,
                                         OpKind.FULLY_CONNECTED]
    rng = np.random.default_rng(3)
    xs = [rng.integers(-128, 128, (1, 4, 4, 3), dtype=np.int8) for _ in range(8)]
    # each numerics mode against its reference (their FULLY_CONNECTED rescales differ by design)
    for numerics in Numerics:
        compiled = compile_graph(g, dynamic_batch, source="dyn", numerics=numerics)
        with tempfile.TemporaryDirectory() as d:
            outs = build_host(compiled, Path(d)).run([[x] for x in xs])
        for x, got in zip(xs, outs, strict=True):
            want = run_reference(dynamic_batch, [x], numerics)[0]
            np.testing.assert_array_equal(got[0].reshape(want.shape), want, err_msg=numerics.value)
