"""Compile a small model to C, run it on the host and hold every output to both runtimes: TFLite
Micro (the default numerics) and the TFLite interpreter (``--numerics tflite-ref``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from generator.numerics import Numerics


def engine_matches(model: bytes, runs: list[list[npt.NDArray[Any]]], workdir: Path,
                   numerics: tuple[Numerics, ...] = tuple(Numerics), partial: bool = False,
                   what: str = "") -> None:
    """For each numerics mode: the engine compiled in that mode equals its runtime on every run."""
    from generator.compiler import compile_graph
    from generator.host import build_host
    from generator.importer.reference import run_reference
    from generator.importer.tflite_reader import read_tflite

    graph = read_tflite(model, where=what or "model")
    for mode in numerics:
        compiled = compile_graph(graph, model, source=what or "model", partial=partial,
                                 numerics=mode)
        engine = build_host(compiled, workdir / mode.value)
        for run, got in zip(runs, engine.run(runs), strict=True):
            wants = run_reference(model, run, mode)
            for g, want in zip(got, wants, strict=True):
                np.testing.assert_array_equal(np.asarray(g).reshape(want.shape), want,
                                              err_msg=f"{mode.value} {what}")
