"""Data-movement and resize operators (TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, UNPACK, PACK,
GATHER, TILE, REVERSE_V2, DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND,
RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR): single-operator models with random shapes, parameters
and quantisation, compiled, run on the host and compared bit for bit with TFLite Micro and the
TFLite interpreter (every output of the multiple-output operators)."""

from __future__ import annotations

import itertools
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


@pytest.mark.slow
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
                     version=3)


maps = st.tuples(st.integers(1, 2), st.integers(1, 6), st.integers(1, 6), st.integers(1, 4))
flags = st.sampled_from([(False, False), (True, False), (False, True)])


@pytest.mark.slow
@_SETTINGS
@given(shape=maps, size=st.tuples(st.integers(1, 13), st.integers(1, 13)), fl=flags, data=st.data(),
       seed=st.integers(0, 2**31))
def test_resize_nearest_is_exact(shape: tuple[int, ...], size: tuple[int, int],
                                 fl: tuple[bool, bool], data: Any, seed: int) -> None:
    s, zp = _quant(data.draw)
    _exact(_resize("RESIZE_NEAREST_NEIGHBOR", shape, size, *fl, s, zp), [shape], seed)


@pytest.mark.slow
@_SETTINGS
@given(shape=maps, size=st.tuples(st.integers(1, 13), st.integers(1, 13)), fl=flags, data=st.data(),
       seed=st.integers(0, 2**31))
def test_resize_bilinear_is_exact(shape: tuple[int, ...], size: tuple[int, int],
                                  fl: tuple[bool, bool], data: Any, seed: int) -> None:
    s, zp = _quant(data.draw)
    _exact(_resize("RESIZE_BILINEAR", shape, size, *fl, s, zp), [shape], seed)


_SLOW = pytest.mark.slow


@pytest.mark.parametrize(("op", "fl"), [
    pytest.param("RESIZE_NEAREST_NEIGHBOR", (False, True), id="nearest-half_pixel"),
    pytest.param("RESIZE_BILINEAR", (True, False), id="bilinear-align_corners"),
    pytest.param("RESIZE_NEAREST_NEIGHBOR", (False, False), id="nearest", marks=_SLOW),
    pytest.param("RESIZE_NEAREST_NEIGHBOR", (True, False), id="nearest-align_corners", marks=_SLOW),
    pytest.param("RESIZE_BILINEAR", (False, False), id="bilinear", marks=_SLOW),
    pytest.param("RESIZE_BILINEAR", (False, True), id="bilinear-half_pixel", marks=_SLOW),
])
def test_resize_doubling_is_exact(op: str, fl: tuple[bool, bool]) -> None:
    """2x upsampling (Keras UpSampling2D, image decoders) in each corner convention."""
    _exact(_resize(op, (1, 5, 7, 3), (10, 14), *fl, 0.05, 3), [(1, 5, 7, 3)], 2)


def test_resize_with_both_flags_is_refused() -> None:
    with pytest.raises(InputError, match="align_corners and half_pixel_centers"):
        read_tflite(_resize("RESIZE_BILINEAR", (1, 2, 2, 1), (4, 4), True, True, 0.1, 0), "bad")


# ---- TILE (beyond TFLite Micro, which has no TILE: the interpreter is the reference) ------------


def _tile(shape: tuple[int, ...], mult: list[int], s: float, zp: int) -> bytes:
    out = tuple(d * m for d, m in zip(shape, mult, strict=True))
    return single_op("TILE", [T(shape, scale=s, zp=zp), _i32(mult)], [T(out, scale=s, zp=zp)],
                     _S().TileOptionsT(), version=1)


def _tflm_has(model: bytes, shape: tuple[int, ...]) -> bool:
    try:
        run_tflm(model, [np.zeros(shape, np.int8)])
    except Exception:
        return False
    return True


@pytest.mark.slow
@_SETTINGS
@given(shape=shapes.filter(lambda s: len(s) <= 4), data=st.data(), seed=st.integers(0, 2**31))
def test_tile_is_exact(shape: tuple[int, ...], data: Any, seed: int) -> None:
    mult = data.draw(st.lists(st.integers(1, 3), min_size=len(shape), max_size=len(shape)))
    s, zp = _quant(data.draw)
    model = _tile(shape, mult, s, zp)
    _exact(model, [shape], seed, tflm=_tflm_has(model, shape))


# ---- REVERSE_V2 (a Bidirectional recurrent layer's backward outputs) ----------------------------


def _reverse(shape: tuple[int, ...], axes: list[int], s: float, zp: int) -> bytes:
    return single_op("REVERSE_V2", [T(shape, scale=s, zp=zp), _i32(axes)],
                     [T(shape, scale=s, zp=zp)], _S().ReverseV2OptionsT(), version=3)


@pytest.mark.slow
@_SETTINGS
@given(shape=shapes, data=st.data(), seed=st.integers(0, 2**31))
def test_reverse_is_exact(shape: tuple[int, ...], data: Any, seed: int) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    s, zp = _quant(data.draw)
    _exact(_reverse(shape, [axis], s, zp), [shape], seed)


def test_reverse_of_the_time_axis() -> None:
    """The time axis of a (1, steps, features) sequence, as Bidirectional layers convert."""
    _exact(_reverse((1, 7, 5), [1], 0.03, 4), [(1, 7, 5)], 2)


