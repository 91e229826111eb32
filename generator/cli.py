"""The mcuforge command line. Only this module turns errors into messages and exit codes."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from numpy.typing import NDArray
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from generator import __version__
from generator.boards_cli import app as boards_app
from generator.console import console, err_console, fail, harden_streams
from generator.environment import safe_environment
from generator.errors import McuforgeError
from generator.numerics import DEFAULT as DEFAULT_NUMERICS
from generator.numerics import Numerics
from generator.project.cli import generate_cmd, run_cmd
from generator.prune.cli import prune_cmd

app = typer.Typer(
    name="mcuforge",
    help="Keras / int8 TFLite model + board YAML -> C engine and firmware project.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(boards_app, name="boards", help="List, show and validate board definitions.")
app.command("generate")(generate_cmd)
app.command("run")(run_cmd)
app.command("prune")(prune_cmd)


ModelArg = Annotated[
    Path, typer.Argument(help="Keras model (.keras, .h5, SavedModel dir) or int8 .tflite")
]
CalibOpt = Annotated[
    Path | None, typer.Option("--calib", help=".npy/.npz of representative inputs (Keras models)")
]
NUMERICS_HELP = ("Which runtime the engine is bit-exact with: tflm (TFLite Micro, fixed-point "
                 "requantisation everywhere) or tflite-ref (TFLite's reference interpreter: "
                 "FULLY_CONNECTED rescaled in double)")
NumericsOpt = Annotated[Numerics, typer.Option("--numerics", help=NUMERICS_HELP)]
SPLIT_HELP = ("Most extra instructions partial execution may cost, in percent of the whole "
              "model's, as the planner estimates them for the core (default 2; more saves memory)")
SplitOpt = Annotated[float, typer.Option("--split-overhead", min=0.0, max=100.0, help=SPLIT_HELP)]


def _setup_logging() -> None:
    """Warnings of the package's modules go to stderr through rich (not to the root logger)."""
    log = logging.getLogger("generator")
    log.handlers = [RichHandler(console=err_console, show_time=False, show_path=False,
                                markup=False, rich_tracebacks=False)]
    log.setLevel(logging.WARNING)
    log.propagate = False


def _print_version(value: bool) -> None:
    if value:
        console.print(f"mcuforge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit",
                                          callback=_print_version, is_eager=True)] = False,
) -> None:
    _setup_logging()


@app.command("compile")
def compile_cmd(
    model: ModelArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output directory for the C engine")],
    calib: CalibOpt = None,
    float_io: Annotated[bool, typer.Option(help="Keep float inputs/outputs (QUANTIZE/DEQUANTIZE)")] = False,
    partial: Annotated[bool, typer.Option(help="Use partial execution (channel splitting)")] = True,
    numerics: NumericsOpt = DEFAULT_NUMERICS,
    split_overhead: SplitOpt = 2.0,
    prefix: Annotated[str, typer.Option(help="C name prefix of the engine API: a C identifier "
                                        "of up to 32 characters")] = "model",
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier mcuforge output "
                                        "(a folder holding mcuforge-engine.json or "
                                        "mcuforge.json)")] = False,
) -> None:
    """Compile a model into a C99 engine: <prefix>.h, <prefix>.c and the int8 kernels."""
    from generator.compiler import ImportOptions, compile_model
    from generator.engine_files import engine_tree
    from generator.inputs import c_prefix
    from generator.output import reserved, write_tree

    inputs = [model] if calib is None else [model, calib]
    try:
        c_prefix(prefix)
        with reserved(out, force, inputs):  # checked and locked before the costly work
            with console.status("compiling"):
                compiled = compile_model(model, ImportOptions(calib, float_io, numerics),
                                         prefix=prefix, partial=partial,
                                         budget=split_overhead / 100)
            write_tree(out, engine_tree(compiled), force=force, inputs=inputs)
    except McuforgeError as exc:
        raise fail(exc) from None
    _print_summary(compiled)
    console.print(f"[green]wrote[/] {escape(str(out))}")


