"""The pruning loop: quantize -> plan -> prune where the peak is -> fine-tune -> re-plan, until it fits.

Each step converts the model to int8 with the user's data as the representative set, reads it into the
IR and plans it with partial execution exactly as ``mcuforge compile`` does. The SRAM figure is the
arena of that plan (the array the generated C declares; never below the planner's peak). The buffers
live at the steps of the peak are traced back to Keras channel groups (:mod:`generator.prune.irmap`),
candidate cuts of those groups are judged by re-planning the resized IR (:mod:`generator.prune.policy`,
:mod:`generator.prune.whatif`), the least important channels of the chosen groups go
(:mod:`generator.prune.importance`), the model is rebuilt (:mod:`generator.prune.surgery`) and
fine-tuned on the training split, and the next step measures the real int8 model again.

Before the first step two checks stop hopeless runs early: the int8 input (or output) tensor alone
larger than the budget, and the arena of the model with every prunable group at its minimum width.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from generator.data import DataOptions, DataSplit, load_dataset, split_dataset
from generator.errors import FitError, InputError
from generator.plan.pex import lower_bound
from generator.prune.channels import ChannelGraph, Group, analyse
from generator.prune.importance import channel_importance, keep_top
from generator.prune.irmap import ir_channels, peak_share
from generator.prune.measure import (
    Measured,
    calibration_set,
    float_accuracy,
    graph_macs,
    int8_accuracy,
    measure,
)
from generator.prune.policy import PolicyOptions, min_width, plan_step
from generator.prune.surgery import rebuild
from generator.prune.whatif import planned_arena, resized_graph


@dataclass(frozen=True)
class PruneOptions:
    epochs: int = 2
    final_epochs: int = 4            # more fine-tuning once the budget is met
    max_steps: int = 12
    batch_size: int = 32
    learning_rate: float = 1e-3
    max_fraction: float = 0.25       # at most this share of a group's channels goes in one step
    min_keep: float = 0.125          # a group keeps at least this share of its original channels
    min_channels: int = 1
    overshoot: float = 1.15          # the uniform cut removes this much more than the excess
    cuts_per_step: int = 3           # cuts planned on the resized IR before each fine-tuning
    calibration_samples: int = 128
    int8_eval_samples: int | None = None   # None: the whole validation split
    seed: int = 0

    def policy(self) -> PolicyOptions:
        return PolicyOptions(self.max_fraction, self.min_keep, self.min_channels, self.overshoot,
                             self.cuts_per_step)


@dataclass(frozen=True)
class Removal:
    group: str
    before: int
    after: int


@dataclass(frozen=True)
class StepRecord:
    step: int
    removed: tuple[Removal, ...]
    peak: int
    arena: int
    lower_bound: int
    flash: int
    macs: int
    params: int
    float_acc: float
    int8_acc: float | None
    peak_ops: tuple[str, ...]
    seconds: float
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "removed": [{"group": r.group, "before": r.before, "after": r.after}
                        for r in self.removed],
            "peak_bytes": self.peak, "arena_bytes": self.arena, "lower_bound_bytes": self.lower_bound,
            "flash_const_bytes": self.flash, "macs": self.macs, "params": self.params,
            "val_accuracy_float": self.float_acc, "val_accuracy_int8": self.int8_acc,
            "peak_ops": list(self.peak_ops), "seconds": round(self.seconds, 2),
            "note": self.note,
        }


@dataclass(frozen=True, eq=False)
class PruneResult:
    model: Any
    measured: Measured
    steps: tuple[StepRecord, ...]
    budget: int
    split: DataSplit
    options: PruneOptions = field(default_factory=PruneOptions)

    @property
    def met(self) -> bool:
        return self.measured.arena <= self.budget

    @property
    def tflite(self) -> bytes:
        return self.measured.tflite


class Observer(Protocol):
    """Receives progress; the CLI shows it with rich, the API ignores it by default."""

    def status(self, text: str) -> None: ...

    def step(self, record: StepRecord) -> None: ...

    def fit_callbacks(self, step: int, epochs: int, batches: int) -> list[Any]: ...


class QuietObserver:
    def status(self, text: str) -> None:
        pass

    def step(self, record: StepRecord) -> None:
        pass

    def fit_callbacks(self, step: int, epochs: int, batches: int) -> list[Any]:
        return []


# ---- the task the model solves ---------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """How to train and score the model on integer labels."""

    binary: bool
    from_logits: bool

    @property
    def threshold(self) -> float:
        return 0.0 if self.from_logits else 0.5


def classification_task(model: Any, classes: int) -> Task:
    import keras

    width = int(model.outputs[0].shape[-1])
    last = model.outputs[0]._keras_history[0]
    act = getattr(last, "activation", None)
    softmax = act in (keras.activations.softmax,) or isinstance(last, keras.layers.Softmax)
    sigmoid = act in (keras.activations.sigmoid,)
    if len(model.outputs) != 1:
        raise InputError(f"the model has {len(model.outputs)} outputs",
                         "pruning fine-tunes single-output classifiers")
    if width == classes:
        return Task(binary=False, from_logits=not softmax)
    if width == 1 and classes == 2:
        return Task(binary=True, from_logits=not sigmoid)
    raise InputError(f"the model has {width} outputs but the data has {classes} classes",
                     "give data with one class per model output (class folders or labels 0..K-1)")


def fine_tune(model: Any, split: DataSplit, task: Task, opts: PruneOptions, epochs: int,
              callbacks: list[Any]) -> None:
    import keras

    if epochs <= 0:
        return
    keras.utils.set_random_seed(opts.seed)
    loss = (keras.losses.BinaryCrossentropy(from_logits=task.from_logits) if task.binary
            else keras.losses.SparseCategoricalCrossentropy(from_logits=task.from_logits))
    model.compile(optimizer=keras.optimizers.Adam(opts.learning_rate), loss=loss)
    y = split.train_y.astype(np.float32) if task.binary else split.train_y
    model.fit(split.train_x, y, batch_size=opts.batch_size, epochs=epochs, shuffle=True,
              verbose=0, callbacks=callbacks)
    recalibrate_batch_norm(model, split.train_x, opts.batch_size)


def recalibrate_batch_norm(model: Any, x: Any, batch_size: int) -> None:
    """Set every batch norm's moving statistics to the mean over batches of ``x``.

    A few epochs with the usual momentum (0.99) leave the moving averages far from the statistics of
    the pruned, fine-tuned network; the model would then score worse in inference than it is. Each
    batch's statistics are folded in with momentum ``i / (i + 1)``, which makes a running mean.
    """
    import keras

    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        return
    saved = [bn.momentum for bn in bns]
    try:
        for i, start in enumerate(range(0, len(x), batch_size)):
            for bn in bns:
                bn.momentum = i / (i + 1)
            model(x[start:start + batch_size], training=True)
    finally:
        for bn, m in zip(bns, saved, strict=True):
            bn.momentum = m


# ---- choosing what to remove -----------------------------------------------------------------------


def minimum_width_model(model: Any, opts: PruneOptions) -> Any | None:
    """``model`` with every prunable group cut to its floor (None if nothing can be pruned)."""
    cg = analyse(model)
    scores = channel_importance(cg)
    keep = {g.id: keep_top(scores[g.id], min_width(g.size, opts.policy()))
            for g in cg.prunable() if min_width(g.size, opts.policy()) < g.size}
    return rebuild(cg, keep) if keep else None


def _identity(group: Group) -> tuple[str, ...]:
    """A group's identity across rebuilds: its producing layers (layer names survive the rebuild)."""
    return tuple(sorted(group.producers))


