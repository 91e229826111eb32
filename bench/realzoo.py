"""Real int8 models from public microcontroller repositories, through TFLite Micro and mcuforge.

For every full-int8 ``.tflite`` (int8 or uint8 inputs and outputs) in a folder it prints: the model,
its source repository (from ``bench/realzoo_manifest.json``, by sha256), its operators, whether TFLite
Micro's Python runtime runs it, whether mcuforge compiles it (or the first line of its refusal),
whether the generated C is bit-exact on N random inputs, mcuforge's arena (partial execution) beside
TFLM's smallest arena (searched as in :mod:`bench.tflm_arena`) and their ratio.

Exactness is checked per numerics mode against its own reference (:mod:`generator.numerics`): the
engine compiled with ``--numerics tflm`` (the default) against TFLM's runtime, and the engine compiled
with ``--numerics tflite-ref`` against the TFLite interpreter's reference kernels.

    python -m bench.realzoo /work/realzoo-models            # table and summary
    python -m bench.realzoo /work/realzoo-models --json     # one JSON document
    python -m bench.realzoo DIR --runs 10 --no-tflm-arena   # more inputs, skip the arena search
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.realzoo_fetch import MANIFEST, load_manifest
from bench.tflm_arena import GENEROUS_MIN, TflmRunError, run_trial, tflm_min_arena

FULL_INT8_TYPES = ("INT8", "UINT8")
DEFAULT_RUNS = 5


@dataclass(frozen=True)
class ModelFacts:
    """What the flatbuffer itself says: operators and input/output types."""

    ops: tuple[str, ...]
    io_types: tuple[str, ...]
    subgraphs: int

    @property
    def full_int8(self) -> bool:
        return all(t in FULL_INT8_TYPES for t in self.io_types)


@dataclass
class Row:
    name: str
    source: str
    ops: list[str]
    missing_ops: list[str]
    tflm_runs: bool
    tflm_error: str = ""
    compiles: bool = False
    refusal: str = ""
    exact_tflm: bool | None = None
    exact_tflite: bool | None = None
    mismatch: str = ""
    arena: int | None = None
    tflm_arena: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.arena is None or not self.tflm_arena:
            return None
        return self.arena / self.tflm_arena


# ----------------------------------------------------------------------------- facts


def model_facts(data: bytes) -> ModelFacts:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(data, 0)
    sg = model.Subgraphs(0)
    ops: set[str] = set()
    for i in range(sg.OperatorsLength()):
        code = model.OperatorCodes(sg.Operators(i).OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = op_names.get(builtin, f"BUILTIN_{builtin}")
        ops.add(f"CUSTOM:{code.CustomCode().decode()}" if name == "CUSTOM" else name)
    io = [sg.Tensors(sg.Inputs(i)).Type() for i in range(sg.InputsLength())]
    io += [sg.Tensors(sg.Outputs(i)).Type() for i in range(sg.OutputsLength())]
    return ModelFacts(tuple(sorted(ops)), tuple(type_names.get(t, str(t)) for t in io),
                      model.SubgraphsLength())


def supported_ops() -> set[str]:
    """The TFLite operators mcuforge's IR has a kind for."""
    from generator.ir import OpKind

    return {k.value for k in OpKind}


def sources() -> dict[str, str]:
    """sha256 -> repository, from the manifest."""
    if not MANIFEST.is_file():
        return {}
    return {e.sha256: e.repository for e in load_manifest()}


# ----------------------------------------------------------------------------- TFLM


def tflm_runs(path: Path, data: bytes) -> str:
    """'' when TFLM's runtime runs the model with a generous arena, else the first line of why.

    Runs in a subprocess: an operator TFLM lacks can abort the process rather than raise."""
    res = run_trial(path, max(GENEROUS_MIN, 10 * len(data)))
    if res.ok:
        return ""
    lines = [ln.strip() for ln in res.stderr.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Traceback", "File ", "^"))]
    return (useful[-1] if useful else "exited with an error")[:120]


def random_inputs(data: bytes, runs: int, seed: int) -> list[list[npt.NDArray[Any]]]:
    """``runs`` sets of inputs over the full range of each input's integer type."""
    from generator.importer.tflite_reader import read_tflite

    graph = read_tflite(data, where="model")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(runs):
        one = []
        for t in graph.inputs:
            dt = np.dtype(graph.tensors[t].dtype.value)
            info = np.iinfo(dt)
            one.append(rng.integers(info.min, int(info.max) + 1, size=graph.tensors[t].shape,
                                    dtype=dt))
        out.append(one)
    return out


# ----------------------------------------------------------------------------- mcuforge


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:400]