@app.command("plan")
def plan_cmd(
    model: ModelArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for <name>.plan.json and .png")] = Path("."),
    calib: CalibOpt = None,
    partial: Annotated[bool, typer.Option(help="Use partial execution (channel splitting)")] = True,
    numerics: NumericsOpt = DEFAULT_NUMERICS,
    split_overhead: SplitOpt = 2.0,
    board: Annotated[str | None, typer.Option("--board", "-b", help="Board name or YAML path: "
                                              "also estimate the time per inference on it")] = None,
) -> None:
    """Plan peak SRAM: per-op memory, chosen splits, peak with and without partial execution."""
    from generator.compiler import ImportOptions, compile_model, plan_figures
    from generator.output import content, plot_text, write_files
    from generator.plan.report import op_memory, plan_json, plot_lifetimes, splits_table

    try:
        target = _plan_board(board)
        with console.status("planning"):
            compiled = compile_model(model, ImportOptions(calib, numerics=numerics),
                                     partial=partial, cost=_plan_cost(target),
                                     budget=split_overhead / 100)
            figures = plan_figures(compiled)
        json_path, png_path = out / f"{model.stem}.plan.json", out / f"{model.stem}.plan.png"
        doc = plan_json(compiled.graph, compiled.program, figures, compiled.layout,
                        compiled.buffers)
        write_files({
            json_path: content(doc),
            png_path: lambda p: plot_lifetimes(compiled.buffers, compiled.layout, p,
                                               plot_text(f"{model.name}: arena "
                                                         f"{figures.arena:,} B"),
                                               len(compiled.program.steps)),
        }, inputs=[model] if calib is None else [model, calib])
    except McuforgeError as exc:
        raise fail(exc) from None
    except OSError as exc:
        raise fail(McuforgeError(f"{out}: cannot write the plan ({exc.strerror})",
                                 "choose a writable --out folder")) from None
    ops = Table(title="memory per operator (largest live total while it runs)")
    for col in ("#", "operator", "name", "mode", "live bytes"):
        ops.add_column(col, justify="right" if col in ("#", "live bytes") else "left")
    for row in op_memory(compiled.program):
        mode = f"split x{row['slices']}" if row["mode"] == "split" else "full"
        ops.add_row(str(row["op"]), row["kind"], escape(row["name"][:40]), mode,
                    f"{row['live_bytes']:,}")
    console.print(ops)
    if compiled.program.splits:
        sp = Table(title="partial-execution chains")
        for col in ("ops", "channels", "slices", "end"):
            sp.add_column(col)
        for s in splits_table(compiled.program):
            sp.add_row(f"{s['first_op']}..{s['last_op']}", str(s["channels"]), str(s["slices"]), s["end"])
        console.print(sp)
    summary = Table(show_header=False, title="peak SRAM (activation arena)")
    summary.add_row("without partial execution", f"{figures.unsplit_arena:,} B")
    summary.add_row("with partial execution", f"{figures.arena:,} B")
    summary.add_row("reduction", f"{figures.reduction:.2f}x")
    summary.add_row("lower bound", f"{figures.lower_bound:,} B (arena / bound = {figures.over_bound:.2f})")
    console.print(summary)
    _plan_latency(target, compiled.graph)
    console.print(f"[green]wrote[/] {escape(str(json_path))} and {escape(str(png_path))}")


def _plan_board(board: str | None) -> Any:
    from generator.boards import load_board

    return None if board is None else load_board(board)


def _plan_cost(board: Any) -> Any:
    """The planner's cost model for ``--board``'s core (Cortex-M4F-class without one)."""
    from generator.plan.cost import for_core

    return for_core(board is not None and board.mve)


def _plan_latency(board: Any, graph: Any) -> None:
    """The estimated time per inference on ``--board``, or how to get one."""
    from generator.project.latency import static_estimate

    if board is None:
        console.print("time per inference: pass --board NAME for an estimate on a board; "
                      "mcuforge generate + mcuforge run count the instructions in QEMU",
                      highlight=False)
        return
    latency = static_estimate(board, graph, "PROJECT_DIR")
    console.print(f"time per inference: {escape(latency.describe())}", highlight=False,
                  soft_wrap=True)
    console.print(f"  after mcuforge generate -o PROJECT_DIR, {escape(latency.hint)}",
                  highlight=False)


