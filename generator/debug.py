"""Layer-by-layer comparison of the generated C engine with the reference its numerics match:
TFLite Micro (the default) or the TFLite reference interpreter (``--numerics tflite-ref``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from generator.compiler import CompiledModel
from generator.environment import scratch_dir
from generator.host import build_host


@dataclass(frozen=True)
class OpDiff:
    op: int
    kind: str
    name: str
    mismatches: int
    elements: int
    max_abs_diff: int


def compare_layers(model: CompiledModel, inputs: list[npt.NDArray[np.generic]]) -> list[OpDiff]:
    """Run the engine (traced) and the reference of its numerics (``model.numerics``) on the same
    inputs; one row per traced op.

    Needs an engine compiled without partial execution, so that every op's output exists whole.
    """
    from generator.importer.reference import run_reference_all

    ref = run_reference_all(model.tflite, inputs, model.numerics)
    with scratch_dir("mcuf_debug_") as tmp:
        traces = build_host(model, tmp).trace(inputs)
    rows = []
    g = model.graph
    for op_index, raw in sorted(traces.items()):
        op = g.ops[op_index]
        tid = op.outputs[0]
        expected = ref.get(tid)
        if expected is None:
            continue
        got = np.frombuffer(raw, dtype=expected.dtype)[: expected.size].reshape(expected.shape)
        diff = np.abs(got.astype(np.int64) - expected.astype(np.int64)) if expected.dtype != np.float32 \
            else np.abs(got - expected)
        rows.append(OpDiff(op_index, op.kind.value, op.name, int((diff != 0).sum()), int(expected.size),
                           int(np.ceil(diff.max())) if diff.size else 0))
    return rows


def first_divergence(rows: list[OpDiff]) -> OpDiff | None:
    return next((r for r in rows if r.mismatches), None)