def test_reverse_of_several_axes_or_outside_is_refused() -> None:
    for axes in ([0, 2], [3], [-4]):
        model = _reverse((2, 3, 4), axes, 0.1, 0)
        with pytest.raises(InputError, match=r"axis|axes"):
            compile_graph(read_tflite(model, where="bad"), model, source="bad")


# ---- SPLIT, SPLIT_V, UNPACK (several outputs) ---------------------------------------------------


def _split(shape: tuple[int, ...], axis: int, num: int, s: float, zp: int) -> bytes:
    o = _S().SplitOptionsT()
    o.numSplits = num
    ax = axis % len(shape)
    out = (*shape[:ax], shape[ax] // num, *shape[ax + 1:])
    return single_op("SPLIT", [_i32(axis), T(shape, scale=s, zp=zp)],
                     [T(out, scale=s, zp=zp)] * num, o, version=1)


def _split_v(shape: tuple[int, ...], axis: int, sizes: list[int], s: float, zp: int) -> bytes:
    o = _S().SplitVOptionsT()
    o.numSplits = len(sizes)
    ax = axis % len(shape)
    rest = shape[ax] - sum(v for v in sizes if v != -1)
    outs = [T((*shape[:ax], rest if v == -1 else v, *shape[ax + 1:]), scale=s, zp=zp)
            for v in sizes]
    return single_op("SPLIT_V", [T(shape, scale=s, zp=zp), _i32(sizes), _i32([axis])], outs, o,
                     version=1)


@pytest.mark.slow
@_SETTINGS
@given(shape=shapes.filter(lambda s: len(s) <= 4), data=st.data(), seed=st.integers(0, 2**31))
def test_split_is_exact(shape: tuple[int, ...], data: Any, seed: int) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    num = data.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    s, zp = _quant(data.draw)
    _exact(_split(shape, axis, num, s, zp), [shape], seed)


@pytest.mark.slow
@_SETTINGS
@given(shape=shapes.filter(lambda s: len(s) <= 4), data=st.data(), seed=st.integers(0, 2**31))
def test_split_v_is_exact(shape: tuple[int, ...], data: Any, seed: int) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    cuts = sorted(data.draw(st.lists(st.integers(1, n), max_size=3, unique=True)))
    cuts = [c for c in cuts if c < n]
    bounds = [0, *cuts, n]
    sizes = [b - a for a, b in itertools.pairwise(bounds)]
    if len(sizes) > 1 and data.draw(st.booleans()):
        sizes[data.draw(st.integers(0, len(sizes) - 1))] = -1
    s, zp = _quant(data.draw)
    _exact(_split_v(shape, axis, sizes, s, zp), [shape], seed)


def _unpack(shape: tuple[int, ...], axis: int, s: float, zp: int) -> bytes:
    o = _S().UnpackOptionsT()
    ax = axis % len(shape)
    o.num, o.axis = shape[ax], axis
    out = shape[:ax] + shape[ax + 1:]
    return single_op("UNPACK", [T(shape, scale=s, zp=zp)], [T(out, scale=s, zp=zp)] * shape[ax], o,
                     version=2)


@pytest.mark.slow
@_SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple), data=st.data(),
       seed=st.integers(0, 2**31))
def test_unpack_is_exact(shape: tuple[int, ...], data: Any, seed: int) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    s, zp = _quant(data.draw)
    _exact(_unpack(shape, axis, s, zp), [shape], seed)


def test_split_into_uneven_pieces_is_refused() -> None:
    model = single_op("SPLIT", [_i32(1), T((2, 5), scale=0.1)], [T((2, 2), scale=0.1)] * 2,
                      _split_opts(2))
    with pytest.raises(InputError, match="equal pieces"):
        read_tflite(model, where="bad")


def test_split_with_fewer_outputs_than_pieces_is_refused() -> None:
    model = single_op("SPLIT", [_i32(1), T((2, 4), scale=0.1)], [T((2, 2), scale=0.1)],
                      _split_opts(2))
    with pytest.raises(InputError, match="1 outputs"):
        read_tflite(model, where="bad")


def _split_opts(n: int) -> Any:
    o = _S().SplitOptionsT()
    o.numSplits = n
    return o


# ---- PACK on activations --------------------------------------------------------------------------


def _pack(shape: tuple[int, ...], n: int, axis: int, s: float, zp: int) -> bytes:
    o = _S().PackOptionsT()
    o.valuesCount, o.axis = n, axis
    ax = axis % (len(shape) + 1)
    out = (*shape[:ax], n, *shape[ax:])
    return single_op("PACK", [T(shape, scale=s, zp=zp)] * n, [T(out, scale=s, zp=zp)], o,
                     version=2)


@pytest.mark.slow
@_SETTINGS
@given(shape=shapes.filter(lambda s: len(s) <= 3), n=st.integers(1, 3), data=st.data(),
       seed=st.integers(0, 2**31))
def test_pack_is_exact(shape: tuple[int, ...], n: int, data: Any, seed: int) -> None:
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    s, zp = _quant(data.draw)
    _exact(_pack(shape, n, axis, s, zp), [shape] * n, seed)


# ---- SLICE and STRIDED_SLICE ----------------------------------------------------------------------


def _slice(shape: tuple[int, ...], begin: list[int], size: list[int], s: float, zp: int) -> bytes:
    out = tuple(d - b if n == -1 else n for d, b, n in zip(shape, begin, size, strict=True))
    return single_op("SLICE", [T(shape, scale=s, zp=zp), _i32(begin), _i32(size)],
                     [T(out, scale=s, zp=zp)], _S().SliceOptionsT(), version=2)


