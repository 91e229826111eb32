"""Keras architectures users write (``tests/support/realzoo.py``), converted to full int8 with random
weights: each compiles with partial execution and its generated C equals TFLite Micro's runtime
(``--numerics tflm``) and the TFLite interpreter (``--numerics tflite-ref``) exactly on random
inputs over the whole int8/uint8 range, with an arena no larger than what TFLM accounts for.

Architectures in :data:`~tests.support.realzoo.PENDING` need an operator being built in parallel;
they are not in the parametrisation until it is merged, and meanwhile must be refused cleanly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.tflm_arena import GENEROUS_MIN, parse_accounting, run_trial
from generator.compiler import compile_graph
from generator.errors import UnsupportedOpsError
from generator.host import build_host
from generator.importer.reference import run_reference
from generator.importer.tflite_reader import read_tflite
from generator.ir import DType
from generator.numerics import Numerics
from tests.support.realzoo import ARCHS, PENDING, TESTED, random_inputs, realzoo_tflite
from tests.support.single_op import with_op_version

pytestmark = [pytest.mark.tflite, pytest.mark.hostc, pytest.mark.slow]

RUNS = 4


@pytest.mark.parametrize("numerics", list(Numerics), ids=[n.value for n in Numerics])
@pytest.mark.parametrize("name", TESTED)
def test_bit_exact_with_both_references(name: str, numerics: Numerics, tmp_path: Path) -> None:
    if numerics is Numerics.TFLM and ARCHS[name].tflm_lacks:
        pytest.skip(f"TFLite Micro has no {ARCHS[name].tflm_lacks}")
    if ARCHS[name].tflm_only and numerics is not Numerics.TFLM:
        pytest.skip("an LSTM is exact in TFLite Micro's numerics only (tflite-ref refuses it)")
    data = realzoo_tflite(name)
    model = compile_graph(read_tflite(data, where=name), data, source=name, numerics=numerics)
    inputs = random_inputs(data, RUNS, seed=5)
    outs = build_host(model, tmp_path).run(inputs)
    reference = with_op_version(data, ARCHS[name].tflm_lacks, 1) if ARCHS[name].tflm_lacks else data
    for i, (x, got) in enumerate(zip(inputs, outs, strict=True)):
        want = run_reference(reference, x, numerics=numerics)
        assert len(want) == len(got)
        for w, g in zip(want, got, strict=True):
            assert g.dtype == w.dtype, f"{name} run {i}"
            np.testing.assert_array_equal(g.reshape(w.shape), w, err_msg=f"{name} run {i}")


@pytest.mark.parametrize("name", TESTED)
def test_arena_within_tflm_accounting(name: str, tmp_path: Path) -> None:
    """mcuforge's arena (partial execution) is at most the arena TFLM accounts for in a generous run
    (its planned tensors and its bookkeeping, ``RecordingMicroAllocator``)."""
    if ARCHS[name].tflm_lacks:
        pytest.skip(f"TFLite Micro has no {ARCHS[name].tflm_lacks}")
    data = realzoo_tflite(name)
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(data)
    trial = run_trial(path, max(GENEROUS_MIN, 10 * len(data)))
    assert trial.ok, trial.stderr[-1000:]
    tflm = parse_accounting(trial.stderr)
    arena = compile_graph(read_tflite(data, where=name), data, source=name).arena_bytes
    assert 0 < arena <= tflm.total, f"{name}: mcuforge {arena} B, TFLM accounts {tflm.total} B"


@pytest.mark.parametrize("name", [n for n in TESTED if ARCHS[n].uint8_io])
def test_uint8_conversions_keep_uint8_io(name: str) -> None:
    graph = read_tflite(realzoo_tflite(name), where=name)
    io = [graph.tensors[t].dtype for t in (*graph.inputs, *graph.outputs)]
    assert io and all(d is DType.UINT8 for d in io)


@pytest.mark.parametrize("name", sorted(PENDING))
def test_pending_architectures_are_refused_naming_the_operator(name: str) -> None:
    """Until its operator is merged, a pending architecture is refused with an UnsupportedOpsError
    that names the operator and a tensor; once it compiles, move it out of PENDING."""
    data = realzoo_tflite(name)
    with pytest.raises(UnsupportedOpsError) as err:
        compile_graph(read_tflite(data, where=name), data, source=name)
    op = PENDING[name].removeprefix("needs ").split()[0].rstrip(",")
    assert op in str(err.value) and "'" in str(err.value), str(err.value)
