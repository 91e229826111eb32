"""Peak SRAM of partial execution against TFLM, and what it costs in instructions.

For each zoo model: TFLM's minimum arena, mcuforge's arena without partial execution, with it, the
lower bound of the execution model, the ratios; then the instructions of one inference of the
generated C, whole-tensor vs partial execution, counted by callgrind on the host (deterministic).

    python -m bench.plan_bench                     # the five reference workloads
    python -m bench.plan_bench mobilenet_v2 --no-tflm
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from generator.compiler import CompiledModel, compile_graph, plan_figures  # noqa: E402
from generator.host import build_host  # noqa: E402
from generator.importer.tflite_reader import read_tflite  # noqa: E402
from tests.support.zoo import LARGE, zoo_inputs, zoo_tflite  # noqa: E402


@dataclass(frozen=True)
class Row:
    name: str
    tflm: int | None
    whole: int
    partial: int
    bound: int
    instr_whole: int | None
    instr_partial: int | None


def instructions(model: CompiledModel, x: np.ndarray, work: Path) -> int | None:
    """Instructions executed inside model_run() for one input, counted by callgrind."""
    if shutil.which("valgrind") is None:
        return None
    engine = build_host(model, work)
    (work / "in.bin").write_bytes(np.ascontiguousarray(x).tobytes())
    res = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={work / 'cg.out'}",
         "--toggle-collect=model_run", str(engine.exe), str(work / "in.bin"), str(work / "out.bin"),
         "1"], capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", res.stderr)
    return int(found.group(1)) if found else None


def measure(name: str, tflm: bool) -> Row:
    data = zoo_tflite(name)
    graph = read_tflite(data, where=name)
    whole = compile_graph(graph, data, source=name, partial=False)
    partial = compile_graph(graph, data, source=name, partial=True)
    figures = plan_figures(partial)
    tflm_bytes = None
    if tflm:
        from bench.tflm_arena import tflm_min_arena

        tflm_bytes = tflm_min_arena(data)
    x = zoo_inputs(name, 1, seed=3)[0]
    with tempfile.TemporaryDirectory() as tmp:
        iw = instructions(whole, x, Path(tmp) / "whole")
        ip = instructions(partial, x, Path(tmp) / "partial")
    return Row(name, tflm_bytes, figures.unsplit_arena, figures.arena, figures.lower_bound, iw, ip)


def _ratio(a: int | None, b: int | None) -> str:
    return f"{a / b:.3f}" if a is not None and b else "-"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("names", nargs="*", default=list(LARGE))
    ap.add_argument("--no-tflm", action="store_true", help="skip the TFLM arena search")
    args = ap.parse_args(argv)
    rows = [measure(n, not args.no_tflm) for n in args.names]
    head = ("model", "TFLM arena", "whole", "partial", "bound", "partial/TFLM", "partial/whole",
            "partial/bound", "instr whole", "instr partial", "instr +%")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        extra = (f"{100 * (r.instr_partial / r.instr_whole - 1):+.2f}"
                 if r.instr_whole and r.instr_partial else "-")
        print(" | ".join([
            r.name, str(r.tflm or "-"), str(r.whole), str(r.partial), str(r.bound),
            _ratio(r.partial, r.tflm), _ratio(r.partial, r.whole), _ratio(r.partial, r.bound),
            str(r.instr_whole or "-"), str(r.instr_partial or "-"), extra,
        ]))


if __name__ == "__main__":
    main()
