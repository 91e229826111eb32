"""``mcuforge generate`` and ``mcuforge run``; registered on the main app in :mod:`generator.cli`.

Heavy imports happen inside the commands, so that ``mcuforge --help`` stays fast.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from generator.console import console, err_console, fail
from generator.errors import McuforgeError
from generator.numerics import DEFAULT as DEFAULT_NUMERICS
from generator.numerics import Numerics
from generator.project.options import AppKind

_KWS = "kws front-end"
_APP = "app settings"


def generate_cmd(
    model: Annotated[Path, typer.Argument(help="Keras model (.keras, .h5, SavedModel dir) or int8 "
                                          ".tflite")],
    board: Annotated[str, typer.Option("--board", "-b", help="Board name (mcuforge boards list) "
                                       "or board YAML path")],
    app: Annotated[AppKind, typer.Option("--app", help="kws (microphone), vww (camera) or sensor "
                                         "(IMU)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Project directory to create")],
    calib: Annotated[Path | None, typer.Option("--calib", help=".npy/.npz of representative "
                                               "inputs (Keras models)")] = None,
    labels: Annotated[str | None, typer.Option(help="Class labels: a comma list, or a file with "
                                               "one per line (default class0..N-1)")] = None,
    app_config: Annotated[Path | None, typer.Option("--app-config", help="YAML with labels, app "
                                                    "settings and front-end fields")] = None,
    replay: Annotated[Path | None, typer.Option(help="Input the emulated firmware replays: WAV "
                                                "(kws), .npy/.png/.ppm image (vww), int16 .npy "
                                                "(sensor). Default: a generated test signal")] = None,
    sample_rate: Annotated[int | None, typer.Option(help="Audio sample rate, Hz [16000]",
                                                    rich_help_panel=_KWS)] = None,
    window_ms: Annotated[float | None, typer.Option(help="MFCC window, ms [30]",
                                                    rich_help_panel=_KWS)] = None,
    stride_ms: Annotated[float | None, typer.Option(help="MFCC stride, ms [20]",
                                                    rich_help_panel=_KWS)] = None,
    n_mels: Annotated[int | None, typer.Option(help="Mel bands [40]",
                                               rich_help_panel=_KWS)] = None,
    n_coeffs: Annotated[int | None, typer.Option(help="MFCC coefficients per frame [10]",
                                                 rich_help_panel=_KWS)] = None,
    n_frames: Annotated[int | None, typer.Option(help="Frames per inference [49]",
                                                 rich_help_panel=_KWS)] = None,
    threshold: Annotated[float | None, typer.Option(help="Detection / report threshold, a "
                                                    "probability (kws, sensor)",
                                                    rich_help_panel=_APP)] = None,
    smoothing: Annotated[int | None, typer.Option(help="kws: inferences averaged [3]",
                                                  rich_help_panel=_APP)] = None,
    inference_every: Annotated[int | None, typer.Option(help="kws: MFCC frames between "
                                                        "inferences [1]",
                                                        rich_help_panel=_APP)] = None,
    fit: Annotated[Path | None, typer.Option("--fit", help="Labelled data (.npz, or class folders "
                                             "of WAVs/images): if the model does not fit the "
                                             "board's SRAM, prune it until it does (see "
                                             "mcuforge prune)")] = None,
    numerics: Annotated[Numerics, typer.Option(
        "--numerics", help="Which runtime the engine is bit-exact with: tflm (TFLite Micro, "
        "fixed-point requantisation everywhere) or tflite-ref (TFLite's reference interpreter: "
        "FULLY_CONNECTED rescaled in double)")] = DEFAULT_NUMERICS,
    split_overhead: Annotated[float, typer.Option(
        "--split-overhead", min=0.0, max=100.0, help="Most extra instructions partial execution "
        "may cost, in percent of the whole model's, as the planner estimates them for the board's "
        "core (default 2; more saves memory)")] = 2.0,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier mcuforge output "
                                        "(a folder holding mcuforge.json or "
                                        "mcuforge-engine.json)")] = False,
) -> None:
    """Generate a firmware project: engine, front-end, app loop, ports, PlatformIO and Zephyr files.

    Checks the model against the board's memory and the app's front-end before writing anything.

    Writes the project atomically; its mcuforge.json records every input and option.
    """
    from generator.project.generate import generate_project
    from generator.project.options import GenerateOptions

    frontend = _given(sample_rate=sample_rate, window_ms=window_ms, stride_ms=stride_ms,
                      n_mels=n_mels, n_coeffs=n_coeffs, n_frames=n_frames)
    settings = _given(threshold=threshold, smoothing=smoothing, inference_every=inference_every)
    options = GenerateOptions(model=model, board=board, app=app, calibration=calib,
                              labels=labels, app_config=app_config, replay=replay,
                              settings=settings, frontend=frontend, fit_data=fit,
                              numerics=numerics, split_overhead=split_overhead / 100)
    try:
        with console.status("generating"):
            project = generate_project(options, out, force=force)
    except McuforgeError as exc:
        raise fail(exc) from None
    _summary(project, out)
    console.print(f"[green]wrote[/] {escape(str(out))}  (run it: mcuforge run "
                  f"{escape(shlex.quote(str(out)))})")


def _given(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _summary(project: Any, out: Path) -> None:
    from generator.project.generate import Project
    from generator.project.latency import interval_warning, manifest_interval, static_estimate

    assert isinstance(project, Project)
    fit = project.fit
    table = Table(title=escape(f"{project.plan.kind.value} on {project.board.name}"),
                  show_header=False)
    table.add_row("model", escape(f"{project.manifest['model']['file']['path']}"))
    table.add_row("flash", f"{fit.flash_need:,} of {fit.flash_budget:,} B")
    table.add_row("SRAM", f"{fit.sram_need:,} of {fit.sram_budget:,} B "
                  f"(arena {project.compiled.arena_bytes:,} B)")
    table.add_row("environments", ", ".join(env.name for env in project.targets.envs))
    if project.targets.zephyr is not None:
        table.add_row("zephyr", escape(project.targets.zephyr.board))
    table.add_row("replay", escape(project.plan.replay.description))
    latency = static_estimate(project.board, project.compiled.graph, shlex.quote(str(out)))
    table.add_row("time / inference", escape(latency.describe()))
    if latency.hint:
        table.add_row("", escape(latency.hint))
    console.print(table)
    warning = interval_warning(latency, manifest_interval(project.manifest,
                                                          project.plan.config.get("rate_hz")),
                               emulated=project.board.is_emulated)
    if warning:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def run_cmd(
    project: Annotated[Path, typer.Argument(help="A folder written by mcuforge generate")],
    env: Annotated[str | None, typer.Option("--env", "-e", help="Emulated PlatformIO environment "
                                            "(default: the project's run environment)")] = None,
    trust_project: Annotated[bool, typer.Option(
        "--trust-project", help="Build and run the project even if it is not exactly what this "
        "user's mcuforge generated (its scripts run on this machine)")] = False,
) -> None:
    """Build a generated project offline and run it in QEMU; exits with the firmware's exit code.

    Only a project this user's mcuforge generated, unchanged, is built: the file hashes and the
    signature in its mcuforge.json are checked first.
    """
    from rich.markup import escape

    from generator.project.run import (
        build,
        check_finished,
        check_project,
        resolve_env,
        run_firmware,
        upload_command,
    )
    from generator.project.trust import describe_problems

    try:
        problems = check_project(project, trust=trust_project)
        if problems:
            err_console.print(f"[yellow]warning:[/] {escape(str(project))}: running a project "
                              "mcuforge did not generate as it is (--trust-project): "
                              f"{escape(describe_problems(problems))}", highlight=False)
        name = resolve_env(project, env)
        with err_console.status(f"building {escape(name)}"):
            elf = build(project, name)
        code, output = run_firmware(upload_command(project, name, elf), elf=elf,
                                    echo=lambda line: console.out(line, end="", highlight=False))
        check_finished(project, name, code, output)
        _run_latency(project, name, output)
    except McuforgeError as exc:
        raise fail(exc) from None
    raise typer.Exit(code)


def _run_latency(project: Path, env: str, output: str) -> None:
    """The estimated time per inference on the project's board, from the instructions counted."""
    from generator.boards import Board, load_board
    from generator.project.latency import (
        interval_warning,
        manifest_interval,
        measured_estimate,
        measured_frontend,
        measured_instructions,
    )
    from generator.project.manifest import read_manifest
    from generator.project.run import parse_inferences

    counted = measured_instructions([(i.unit, i.cost) for i in parse_inferences(output)])
    manifest = read_manifest(project)
    if counted is None or not isinstance(manifest, dict):
        return
    def known(name: object) -> Board | None:
        try:
            return load_board(str(name))
        except McuforgeError:  # a board YAML given by path is known by its name only there
            return None

    emulated, board = known(env), known(manifest.get("board"))
    if emulated is None and board is None:
        return  # neither board is known here by name: no estimate rather than a wrong one
    emulated = emulated or board
    board = board or emulated
    assert emulated is not None and board is not None
    latency = measured_estimate(board, counted, emulated)
    console.print(f"time per inference: {escape(latency.describe())}", highlight=False,
                  soft_wrap=True)
    from generator.project.apps.sensor import DEFAULT_RATE_HZ

    imu = board.peripherals.imu
    warning = interval_warning(latency, manifest_interval(manifest,
                                                          imu.rate_hz if imu else DEFAULT_RATE_HZ),
                               emulated=board.is_emulated,
                               frontend_instructions=measured_frontend(output) or 0)
    if warning:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
