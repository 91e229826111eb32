"""Data-movement and resize operators (TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, UNPACK, PACK,
GATHER, TILE, DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND,
RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR): single-operator models with random shapes, parameters
and quantisation, compiled, run on the host and compared bit for bit with TFLite Micro and the
TFLite interpreter (every output of the multiple-output operators)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from generator.compiler import compile_graph
from generator.errors import InputError, UnsupportedOpsError
from generator.host import build_host
from generator.importer.reference import run_reference
from generator.importer.reference_tflm import run_tflm
from generator.importer.tflite_reader import read_tflite
from generator.layout import apply, moves_of
from generator.numerics import Numerics
from tests.support.single_op import T, single_op

pytestmark = [pytest.mark.tflite, pytest.mark.hostc]

RUNS = 3
_SETTINGS = settings(max_examples=4, deadline=None, database=None, derandomize=True,
                     phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=[HealthCheck.too_slow])


def _S() -> Any:
    from ai_edge_litert import schema_py_generated as S

    return S


def _exact(model: bytes, shapes: list[tuple[int, ...]], seed: int, interpreter: bool = True,
           tflm: bool = True) -> None:
    """The compiled engine equals the runtimes on random int8 inputs (and the extremes), output by
    output; the NumPy twin of the copies agrees too."""
    rng = np.random.default_rng(seed)
    feeds = [[rng.integers(-128, 128, s, dtype=np.int8) for s in shapes] for _ in range(RUNS)]
    feeds += [[np.full(s, -128, np.int8) for s in shapes], [np.full(s, 127, np.int8) for s in shapes]]
    graph = read_tflite(model, where="layout")
    compiled = compile_graph(graph, model, source="layout")
    with tempfile.TemporaryDirectory() as d:
        outs = build_host(compiled, Path(d)).run(feeds)
    for xs, got in zip(feeds, outs, strict=True):
        wants = []
        if interpreter:
            wants.append(run_reference(model, xs, Numerics.TFLITE_REF))
        if tflm:
            wants.append(run_tflm(model, xs))
        for want in wants:
            assert len(want) == len(got)
            for w, o in zip(want, got, strict=True):
                assert w.dtype == o.dtype
                np.testing.assert_array_equal(o.reshape(w.shape), w)


def _quant(draw: Any) -> tuple[float, int]:
    return draw(st.floats(1e-3, 1.0)), draw(st.integers(-128, 127))


def _i32(values: Any) -> T:
    a = np.asarray(values, dtype=np.int32)
    return T(a.shape, "int32", data=a)


shapes = st.lists(st.integers(1, 5), min_size=1, max_size=5).map(tuple)


# ---- TRANSPOSE ----------------------------------------------------------------------------------


def _transpose(shape: tuple[int, ...], perm: list[int], s: float, zp: int) -> bytes:
    out = tuple(shape[p] for p in perm)
    return single_op("TRANSPOSE", [T(shape, scale=s, zp=zp), _i32(perm)],
                     [T(out, scale=s, zp=zp)], _S().TransposeOptionsT(), version=1)


@_SETTINGS
@given(shape=shapes, data=st.data(), seed=st.integers(0, 2**31))
def test_transpose_is_exact(shape: tuple[int, ...], data: Any, seed: int) -> None:
    perm = data.draw(st.permutations(list(range(len(shape)))))
    s, zp = _quant(data.draw)
    _exact(_transpose(shape, list(perm), s, zp), [shape], seed)


def test_transpose_of_an_nchw_image() -> None:
    """The NCHW -> NHWC transpose at the input of converted PyTorch models."""
    _exact(_transpose((1, 3, 8, 6), [0, 2, 3, 1], 0.02, -5), [(1, 3, 8, 6)], 1)


def test_transpose_with_a_bad_perm_is_refused() -> None:
    model = single_op("TRANSPOSE", [T((2, 3), scale=0.1), _i32([0, 0])], [T((2, 2), scale=0.1)])
    with pytest.raises(InputError, match="perm"):
        read_tflite(model, where="bad")


def test_transpose_with_another_quantisation_is_refused() -> None:
    model = single_op("TRANSPOSE", [T((2, 3), scale=0.1), _i32([1, 0])], [T((3, 2), scale=0.2)])
    with pytest.raises(InputError, match="t2"):
        read_tflite(model, where="bad")


# ---- RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR ------------------------------------------------


def _resize(op: str, shape: tuple[int, ...], size: tuple[int, int], align: bool, half: bool,
            s: float, zp: int) -> bytes:
    S = _S()
    o = S.ResizeBilinearOptionsT() if op == "RESIZE_BILINEAR" else S.ResizeNearestNeighborOptionsT()
    o.alignCorners, o.halfPixelCenters = align, half
    out = (shape[0], size[0], size[1], shape[3])
    return single_op(op, [T(shape, scale=s, zp=zp), _i32(list(size))], [T(out, scale=s, zp=zp)], o,
                     version=3 if op == "RESIZE_NEAREST_NEIGHBOR" else 3)


maps = st.tuples(st.integers(1, 2), st.integers(1, 6), st.integers(1, 6), st.integers(1, 4))
flags = st.sampled_from([(False, False), (True, False), (False, True)])


@_SETTINGS
@given(shape=maps, size=st.tuples(st.integers(1, 13), st.integers(1, 13)), fl=flags, data=st.data(),
       seed=st.integers(0, 2**31))
def test_resize_nearest_is_exact(shape: tuple[int, ...], size: tuple[int, int],
                                 fl: tuple[bool, bool], data: Any, seed: int) -> None:
    s, zp = _quant(data.draw)
    _exact(_resize("RESIZE_NEAREST_NEIGHBOR", shape, size, *fl, s, zp), [shape], seed)


@_SETTINGS
@given(shape=maps, size=st.tuples(st.integers(1, 13), st.integers(1, 13)), fl=flags, data=st.data(),
       seed=st.integers(0, 2**31))
def test_resize_bilinear_is_exact(shape: tuple[int, ...], size: tuple[int, int],
                                  fl: tuple[bool, bool], data: Any, seed: int) -> None:
    s, zp = _quant(data.draw)
    _exact(_resize("RESIZE_BILINEAR", shape, size, *fl, s, zp), [shape], seed)


@pytest.mark.parametrize("op", ["RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"])
@pytest.mark.parametrize("fl", [(False, False), (True, False), (False, True)])
def test_resize_doubling_is_exact(op: str, fl: tuple[bool, bool]) -> None:
    """2x upsampling (Keras UpSampling2D, image decoders) in each corner convention."""
    _exact(_resize(op, (1, 5, 7, 3), (10, 14), *fl, 0.05, 3), [(1, 5, 7, 3)], 2)


def test_resize_with_both_flags_is_refused() -> None:
    with pytest.raises(InputError, match="align_corners and half_pixel_centers"):
        read_tflite(_resize("RESIZE_BILINEAR", (1, 2, 2, 1), (4, 4), True, True, 0.1, 0), "bad")