def compile_and_check(row: Row, name: str, data: bytes, runs: int, seed: int) -> None:
    """Compile with partial execution in both numerics modes, run the C on the host, compare."""
    from generator.compiler import compile_graph
    from generator.errors import McuforgeError
    from generator.host import build_host
    from generator.importer.reference import run_reference
    from generator.importer.tflite_reader import read_tflite
    from generator.numerics import Numerics

    try:
        graph = read_tflite(data, where=name)
        compiled = {Numerics.TFLM: compile_graph(graph, data, source=name,
                                                 numerics=Numerics.TFLM)}
    except McuforgeError as exc:
        row.refusal = first_line(exc)
        return
    for n in Numerics:  # a model exact only with TFLite Micro (an LSTM) is refused in other modes
        if n is not Numerics.TFLM:
            try:
                compiled[n] = compile_graph(graph, data, source=name, numerics=n)
            except McuforgeError as exc:
                row.notes.append(f"{n}: {first_line(exc)}")
    row.compiles = True
    row.arena = compiled[Numerics.TFLM].arena_bytes
    inputs = random_inputs(data, runs, seed)
    for numerics, model in compiled.items():
        if numerics is Numerics.TFLM and not row.tflm_runs:
            continue
        with tempfile.TemporaryDirectory(prefix="realzoo_") as tmp:
            try:
                got = build_host(model, Path(tmp)).run(inputs)
            except McuforgeError as exc:
                row.notes.append(f"host run ({numerics}): {first_line(exc)}")
                continue
        try:
            exact: bool | None = _compare(row, numerics.value, inputs, got,
                                          lambda x, n=numerics: run_reference(data, x, numerics=n))
        except McuforgeError as exc:  # the reference itself refuses the model
            row.notes.append(f"reference ({numerics}): {first_line(exc)}")
            exact = None
        if numerics is Numerics.TFLM:
            row.exact_tflm = exact
        else:
            row.exact_tflite = exact


def _compare(row: Row, label: str, inputs: list[list[npt.NDArray[Any]]],
             got: list[list[npt.NDArray[Any]]], reference: Any) -> bool:
    for i, (x, outs) in enumerate(zip(inputs, got, strict=True)):
        want = reference(x)
        for k, (w, g) in enumerate(zip(want, outs, strict=True)):
            g = g.reshape(w.shape)
            if w.dtype != g.dtype or not np.array_equal(w, g):
                diff = np.abs(w.astype(np.int64) - g.astype(np.int64))
                row.mismatch = (f"{label}: run {i} output {k}: {int((diff > 0).sum())} of "
                                f"{diff.size} differ, max {int(diff.max())}")
                return False
    return True


# ----------------------------------------------------------------------------- one model


def measure(path: Path, runs: int, seed: int, arena_search: bool,
            known: dict[str, str]) -> Row | None:
    """The row of one model, or None when it is not full int8 (reported by the caller)."""
    data = path.read_bytes()
    facts = model_facts(data)
    if not facts.full_int8:
        return None
    row = Row(name=path.stem, source=known.get(hashlib.sha256(data).hexdigest(), "-"),
              ops=list(facts.ops), missing_ops=sorted(set(facts.ops) - supported_ops()),
              tflm_runs=False)
    row.tflm_error = tflm_runs(path, data)
    row.tflm_runs = not row.tflm_error
    compile_and_check(row, path.stem, data, runs, seed)
    if arena_search and row.tflm_runs:
        try:
            row.tflm_arena = tflm_min_arena(data)
        except TflmRunError as exc:
            row.notes.append(f"TFLM arena search: {first_line(exc)}")
    return row


# ----------------------------------------------------------------------------- output


_LONG_NAME = re.compile(r"'([^']{20})[^']{12,}([^']{12})'")


def abbreviate(text: str) -> str:
    """Long quoted tensor names shortened to their ends, so a refusal fits a table row."""
    return _LONG_NAME.sub(lambda m: f"'{m.group(1)}...{m.group(2)}'", text)


def _cell(text: str, width: int = 140) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _yes(v: bool | None) -> str:
    return "-" if v is None else ("yes" if v else "NO")


