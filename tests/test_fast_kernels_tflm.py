"""The fast CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED kernels against TFLite Micro's Python
runtime (and the TFLite interpreter where the two agree) on random shapes and quantisation.

Each case is a one-operator model (random geometry, padding, strides, dilation, fused activation,
per-channel weights, bias, input and output quantisation) compiled by mcuforge and run on the host;
the outputs on random inputs must equal TFLite Micro's exactly. Each CONV_2D also runs twice: as
the planner lays it out (with a single operator, the column scratch would raise the peak, so it
runs without: pixels read in place, columns in borrowed output rows, or tap by tap) and granted
its column scratch (the im2col path). The kernels' own tests compare them with the portable kernels
on the host and in QEMU (``tests/test_kernels_conv_fast.py``, ``test_kernels_dw_fast.py``,
``test_kernels_fc.py``, ``test_kernels_mve.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.compiler import compile_program
from generator.host import build_host
from generator.importer.reference import run_reference
from generator.importer.reference_tflm import run_tflm
from generator.importer.tflite_reader import read_tflite
from generator.plan import pex
from tests.support.single_op import T, single_op

pytestmark = [pytest.mark.tflite, pytest.mark.hostc, pytest.mark.slow]

RUNS = 4
SETTINGS = settings(max_examples=10, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
ACT = st.sampled_from([0, 1, 3])  # NONE, RELU, RELU6


def _quant(rng: np.random.Generator, n: int) -> tuple[float, ...]:
    return tuple(float(np.float32(10 ** rng.uniform(-3, -1))) for _ in range(n))


def _out_scale(in_scale: float, w_scales: tuple[float, ...], k: int, rng: np.random.Generator) -> float:
    """An output scale that keeps most outputs inside int8 without saturating them all."""
    return float(np.float32(in_scale * float(np.mean(w_scales)) * 50.0 * np.sqrt(k)
                            * rng.uniform(0.5, 2.0)))


def _check(tflite: bytes, with_cols: bool, tmp_path: Path, rng: np.random.Generator,
           tflite_ref: bool) -> None:
    g = read_tflite(tflite, where="case")
    program = pex.build_program(g)
    if with_cols:
        need = pex._cols_need(program)
        program = pex._with_cols(program, set(need), need)
    model = compile_program(g, program, tflite)
    engine = build_host(model, tmp_path / ("cols" if with_cols else "plan"))
    shape = g.tensors[g.inputs[0]].shape
    xs = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(RUNS)]
    for x, got in zip(xs, engine.run([[x] for x in xs]), strict=True):
        want = run_tflm(tflite, [x])[0]
        np.testing.assert_array_equal(got[0].reshape(want.shape), want, err_msg="vs TFLM")
        if tflite_ref:
            ref = run_reference(tflite, [x])[0]
            np.testing.assert_array_equal(got[0].reshape(ref.shape), ref, err_msg="vs TFLite")


def _same_or_valid(size: int, k: int, stride: int, dil: int, same: bool) -> int:
    eff = (k - 1) * dil + 1
    return -(-size // stride) if same else (size - eff) // stride + 1


@SETTINGS
@given(h=st.integers(1, 11), w=st.integers(1, 11), ic=st.integers(1, 19), oc=st.integers(1, 19),
       kh=st.integers(1, 4), kw=st.integers(1, 4), stride=st.integers(1, 3), dil=st.integers(1, 2),
       same=st.booleans(), act=ACT, seed=st.integers(0, 2**32 - 1))
def test_fast_conv_equals_tflm(h: int, w: int, ic: int, oc: int, kh: int, kw: int, stride: int,
                               dil: int, same: bool, act: int, seed: int, tmp_path: Path) -> None:
    from ai_edge_litert import schema_py_generated as S

    if dil > 1:
        stride = 1
    oh, ow = (_same_or_valid(s, k, stride, dil, same) for s, k in ((h, kh), (w, kw)))
    if oh < 1 or ow < 1:
        same = True
        oh, ow = (_same_or_valid(s, k, stride, dil, True) for s, k in ((h, kh), (w, kw)))
    rng = np.random.default_rng(seed)
    sx, ws = _quant(rng, 1)[0], _quant(rng, oc)
    filt = rng.integers(-127, 128, size=(oc, kh, kw, ic), dtype=np.int8)
    bias = rng.integers(-3000, 3000, size=oc, dtype=np.int32)
    opts = S.Conv2DOptionsT()
    opts.padding = S.Padding.SAME if same else S.Padding.VALID
    opts.strideH = opts.strideW = stride
    opts.dilationHFactor = opts.dilationWFactor = dil
    opts.fusedActivationFunction = act
    sy = _out_scale(sx, ws, kh * kw * ic, rng)
    tflite = single_op("CONV_2D", [
        T((1, h, w, ic), "int8", (sx,), (int(rng.integers(-128, 128)),)),
        T(filt.shape, "int8", ws, (0,) * oc, data=filt),
        T((oc,), "int32", tuple(sx * s for s in ws), (0,) * oc, data=bias),
    ], [T((1, oh, ow, oc), "int8", (sy,), (int(rng.integers(-100, 100)),))], opts, version=3)
    for cols in (False, True):
        _check(tflite, cols, tmp_path, rng, tflite_ref=True)


@SETTINGS
@given(h=st.integers(1, 12), w=st.integers(1, 12), ic=st.integers(1, 24), dm=st.sampled_from([1, 1, 2]),
       k=st.sampled_from([(3, 3), (3, 3), (5, 5), (1, 1), (3, 1)]), stride=st.integers(1, 2),
       dil=st.integers(1, 2), same=st.booleans(), act=ACT, seed=st.integers(0, 2**32 - 1))
def test_fast_depthwise_equals_tflm(h: int, w: int, ic: int, dm: int, k: tuple[int, int],
                                    stride: int, dil: int, same: bool, act: int, seed: int,
                                    tmp_path: Path) -> None:
    from ai_edge_litert import schema_py_generated as S

    if dil > 1:
        stride = 1
    kh, kw = k
    oh, ow = (_same_or_valid(s, kk, stride, dil, same) for s, kk in ((h, kh), (w, kw)))
    if oh < 1 or ow < 1:
        same = True
        oh, ow = (_same_or_valid(s, kk, stride, dil, True) for s, kk in ((h, kh), (w, kw)))
    oc = ic * dm
    rng = np.random.default_rng(seed)
    sx, ws = _quant(rng, 1)[0], _quant(rng, oc)
    filt = rng.integers(-127, 128, size=(1, kh, kw, oc), dtype=np.int8)
    bias = rng.integers(-3000, 3000, size=oc, dtype=np.int32)
    opts = S.DepthwiseConv2DOptionsT()
    opts.padding = S.Padding.SAME if same else S.Padding.VALID
    opts.strideH = opts.strideW = stride
    opts.dilationHFactor = opts.dilationWFactor = dil
    opts.depthMultiplier = dm
    opts.fusedActivationFunction = act
    sy = _out_scale(sx, ws, kh * kw, rng)
    tflite = single_op("DEPTHWISE_CONV_2D", [
        T((1, h, w, ic), "int8", (sx,), (int(rng.integers(-128, 128)),)),
        T(filt.shape, "int8", ws, (0,) * oc, data=filt, axis=3),
        T((oc,), "int32", tuple(sx * s for s in ws), (0,) * oc, data=bias),
    ], [T((1, oh, ow, oc), "int8", (sy,), (int(rng.integers(-100, 100)),))], opts, version=3)
    _check(tflite, False, tmp_path, rng, tflite_ref=True)


@SETTINGS
@given(batches=st.integers(1, 3), n_in=st.integers(1, 70), n_out=st.integers(1, 40),
       per_channel=st.booleans(), act=ACT, seed=st.integers(0, 2**32 - 1))
def test_fast_fully_connected_equals_tflm(batches: int, n_in: int, n_out: int, per_channel: bool,
                                          act: int, seed: int, tmp_path: Path) -> None:
    """TFLite's reference FULLY_CONNECTED rescales in double precision and TFLite Micro in fixed
    point, so only TFLite Micro is the reference here (``--numerics tflm``, the default)."""
    from ai_edge_litert import schema_py_generated as S

    rng = np.random.default_rng(seed)
    sx = _quant(rng, 1)[0]
    ws = _quant(rng, n_out if per_channel else 1)
    filt = rng.integers(-127, 128, size=(n_out, n_in), dtype=np.int8)
    bias = rng.integers(-3000, 3000, size=n_out, dtype=np.int32)
    opts = S.FullyConnectedOptionsT()
    opts.fusedActivationFunction = act
    sy = _out_scale(sx, ws, n_in, rng)
    tflite = single_op("FULLY_CONNECTED", [
        T((batches, n_in), "int8", (sx,), (int(rng.integers(-128, 128)),)),
        T(filt.shape, "int8", ws, (0,) * len(ws), data=filt),
        T((n_out,), "int32", tuple(sx * s for s in ws), (0,) * len(ws), data=bias),
    ], [T((batches, n_out), "int8", (sy,), (int(rng.integers(-100, 100)),))], opts, version=3)
    _check(tflite, False, tmp_path, rng, tflite_ref=False)


