"""Estimated time per inference on a board, and whether the app keeps its inference interval.

time = instructions x cycles per instruction / core clock. Every part of it is stated where it is
shown, because none of it is a measurement of the board:

* **instructions**: counted by QEMU (``-icount shift=0``, SysTick around ``model_run()``) when a
  run has measured them (``mcuforge run`` prints them on every ``inference`` line); before that, a
  rough figure from the model's multiply-accumulates (:func:`instructions_from_macs`, coefficients
  fitted to the zoo models' counts, see ``bench/README.md``).
* **cycles per instruction**: an assumption per core (:data:`CYCLES_PER_INSTRUCTION`), for int8
  kernels running from zero-wait memory; QEMU does not model cycles. Flash wait states, caches and
  bus contention on a real board change it.
* **clock**: the board YAML's ``clock_hz``.

The interval is the time between two inferences the app asks for: KWS, one every
``inference_every`` MFCC strides; sensor, one every ``hop`` IMU samples. VWW runs as fast as frames
come, so it has none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from generator.boards import Board, Core
from generator.ir import Graph, OpKind

CYCLES_PER_INSTRUCTION: Mapping[Core, float] = {
    Core.CORTEX_M0PLUS: 1.4,
    Core.CORTEX_M3: 1.3,
    Core.CORTEX_M4: 1.3,
    Core.CORTEX_M4F: 1.3,
    Core.CORTEX_M7: 0.9,
    Core.CORTEX_M33: 1.2,
    Core.CORTEX_M55: 1.0,
}
"""Assumed cycles per retired instruction of int8 inference code. Single-issue cores (M0+, M3, M4,
M33): 1 cycle for most data-processing and MAC instructions, 2 for loads that do not pipeline, 2-4
for taken branches; the M7 dual-issues some pairs. Assumptions, not measurements."""

INSTRUCTIONS_PER_MAC: Mapping[OpKind, float] = {
    OpKind.CONV_2D: 1.7,
    OpKind.DEPTHWISE_CONV_2D: 3.9,
    OpKind.FULLY_CONNECTED: 2.0,
    OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: 3.0,  # assumed (plain C products), not fitted
    OpKind.TRANSPOSE_CONV: 3.0,  # assumed (gather loops over taps), not fitted
}
"""Rough instructions per multiply-accumulate of mcuforge's kernels as generated projects build them
(-O2) on a Cortex-M4F or M7 (SMLAD paths), fitted to the five reference models of the test zoo in
QEMU at commit 856d56d (``python -m bench.speed --flags kernels-O2 --json F``, then ``--fit F``;
bench/README.md): within -18% to +21% of the counts. Used only until a run has counted the
instructions; refit them when the kernels change."""
HELIUM_INSTRUCTIONS_PER_MAC: Mapping[OpKind, float] = {
    OpKind.CONV_2D: 0.78,
    OpKind.DEPTHWISE_CONV_2D: 3.45,
    OpKind.FULLY_CONNECTED: 0.56,
    OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: 3.0,  # assumed: the LSTM kernel has no Helium path
    OpKind.TRANSPOSE_CONV: 3.0,  # assumed: no Helium path
}
"""The same on a core with Helium (``mve: true``, Cortex-M55 on mps3-an547), fitted the same way:
within -27% to +62% of the counts."""
INSTRUCTIONS_PER_INPUT = 17.0
"""Rough instructions per value read by the other operators (pooling, MEAN, ADD, SOFTMAX...)."""
HELIUM_INSTRUCTIONS_PER_INPUT = 5.1
"""The same on a core with Helium."""
RUN_HINT = "`mcuforge run {project}` counts the instructions in QEMU"


@dataclass(frozen=True)
class Latency:
    """An estimated time per inference on one board."""

    board: str
    instructions: int
    source: str
    """Where the instruction count comes from (a QEMU run, or the model's MACs)."""
    cpi: float
    clock_hz: int
    hint: str = ""
    """How to get a better figure, if there is one."""

    @property
    def seconds(self) -> float:
        return self.instructions * self.cpi / self.clock_hz

    def describe(self) -> str:
        return (f"~{format_seconds(self.seconds)} per inference on {self.board} (estimate: "
                f"{self.instructions / 1e6:.2f} M instructions {self.source}, x {self.cpi:g} "
                f"cycles per instruction assumed, at {self.clock_hz / 1e6:g} MHz)")


@dataclass(frozen=True)
class Interval:
    """How often the app runs the model."""

    seconds: float
    what: str
    fix: str
    frontend_runs: int = 0
    """Front-end computations the app does per interval (KWS: one MFCC frame per stride)."""


def format_seconds(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"


def estimate(board: Board, instructions: int, source: str, hint: str = "") -> Latency:
    return Latency(board.name, instructions, source, CYCLES_PER_INSTRUCTION[board.core],
                   board.clock_hz, hint)


def macs(graph: Graph) -> dict[OpKind, int]:
    """Multiply-accumulates per operator kind (convolutions, fully connected layers, LSTMs)."""
    out: dict[OpKind, int] = {}
    for op in graph.ops:
        if op.kind not in INSTRUCTIONS_PER_MAC:
            continue
        y = graph.tensors[op.outputs[0]]
        w = graph.tensors[op.inputs[1]].shape
        if op.kind is OpKind.TRANSPOSE_CONV:  # each input value times its filter taps
            x = graph.tensors[op.inputs[2]]
            out[op.kind] = out.get(op.kind, 0) + x.size * w[0] * w[1] * w[2]
            continue
        if op.kind is OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM:  # four gates, [units, features]
            out[op.kind] = out.get(op.kind, 0) + 4 * y.size * (w[1] + w[0])
            continue
        if op.kind is OpKind.FULLY_CONNECTED:
            per = w[1]
        elif op.kind is OpKind.CONV_2D:
            per = w[1] * w[2] * w[3]
        else:
            per = w[1] * w[2]
        out[op.kind] = out.get(op.kind, 0) + y.size * per
    return out


def instructions_from_macs(graph: Graph, mve: bool = False) -> int:
    """A rough instruction count of one inference, before any run has measured it (``mve``: the
    kernels' Helium paths)."""
    per_mac = HELIUM_INSTRUCTIONS_PER_MAC if mve else INSTRUCTIONS_PER_MAC
    per_input = HELIUM_INSTRUCTIONS_PER_INPUT if mve else INSTRUCTIONS_PER_INPUT
    total = sum(per_mac[kind] * n for kind, n in macs(graph).items())
    return round(total + per_input * other_inputs(graph))


def other_inputs(graph: Graph) -> int:
    """Values the operators without MACs read from non-constant tensors."""
    return sum(graph.tensors[t].size for op in graph.ops if op.kind not in INSTRUCTIONS_PER_MAC
               for t in op.inputs if t >= 0 and not graph.tensors[t].is_const)


def static_estimate(board: Board, graph: Graph, project: str | None = None) -> Latency:
    """Before a run: instructions from the model's MACs, with how to count them for real."""
    n_macs = sum(macs(graph).values())
    return estimate(board, instructions_from_macs(graph, board.mve),
                    f"roughly from {n_macs / 1e6:.2f} M MACs",
                    RUN_HINT.format(project=project) if project else "")


def measured_estimate(board: Board, instructions: int, counted_on: Board) -> Latency:
    """After a run: the instructions QEMU counted on ``counted_on``'s core."""
    where = (f"counted in QEMU on {counted_on.name}" if counted_on.core is board.core else
             f"counted in QEMU on {counted_on.name} ({counted_on.core.value}, not this board's "
             f"{board.core.value})")
    return estimate(board, instructions, where)


def kws_interval(stride_ms: float, inference_every: int) -> Interval:
    seconds = inference_every * stride_ms / 1000
    strides = "MFCC stride" if inference_every == 1 else f"{inference_every} MFCC strides"
    return Interval(seconds, f"kws runs the model every {strides} ({format_seconds(seconds)}: "
                    f"stride_ms {stride_ms:g} x inference_every {inference_every})",
                    "raise inference_every (--inference-every) or stride_ms, or use a faster "
                    "board or a smaller model", frontend_runs=inference_every)


def sensor_interval(hop: int, rate_hz: float) -> Interval:
    seconds = hop / rate_hz
    return Interval(seconds, f"sensor runs the model every {hop} samples at {rate_hz:g} Hz "
                    f"({format_seconds(seconds)})",
                    "raise the app's hop, or use a faster board or a smaller model")


def app_interval(kind: str, settings: Mapping[str, Any], frontend: Mapping[str, Any],
                 rate_hz: float | None = None) -> Interval | None:
    """The app's interval from its settings and front-end fields (as in ``mcuforge.json``), or
    None (VWW runs as fast as frames come)."""
    if kind == "kws":
        return kws_interval(float(frontend["stride_ms"]), int(settings.get("inference_every") or 1))
    if kind == "sensor" and rate_hz:
        hop = settings.get("hop") or max(1, int(frontend["n_samples"]) // 2)
        return sensor_interval(int(hop), rate_hz)
    return None


def measured_instructions(costs: list[tuple[str, int]]) -> int | None:
    """The largest instruction count of a run's ``inference`` lines (unit, cost), if any."""
    counted = [cost for unit, cost in costs if unit == "instructions"]
    return max(counted) if counted else None


FRONTEND_RE = re.compile(r"^frontend \d+ instructions (\d+)\s*$", re.MULTILINE)


def measured_frontend(output: str) -> int | None:
    """The largest front-end cost (``frontend N instructions X`` lines of a KWS or VWW run)."""
    counted = [int(m[1]) for m in FRONTEND_RE.finditer(output)]
    return max(counted) if counted else None


def interval_warning(latency: Latency, interval: Interval | None, emulated: bool = False,
                     frontend_instructions: int = 0) -> str | None:
    """A warning when the estimated time per inference, plus the front-end work of one interval
    when it was counted, is longer than the app's interval (not for an emulated board: its replay
    does not run in real time)."""
    if interval is None or emulated:
        return None
    frontend = interval.frontend_runs * frontend_instructions * latency.cpi / latency.clock_hz
    if latency.seconds + frontend <= interval.seconds:
        return None
    extra = (f" plus {format_seconds(frontend)} of front-end work" if frontend else "")
    return (f"the app may not keep its inference interval on {latency.board}: {interval.what}, "
            f"but one inference is estimated at {format_seconds(latency.seconds)}{extra}; "
            f"{interval.fix}")


def manifest_interval(manifest: Mapping[str, Any], rate_hz: float | None) -> Interval | None:
    """The interval of a generated project, from its ``mcuforge.json``."""
    options = manifest.get("options")
    if not isinstance(options, Mapping):
        return None
    settings, frontend = options.get("settings"), options.get("frontend")
    if not isinstance(settings, Mapping) or not isinstance(frontend, Mapping):
        return None
    try:
        return app_interval(str(manifest.get("app")), settings, frontend, rate_hz)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None  # a manifest this version did not write: no interval to compare with