def format_table(rows: Sequence[Row], skipped: Sequence[str], runs: int) -> str:
    cols = (("model", 28), ("source", 24), ("ops", 4), ("TFLM", 5), ("exact tflm", 11),
            ("exact tflite", 13), ("arena", 9), ("TFLM arena", 11), ("ratio", 6))
    header = "".join(f"{c:<{w}}" if i < 2 else f"{c:>{w}}" for i, (c, w) in enumerate(cols))
    header += "  mcuforge"
    lines = [header, "-" * (len(header) + 40)]
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        cells = [r.name, r.source, len(r.ops), "yes" if r.tflm_runs else "NO",
                 _yes(r.exact_tflm), _yes(r.exact_tflite), r.arena if r.arena is not None else "-",
                 r.tflm_arena or "-", ratio]
        line = "".join(f"{c!s:<{w}}" if i < 2 else f"{c!s:>{w}}"
                       for i, (c, (_, w)) in enumerate(zip(cells, cols, strict=True)))
        lines.append(line + "  " + ("compiles" if r.compiles else _cell(abbreviate(r.refusal))))
    lines += ["", summary(rows), "", *details(rows), *[f"skipped {s}" for s in skipped], "",
              f"exact: the generated C equals the reference on {runs} random inputs (tflm: TFLM's",
              "runtime, --numerics tflm; tflite: the TFLite reference interpreter, --numerics",
              "tflite-ref). arena: mcuforge with partial execution; TFLM arena: the smallest",
              "arena_size with which TFLM's runtime reproduces its outputs. Bytes."]
    return "\n".join(lines)


def details(rows: Sequence[Row]) -> list[str]:
    out = [f"{r.name}: TFLM: {r.tflm_error}" for r in rows if r.tflm_error]
    out += [f"{r.name}: {r.mismatch}" for r in rows if r.mismatch]
    out += [f"{r.name}: {n}" for r in rows for n in r.notes]
    other = [r.name for r in rows if r.tflm_runs and not r.compiles and not r.missing_ops]
    if other:
        out.append("refused by mcuforge though TFLM runs it and every operator has a kind: " +
                   ", ".join(other))
    counts = blocking_ops(rows)
    if counts:
        out.append("operators missing from mcuforge, by models of TFLM's that they block: " +
                   ", ".join(f"{op} {n}" for op, n in counts.most_common()))
    return out


def blocking_ops(rows: Sequence[Row]) -> Counter[str]:
    """For models TFLM runs and mcuforge refuses: how many each missing operator appears in."""
    return Counter(op for r in rows if r.tflm_runs and not r.compiles for op in r.missing_ops)


def summary(rows: Sequence[Row]) -> str:
    runnable = [r for r in rows if r.tflm_runs]
    compiled = [r for r in runnable if r.compiles]
    # exact: equal to TFLM, and to the TFLite interpreter unless that refuses the model
    exact = [r for r in compiled if r.exact_tflm and r.exact_tflite is not False]
    return (f"compiles {len(compiled)} of {len(runnable)} that TFLM runs; exact {len(exact)} "
            f"({len(rows)} full-int8 models)")


def to_json(rows: Sequence[Row], skipped: Sequence[str], runs: int) -> str:
    doc = {"runs": runs, "summary": summary(rows),
           "blocking_ops": dict(blocking_ops(rows).most_common()),
           "models": [asdict(r) | {"ratio": r.ratio} for r in rows], "skipped": list(skipped)}
    return json.dumps(doc, indent=1)


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.realzoo", description=__doc__.split("\n")[0])
    p.add_argument("folder", type=Path, help="folder of .tflite files")
    p.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="random inputs per model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON document instead")
    p.add_argument("-j", "--jobs", type=int, default=1, help="models measured in parallel")
    p.add_argument("--no-tflm-arena", action="store_true", help="skip TFLM's arena search")
    args = p.parse_args(argv)
    if not args.folder.is_dir():
        print(f"{args.folder}: no such folder; extract the models first: python -m "
              f"bench.realzoo_fetch {args.folder}", file=sys.stderr)
        return 2
    paths = sorted(args.folder.glob("*.tflite"))
    if not paths:
        print(f"{args.folder}: no .tflite files; extract the models first: python -m "
              f"bench.realzoo_fetch {args.folder}", file=sys.stderr)
        return 2
    known = sources()

    def one(path: Path) -> Row | None:
        print(f"... {path.name}", file=sys.stderr, flush=True)
        return measure(path, args.runs, args.seed, not args.no_tflm_arena, known)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, paths))
    rows, skipped = [], []
    for path, row in zip(paths, results, strict=True):
        if row is None:
            skipped.append(f"{path.name}: not full int8 (inputs/outputs "
                           f"{', '.join(model_facts(path.read_bytes()).io_types)})")
        else:
            rows.append(row)
    print(to_json(rows, skipped, args.runs) if args.json else format_table(rows, skipped, args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
