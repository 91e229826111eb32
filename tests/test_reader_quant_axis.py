"""A per-channel bias whose quantized_dimension names a dimension it does not have (3, the filter's,
as in TFLite Micro's person detection model): TFLite Micro reads a vector's scales by position, and
so does mcuforge; the model compiles and is exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator.compiler import compile_graph
from generator.host import build_host
from generator.importer.reference_tflm import run_tflm
from generator.importer.tflite_reader import read_tflite
from tests.support.single_op import T, single_op

pytestmark = [pytest.mark.tflite, pytest.mark.hostc]


def _conv(bias_axis: int) -> bytes:
    from ai_edge_litert import schema_py_generated as S

    rng = np.random.default_rng(3)
    ws = tuple(float(np.float32(v)) for v in rng.uniform(0.002, 0.02, size=4))
    opts = S.Conv2DOptionsT()
    opts.padding, opts.strideH, opts.strideW = S.Padding.SAME, 1, 1
    filt = rng.integers(-127, 128, size=(4, 3, 3, 2), dtype=np.int8)
    return single_op("CONV_2D", [
        T((1, 5, 5, 2), "int8", (0.05,), (3,)),
        T(filt.shape, "int8", ws, (0,) * 4, data=filt),
        T((4,), "int32", tuple(0.05 * s for s in ws), (0,) * 4,
          rng.integers(-500, 500, size=4, dtype=np.int32), axis=bias_axis),
    ], [T((1, 5, 5, 4), "int8", (0.3,), (-4,))], opts, version=3)


def test_a_bias_quantised_along_the_filters_dimension_compiles_exactly(tmp_path: Path) -> None:
    tflite = _conv(bias_axis=3)
    g = read_tflite(tflite, where="conv")
    bias = g.tensors[g.ops[0].inputs[2]]
    assert bias.quant is not None and bias.quant.axis == 0
    engine = build_host(compile_graph(g, tflite), tmp_path)
    rng = np.random.default_rng(4)
    xs = [rng.integers(-128, 128, size=(1, 5, 5, 2), dtype=np.int8) for _ in range(3)]
    for x, got in zip(xs, engine.run([[x] for x in xs]), strict=True):
        want = run_tflm(tflite, [x])[0]
        np.testing.assert_array_equal(got[0].reshape(want.shape), want)
