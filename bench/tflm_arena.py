"""The smallest tensor arena with which TFLite Micro runs each zoo model, beside mcuforge's arena.

TFLM has no "how much arena do I need" query, so the size is searched: each trial runs the model in a
fresh subprocess (a too-small arena may abort the process rather than raise) and passes when the
process exits 0 and prints the same outputs as a run with a generous arena. The generous run also
prints TFLM's own accounting (``RecordingMicroAllocator``): the *head* of the arena holds the planned
tensors and kernel scratch buffers, the *tail* holds TFLM's bookkeeping (tensor and node structs,
per-channel quantisation data, the allocator itself). Search starts from that total.

    python -m bench.tflm_arena                 # every zoo model
    python -m bench.tflm_arena --group large   # or: resnet8 ds_cnn ...
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

GENEROUS_MIN = 4 << 20  # bytes; the generous arena is the larger of this and 10x the model
TRIAL_TIMEOUT_S = 120.0
REPO_ROOT = Path(__file__).resolve().parent.parent


class TflmRunError(RuntimeError):
    """TFLM did not run the model even with a generous arena."""


@dataclass(frozen=True)
class TrialResult:
    ok: bool
    outputs: str
    stderr: str


@dataclass(frozen=True)
class Accounting:
    """TFLM's own report of a run: arena bytes in use, split into head and tail."""

    total: int
    head: int
    tail: int


@dataclass(frozen=True)
class TflmArena:
    min_arena: int
    accounting: Accounting
    trials: int


# ----------------------------------------------------------------------------- one trial (child)


def _io_counts(model: bytes) -> tuple[int, int]:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    sg = schema.Model.GetRootAsModel(model, 0).Subgraphs(0)
    return int(sg.InputsLength()), int(sg.OutputsLength())


def _trial_input(details: dict[str, Any], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in details["shape"])
    dtype = np.dtype(details["dtype"])
    if dtype.kind == "f":
        return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)


def run_trial_here(model_path: Path, arena: int) -> int:
    """Run once with ``arena`` bytes; outputs to stdout, TFLM's accounting to stderr."""
    from tflite_micro.python.tflite_micro import runtime

    data = model_path.read_bytes()
    n_in, n_out = _io_counts(data)
    interp = runtime.Interpreter.from_bytes(data, arena_size=arena)
    for i in range(n_in):
        interp.set_input(_trial_input(interp.get_input_details(i), seed=i), i)
    interp.invoke()
    for i in range(n_out):
        out = np.asarray(interp.get_output(i))
        print(out.dtype.str, out.shape, out.tobytes().hex())
    sys.stdout.flush()
    interp.print_allocations()
    return 0


# ----------------------------------------------------------------------------- search (parent)


def run_trial(model_path: Path, arena: int) -> TrialResult:
    cmd = [sys.executable, "-m", "bench.tflm_arena", "--trial", str(arena), "--model", str(model_path)]
    try:
        res = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=REPO_ROOT,
                             timeout=TRIAL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return TrialResult(False, "", f"timed out after {TRIAL_TIMEOUT_S:.0f} s")
    return TrialResult(res.returncode == 0, res.stdout, res.stderr)


_ACCOUNT = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")


def parse_accounting(stderr: str) -> Accounting:
    found = {k: int(v) for k, v in _ACCOUNT.findall(stderr)}
    if set(found) != {"total", "head", "tail"}:
        raise TflmRunError("TFLM printed no arena accounting; stderr was:\n" + stderr[-2000:])
    return Accounting(found["total"], found["head"], found["tail"])


def smallest_passing(passes: Callable[[int], bool], hi: int, step: int = 64) -> int:
    """Smallest n <= hi with passes(n), given passes(hi) and that passing is monotonic in n.

    Steps down from ``hi`` by doubling strides until a size fails, then bisects to the byte."""
    lo = hi
    while lo > 0:
        lo = max(0, hi - step)
        if not passes(lo):
            break
        hi, step = lo, step * 2
    else:
        return 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if passes(mid):
            hi = mid
        else:
            lo = mid
    return hi


