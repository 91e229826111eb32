"""The compile pipeline: model file -> int8 .tflite -> IR -> schedule -> arena layout -> C engine.

Each stage is a function with a clear input and output; :func:`compile_model` strings them together
and returns everything (nothing is written here: see :mod:`generator.output`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from generator import inputs
from generator.codegen.emit import EngineSources, const_bytes, emit_engine
from generator.codegen.lower_split import lower_program
from generator.codegen.schedule import Schedule
from generator.errors import InputError, McuforgeError
from generator.importer.tflite_reader import read_tflite
from generator.ir import Graph
from generator.numerics import DEFAULT as DEFAULT_NUMERICS
from generator.numerics import Numerics
from generator.plan.arena import Buffer, Layout, best_layout, check_layout
from generator.plan.cost import DSP, CostModel
from generator.plan.order import orders
from generator.plan.pex import OVERHEAD_BUDGET, Program, build_program, lower_bound, search_splits
from generator.plan.report import PlanFigures

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


@dataclass(frozen=True)
class ImportOptions:
    calibration: Path | None = None
    float_io: bool = False
    numerics: Numerics = DEFAULT_NUMERICS
    """Which runtime the engine is bit-exact with (:mod:`generator.numerics`)."""


@dataclass(frozen=True, eq=False)
class CompiledModel:
    tflite: bytes
    graph: Graph
    program: Program
    schedule: Schedule
    buffers: tuple[Buffer, ...]
    layout: Layout
    engine: EngineSources
    source: str
    extra: dict[str, object] = field(default_factory=dict)
    numerics: Numerics = DEFAULT_NUMERICS

    @property
    def arena_bytes(self) -> int:
        return self.layout.size

    @property
    def const_bytes(self) -> int:
        return const_bytes(self.schedule)

    @property
    def model_hash(self) -> str:
        return hashlib.sha256(self.tflite).hexdigest()


def load_tflite_bytes(path: Path, opts: ImportOptions | None = None) -> bytes:
    """Any supported model file -> full-int8 .tflite bytes (Keras models are quantised here).

    The path is checked first (:func:`generator.inputs.check_model_path`: a regular file, or a
    SavedModel folder of regular files); a .tflite is read whole up to 256 MiB."""
    opts = opts or ImportOptions()
    inputs.check_model_path(path)
    if opts.calibration is not None:
        inputs.stat_input(opts.calibration, "calibration data")
    if path.suffix == ".tflite":
        return inputs.read_bytes(path, "model", inputs.MAX_MODEL_BYTES)
    if path.is_dir() or path.suffix in KERAS_SUFFIXES:
        from generator.importer import keras_import as ki

        calib = ki.load_calibration(opts.calibration) if opts.calibration else None  # cheap first
        model = ki.load_keras_model(path)
        return ki.quantize_keras(model, ki.QuantizeOptions(calibration=calib, float_io=opts.float_io))
    raise InputError(
        f"{path}: unknown model format '{path.suffix}'",
        "give a .keras, .h5, SavedModel directory or int8 .tflite",
    )


Planner = Callable[[list[Buffer]], Layout]


def compile_graph(graph: Graph, tflite: bytes, source: str = "model", prefix: str = "model",
                  planner: Planner = best_layout, partial: bool = True,
                  numerics: Numerics = DEFAULT_NUMERICS, cost: CostModel = DSP,
                  budget: float = OVERHEAD_BUDGET) -> CompiledModel:
    """Plan (partial execution priced by ``cost``, the target core's cost model, within ``budget``
    of the whole model's instructions), lower and emit."""
    if partial:
        candidates = [search_splits(g, model=cost, budget=budget).program for g in orders(graph)]
        program = min(candidates, key=lambda p: p.peak)
        graph = program.graph
    else:
        program = build_program(graph)
    return compile_program(graph, program, tflite, source, prefix, planner, numerics)


def compile_program(graph: Graph, program: Program, tflite: bytes, source: str = "model",
                    prefix: str = "model", planner: Planner = best_layout,
                    numerics: Numerics = DEFAULT_NUMERICS) -> CompiledModel:
    """Lower a chosen step program with the numerics of ``numerics``, lay out its arena and emit
    the C engine."""
    inputs.c_prefix(prefix)
    schedule = lower_program(program, numerics)
    buffers = tuple(schedule.lifetimes())
    layout = planner(list(buffers))
    problems = check_layout(buffers, layout)
    if problems:
        raise McuforgeError("internal error: the arena layout overlaps: " + "; ".join(problems[:3]),
                            "please report this with the model")
    op_outputs = {i: op.outputs[0] for i, op in enumerate(graph.ops)}
    engine = emit_engine(schedule, layout, prefix=prefix, source=source, op_outputs=op_outputs)
    return CompiledModel(tflite, graph, program, schedule, buffers, layout, engine, source,
                         numerics=numerics)


def compile_model(path: Path, opts: ImportOptions | None = None, prefix: str = "model",
                  partial: bool = True, cost: CostModel = DSP,
                  budget: float = OVERHEAD_BUDGET) -> CompiledModel:
    tflite = load_tflite_bytes(path, opts)
    graph = read_tflite(tflite, where=str(path))  # checks the graph, full int8 included
    return compile_graph(graph, tflite, source=path.name, prefix=prefix, partial=partial,
                         numerics=(opts or ImportOptions()).numerics, cost=cost, budget=budget)


def plan_figures(compiled: CompiledModel) -> PlanFigures:
    """Peak and arena with and without partial execution, and the lower bound."""
    unsplit = build_program(compiled.graph)
    unsplit_layout = best_layout(list(unsplit.buffers))
    return PlanFigures(
        unsplit_peak=unsplit.peak,
        unsplit_arena=unsplit_layout.size,
        peak=compiled.program.peak,
        arena=compiled.layout.size,
        lower_bound=lower_bound(compiled.graph),
    )