@app.command("debug")
def debug_cmd(
    model: ModelArg,
    calib: CalibOpt = None,
    inputs: Annotated[
        Path | None, typer.Option("--input", help=".npy of one int8 input (default: random)")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random input (0 to 2^64 - 1)")] = 0,
    numerics: NumericsOpt = DEFAULT_NUMERICS,
) -> None:
    """Compare the generated C with its reference op by op (TFLite Micro, or the TFLite interpreter
    with --numerics tflite-ref); name the first op that differs."""
    import numpy as np

    from generator.compiler import ImportOptions, compile_model
    from generator.debug import compare_layers, first_divergence
    from generator.inputs import check_seed

    try:
        check_seed(seed, "--seed", 1 << 64)
        with console.status("compiling"):
            compiled = compile_model(model, ImportOptions(calib, numerics=numerics), partial=False)
        specs = compiled.schedule.inputs
        if inputs is not None:
            x = [_load_debug_input(inputs, specs[0].shape, specs[0].dtype.value)]
        else:
            rng = np.random.default_rng(seed)
            x = [rng.integers(-128, 128, size=s.shape).astype(s.dtype.value) for s in specs]
        with console.status("building and running"):
            rows = compare_layers(compiled, x)
    except McuforgeError as exc:
        raise fail(exc) from None
    t = Table(title=f"generated C vs {numerics.reference}, per operator")
    for col in ("#", "operator", "name", "mismatches", "max |diff|"):
        t.add_column(col)
    for r in rows:
        style = "red" if r.mismatches else "green"
        t.add_row(str(r.op), r.kind, escape(r.name[:48]), f"[{style}]{r.mismatches}/{r.elements}[/]",
                  str(r.max_abs_diff))
    console.print(t)
    bad = first_divergence(rows)
    if bad is None:
        console.print(f"[green]bit-exact[/]: every operator output equals {numerics.reference}'s")
        return
    err_console.print(f"[red]first difference[/] at op {bad.op}: {bad.kind} '{escape(bad.name)}' "
                      f"({bad.mismatches} of {bad.elements} values differ)")
    raise typer.Exit(1)


def _load_debug_input(path: Path, shape: tuple[int, ...], dtype: str) -> NDArray[Any]:
    """One model input from a .npy, checked against the model's input size (from the header,
    before the data is read) and the input type's range."""
    import numpy as np

    from generator.errors import InputError
    from generator.inputs import is_zip, load_npy

    if is_zip(path, "debug input"):
        raise InputError(f"{path}: holds several arrays, not one", "give a .npy of one input")
    size = math.prod(shape)
    data = load_npy(path, "debug input", limit=16 * max(1, size))
    if data.size != size:
        raise InputError(f"{path}: has {data.size} values, the model input {shape} needs {size}",
                         "give one input of the model's input shape")
    if data.dtype.kind not in "biuf":
        raise InputError(f"{path}: holds {data.dtype} values, not numbers",
                         "save the input as numbers, e.g. x.astype(np.int8)")
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None and not (np.all(np.isfinite(data)) and np.all(data == np.round(data))
                                 and data.min() >= info.min and data.max() <= info.max):
        raise InputError(f"{path}: values must be whole numbers in {info.min}..{info.max} for "
                         f"the model's {dtype} input", "save the quantised input, e.g. "
                         "np.save('input.npy', q.astype(np.int8))")
    out: NDArray[Any] = data.astype(dtype).reshape(shape)
    return out


def _print_summary(compiled: object) -> None:
    from generator.compiler import CompiledModel

    assert isinstance(compiled, CompiledModel)
    t = Table(title=escape(f"{compiled.source}"), show_header=False)
    t.add_row("operators", str(len(compiled.graph.ops)))
    t.add_row("kernel calls", str(len(compiled.schedule.calls)))
    t.add_row("arena (SRAM)", f"{compiled.arena_bytes:,} bytes")
    t.add_row("constants (flash)", f"{compiled.const_bytes:,} bytes")
    t.add_row("quantisation", quantisation_summary(compiled.graph))
    t.add_row("numerics", f"{compiled.numerics.value} (bit-exact with {compiled.numerics.reference})")
    console.print(t)


def quantisation_summary(graph: object) -> str:
    """What the converter chose: weight granularity, activation and I/O types."""
    from generator.ir import Graph, OpKind

    assert isinstance(graph, Graph)
    weighted = [op for op in graph.ops
                if op.kind in (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.FULLY_CONNECTED,
                               OpKind.TRANSPOSE_CONV)]  # each with its filter at input 1
    per_channel = sum(1 for op in weighted
                      if (q := graph.tensors[op.inputs[1]].quant) is not None and q.per_channel)
    io = sorted({graph.tensors[t].dtype.value for t in (*graph.inputs, *graph.outputs)})
    return (f"int8 weights: {per_channel} of {len(weighted)} layers per-channel; "
            f"activations int8 per-tensor; I/O {'/'.join(io)}")


def main() -> None:
    """Console entry point: no traceback reaches the user unless MCUFORGE_DEBUG=1. SIGTERM is
    handled like Ctrl-C, so an interrupted run cleans up its staging directory."""
    import os
    import signal

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    harden_streams()
    safe_environment()
    try:
        app(standalone_mode=True)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/]: the output location was left as it was")
        sys.exit(130)
    except McuforgeError as exc:
        fail(exc)
        sys.exit(exc.exit_code)
    except Exception as exc:  # the last line of defence: an internal error, not a user's mistake
        if os.environ.get("MCUFORGE_DEBUG") == "1":
            raise
        err_console.print(f"[bold red]internal error:[/] {escape(f'{type(exc).__name__}: {exc}')}",
                          highlight=False)
        err_console.print("[yellow]hint:[/] this is a bug in mcuforge; rerun with MCUFORGE_DEBUG=1 "
                          "for the traceback and report it")
        sys.exit(70)


if __name__ == "__main__":
    main()
