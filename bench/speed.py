"""Instructions per inference, and per operator type, of mcuforge's engine against TFLM + CMSIS-NN.

For each reference workload of the test zoo and each emulated core (QEMU ``mps2-an386``,
Cortex-M4F; ``mps2-an500``, Cortex-M7; ``mps3-an547``, Cortex-M55 with MVE) the engine
``mcuforge compile`` would write is built with ``arm-none-eabi-gcc`` into a small bench firmware (``bench/speed_fw/``: the harness of
``../shared/bench/tflm_cmsis``, so the same start-up, link script, inputs and counter as its TFLM
rows) and run in QEMU with ``-icount shift=0``: every instruction advances virtual time by 1 ns and
the firmware reads SysTick around ``model_run()``, the method of mcuforge's own emulator runs
(``port_replay.c``). Per operator: the ``--no-partial`` engine built with
``-DMCUF_TRACE_FN=bench_trace`` (the hook the generated ``model.c`` calls after every operator),
timed between hook calls.

TFLM + CMSIS-NN figures come from the baseline harness' ``results.json`` / ``profile.json``
(``bench/tflm_baseline.sh`` makes them for every core; ``--baseline DIR`` looks for
``DIR/<machine>/results.json`` and, for an386, ``DIR/results.json`` too). Without them the table
says so and shows mcuforge alone.

    python -m bench.speed                              # every workload, an386 + an500, -Os
    python -m bench.speed --machines an386,an500,an547 --flags kernels-O2 --baseline bench/baseline
    python -m bench.speed ds_cnn --machines an386 --flags Os,O2,O3,kernels-O2,kernels-O3
    python -m bench.speed --baseline /tmp/mcuforge-speed --json speed.json

Run it from the repository root (the zoo models come from ``tests/support/zoo.py``, cached).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FW = Path(__file__).resolve().parent / "speed_fw"
DEFAULT_BASELINE = ROOT.parent / "shared" / "bench" / "tflm_cmsis"

# zoo name -> the name the baseline harness uses for it (bench/tflm_baseline.sh writes them so)
MODELS = {"ds_cnn": "kws", "mobilenet_v1": "vww", "mobilenet_v2": "vww2", "resnet8": "ic",
          "fc_autoencoder": "ad"}
BASELINE_ROW = "tflm_cmsis_nn"
BASELINE_PROFILE = "TFLM+CMSIS-NN"
N_INPUTS = 2
QEMU_TIMEOUT_S = 1200


@dataclass(frozen=True)
class Machine:
    qemu: str
    cpu: str
    fpu: str
    label: str
    hz: int = 25_000_000
    """SysTick's clock (the core clock): with ``-icount shift=0`` one instruction is 1 ns, so
    instructions = ticks x 1e9 / hz (the firmware's ``BENCH_CPU_HZ``)."""
    link: str = "link.ld"
    """The link script in ``bench/speed_fw/``."""
    mve: bool = False
    """The core has Helium: the planner prices slices with its cost model (generator/plan/cost.py)."""


MACHINES = {
    "an386": Machine("mps2-an386", "cortex-m4", "fpv4-sp-d16", "Cortex-M4F"),
    "an500": Machine("mps2-an500", "cortex-m7", "fpv5-d16", "Cortex-M7"),
    # SSE-300: vector table in the 512 KB ITCM at 0, code and constants in the 2 MB SRAM at
    # 0x01000000, RAM in the 4 MB SRAM at 0x21000000; SysTick at the 32 MHz system clock (x 31.25)
    "an547": Machine("mps3-an547", "cortex-m55", "auto", "Cortex-M55", 32_000_000,
                     "link_an547.ld", mve=True),
}

# name -> (flags of model.c, flags of the runtime kernels mcuf/*.c)
FLAGS = {
    "Os": ("-Os", "-Os"),
    "O2": ("-O2", "-O2"),
    "O3": ("-O3", "-O3"),
    "kernels-O2": ("-Os", "-O2"),
    "kernels-O3": ("-Os", "-O3"),
}


@dataclass
class Measured:
    """One mcuforge firmware: instructions per inference (one figure per input), sizes, outputs."""

    instructions: list[int]
    flash: int
    ram: int
    outputs: list[list[int]]
    per_type: dict[str, int] = field(default_factory=dict)
    no_partial: int | None = None
    """Instructions of the --no-partial engine (same flags), input 0."""


@dataclass(frozen=True)
class Row:
    machine: str
    model: str
    flags: str
    mcuforge: int
    no_partial: int | None
    flash: int
    tflm: int | None
    tflm_flash: int | None
    same_outputs: bool | None

    @property
    def ratio(self) -> float | None:
        return self.mcuforge / self.tflm if self.tflm else None


# ---------------------------------------------------------------------------------- baseline files


def baseline_files(base: Path, machine: str) -> tuple[Path | None, Path | None]:
    """results.json and profile.json of the baseline for ``machine``, or None where absent."""
    dirs = [base / machine] + ([base] if machine == "an386" else [])
    for d in dirs:
        if (d / "results.json").is_file():
            prof = d / "profile.json"
            return d / "results.json", prof if prof.is_file() else None
    return None, None


def load_baseline(base: Path, machine: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(results, profile, note): the parsed files ({} where absent) and what was found."""
    res_path, prof_path = baseline_files(base, machine)
    if res_path is None:
        return {}, {}, (f"no TFLM + CMSIS-NN baseline for {machine}: {base}/{machine}/results.json"
                        + (f" and {base}/results.json" if machine == "an386" else "")
                        + " absent: no TFLM column (make it with bench/tflm_baseline.sh, or pass "
                "--baseline bench/baseline for the figures measured on 2026-12-02)")
    results = json.loads(res_path.read_text())
    profile = json.loads(prof_path.read_text()) if prof_path else {}
    note = f"TFLM + CMSIS-NN on {machine}: {res_path}" + (
        f" and {prof_path}" if prof_path else " (no profile.json: no per-operator baseline)")
    return results, profile, note


def baseline_row(results: Mapping[str, Any], model: str) -> dict[str, Any] | None:
    entry = results.get(MODELS.get(model, model), {}).get("engines", {}).get(BASELINE_ROW)
    return entry if entry and "instructions" in entry else None


def baseline_per_type(profile: Mapping[str, Any], model: str) -> dict[str, int]:
    col = profile.get(MODELS.get(model, model), {}).get(BASELINE_PROFILE) or {}
    return dict(col.get("per_type") or {})


# ---------------------------------------------------------------------------------- tables


def build_rows(machine: str, model: str, measured: Mapping[str, Measured],
               results: Mapping[str, Any]) -> list[Row]:
    base = baseline_row(results, model)
    rows = []
    for flags, m in measured.items():
        same = None
        if base and base.get("outputs"):
            n = min(len(base["outputs"]), len(m.outputs))
            same = n > 0 and [list(o) for o in base["outputs"][:n]] == m.outputs[:n]
        rows.append(Row(machine, model, flags, m.instructions[0], m.no_partial, m.flash,
                        base["instructions"][0] if base else None,
                        base.get("flash") if base else None, same))
    return rows


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def format_rows(rows: Iterable[Row]) -> str:
    head = ("| core | model | mcuforge flags | mcuforge instr. | --no-partial | TFLM+CMSIS-NN instr. | "
            "ratio | mcuforge flash B | TFLM flash B | same int8 outputs |")
    lines = [head, "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        same = "-" if r.same_outputs is None else ("yes" if r.same_outputs else "NO")
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        lines.append(f"| {MACHINES[r.machine].label if r.machine in MACHINES else r.machine} | "
                     f"{r.model} | {r.flags} | {_n(r.mcuforge)} | {_n(r.no_partial)} | {_n(r.tflm)} | {ratio} | "
                     f"{_n(r.flash)} | {_n(r.tflm_flash)} | {same} |")
    return "\n".join(lines)


def per_type_table(machine: str, model: str, mcuf: Mapping[str, int],
                   tflm: Mapping[str, int]) -> str:
    kinds = sorted(set(mcuf) | set(tflm), key=lambda k: -(mcuf.get(k, 0)))
    lines = [f"{machine} {model}: instructions per operator type (input 0; mcuforge --no-partial)",
             "| op type | mcuforge | TFLM+CMSIS-NN | ratio |", "|---|---:|---:|---:|"]
    for k in kinds:
        a, b = mcuf.get(k), tflm.get(k)
        lines.append(f"| {k} | {_n(a)} | {_n(b)} | {f'{a / b:.2f}' if a and b else '-'} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- firmware


def parse_output(text: str) -> tuple[list[int], list[list[int]], list[tuple[int, int]], bool]:
    """(instructions per input, outputs, [(op index, instructions)] of input 0, finished)."""
    instr, outs, ops = [], [], []
    for line in text.splitlines():
        m = re.match(r"result \d+ instructions (\d+) out (.*)$", line)
        if m:
            instr.append(int(m[1]))
            outs.append([int(v) for v in m[2].split()])
            continue
        m = re.match(r"op (\d+) (\d+)$", line)
        if m:
            ops.append((int(m[1]), int(m[2])))
    return instr, outs, ops, "done" in text.splitlines()


def sizes(elf: Path) -> tuple[int, int]:
    """(flash, RAM) of an ELF: allocated PROGBITS except the test inputs; .data + .bss."""
    from elftools.elf.elffile import ELFFile

    flash = ram = 0
    with elf.open("rb") as f:
        for s in ELFFile(f).iter_sections():
            if not s["sh_flags"] & 2 or s.name in (".bench_data", ".stack"):
                continue
            if s["sh_type"] == "SHT_PROGBITS":
                flash += s["sh_size"]
            if s.name in (".data", ".bss") or s.name.startswith((".data.", ".bss.")):
                ram += s["sh_size"]
    return flash, ram


def inputs_header(shape: tuple[int, ...], n_out: int, n: int) -> str:
    """The baseline harness' inputs (tools/prepare_model.py): default_rng(1000 + i), int8."""
    import numpy as np

    xs = [np.random.default_rng(1000 + i).integers(-128, 128, size=shape, dtype=np.int8)
          for i in range(n)]
    n_in = int(np.prod(shape))
    rows = ["  {\n    " + ", ".join(str(int(v)) for v in x.reshape(-1)) + ",\n  }," for x in xs]
    return ("#include <stdint.h>\n#include \"bench.h\"\n"
            f"#define BENCH_N_INPUTS {n}\n#define BENCH_IN_BYTES {n_in}\n"
            f"#define BENCH_OUT_BYTES {n_out}\n"
            f"static const int8_t bench_inputs[{n}][{n_in}] BENCH_DATA = {{\n"
            + "\n".join(rows) + "\n};\n")


def _cc(machine: Machine) -> list[str]:
    return ["arm-none-eabi-gcc", f"-mcpu={machine.cpu}", "-mthumb", "-mfloat-abi=hard",
            f"-mfpu={machine.fpu}", "-ffunction-sections", "-fdata-sections"]


def _run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def build_fw(engine: Path, work: Path, machine: Machine, flags: tuple[str, str],
             profile: bool = False, null: bool = False) -> Path:
    """Compile and link one firmware; returns the ELF."""
    work.mkdir(parents=True, exist_ok=True)
    cc = _cc(machine)
    defs = ["-DBENCH_PROFILE", "-DMCUF_TRACE_FN=bench_trace"] if profile else []
    objs = []

    def obj(src: Path, opts: list[str]) -> None:
        o = work / (src.stem + ".o")
        _run([*cc, *opts, "-c", str(src), "-o", str(o)])
        objs.append(str(o))

    obj(FW / "bench.c", ["-O2", "-std=gnu11", f"-DBENCH_CPU_HZ={machine.hz}u", f"-I{FW}"])
    main = FW / ("main_null.c" if null else "main_mcuf.c")
    obj(main, ["-O2", "-std=gnu11", *defs, f"-I{FW}", f"-I{engine.parent}", f"-I{engine}",
               f"-I{engine / 'mcuf'}"])
    if not null:
        rest, kernels = flags
        inc = [f"-I{engine}", f"-I{engine / 'mcuf'}"]
        obj(engine / "model.c", [rest, "-std=c99", *defs, *inc])
        for src in sorted((engine / "mcuf").glob("*.c")):
            obj(src, [kernels, "-std=c99", *defs, *inc])
    elf = work / "fw.elf"
    _run([*cc, "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-T",
          str(FW / machine.link), *objs, "-lm", "-o", str(elf)])
    return elf


def run_fw(elf: Path, machine: Machine) -> str:
    cmd = ["timeout", "-k", "2", str(QEMU_TIMEOUT_S), "qemu-system-arm", "-M", machine.qemu,
           "-nographic", "-monitor", "none", "-serial", "none", "-semihosting-config",
           "enable=on,target=native", "-icount", "shift=0,align=off,sleep=off", "-kernel", str(elf)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    return done.stdout + done.stderr


def write_engine(compiled: Any, where: Path, n_inputs: int) -> None:
    from generator.engine_files import engine_tree

    for rel, text in engine_tree(compiled).items():
        p = where / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
    shape = tuple(int(v) for v in compiled.graph.tensors[compiled.graph.inputs[0]].shape)
    out = compiled.graph.tensors[compiled.graph.outputs[0]]
    (where.parent / "inputs.h").write_text(inputs_header(shape, int(out.size), n_inputs))


def measure(model: str, machines: list[str], flag_names: list[str], work: Path,
            n_inputs: int = N_INPUTS, profile: bool = True,
            log: Any = print) -> dict[str, dict[str, Measured]]:
    """machine -> flags -> Measured, for one zoo model."""
    sys.path.insert(0, str(ROOT))
    from generator.compiler import compile_graph
    from generator.importer.tflite_reader import read_tflite
    from generator.plan.cost import for_core
    from tests.support.zoo import zoo_tflite

    data = zoo_tflite(model)
    graph = read_tflite(data, where=model)
    whole = compile_graph(graph, data, source=model, partial=False)
    write_engine(whole, work / model / "whole" / "engine", n_inputs)
    cores = {for_core(MACHINES[m].mve).name: for_core(MACHINES[m].mve) for m in machines}
    for cm in cores.values():  # the plan each core's cost model picks
        partial = compile_graph(graph, data, source=model, partial=True, cost=cm)
        write_engine(partial, work / model / f"partial_{cm.name}" / "engine", n_inputs)
    kinds = [op.kind.value for op in whole.graph.ops]
    out: dict[str, dict[str, Measured]] = {}
    for mname in machines:
        machine = MACHINES[mname]
        engine = work / model / f"partial_{for_core(machine.mve).name}" / "engine"
        null_elf = build_fw(engine, work / model / mname / "null",
                            machine, ("-Os", "-Os"), null=True)
        null_flash, null_ram = sizes(null_elf)
        out[mname] = {}
        for fl in flag_names:
            elf = build_fw(engine, work / model / mname / fl, machine, FLAGS[fl])
            text = run_fw(elf, machine)
            instr, outs, _, ok = parse_output(text)
            if not ok or not instr:
                raise RuntimeError(f"{model} {mname} {fl}: the firmware did not finish:\n"
                                   f"{text[-600:]}")
            flash, ram = sizes(elf)
            out[mname][fl] = Measured(instr, flash - null_flash, ram - null_ram, outs)
            log(f"  {mname} {model} {fl}: {instr[0]:,} instructions, flash {flash - null_flash:,} B")
        for fl in flag_names:
            elf = build_fw(work / model / "whole" / "engine", work / model / mname / f"{fl}_whole",
                           machine, FLAGS[fl])
            instr, _, _, ok = parse_output(run_fw(elf, machine))
            out[mname][fl].no_partial = instr[0] if ok and instr else None
        if profile:
            fl = flag_names[0]
            elf = build_fw(work / model / "whole" / "engine", work / model / mname / f"{fl}_prof",
                           machine, FLAGS[fl], profile=True)
            _, _, ops, ok = parse_output(run_fw(elf, machine))
            per: dict[str, int] = defaultdict(int)
            for op, n in ops:
                per[kinds[op]] += n
            out[mname][fl].per_type = dict(per)
    return out


# ---------------------------------------------------------------------------------- main


def work_figures(model: str) -> dict[str, int]:
    """MACs per operator kind, and values the other operators read ("OTHER")."""
    sys.path.insert(0, str(ROOT))
    from generator.importer.tflite_reader import read_tflite
    from generator.project.latency import macs, other_inputs
    from tests.support.zoo import zoo_tflite

    graph = read_tflite(zoo_tflite(model), where=model)
    out = {kind.value: n for kind, n in macs(graph).items()}
    out["OTHER"] = other_inputs(graph)
    return out


def fit(dump: Mapping[str, Any], machine: str, flags: str) -> dict[str, float]:
    """Instructions per MAC of each MAC operator kind, and per output value of the others, over
    every model of ``dump`` (per-operator profile of ``flags`` on ``machine``): the coefficients of
    generator/project/latency.py."""
    instr: dict[str, float] = defaultdict(float)
    work: dict[str, float] = defaultdict(float)
    for entry in dump["models"].values():
        per_type = entry.get(machine, {}).get(flags, {}).get("per_type") or {}
        figures = entry.get("work") or {}
        if not per_type or not figures:
            continue
        for kind, n in per_type.items():
            key = kind if kind in figures and kind != "OTHER" else "OTHER"
            instr[key] += n
        for key, n in figures.items():
            if key in per_type or key == "OTHER":
                work[key] += n
    return {k: instr[k] / work[k] for k in sorted(instr) if work.get(k)}


def commit() -> str:
    """The measured tree's commit (``BENCH_COMMIT`` overrides it, e.g. for a ``git archive`` copy)."""
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    try:
        head = _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = _run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no",
                      "--", "generator"]).stdout.strip()
        return head + (" + uncommitted changes under generator/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="*", default=list(MODELS), help=f"zoo models ({', '.join(MODELS)})")
    ap.add_argument("--machines", default="an386,an500")
    ap.add_argument("--flags", default="Os", help=f"comma list of {', '.join(FLAGS)}; the first "
                    "is the one profiled per operator")
    ap.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    ap.add_argument("--inputs", type=int, default=N_INPUTS)
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--json", type=Path, help="also write every figure here")
    ap.add_argument("--fit", type=Path, help="print latency.py's coefficients fitted to an earlier "
                    "--json (profile of the first --flags on the first --machines)")
    ap.add_argument("--from-json", type=Path, help="tabulate an earlier --json instead of measuring")
    ap.add_argument("--work", type=Path, help="keep the firmware here (default: a temporary folder)")
    a = ap.parse_args(argv)
    machines = a.machines.split(",")
    flags = a.flags.split(",")
    bad = [m for m in machines if m not in MACHINES] + [f for f in flags if f not in FLAGS] \
        + [m for m in a.models if m not in MODELS]
    if bad:
        ap.error(f"unknown: {', '.join(bad)}")
    if a.fit:
        dump = json.loads(a.fit.read_text())
        for k, v in fit(dump, machines[0], flags[0]).items():
            print(f"{k}: {v:.2f} instructions per {'value read' if k == 'OTHER' else 'MAC'}")
        return 0
    if a.from_json:
        return tabulate(json.loads(a.from_json.read_text()), machines, flags, a.baseline,
                        not a.no_profile)
    print(f"mcuforge at {commit()}; QEMU -icount shift=0, SysTick around model_run(); "
          f"input 0 of {a.inputs}")
    baselines = {m: load_baseline(a.baseline, m) for m in machines}
    for m in machines:
        print(baselines[m][2])
    rows: list[Row] = []
    tables: list[str] = []
    dump: dict[str, Any] = {"commit": commit(), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = a.work or Path(tmp)
        for model in a.models:
            got = measure(model, machines, flags, work, a.inputs, not a.no_profile)
            dump["models"][model] = {m: {f: asdict(v) for f, v in fl.items()} for m, fl in got.items()}
            dump["models"][model]["work"] = work_figures(model)
            for m in machines:
                results, prof, _ = baselines[m]
                rows += build_rows(m, model, got[m], results)
                if not a.no_profile:
                    tables.append(per_type_table(m, model, got[m][flags[0]].per_type,
                                                 baseline_per_type(prof, model)))
    print()
    print(format_rows(rows))
    for t in tables:
        print()
        print(t)
    if a.json:
        a.json.write_text(json.dumps(dump, indent=1))
    return 0


def tabulate(dump: Mapping[str, Any], machines: list[str], flags: list[str], base: Path,
             profile: bool) -> int:
    """The tables of an earlier ``--json`` dump, against the baseline found now."""
    print(f"mcuforge at {dump.get('commit')} (from an earlier run)")
    rows: list[Row] = []
    tables: list[str] = []
    for m in machines:
        results, prof, note = load_baseline(base, m)
        print(note)
        for model, per_machine in dump["models"].items():
            got = {f: Measured(**v) for f, v in per_machine.get(m, {}).items() if f in flags}
            if not got:
                continue
            rows += build_rows(m, model, got, results)
            first = got.get(flags[0])
            if profile and first is not None and first.per_type:
                tables.append(per_type_table(m, model, first.per_type,
                                             baseline_per_type(prof, model)))
    print()
    print(format_rows(rows))
    for t in tables:
        print()
        print(t)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
