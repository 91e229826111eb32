"""Layout and data-movement operators: single-operator models with random shapes and quantisation,
compiled, run on the host and compared bit for bit with the TFLite interpreter and TFLM's runtime."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from generator.compiler import compile_graph
from generator.errors import InputError
from generator.host import build_host
from generator.importer.reference import run_reference
from generator.importer.reference_tflm import run_tflm
from generator.importer.tflite_reader import read_tflite
from generator.numerics import Numerics
from tests.test_kernels_eltwise import T, single_op

pytestmark = [pytest.mark.tflite, pytest.mark.hostc]

RUNS = 4
# each example builds a host engine: no shrinking (a failure is reported as drawn)
_SETTINGS = settings(max_examples=4, deadline=None, database=None, derandomize=True,
                     phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=[HealthCheck.too_slow])


def _exact(model: bytes, shape: tuple[int, ...], seed: int) -> None:
    """The compiled engine equals both interpreters on random int8 inputs (and the extremes)."""
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, shape, dtype=np.int8) for _ in range(RUNS)]
    xs += [np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)]
    compiled = compile_graph(read_tflite(model, where="layout"), model, source="layout")
    with tempfile.TemporaryDirectory() as d:
        outs = build_host(compiled, Path(d)).run([[x] for x in xs])
    for x, got in zip(xs, outs, strict=True):
        for want in (run_reference(model, [x], Numerics.TFLITE_REF)[0], run_tflm(model, [x])[0]):
            assert want.dtype == got[0].dtype
            np.testing.assert_array_equal(got[0].reshape(want.shape), want)


def _quant(draw: Any) -> tuple[float, int]:
    return draw(st.floats(1e-3, 1.0)), draw(st.integers(-128, 127))


shapes = st.lists(st.integers(1, 5), min_size=1, max_size=5).map(tuple)


@st.composite
def squeezes(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """An input shape with some size-1 dimensions, and the dimensions to squeeze (empty: all)."""
    shape = list(draw(shapes))
    for _ in range(draw(st.integers(1, 2))):
        shape.insert(draw(st.integers(0, len(shape))), 1)
    ones = [i for i, d in enumerate(shape) if d == 1]
    picked = draw(st.lists(st.sampled_from(ones), unique=True, max_size=len(ones)))
    axes = tuple(a - len(shape) if draw(st.booleans()) else a for a in picked)
    if len(shape) - (len(picked) or len(ones)) == 0:
        axes = tuple(ones[1:]) or ()  # keep at least one dimension
        if not axes:
            shape.append(2)
    return tuple(shape), axes


def _squeeze_model(shape: tuple[int, ...], axes: tuple[int, ...], s: float, zp: int) -> bytes:
    from ai_edge_litert import schema_py_generated as S

    rank = len(shape)
    gone = {a % rank for a in axes} if axes else {i for i, d in enumerate(shape) if d == 1}
    out = tuple(d for i, d in enumerate(shape) if i not in gone)
    o = S.SqueezeOptionsT()
    o.squeezeDims = list(axes)
    return single_op("SQUEEZE", [T(shape, scale=s, zp=zp)], [T(out, scale=s, zp=zp)], o, version=1)


def _expand_model(shape: tuple[int, ...], axis: int, s: float, zp: int) -> bytes:
    at = axis + len(shape) + 1 if axis < 0 else axis
    out = (*shape[:at], 1, *shape[at:])
    ax = T((1,), "int32", data=np.array([axis], np.int32))
    return single_op("EXPAND_DIMS", [T(shape, scale=s, zp=zp), ax], [T(out, scale=s, zp=zp)], version=1)


@_SETTINGS
@given(sq=squeezes(), data=st.data(), seed=st.integers(0, 2**31))
def test_squeeze_is_exact(sq: tuple[tuple[int, ...], tuple[int, ...]], data: Any, seed: int) -> None:
    shape, axes = sq
    s, zp = _quant(data.draw)
    _exact(_squeeze_model(shape, axes, s, zp), shape, seed)


@_SETTINGS
@given(shape=shapes.filter(lambda s: len(s) <= 4), data=st.data(), seed=st.integers(0, 2**31))
def test_expand_dims_is_exact(shape: tuple[int, ...], data: Any, seed: int) -> None:
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    s, zp = _quant(data.draw)
    _exact(_expand_model(shape, axis, s, zp), shape, seed)


def test_squeeze_of_a_dimension_not_one_is_refused() -> None:
    from ai_edge_litert import schema_py_generated as S

    o = S.SqueezeOptionsT()
    o.squeezeDims = [1]
    model = single_op("SQUEEZE", [T((1, 3, 1), scale=0.1)], [T((1, 1), scale=0.1)], o)
    with pytest.raises(InputError, match="SQUEEZE"):
        read_tflite(model, where="bad")


def test_squeeze_with_another_quantisation_is_refused() -> None:
    model = single_op("SQUEEZE", [T((1, 3), scale=0.1)], [T((3,), scale=0.2)])
    with pytest.raises(InputError, match="t1"):
        read_tflite(model, where="bad")


@pytest.mark.parametrize("model", [
    _expand_model((2, 3, 4), 0, 0.05, 3),
    _squeeze_model((2, 1, 3, 4), (), 0.05, 3),
], ids=["expand_dims", "squeeze"])
def test_aliases_move_no_data(model: bytes) -> None:
    """SQUEEZE and EXPAND_DIMS share their input's buffer, as RESHAPE does: no kernel call, and an
    arena of the input's 24 bytes alone."""
    compiled = compile_graph(read_tflite(model, where="alias"), model, source="alias")
    assert compiled.schedule.calls == ()
    assert compiled.arena_bytes == 24