# ---- the loop --------------------------------------------------------------------------------------


class _Run:
    def __init__(self, model: Any, split: DataSplit, budget: int, opts: PruneOptions,
                 observer: Observer) -> None:
        self.split = split
        self.budget = budget
        self.opts = opts
        self.obs = observer
        self.task = classification_task(model, len(split.classes))
        self.calib = calibration_set(split.train_x, opts.calibration_samples, opts.seed)
        cg = analyse(model)
        self.original = {_identity(g): g.size for g in cg.prunable()}
        self.t0 = time.perf_counter()

    def floors(self, cg: ChannelGraph) -> dict[int, int]:
        return {g.id: (min_width(self.original[_identity(g)], self.opts.policy())
                       if _identity(g) in self.original and not g.frozen else g.size)
                for g in cg.groups.values()}

    def record(self, step: int, model: Any, m: Measured, removed: tuple[Removal, ...],
               note: str = "") -> StepRecord:
        self.obs.status(f"step {step}: accuracy on {len(self.split.val_y)} validation samples")
        fa = float_accuracy(model, self.split.val_x, self.split.val_y, self.task.threshold)
        n8 = self.opts.int8_eval_samples
        xs, ys = (self.split.val_x, self.split.val_y) if n8 is None else (
            self.split.val_x[:n8], self.split.val_y[:n8])
        ia = int8_accuracy(m.tflite, xs, ys, self.task.threshold) if len(ys) else None
        program = m.compiled.program
        live = program.step_live()
        top = max(live, default=0)
        g = m.graph
        ops = sorted({program.steps[i].op for i, v in enumerate(live) if v == top})
        names = tuple(f"{g.ops[i].kind.value} {g.ops[i].name.split(';')[0][-48:]}" for i in ops)
        now = time.perf_counter()
        rec = StepRecord(step, removed, m.peak, m.arena, m.lower_bound, m.compiled.const_bytes,
                         graph_macs(g), int(model.count_params()), fa, ia, names, now - self.t0,
                         note)
        self.t0 = now
        self.obs.step(rec)
        return rec

    def measure(self, model: Any, step: int) -> Measured:
        self.obs.status(f"step {step}: int8 conversion and memory plan")
        return measure(model, self.calib, name=f"step {step}")

    def check_feasible(self, model: Any, first: Measured) -> None:
        g = first.graph
        for what, tids in (("input", g.inputs), ("output", g.outputs)):
            size = sum(g.tensors[t].nbytes for t in tids)
            if size > self.budget:
                raise FitError(
                    f"the int8 model {what} alone takes {size:,} B, above the SRAM budget of "
                    f"{self.budget:,} B", f"no pruning can help: raise the budget to at least "
                    f"{max(size, first.lower_bound):,} B or use a smaller {what}")
        cg = analyse(model)
        floors = {k: f for k, f in self.floors(cg).items() if f < cg.groups[k].size}
        if not floors:
            raise FitError(f"the planned arena is {first.arena:,} B, above the budget of "
                           f"{self.budget:,} B, and no layer of the model can be pruned",
                           "prunable: Conv/Dense/SeparableConv filters not feeding the model output")
        self.obs.status("planning the model with every prunable group at its minimum width")
        narrow = resized_graph(g, ir_channels(g, cg), floors)
        _, arena = planned_arena(narrow)
        if arena > self.budget:
            raise FitError(
                f"even with every prunable layer at its minimum width ({self.opts.min_keep:.1%} of "
                f"its channels, at least {self.opts.min_channels}), the planned arena is "
                f"{arena:,} B (lower bound {lower_bound(narrow):,} B), above the budget "
                f"of {self.budget:,} B; the unpruned model needs {first.arena:,} B",
                f"raise the budget to at least {arena:,} B, or allow narrower layers (--min-keep)")

    def prune_once(self, model: Any, m: Measured) -> tuple[Any, tuple[Removal, ...]]:
        cg = analyse(model)
        irc = ir_channels(m.graph, cg)
        prunable = {g.id for g in cg.prunable()}
        floors = self.floors(cg)
        counts, _ = plan_step(m.graph, irc, m.compiled.program, m.arena, cg.sizes, floors, prunable,
                              self.budget, self.opts.policy())
        if not counts:
            share = peak_share(m.compiled.program, irc, prunable)
            raise FitError(
                f"the planned arena is {m.arena:,} B, above the budget of {self.budget:,} B, and "
                f"no cut of the layers live at its peak ({share.peak:,} B, of which "
                f"{max(share.fixed):,} B cannot be pruned) lowers it",
                "raise the budget, or lower --min-keep so layers can get narrower")
        scores = channel_importance(cg)
        keep = {g: keep_top(scores[g], cg.groups[g].size - n) for g, n in counts.items()}
        removed = tuple(Removal(cg.groups[g].label, cg.groups[g].size, cg.groups[g].size - n)
                        for g, n in counts.items())
        return rebuild(cg, keep), removed