@pytest.mark.slow
@_SETTINGS
@given(shape=shapes.filter(lambda s: len(s) <= 4), data=st.data(), seed=st.integers(0, 2**31))
def test_slice_is_exact(shape: tuple[int, ...], data: Any, seed: int) -> None:
    begin = [data.draw(st.integers(0, d - 1)) for d in shape]
    size = [data.draw(st.sampled_from([-1, data.draw(st.integers(1, d - b))]))
            for d, b in zip(shape, begin, strict=True)]
    s, zp = _quant(data.draw)
    _exact(_slice(shape, begin, size, s, zp), [shape], seed)


def _strided(shape: tuple[int, ...], begin: list[int], end: list[int], steps: list[int],
             masks: tuple[int, int, int], s: float, zp: int) -> bytes:
    from generator.layout import strided_slice

    o = _S().StridedSliceOptionsT()
    o.beginMask, o.endMask, o.shrinkAxisMask = masks
    out = strided_slice(shape, begin, end, steps, *masks).out_shapes[0]
    return single_op("STRIDED_SLICE", [T(shape, scale=s, zp=zp), _i32(begin), _i32(end),
                                       _i32(steps)], [T(out, scale=s, zp=zp)], o, version=2)


@st.composite
def strided_slices(draw: Any) -> tuple[Any, ...]:
    """A shape and in-range begin, end (negative indices too), strides (negative too) and masks
    with a non-empty result."""
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple))
    begin, end, steps = [], [], []
    bm = em = sm = 0
    for d, n in enumerate(shape):
        step = draw(st.sampled_from([1, 1, 2, 3, -1, -2]))
        a, b = sorted(draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2)))
        if step > 0:
            start, stop = a, b + 1
        else:
            start, stop = b, a - 1
        if draw(st.booleans()) and start >= 0:
            start -= n  # the same index counted from the end
        if stop >= 0 and draw(st.booleans()) and stop - n < 0 and stop != n:
            stop -= n if stop - n != -1 or step > 0 else 0
        bm |= draw(st.booleans()) << d
        em |= draw(st.booleans()) << d
        if draw(st.integers(0, 3)) == 0 and len(shape) > 1 and step > 0:
            sm |= 1 << d
        begin.append(start)
        end.append(stop)
        steps.append(step)
    if sm == (1 << len(shape)) - 1:
        sm &= ~1
    return shape, begin, end, steps, (bm, em, sm)


@pytest.mark.slow
@_SETTINGS
@given(sl=strided_slices(), data=st.data(), seed=st.integers(0, 2**31))
def test_strided_slice_is_exact(sl: tuple[Any, ...], data: Any, seed: int) -> None:
    shape, begin, end, steps, masks = sl
    from generator.layout import strided_slice

    if 0 in strided_slice(shape, begin, end, steps, *masks).out_shapes[0]:
        return
    s, zp = _quant(data.draw)
    _exact(_strided(shape, begin, end, steps, masks, s, zp), [shape], seed)


def test_strided_slice_with_negative_strides_is_exact() -> None:
    """x[:, ::-1, 3:0:-2] on activations."""
    model = _strided((2, 4, 5), [0, -1, 3], [0, 0, 0], [1, -1, -2], (0b011, 0b011, 0), 0.1, 2)
    _exact(model, [(2, 4, 5)], 3)


def test_strided_slice_dropping_a_dimension_backwards_is_refused() -> None:
    """Both runtimes leave such an output unwritten (uninitialised memory)."""
    model = single_op("STRIDED_SLICE", [T((4, 3), scale=0.1), _i32([0, 1]), _i32([4, 2]),
                                        _i32([1, -1])], [T((4,), scale=0.1)],
                      _strided_opts(shrink=2))
    with pytest.raises(UnsupportedOpsError, match="unwritten"):
        read_tflite(model, where="bad")


def _strided_opts(shrink: int = 0) -> Any:
    o = _S().StridedSliceOptionsT()
    o.shrinkAxisMask = shrink
    return o


def test_strided_slice_with_a_new_axis_is_refused() -> None:
    o = _S().StridedSliceOptionsT()
    o.newAxisMask = 1
    model = single_op("STRIDED_SLICE", [T((2, 3), scale=0.1), _i32([0, 0]), _i32([2, 3]),
                                        _i32([1, 1])], [T((1, 2, 3), scale=0.1)], o)
    with pytest.raises(UnsupportedOpsError, match="new-axis"):
        read_tflite(model, where="bad")


# ---- GATHER with constant indices -----------------------------------------------------------------


def _gather(shape: tuple[int, ...], axis: int, idx: np.ndarray, s: float, zp: int) -> bytes:
    o = _S().GatherOptionsT()
    o.axis = axis
    ax = axis % len(shape)
    out = (*shape[:ax], *idx.shape, *shape[ax + 1:])
    return single_op("GATHER", [T(shape, scale=s, zp=zp), T(idx.shape, "int32", data=idx)],
                     [T(out, scale=s, zp=zp)], o, version=2)


