"""Fit the planner's cost model (generator/plan/cost.py) to instruction counts in the emulator.

For each reference CNN of the test zoo, a set of step programs (whole-tensor execution; the
planner's choice under several overhead budgets; seeded random splits and in-place operators) is
compiled, built with the kernels at -O2 into the bench firmware (``bench/speed_fw``) and run in
QEMU (``-icount``) on the emulated cores. Each program's extra instructions over whole-tensor
execution are regressed on its extra cost terms (:func:`generator.plan.pex.split_terms`,
:func:`generator.plan.pex.kernel_terms`), least squares, one model per core; the base
coefficients (whole-tensor instructions per multiply-accumulate and per value) are fitted on the
whole programs. It prints the coefficients, then every program's measured and predicted overhead.

    python -m bench.pex_fit                                  # an386 (DSP) and an547 (Helium)
    python -m bench.pex_fit --json fit.json --random 6
    python -m bench.pex_fit --from-json fit.json             # refit without measuring
    python -m bench.pex_fit --check                          # measure the planner's own choices only

Run it from the repository root.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import lsq_linear

from bench.speed import FLAGS, MACHINES, build_fw, parse_output, run_fw, write_engine

MODELS = ("ds_cnn", "mobilenet_v1", "mobilenet_v2", "resnet8")
CORES = {"an386": "dsp", "an547": "helium"}
BUDGETS = (0.005, 0.015, 0.05, 0.2)
SIGNED = ("inplace_pw_values",)


def programs(model: str, n_random: int, seed: int, check: bool) -> list[tuple[str, Any]]:
    """(label, Program) for one zoo model; the first is whole-tensor execution."""
    from generator.importer.tflite_reader import read_tflite
    from generator.plan import cost, pex
    from tests.support.zoo import zoo_tflite

    g = read_tflite(zoo_tflite(model), where=model)
    out: list[tuple[str, Any]] = [("whole", pex.build_program(g))]
    seen: set[tuple[Any, ...]] = set()

    def add(label: str, p: Any) -> None:
        key = (tuple(p.splits), tuple(sorted(p.inplace.items())), p.cols)
        if key not in seen:
            seen.add(key)
            out.append((label, p))

    add_key = (tuple(out[0][1].splits), (), out[0][1].cols)
    seen.add(add_key)
    for name, m in cost.MODELS.items():
        for b in ((pex.OVERHEAD_BUDGET,) if check else BUDGETS):
            add(f"{name} budget {b:g}", pex.search_splits(g, budget=b, model=m).program)
    if check:
        return out
    # one change at a time from whole-tensor execution: each chain split in 2, 4 or 8 and each
    # in-place operator alone, so that each program isolates the terms of one operator
    rng = random.Random(f"{seed}-{model}")
    singles: list[tuple[str, Any]] = []
    for c in pex.candidate_chains(g):
        for k in (2, 4, 8):
            if k in pex.slice_options(pex.base_channels(g, c)):  # the slices the planner cuts
                singles.append((f"split {c.start}-{c.end} x{k}", pex.build_program(g, [pex.Split(c, k)])))
    for i, op in enumerate(g.ops):
        form = pex.inplace_form(g, op)
        for param in ((1,) if form == "pw" else (2, 8) if form == "dw" else ()):
            singles.append((f"in place {i} /{param}", pex.build_program(g, [], {i: param})))
    for label, p in rng.sample(singles, min(n_random, len(singles))):
        add(label, p)
    return out


def terms(p: Any) -> dict[str, int]:
    from generator.plan import pex

    a, b = pex.split_terms(p), pex.kernel_terms(p)
    return {t: a[t] + b[t] for t in a}


def measure(machines: Sequence[str], n_random: int, seed: int, work: Path, check: bool,
            log: Any = print) -> dict[str, Any]:
    from generator.compiler import compile_program
    from generator.plan import pex
    from tests.support.zoo import zoo_tflite

    rows: list[dict[str, Any]] = []
    for model in MODELS:
        data = zoo_tflite(model)
        for j, (label, p) in enumerate(programs(model, n_random, seed, check)):
            compiled = compile_program(p.graph, p, data, source=model)
            eng = work / model / str(j) / "engine"
            write_engine(compiled, eng, 1)
            row: dict[str, Any] = {"model": model, "label": label, "peak": p.peak,
                                   "arena": compiled.layout.size, "terms": terms(p),
                                   "base": pex.base_terms(p.graph), "instructions": {}}
            for m in machines:
                elf = build_fw(eng, work / model / str(j) / m, MACHINES[m], FLAGS["kernels-O2"])
                instr, _, _, ok = parse_output(run_fw(elf, MACHINES[m]))
                if not ok or not instr:
                    raise RuntimeError(f"{model} {label} {m}: the firmware did not finish")
                row["instructions"][m] = instr[0]
            log(f"  {model:13s} {label:22s} peak {p.peak:7,} "
                + " ".join(f"{m} {row['instructions'][m]:,}" for m in machines))
            rows.append(row)
    return {"rows": rows, "machines": list(machines)}


def fit(dump: Mapping[str, Any], machine: str) -> tuple[dict[str, float], dict[str, float]]:
    """(per-term coefficients, base coefficients) for one machine."""
    from generator.plan.cost import BASE_TERMS, TERMS

    rows = dump["rows"]
    whole = {r["model"]: r for r in rows if r["label"] == "whole"}
    xs, ys = [], []
    for r in rows:
        if r["label"] == "whole":
            continue
        w = whole[r["model"]]
        xs.append([r["terms"][t] - w["terms"][t] for t in TERMS])
        ys.append(r["instructions"][machine] - w["instructions"][machine])
    x, y = np.array(xs, dtype=float), np.array(ys, dtype=float)
    # relative errors count: a program's row is weighted by 1 / (its overhead + 1% of the model),
    # so the planner's region (overheads of a few percent) is fitted, not the extreme programs
    wts = np.array([1.0 / (abs(v) + 0.01 * whole[r["model"]]["instructions"][machine])
                    for v, r in zip(ys, (r for r in rows if r["label"] != "whole"), strict=True)])
    x, y = x * wts[:, None], y * wts
    used = [k for k in range(len(TERMS)) if np.any(x[:, k] != 0)]
    coef = np.zeros(len(TERMS))
    if used:
        # every term is a cost (instructions added), bounded below by 0, except an in-place 1x1
        # conv, which can be cheaper than its whole-tensor form: bounds keep collinear terms from
        # trading large opposite coefficients
        lower = [-np.inf if TERMS[k] in SIGNED else 0.0 for k in used]
        coef[used] = lsq_linear(x[:, used], y, bounds=(lower, np.inf)).x
    per_term = {t: round(float(c), 3) for t, c in zip(TERMS, coef, strict=True)}
    bx = np.array([[w["base"][t] for t in BASE_TERMS] for w in whole.values()], dtype=float)
    by = np.array([w["instructions"][machine] for w in whole.values()], dtype=float)
    bsol, *_ = np.linalg.lstsq(bx, by, rcond=None)
    base = {t: round(float(c), 3) for t, c in zip(BASE_TERMS, bsol, strict=True)}
    return per_term, base


def report(dump: Mapping[str, Any], machines: Sequence[str]) -> str:
    from generator.plan import cost

    lines = []
    rows = dump["rows"]
    whole = {r["model"]: r for r in rows if r["label"] == "whole"}
    for m in machines:
        model = cost.MODELS[CORES[m]]
        per_term, base = fit(dump, m)
        lines.append(f"{m} ({model.name}) fitted per-term: {json.dumps(per_term)}")
        lines.append(f"{m} ({model.name}) fitted base: {json.dumps(base)}")
        lines.append(f"{'model':13s} {'program':22s} {'peak':>8s} {'measured':>9s} "
                     f"{'committed model':>15s} {'refit':>7s}")
        for r in rows:
            if r["label"] == "whole":
                continue
            w = whole[r["model"]]
            d = {t: r["terms"][t] - w["terms"][t] for t in r["terms"]}
            meas = (r["instructions"][m] - w["instructions"][m]) / w["instructions"][m]
            pred = model.price(d) / w["instructions"][m]
            refit = sum(per_term[t] * v for t, v in d.items()) / w["instructions"][m]
            lines.append(f"{r['model']:13s} {r['label']:22s} {r['peak']:8,} {meas:+9.2%} "
                         f"{pred:+15.2%} {refit:+7.2%}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pex_fit", description=__doc__.split("\n")[0])
    ap.add_argument("--machines", default="an386,an547")
    ap.add_argument("--random", type=int, default=4, help="single-change programs per model (drawn at random)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--from-json", type=Path)
    ap.add_argument("--check", action="store_true",
                    help="only the planner's own choice per cost model (at its budget)")
    a = ap.parse_args(argv)
    machines = a.machines.split(",")
    for m in machines:
        if m not in CORES:
            print(f"unknown machine {m!r}: choose from {', '.join(CORES)}", file=sys.stderr)
            return 2
    if a.from_json:
        dump = json.loads(a.from_json.read_text())
    else:
        with tempfile.TemporaryDirectory(prefix="mcuforge-pexfit-") as tmp:
            dump = measure(machines, a.random, a.seed, Path(tmp), a.check)
        if a.json:
            a.json.write_text(json.dumps(dump, indent=1))
    print(report(dump, machines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