def tflm_min_arena_details(model: bytes) -> TflmArena:
    """Search the smallest arena and also return TFLM's accounting of a generous run."""
    with tempfile.TemporaryDirectory(prefix="tflm_arena_") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(model)
        ref = run_trial(path, max(GENEROUS_MIN, 10 * len(model)))
        if not ref.ok:
            raise TflmRunError("TFLM cannot run the model with a generous arena:\n" + ref.stderr[-2000:])
        acct = parse_accounting(ref.stderr)
        trials = 1

        def passes(arena: int) -> bool:
            nonlocal trials
            trials += 1
            r = run_trial(path, arena)
            return r.ok and r.outputs == ref.outputs

        start = acct.total
        while not passes(start):
            start *= 2
        return TflmArena(smallest_passing(passes, start), acct, trials)


def tflm_min_arena(model: bytes) -> int:
    """The smallest ``arena_size`` (bytes) with which the TFLM Python runtime runs ``model``."""
    return tflm_min_arena_details(model).min_arena


# ----------------------------------------------------------------------------- mcuforge side


def mcuforge_arena(model: bytes) -> tuple[int, int] | str:
    """(arena without splitting, arena with partial execution), or why it could not be computed."""
    try:
        from generator.compiler import compile_graph
        from generator.importer.tflite_reader import read_tflite
        from generator.plan.arena import best_layout
        from generator.plan.pex import build_program
    except ImportError as exc:
        return f"generator.plan unavailable ({exc.name})"
    from generator.errors import McuforgeError

    try:
        graph = read_tflite(model)
        unsplit = best_layout(list(build_program(graph).buffers)).size
        return unsplit, compile_graph(graph, model).arena_bytes
    except McuforgeError as exc:
        return f"{type(exc).__name__}: {str(exc)[:80]}"


# ----------------------------------------------------------------------------- table


@dataclass(frozen=True)
class Row:
    name: str
    tflm: TflmArena
    mcuforge: tuple[int, int] | str


def measure(name: str, model: bytes) -> Row:
    return Row(name, tflm_min_arena_details(model), mcuforge_arena(model))


def format_table(rows: Sequence[Row]) -> str:
    cols = (("model", 22), ("TFLM min", 10), ("accounted", 11), ("head", 9), ("tail", 8),
            ("mcuforge", 10), ("partial", 9), ("partial/min", 13), ("partial/head", 14))
    header = "".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(cols))
    lines = [header, "-" * len(header)]
    notes: list[str] = []
    for r in rows:
        t, a = r.tflm, r.tflm.accounting
        cells: list[object] = [r.name, t.min_arena, a.total, a.head, a.tail]
        if isinstance(r.mcuforge, str):
            notes.append(f"{r.name}: mcuforge columns skipped: {r.mcuforge}")
            cells += ["-"] * 4
        else:
            unsplit, partial = r.mcuforge
            cells += [unsplit, partial, f"{partial / t.min_arena:.2f}", f"{partial / max(a.head, 1):.2f}"]
        lines.append("".join(f"{c!s:<{w}}" if i == 0 else f"{c!s:>{w}}"
                             for i, (c, (_, w)) in enumerate(zip(cells, cols, strict=True))))
    lines += [
        "",
        "TFLM min: smallest arena_size that runs and reproduces the generous-arena outputs.",
        "accounted/head/tail: TFLM's RecordingMicroAllocator after a generous run (head: planned",
        "tensors and scratch; tail: bookkeeping). mcuforge: arena without splitting; partial: with",
        "partial execution. All in bytes.",
    ]
    return "\n".join(lines + notes)


def _names(args: argparse.Namespace) -> list[str]:
    from tests.support.zoo import GROUPS, SPECS

    if args.models:
        unknown = [n for n in args.models if n not in SPECS]
        if unknown:
            raise SystemExit(f"unknown zoo model(s) {unknown}; known: {', '.join(SPECS)}")
        return list(args.models)
    return list(GROUPS[args.group]) if args.group else list(SPECS)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.tflm_arena", description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="*", help="zoo model names (default: all)")
    p.add_argument("--group", choices=("large", "corners"))
    p.add_argument("-j", "--jobs", type=int, default=1, help="models measured in parallel")
    p.add_argument("--trial", type=int, help=argparse.SUPPRESS)
    p.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.trial is not None:
        return run_trial_here(args.model, args.trial)
    from tests.support.zoo import zoo_tflite

    names = _names(args)
    models = [zoo_tflite(n) for n in names]  # converts (in this thread) what is not cached yet
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(measure, names, models))
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