@pytest.mark.slow
@_SETTINGS
@given(shape=shapes.filter(lambda s: len(s) <= 3), data=st.data(), seed=st.integers(0, 2**31))
def test_gather_is_exact(shape: tuple[int, ...], data: Any, seed: int) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    k = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6))
    idx = np.array(k, np.int32).reshape(data.draw(st.sampled_from([(len(k),), (1, len(k))])))
    s, zp = _quant(data.draw)
    _exact(_gather(shape, axis, idx, s, zp), [shape], seed)


def test_gather_out_of_range_is_refused() -> None:
    with pytest.raises(InputError, match="indices outside"):
        read_tflite(_gather((3, 4), 0, np.array([0, 3], np.int32), 0.1, 0), where="bad")


# ---- DEPTH_TO_SPACE, SPACE_TO_DEPTH ---------------------------------------------------------------


@pytest.mark.slow
@_SETTINGS
@given(b=st.integers(1, 2), h=st.integers(1, 4), w=st.integers(1, 4), c=st.integers(1, 3),
       bs=st.integers(1, 3), data=st.data(), seed=st.integers(0, 2**31))
def test_depth_to_space_and_back_are_exact(b: int, h: int, w: int, c: int, bs: int, data: Any,
                                           seed: int) -> None:
    S = _S()
    s, zp = _quant(data.draw)
    o = S.DepthToSpaceOptionsT()
    o.blockSize = bs
    x = (b, h, w, c * bs * bs)
    _exact(single_op("DEPTH_TO_SPACE", [T(x, scale=s, zp=zp)],
                     [T((b, h * bs, w * bs, c), scale=s, zp=zp)], o, version=1), [x], seed)
    o2 = S.SpaceToDepthOptionsT()
    o2.blockSize = bs
    x2 = (b, h * bs, w * bs, c)
    _exact(single_op("SPACE_TO_DEPTH", [T(x2, scale=s, zp=zp)],
                     [T((b, h, w, c * bs * bs), scale=s, zp=zp)], o2, version=2), [x2], seed)


# ---- SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND ---------------------------------------------------------


def _s2b(shape: tuple[int, ...], block: list[int], pads: list[list[int]], s: float,
         zp: int) -> bytes:
    from generator.layout import space_to_batch

    out = space_to_batch(shape, block, pads).out_shapes[0]
    return single_op("SPACE_TO_BATCH_ND", [T(shape, scale=s, zp=zp), _i32(block), _i32(pads)],
                     [T(out, scale=s, zp=zp)], _S().SpaceToBatchNDOptionsT(), version=2)


def _b2s(shape: tuple[int, ...], block: list[int], crops: list[list[int]], s: float,
         zp: int) -> bytes:
    from generator.layout import batch_to_space

    out = batch_to_space(shape, block, crops).out_shapes[0]
    return single_op("BATCH_TO_SPACE_ND", [T(shape, scale=s, zp=zp), _i32(block), _i32(crops)],
                     [T(out, scale=s, zp=zp)], _S().BatchToSpaceNDOptionsT(), version=2)


@pytest.mark.slow
@_SETTINGS
@given(b=st.integers(1, 2), h=st.integers(1, 5), w=st.integers(1, 5), c=st.integers(1, 3),
       bh=st.integers(1, 3), bw=st.integers(1, 3), data=st.data(), seed=st.integers(0, 2**31))
def test_space_to_batch_is_exact(b: int, h: int, w: int, c: int, bh: int, bw: int, data: Any,
                                 seed: int) -> None:
    pt = data.draw(st.integers(0, 2))
    pl = data.draw(st.integers(0, 2))
    pb = (-(h + pt)) % bh
    pr = (-(w + pl)) % bw
    s, _ = _quant(data.draw)
    padded = pt + pb + pl + pr > 0
    zp = 0 if padded else data.draw(st.integers(-128, 127))
    # TFLite Micro pads with a parameter it never sets (uninitialised memory): the interpreter
    # alone is the reference where anything is padded
    _exact(_s2b((b, h, w, c), [bh, bw], [[pt, pb], [pl, pr]], s, zp), [(b, h, w, c)], seed,
           tflm=not padded)


@pytest.mark.slow
@_SETTINGS
@given(b=st.integers(1, 2), h=st.integers(1, 4), w=st.integers(1, 4), c=st.integers(1, 3),
       bh=st.integers(1, 3), bw=st.integers(1, 3), data=st.data(), seed=st.integers(0, 2**31))
def test_batch_to_space_is_exact(b: int, h: int, w: int, c: int, bh: int, bw: int, data: Any,
                                 seed: int) -> None:
    ct = data.draw(st.integers(0, bh * h - 1))
    cb = data.draw(st.integers(0, bh * h - 1 - ct))
    cl = data.draw(st.integers(0, bw * w - 1))
    cr = data.draw(st.integers(0, bw * w - 1 - cl))
    s, zp = _quant(data.draw)
    x = (b * bh * bw, h, w, c)
    _exact(_b2s(x, [bh, bw], [[ct, cb], [cl, cr]], s, zp), [x], seed)


# ---- one case of each operator in the quick tier (the random ones above are slow tests) -----------