def prune_to_budget(model: Any, split: DataSplit, budget: int, opts: PruneOptions | None = None,
                    observer: Observer | None = None) -> PruneResult:
    """Prune ``model`` until its planned arena fits ``budget`` bytes (or the steps run out).

    Raises :class:`FitError` at once when the budget is out of reach; returns with ``met`` false when
    ``max_steps`` steps were not enough.
    """
    opts = opts or PruneOptions()
    run = _Run(model, split, budget, opts, observer or QuietObserver())
    m = run.measure(model, 0)
    steps = [run.record(0, model, m, ())]
    if m.arena > budget:
        run.check_feasible(model, m)
    step = 0
    batches = math.ceil(len(split.train_y) / opts.batch_size)
    while m.arena > budget and step < opts.max_steps:
        step += 1
        model, removed = run.prune_once(model, m)
        run.obs.status(f"step {step}: fine-tuning")
        fine_tune(model, split, run.task, opts, opts.epochs,
                  run.obs.fit_callbacks(step, opts.epochs, batches))
        m = run.measure(model, step)
        steps.append(run.record(step, model, m, removed))
    if step and m.arena <= budget and opts.final_epochs > 0:
        step += 1
        run.obs.status("final fine-tuning")
        fine_tune(model, split, run.task, opts, opts.final_epochs,
                  run.obs.fit_callbacks(step, opts.final_epochs, batches))
        m = run.measure(model, step)
        steps.append(run.record(step, model, m, (), f"final fine-tuning, {opts.final_epochs} epochs"))
    return PruneResult(model, m, tuple(steps), budget, split, opts)


def fit_to_budget(model_path: Path, data_path: Path, sram_budget: int,
                  opts: PruneOptions | None = None, val_split: float = 0.2,
                  observer: Observer | None = None,
                  data_options: DataOptions | None = None) -> PruneResult:
    """Load a Keras model and labelled data, prune until the planned arena fits ``sram_budget``.

    The result's ``tflite`` is the int8 model quantised with the same data; raises :class:`FitError`
    when the budget cannot be met.
    """
    from generator.importer.keras_import import load_keras_model

    model = load_keras_model(model_path)
    if not hasattr(model, "outputs") or model.outputs is None:
        raise InputError(f"{model_path}: not a Keras functional model",
                         "save the model with model.save('model.keras')")
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    split = split_dataset(load_dataset(data_path, shape, data_options), val_split,
                          (opts or PruneOptions()).seed)
    result = prune_to_budget(model, split, sram_budget, opts, observer)
    if not result.met:
        last = result.steps[-1]
        raise FitError(f"after {len(result.steps) - 1} pruning steps the planned arena is "
                       f"{last.arena:,} B, still above the budget of {sram_budget:,} B",
                       "allow more steps (--max-steps) or raise the budget")
    return result
