"""Hostile parameters for TRANSPOSE_CONV and SVDF: random operand shapes, types, strides,
paddings, activations, ranks, output shapes and quantisations. Each model is refused with an
InputError (naming the operator or tensor) or compiles, and then TFLite Micro runs it too; none
gives a traceback."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from generator.codegen import qparams_tconv as qt
from generator.compiler import compile_graph
from generator.errors import InputError
from generator.importer.reference_tflm import run_tflm
from generator.importer.tflite_reader import read_tflite
from generator.ir import Padding
from tests.support.single_op import T, single_op

pytestmark = pytest.mark.tflite

N_MODELS = 150
P_HOSTILE = 0.07
"""The chance of each parameter being drawn hostile (most models then break one rule or two)."""


def _sane(rng: np.random.Generator) -> bool:
    return bool(rng.random() >= P_HOSTILE)


def _dim(rng: np.random.Generator) -> int:
    return int(rng.choice([0, 1, 2, 3, 4, 5, 7, 9, 300])) if not _sane(rng) \
        else int(rng.integers(1, 6))


def _quant(rng: np.random.Generator, weights: bool = False) -> dict[str, Any]:
    if not _sane(rng):
        return {}
    scale = float(rng.choice([0.05, 1e-3, 0.3, 1e30, 1e-30, 0.0, -1.0, float("nan")])) \
        if not _sane(rng) else float(rng.uniform(0.005, 0.5))
    if weights:
        return dict(scale=scale, zp=0 if _sane(rng) else 1)
    return dict(scale=scale, zp=int(rng.integers(-128, 128)) if _sane(rng) else 0)


def _dtype(rng: np.random.Generator, usual: str) -> str:
    return usual if _sane(rng) else str(rng.choice(["int8", "int16", "int32", "float32"]))


def _data(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    info = np.iinfo(dtype) if dtype != "float32" else None
    if info is None:
        return rng.normal(size=shape).astype(np.float32)
    lo, hi = max(info.min, -3000), min(info.max, 3000)
    return rng.integers(lo, hi + 1, shape).astype(dtype)


def _tconv(rng: np.random.Generator) -> bytes:
    from ai_edge_litert import schema_py_generated as S

    ic, oc, kh, kw = (_dim(rng) for _ in range(4))
    sh, sw = (int(rng.choice([1, 2, 3])) if _sane(rng) else int(rng.integers(-2, 70000))
              for _ in range(2))
    oh, ow = int(rng.integers(max(kh, 1), kh + 9)), int(rng.integers(max(kw, 1), kw + 9))
    padding = int(rng.integers(0, 2)) if _sane(rng) else 2
    pad = Padding.VALID if padding == 1 else Padding.SAME
    ih = max(1, qt.out_size(pad, oh, max(kh, 1), max(sh, 1)))
    iw = max(1, qt.out_size(pad, ow, max(kw, 1), max(sw, 1)))
    if not _sane(rng):
        ih, iw = _dim(rng), _dim(rng)
    y_shape = (1 if _sane(rng) else 2, oh, ow, oc)
    out_shape = list(y_shape) if _sane(rng) else \
        [int(v) for v in rng.integers(-2, 10, int(rng.choice([3, 4, 5])))]
    wdt = _dtype(rng, "int8")
    w_shape = (oc, kh, kw, ic) if _sane(rng) else (oc, kh, kw)
    ins = [T((len(out_shape),), _dtype(rng, "int32"), data=np.array(out_shape).astype(
               _dtype(rng, "int32"))),
           T(w_shape, wdt, data=_data(rng, w_shape, wdt), **_quant(rng, weights=True)),
           T((y_shape[0], ih, iw, ic), _dtype(rng, "int8"), **_quant(rng))]
    if rng.random() < 0.7:
        n = oc if _sane(rng) else _dim(rng)
        ins.append(T((n,), _dtype(rng, "int32"), data=_data(rng, (n,), "int32"),
                     **_quant(rng, weights=True)))
    o = S.TransposeConvOptionsT()
    o.padding = padding
    o.strideH, o.strideW = sh, sw
    o.fusedActivationFunction = int(rng.choice([0, 1, 2, 3])) if _sane(rng) else \
        int(rng.choice([4, 6, 9]))
    return single_op("TRANSPOSE_CONV", ins, [T(y_shape, _dtype(rng, "int8"), **_quant(rng))], o,
                     version=3)


def _svdf(rng: np.random.Generator) -> bytes:
    from ai_edge_litert import schema_py_generated as S

    batch, n_in, units, memory = (_dim(rng) for _ in range(4))
    rank = int(rng.integers(1, 4)) if _sane(rng) else int(rng.integers(-3, 12))
    filters = units * max(rank, 1) if _sane(rng) else _dim(rng)
    wt_dt, st_dt = _dtype(rng, "int16"), _dtype(rng, "int16")
    st_scale = float(rng.uniform(2**-12, 2**-8)) if _sane(rng) else \
        float(rng.choice([0.0, -1.0, 1e30, float("nan")]))
    wt_scale = float(rng.uniform(1e-5, 1e-3))
    bias_scale = float(np.float32(st_scale) * np.float32(wt_scale)) if _sane(rng) else 0.5
    st_shape = (batch, memory * filters) if _sane(rng) else (batch, _dim(rng))
    ins = [T((batch, n_in), _dtype(rng, "int8"), **_quant(rng)),
           T((filters, n_in), _dtype(rng, "int8"), data=_data(rng, (filters, n_in), "int8"),
             scale=float(rng.uniform(0.002, 0.02))),
           T((filters, memory), wt_dt, data=_data(rng, (filters, memory), wt_dt), scale=wt_scale),
           T((units,), _dtype(rng, "int32"), data=_data(rng, (units,), "int32"), scale=bias_scale),
           T(st_shape, st_dt, scale=st_scale, zp=0 if _sane(rng) else 5,
             variable=_sane(rng))]
    o = S.SVDFOptionsT()
    o.rank = rank
    o.fusedActivationFunction = int(rng.choice([0, 1])) if _sane(rng) else \
        int(rng.choice([3, 4, 9]))
    out = T((batch, units), _dtype(rng, "int8"), **_quant(rng))
    return single_op("SVDF", ins, [out], o, version=4)


@pytest.mark.parametrize("build", [_tconv, _svdf], ids=["TRANSPOSE_CONV", "SVDF"])
def test_hostile_parameters_give_errors_or_engines(build: Any) -> None:
    rng = np.random.default_rng(20261204)
    compiled = refused = 0
    for n in range(N_MODELS):
        try:
            model = build(rng)
        except (ValueError, OverflowError):  # the builder itself cannot write it
            continue
        try:
            graph = read_tflite(model, where=f"hostile{n}")
        except InputError as exc:
            assert exc.message.startswith(f"hostile{n}: "), exc.message
            refused += 1
            continue
        compile_graph(graph, model, source=f"hostile{n}")
        x = graph.tensors[graph.inputs[0]]
        run_tflm(model, [np.zeros(x.shape, np.int8)])  # what compiles, TFLite Micro runs
        compiled += 1
    assert compiled >= 10 and refused >= 30, (compiled, refused)