def _quick_cases() -> list[Any]:
    S = _S()
    d2s = S.DepthToSpaceOptionsT()
    d2s.blockSize = 2
    return [
        pytest.param(lambda: _split((2, 6, 3), 1, 3, 0.05, -3), [(2, 6, 3)], id="split"),
        pytest.param(lambda: _split_v((4, 5), -1, [2, -1, 1], 0.05, 7), [(4, 5)], id="split_v"),
        pytest.param(lambda: _unpack((3, 2, 4), 1, 0.1, 1), [(3, 2, 4)], id="unpack"),
        pytest.param(lambda: _pack((2, 3), 3, 1, 0.1, 1), [(2, 3)] * 3, id="pack"),
        pytest.param(lambda: _slice((3, 4, 5), [1, 0, 2], [2, -1, 2], 0.1, 0), [(3, 4, 5)],
                     id="slice"),
        pytest.param(lambda: _gather((4, 6), 1, np.array([5, 0, 0, 2, 4], np.int32), 0.1, 3),
                     [(4, 6)], id="gather"),
        pytest.param(lambda: _tile((1, 2, 3, 2), [1, 2, 2, 1], 0.1, -4), [(1, 2, 3, 2)],
                     id="tile"),
        pytest.param(lambda: single_op("DEPTH_TO_SPACE", [T((1, 2, 3, 8), scale=0.1, zp=2)],
                                       [T((1, 4, 6, 2), scale=0.1, zp=2)], d2s, version=1),
                     [(1, 2, 3, 8)], id="depth_to_space"),
        pytest.param(lambda: _s2b((1, 4, 5, 2), [2, 2], [[0, 0], [1, 0]], 0.1, 0),
                     [(1, 4, 5, 2)], id="space_to_batch"),
        pytest.param(lambda: _b2s((4, 2, 3, 2), [2, 2], [[1, 0], [0, 1]], 0.1, 9),
                     [(4, 2, 3, 2)], id="batch_to_space"),
    ]


@pytest.mark.parametrize(("build", "shapes"), _quick_cases())
def test_each_operator_once(build: Any, shapes: list[tuple[int, ...]]) -> None:
    model = build()
    padded = "SPACE_TO_BATCH_ND" in {op.kind.value for op in read_tflite(model, "quick").ops}
    _exact(model, shapes, 5, tflm=_tflm_has(model, shapes[0]) and not padded)


# ---- the NumPy twin of the copies -----------------------------------------------------------------


def test_copies_agree_with_numpy() -> None:
    """Every operator's copies, run in NumPy, give NumPy's own result (no engine built)."""
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (2, 3, 4, 5), dtype=np.int8)
    model = _transpose(x.shape, [3, 1, 0, 2], 0.1, 0)
    g = read_tflite(model, where="twin")
    np.testing.assert_array_equal(apply(moves_of(g, g.ops[0]), [x])[0], x.transpose(3, 1, 0, 2))
    g = read_tflite(_tile(x.shape, [2, 1, 3, 1], 0.1, 0), where="twin")
    np.testing.assert_array_equal(apply(moves_of(g, g.ops[0]), [x])[0], np.tile(x, (2, 1, 3, 1)))
    g = read_tflite(_split(x.shape, 2, 2, 0.1, 0), where="twin")
    for got, want in zip(apply(moves_of(g, g.ops[0]), [np.zeros(1, np.int8), x]),
                         np.split(x, 2, axis=2), strict=True):
        np.testing.assert_array_equal(got, want)


def test_space_to_batch_padding_a_nonzero_zero_point_is_refused() -> None:
    """The interpreter pads with the zero point, TFLite Micro with an unset parameter."""
    with pytest.raises(UnsupportedOpsError, match="zero point -20"):
        read_tflite(_s2b((1, 3, 3, 1), [2, 2], [[1, 0], [1, 0]], 0.1, -20), where="bad")


# ---- converted Keras models -----------------------------------------------------------------------


def _keras_model(upsample_nearest: bool) -> bytes:
    import keras

    from generator.importer.keras_import import QuantizeOptions, quantize_keras

    L = keras.layers
    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 10, 4))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = L.UpSampling2D(interpolation="bilinear")(x)
    if upsample_nearest:  # Keras 3: RESHAPE + TILE + RESHAPE
        x = L.Concatenate()([x, L.UpSampling2D(interpolation="nearest")(L.Conv2D(8, 1)(inp))])
    x = L.Cropping2D(((1, 2), (3, 1)))(x)
    x = L.Permute((2, 1, 3))(x)
    out = L.Conv2D(4, 1)(x)
    calib = np.random.default_rng(0).uniform(-1, 1, (8, 12, 10, 4)).astype(np.float32)
    return quantize_keras(keras.Model(inp, out), QuantizeOptions(calibration=calib))


@pytest.mark.slow
@pytest.mark.parametrize("nearest", [False, True], ids=["bilinear_crop_permute", "with_tile"])
def test_converted_keras_model_is_exact(nearest: bool) -> None:
    """UpSampling2D (bilinear: RESIZE_BILINEAR; nearest: RESHAPE + TILE), Cropping2D
    (STRIDED_SLICE) and Permute (TRANSPOSE) between convolutions, converted by TFLiteConverter,
    compiled with partial execution: equal to TFLite Micro and the interpreter (only the interpreter
    where TFLite Micro has no TILE; its reference TILE is registered for versions 1-2)."""
    from tests.support.single_op import with_op_version

    model = _keras_model(nearest)
    kinds = {op.kind.value for op in read_tflite(model, where="keras").ops}
    assert {"RESIZE_BILINEAR", "STRIDED_SLICE", "TRANSPOSE"} <= kinds
    assert ("TILE" in kinds) == nearest
    rng = np.random.default_rng(4)
    feeds = [[rng.integers(-128, 128, (1, 12, 10, 4), dtype=np.int8)] for _ in range(RUNS)]
    compiled = compile_graph(read_tflite(model, where="keras"), model, source="keras")
    with tempfile.TemporaryDirectory() as d:
        outs = build_host(compiled, Path(d)).run(feeds)
    reference = with_op_version(model, "TILE", 1)
    for xs, got in zip(feeds, outs, strict=True):
        wants = [run_reference(reference, xs, Numerics.TFLITE_REF)]
        if not nearest:
            wants.append(run_tflm(model, xs))
        for want in wants:
            np.testing.assert_array_equal(got[0].reshape(want[0].shape), want[0])


# ---- SPACE_TO_BATCH_ND -> convolution -> BATCH_TO_SPACE_ND: one dilated convolution -------------


def _blocked_conv(h: int, w: int, c: int, k: int, rate: int, same: bool, depthwise: bool,
                  seed: int) -> bytes:
    """TensorFlow's atrous convolution as the converter writes it without fusing: the padded
    input's blocks, a VALID convolution of each, the blocks back (paddings and crops from
    tf.required_space_to_batch_paddings)."""
    import tensorflow as tf

    from tests.support.single_op import ops_model

    S = _S()
    rng = np.random.default_rng(seed)
    eff = (k - 1) * rate
    base = [[eff // 2, eff - eff // 2]] * 2 if same else [[0, 0]] * 2
    pads, crops = (np.asarray(v, np.int32) for v in tf.required_space_to_batch_paddings(
        [h, w], [rate, rate], base_paddings=base))
    hp, wp = h + pads[0].sum(), w + pads[1].sum()
    bh, bw = hp // rate - k + 1, wp // rate - k + 1
    oc = c if depthwise else 3
    wshape = (1, k, k, oc) if depthwise else (oc, k, k, c)
    wscale = tuple(float(v) for v in rng.uniform(0.005, 0.02, oc))
    weights = rng.integers(-127, 128, wshape, dtype=np.int8)
    sx, zx, sy, zy = 0.05, -7, 0.2, 4
    bias = rng.integers(-500, 500, oc, dtype=np.int32)
    out = (1, bh * rate - crops[0].sum(), bw * rate - crops[1].sum(), oc)
    tensors = [
        T((1, h, w, c), scale=sx, zp=zx),                                       # 0 input
        _i32([rate, rate]), T((2, 2), "int32", data=pads),                      # 1, 2
        T((rate * rate, hp // rate, wp // rate, c), scale=sx, zp=zx),           # 3 blocks
        T(wshape, scale=wscale, data=weights, axis=3 if depthwise else 0),      # 4 filter
        T((oc,), "int32", scale=tuple(sx * v for v in wscale), data=bias),      # 5 bias
        T((rate * rate, bh, bw, oc), scale=sy, zp=zy),                          # 6 convolved
        _i32([rate, rate]), T((2, 2), "int32", data=crops),                     # 7, 8
        T(out, scale=sy, zp=zy),                                                # 9 output
    ]
    if depthwise:
        opts = S.DepthwiseConv2DOptionsT()
        opts.depthMultiplier = 1
    else:
        opts = S.Conv2DOptionsT()
    opts.padding, opts.strideH, opts.strideW = S.Padding.VALID, 1, 1
    return ops_model(tensors, [
        ("SPACE_TO_BATCH_ND", [0, 1, 2], [3], S.SpaceToBatchNDOptionsT()),
        ("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [3, 4, 5], [6], opts),
        ("BATCH_TO_SPACE_ND", [6, 7, 8], [9], S.BatchToSpaceNDOptionsT()),
    ], version=1)


@pytest.mark.parametrize(("same", "depthwise"), [
    pytest.param(True, False, id="conv-same"),
    pytest.param(False, True, id="depthwise-valid", marks=_SLOW),
    pytest.param(True, True, id="depthwise-same", marks=_SLOW),
])
def test_blocked_convolution_becomes_a_dilated_one(same: bool, depthwise: bool) -> None:
    """One convolution with dilation 2 at batch 1 remains, equal to the interpreter's three
    operators (TFLite Micro pads the blocks with a parameter it never sets, so it is compared only
    where nothing is padded: VALID)."""
    model = _blocked_conv(9, 7, 3, 3, 2, same, depthwise, seed=1)
    g = read_tflite(model, where="dilated")
    assert len(g.ops) == 1 and g.ops[0].kind.value.endswith("CONV_2D")
    a = g.ops[0].attrs
    assert (a.dilation_h, a.dilation_w) == (2, 2)  # type: ignore[union-attr]
    _exact(model, [(1, 9, 7, 3)], 6, tflm=not same)


def test_a_gather_of_thousands_of_scattered_indices_is_refused() -> None:
    idx = np.random.default_rng(0).permutation(12000).astype(np.int32)  # runs of about 2
    with pytest.raises(UnsupportedOpsError, match="separate pieces"):
        read_tflite(_gather((12000, 2), 0, idx, 0.1, 0), where="bad")


def test_a_gather_of_consecutive_indices_is_one_copy() -> None:
    g = read_tflite(_gather((6000, 2), 0, np.arange(10, 5000, 3, dtype=np.int32), 0.1, 0), "ok")
    assert len(moves_of(g, g.ops[0]).copies) == 1


# ---- hostile parameters ---------------------------------------------------------------------------

_HOSTILE_OPS = ["TRANSPOSE", "TILE", "SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V", "UNPACK", "PACK",
                "GATHER", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "SPACE_TO_BATCH_ND",
                "BATCH_TO_SPACE_ND", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"]


@st.composite
def hostile_models(draw: Any) -> bytes:
    """One data-movement operator with random (mostly wrong) parameters, options and output
    shapes: small integers, negative ones, wrong lengths."""
    S = _S()
    op = draw(st.sampled_from(_HOSTILE_OPS))
    spatial = op in ("DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND",
                     "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR")
    rank = 4 if spatial and draw(st.integers(0, 3)) else draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    ints = st.lists(st.integers(-6, 6), min_size=0, max_size=5)
    small = st.integers(-3, 5)
    x = T(shape, scale=0.1, zp=draw(st.integers(-3, 3)))
    n_out = draw(st.integers(1, 3))
    outs = [T(draw(st.lists(st.integers(1, 6), min_size=0, max_size=4).map(tuple)), scale=0.1,
              zp=x.zp) for _ in range(n_out)]
    lengths = {"TRANSPOSE": [rank], "TILE": [rank], "SLICE": [rank, rank],
               "STRIDED_SLICE": [rank, rank, rank], "SPLIT": [0], "SPLIT_V": [3, 0],
               "GATHER": [3], "SPACE_TO_BATCH_ND": [2, -2], "BATCH_TO_SPACE_ND": [2, -2],
               "RESIZE_BILINEAR": [2], "RESIZE_NEAREST_NEIGHBOR": [2]}.get(op, [])
    if draw(st.integers(0, 5)) == 0:  # the wrong number of operands
        consts = [_i32(draw(ints)) for _ in range(draw(st.integers(0, 3)))]
    else:
        consts = []
        for n in lengths:
            if n == -2:  # paddings or crops: (2, 2)
                consts.append(_i32(draw(st.lists(st.lists(st.integers(-1, 3), min_size=2,
                                                          max_size=2), min_size=2, max_size=2))))
            elif n == 0:
                consts.append(_i32(draw(small)))
            else:
                consts.append(_i32(draw(st.lists(st.integers(-4, 5), min_size=n, max_size=n))))
    if op == "TRANSPOSE" and consts and draw(st.booleans()):
        consts[0] = _i32(draw(st.permutations(list(range(rank)))))
    if op.endswith("_ND") and len(consts) == 2 and draw(st.booleans()):
        consts = [_i32(draw(st.lists(st.integers(1, 2), min_size=2, max_size=2))),
                  _i32(draw(st.lists(st.lists(st.integers(0, 1), min_size=2, max_size=2),
                                     min_size=2, max_size=2)))]
    if op not in ("SPLIT", "SPLIT_V", "UNPACK") and draw(st.integers(0, 5)):
        outs = outs[:1]
    options: Any = None
    if op in ("SPLIT", "SPLIT_V"):
        options = S.SplitOptionsT() if op == "SPLIT" else S.SplitVOptionsT()
        options.numSplits = draw(small)
    elif op == "UNPACK":
        options = S.UnpackOptionsT()
        options.num, options.axis = draw(small), draw(small)
    elif op == "PACK":
        options = S.PackOptionsT()
        options.valuesCount, options.axis = draw(small), draw(small)
    elif op == "GATHER":
        options = S.GatherOptionsT()
        options.axis, options.batchDims = draw(small), draw(st.sampled_from([0, 0, 1]))
    elif op in ("DEPTH_TO_SPACE", "SPACE_TO_DEPTH"):
        options = getattr(S, f"{'DepthToSpace' if op[0] == 'D' else 'SpaceToDepth'}OptionsT")()
        options.blockSize = draw(small)
    elif op == "STRIDED_SLICE":
        options = S.StridedSliceOptionsT()
        options.beginMask, options.endMask, options.shrinkAxisMask = (
            draw(st.integers(0, 15)) for _ in range(3))
    elif op.startswith("RESIZE"):
        options = getattr(S, "ResizeBilinearOptionsT" if op == "RESIZE_BILINEAR"
                          else "ResizeNearestNeighborOptionsT")()
        options.alignCorners, options.halfPixelCenters = draw(st.booleans()), draw(st.booleans())
    if op == "SPLIT":
        inputs = [*consts[:1], x] if consts else [x]
    elif op == "PACK":
        inputs = [x] * draw(st.integers(1, 3))
    else:
        inputs = [x, *consts]
    model = single_op(op, inputs, outs, options, version=1)
    right = _right_outputs(model)
    if right is not None and draw(st.integers(0, 3)):  # parameters TFLite accepts: right outputs
        model = single_op(op, inputs, [T(o, scale=0.1, zp=x.zp) for o in right], options, version=1)
    return model


def _right_outputs(model: bytes) -> tuple[tuple[int, ...], ...] | None:
    """The output shapes the operator's parameters give, or None where they are refused."""
    from unittest import mock

    from generator.importer.problems import Problem
    from generator.ir import OpKind

    try:
        with mock.patch("generator.importer.tflite_reader.check_graph"):
            g = read_tflite(model, where="parameters")
        op = g.ops[0]
        if op.kind in (OpKind.RESIZE_BILINEAR, OpKind.RESIZE_NEAREST_NEIGHBOR):
            from generator.layout import const_ints

            x = g.tensors[op.inputs[0]].shape
            size = const_ints(g, op, 1, "size")
            return ((x[0], size[0], size[1], x[3]),) if len(x) == 4 and len(size) == 2 else None
        return moves_of(g, op).out_shapes
    except (Problem, InputError, IndexError):
        return None


@settings(max_examples=300, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(model=hostile_models())
def test_hostile_parameters_are_errors_not_crashes(model: bytes) -> None:
    """Whatever the parameters, the import refuses with an InputError naming the operator, or the
    model compiles (no engine is built here)."""
    try:
        g = read_tflite(model, where="hostile")
    except InputError as err:
        assert "hostile" in err.message
        return
    compile_graph(g, model, source="hostile")


# ---- partial execution around a SPLIT of the channels ---------------------------------------------


def _conv_split_add_conv(seed: int) -> bytes:
    """CONV_2D 1x1 (8 channels) -> SPLIT into two halves along the channels -> ADD of the halves ->
    CONV_2D 1x1: a channel split between operators the planner slices by channels."""
    from tests.support.single_op import ops_model

    S = _S()
    rng = np.random.default_rng(seed)

    def conv_opts() -> Any:
        o = S.Conv2DOptionsT()
        o.padding, o.strideH, o.strideW = S.Padding.SAME, 1, 1
        return o

    def filt(oc: int, ic: int, sx: float) -> list[T]:
        ws = tuple(float(v) for v in rng.uniform(0.005, 0.02, oc))
        return [T((oc, 1, 1, ic), scale=ws, data=rng.integers(-127, 128, (oc, 1, 1, ic),
                                                              dtype=np.int8)),
                T((oc,), "int32", scale=tuple(sx * v for v in ws),
                  data=rng.integers(-300, 300, oc, dtype=np.int32))]

    tensors = [
        T((1, 10, 10, 4), scale=0.05, zp=-3),            # 0 input
        *filt(8, 4, 0.05),                              # 1, 2
        T((1, 10, 10, 8), scale=0.1, zp=5),             # 3 conv out
        _i32(3),                                        # 4 split axis
        T((1, 10, 10, 4), scale=0.1, zp=5),             # 5 first half
        T((1, 10, 10, 4), scale=0.1, zp=5),             # 6 second half
        T((1, 10, 10, 4), scale=0.15, zp=-1),           # 7 sum
        *filt(6, 4, 0.15),                              # 8, 9
        T((1, 10, 10, 6), scale=0.2, zp=2),             # 10 output
    ]
    split = S.SplitOptionsT()
    split.numSplits = 2
    return ops_model(tensors, [
        ("CONV_2D", [0, 1, 2], [3], conv_opts()),
        ("SPLIT", [4, 3], [5, 6], split),
        ("ADD", [5, 6], [7], S.AddOptionsT()),
        ("CONV_2D", [7, 8, 9], [10], conv_opts()),
    ], version=1)


def test_a_channel_split_between_sliced_operators_is_exact() -> None:
    """Partial execution (on by default) does not slice across the SPLIT: equal to both runtimes."""
    model = _conv_split_add_conv(2)
    g = read_tflite(model, where="split")
    assert [op.kind.value for op in g.ops] == ["CONV_2D", "SPLIT", "ADD", "CONV_2D"]
    _exact(model, [(1, 10, 10, 4)], 7)


# ---- float islands: DEQUANTIZE -> data movement -> QUANTIZE ---------------------------------------


def _float_island(op: str) -> tuple[bytes, tuple[int, ...]]:
    """DEQUANTIZE -> SPLIT (or TRANSPOSE) of float32 values -> QUANTIZE of each piece to its own
    quantisation, as the converter leaves in an unrolled LSTM cell's first step."""
    from tests.support.single_op import ops_model

    S = _S()
    shape = (1, 12)
    if op == "SPLIT":
        o = S.SplitOptionsT()
        o.numSplits = 3
        tensors = [T(shape, scale=0.04, zp=-9), T(shape, "float32"), _i32(1),
                   *[T((1, 4), "float32") for _ in range(3)],
                   T((1, 4), scale=0.03, zp=2), T((1, 4), scale=0.05, zp=-1), T((1, 4), scale=0.01)]
        ops = [("DEQUANTIZE", [0], [1], None), ("SPLIT", [2, 1], [3, 4, 5], o),
               *[("QUANTIZE", [3 + k], [6 + k], None) for k in range(3)]]
    else:
        shape = (2, 3, 4)
        tensors = [T(shape, scale=0.04, zp=-9), T(shape, "float32"), _i32([2, 0, 1]),
                   T((4, 2, 3), "float32"), T((4, 2, 3), scale=0.07, zp=5)]
        ops = [("DEQUANTIZE", [0], [1], None), ("TRANSPOSE", [1, 2], [3], S.TransposeOptionsT()),
               ("QUANTIZE", [3], [4], None)]
    return ops_model(tensors, ops, version=1), shape


@pytest.mark.parametrize("op", ["SPLIT", pytest.param("TRANSPOSE", marks=_SLOW)])
def test_float_data_movement_between_dequantize_and_quantize_is_exact(op: str) -> None:
    """The float32 values move as they are (bytes); each QUANTIZE rounds them as TFLite does."""
    model, shape = _float_island(op)
    g = read_tflite(model, where="island")
    assert [o.kind.value for o in g.ops][:2] == ["DEQUANTIZE", op]
    _exact(model, [shape], 8)
