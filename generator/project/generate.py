"""``mcuforge generate``: model + board + app -> a complete firmware project, written atomically.

1. load the board and the app config, compile the model (:mod:`generator.compiler`);
2. plan the app against the model's tensors and the board (:mod:`generator.project.apps`);
3. choose the build targets and their ports (:mod:`generator.project.targets`);
4. check that it fits the board (:mod:`generator.project.fit`): nothing is written if not;
5. make the large C in Python (engine, kernels, front-end, replay data), render the templates
   around it (:mod:`generator.project.render`), add the manifest and the int8 ``.tflite``;
6. write the whole tree at once (:func:`generator.output.write_tree`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator import __version__
from generator.boards import Board, load_board
from generator.compiler import (
    CompiledModel,
    ImportOptions,
    compile_graph,
    compile_model,
    plan_figures,
)
from generator.dsp import frontend_files
from generator.engine_files import runtime_files
from generator.errors import FitError, InputError
from generator.output import reserved, write_tree
from generator.plan.cost import for_core
from generator.plan.pex import estimated_overhead
from generator.plan.report import PlanFigures
from generator.project.apps import AppPlan, AppRequest, plan_app
from generator.project.fit import FitReport, check_fit, fit_report
from generator.project.manifest import (
    MANIFEST_NAME,
    TFLITE_PATH,
    build_manifest,
    manifest_text,
    regenerate_command,
)
from generator.project.options import GenerateOptions, load_app_config, parse_labels
from generator.project.render import TemplateError, render_sets
from generator.project.replay import HEADER_NAME, replay_header
from generator.project.targets import ZEPHYR_DOC_VERSION, Targets, project_targets
from generator.project.trust import signed_manifest

ENGINE_PREFIX = "model"
_log = logging.getLogger(__name__)
_APP_TITLES = {"kws": "Keyword-spotting", "vww": "Visual-wake-words",
               "sensor": "Sensor-classification"}
_APP_LOOPS = {
    "kws": "audio ring buffer, MFCC frame per stride, model, averaged scores, detection",
    "vww": "camera frame, crop/resize/colour to int8, model, person present/absent",
    "sensor": "IMU samples into an int8 window, model every hop, top class",
}
_NOT_ZEPHYR_SOURCES = ("port_replay.c",)


@dataclass(frozen=True, eq=False)
class Project:
    files: Mapping[str, str | bytes]
    board: Board
    compiled: CompiledModel
    figures: PlanFigures
    plan: AppPlan
    targets: Targets
    fit: FitReport
    manifest: Mapping[str, Any]


def generate_project(options: GenerateOptions, out: Path, force: bool = False) -> Project:
    """Build the project and write it to ``out``: the output is checked (see
    :func:`generator.output.check_target`; every input file is protected) and locked before the
    project is built, and stays locked until it is in place."""
    inputs = input_paths(options)
    with reserved(out, force, inputs):
        project = build_project(options)
        write_tree(out, project.files, force=force, inputs=inputs)
    return project


def input_paths(options: GenerateOptions) -> list[Path]:
    """Every file or folder the options read: an output must never replace one of them."""
    given: list[Path | None] = [options.model, options.calibration, options.app_config,
                                options.replay, options.fit_data]
    for text in (options.board, options.labels):  # a name or a path; a list of labels
        if text and "\0" not in text and os.path.lexists(text):
            given.append(Path(text))
    return [path for path in given if path is not None]


def build_project(options: GenerateOptions) -> Project:
    """Everything of :func:`generate_project` except writing: the files, in memory."""
    board = load_board(options.board)
    request = _request(options)
    compiled = compile_model(options.model, ImportOptions(options.calibration,
                                                          numerics=options.numerics),
                             prefix=ENGINE_PREFIX, partial=True, cost=for_core(board.mve),
                             budget=options.split_overhead)
    _check_single_io(compiled, options.model)
    plan = plan_app(options.app, compiled.schedule.inputs[0], compiled.schedule.outputs[0],
                    board, request)
    targets = project_targets(board, plan)
    fit = fit_report(board, compiled, plan, targets)
    if not fit.fits and options.split_overhead < MEMORY_FIRST_BUDGET:
        compiled, fit = _split_to_fit(options, board, compiled, fit, plan, targets)
    if not fit.fits and options.fit_data is not None:
        compiled = _prune_to_fit(options, fit, request)
        plan = plan_app(options.app, compiled.schedule.inputs[0], compiled.schedule.outputs[0],
                        board, request)
        targets = project_targets(board, plan)
        fit = fit_report(board, compiled, plan, targets)
    check_fit(fit, options.model.name)
    figures = plan_figures(compiled)
    manifest = build_manifest(options, board, compiled, figures, plan, targets, fit)
    files = _files(options, board, compiled, figures, plan, targets, fit, manifest)
    return Project(files, board, compiled, figures, plan, targets, fit, manifest)


MEMORY_FIRST_BUDGET = 0.25
"""The planner's budget when a model does not fit the board at the default one: memory first."""


def _split_to_fit(options: GenerateOptions, board: Board, compiled: CompiledModel, fit: FitReport,
                  plan: AppPlan, targets: Targets) -> tuple[CompiledModel, FitReport]:
    """A model that does not fit at ``--split-overhead`` is planned again with more slices (up to
    :data:`MEMORY_FIRST_BUDGET` of its instructions); kept, with a warning, if it then fits."""
    more = compile_graph(compiled.graph, compiled.tflite, source=options.model.name,
                         prefix=ENGINE_PREFIX, partial=True, numerics=options.numerics,
                         cost=for_core(board.mve), budget=MEMORY_FIRST_BUDGET)
    more_fit = fit_report(board, more, plan, targets)
    if not more_fit.fits:
        return compiled, fit
    extra = estimated_overhead(more.program, for_core(board.mve))
    _log.warning("%s: fits %s only with more partial execution: arena %s -> %s B, about %.1f%% "
                 "more instructions (estimated; --split-overhead %g chose this plan)",
                 options.model.name, fit.board, f"{fit.arena:,}", f"{more_fit.arena:,}",
                 100 * extra, 100 * MEMORY_FIRST_BUDGET)
    return more, more_fit


def _prune_to_fit(options: GenerateOptions, fit: FitReport, request: AppRequest) -> CompiledModel:
    """``--fit``: prune the Keras model until its arena fits the SRAM the rest of the app leaves."""
    from generator.data import DataOptions
    from generator.importer.tflite_reader import read_tflite
    from generator.prune.loop import PruneOptions, fit_to_budget

    if options.model.suffix == ".tflite":
        raise InputError(f"{options.model}: --fit prunes a Keras model, not a .tflite",
                         "give the .keras / .h5 / SavedModel the .tflite came from")
    others = fit.sram_need - fit.arena
    room = min(fit.sram_budget - others, fit.largest_ram_region)
    if room <= 0:
        raise FitError(f"{fit.board}: the app's own buffers ({others:,} B) leave no SRAM for the "
                       "model", "choose a board with more SRAM")
    labels = request.labels
    result = fit_to_budget(options.model, options.fit_data or Path(), room, PruneOptions(),
                           data_options=DataOptions(classes=tuple(labels) if labels else None))
    data = result.tflite
    return compile_graph(read_tflite(data, where=str(options.model)), data,
                         source=options.model.name, prefix=ENGINE_PREFIX, partial=True,
                         numerics=options.numerics, cost=for_core(load_board(options.board).mve),
                         budget=options.split_overhead)


def _request(options: GenerateOptions) -> AppRequest:
    config = load_app_config(options.app_config)
    labels = parse_labels(options.labels) if options.labels is not None else config.labels
    return AppRequest(settings={**config.settings, **options.settings},
                      frontend={**config.frontend, **options.frontend},
                      labels=labels, replay=options.replay)


def _check_single_io(compiled: CompiledModel, model: Path) -> None:
    n_in, n_out = len(compiled.schedule.inputs), len(compiled.schedule.outputs)
    if (n_in, n_out) != (1, 1):
        raise InputError(f"{model}: has {n_in} inputs and {n_out} outputs; the apps need one "
                         "of each", "export a single-input, single-output classifier")


def _files(options: GenerateOptions, board: Board, compiled: CompiledModel,
           figures: PlanFigures, plan: AppPlan, targets: Targets, fit: FitReport,
           manifest: Mapping[str, Any]) -> dict[str, str | bytes]:
    generated = _generated_sources(compiled, plan)
    context = _context(options, board, compiled, figures, plan, targets, fit)
    files: dict[str, str | bytes] = dict(generated)
    _merge(files, render_sets(("common", "platformio", plan.kind.value), context))
    if targets.zephyr is not None:
        context["sources"] = _zephyr_sources(files)
        _merge(files, render_sets(("zephyr",), context))
    files[TFLITE_PATH] = compiled.tflite
    files[MANIFEST_NAME] = manifest_text(signed_manifest(manifest, files))
    return files


def _merge(files: dict[str, str | bytes], rendered: Mapping[str, str]) -> None:
    clash = sorted(set(files) & set(rendered))
    if clash:
        raise TemplateError(f"templates/projects write {', '.join(clash)}, which the generator "
                            "makes itself", "this is a bug in the project templates; report it")
    files.update(rendered)


def _generated_sources(compiled: CompiledModel, plan: AppPlan) -> dict[str, str]:
    """The large generated C, made in Python and never passed through a template."""
    files = {f"src/{name}": text for name, text in compiled.engine.files().items()}
    files |= {f"src/{name}": text for name, text in runtime_files().items()}
    files |= {f"src/frontend/{name}": text for name, text in frontend_files(plan.frontend).items()}
    files[f"src/{HEADER_NAME}"] = replay_header(plan.replay)
    return files


def _zephyr_sources(files: Mapping[str, object]) -> list[str]:
    """C files under src/ the Zephyr build compiles, relative to src/."""
    return sorted(path.removeprefix("src/") for path in files
                  if path.startswith("src/") and path.endswith(".c")
                  and Path(path).name not in _NOT_ZEPHYR_SOURCES)


def _context(options: GenerateOptions, board: Board, compiled: CompiledModel,
             figures: PlanFigures, plan: AppPlan, targets: Targets,
             fit: FitReport) -> dict[str, Any]:
    run_board = board if board.is_emulated else load_board(targets.run_env)  # as project_targets
    return {
        "mcuforge_version": __version__,
        "project_name": f"{plan.kind.value}_{board.name}",
        "regenerate": regenerate_command(options),
        "app": {
            "kind": plan.kind.value,
            "title": _APP_TITLES[plan.kind.value],
            "loop": _APP_LOOPS[plan.kind.value],
            "frontend_kind": plan.frontend.kind,
            "num_classes": len(plan.labels),
            "config": dict(plan.config),
        },
        "board": {"name": board.name, "display_name": board.display_name, "mcu": board.mcu,
                  "core": board.core.value, "clock_hz": board.clock_hz},
        "model": {"file": options.model.name, "sha256": compiled.model_hash,
                  "arena": compiled.arena_bytes, "unsplit_arena": figures.unsplit_arena,
                  "lower_bound": figures.lower_bound, "const_bytes": compiled.const_bytes},
        "targets": _targets_context(targets, plan),
        "replay": {"source": plan.replay.source, "description": plan.replay.description},
        "fit": {"flash_budget": fit.flash_budget, "flash_need": fit.flash_need,
                "sram_budget": fit.sram_budget, "sram_need": fit.sram_need,
                "flash_items": fit.flash_items, "sram_items": fit.sram_items},
        "emulated_clock_hz": run_board.clock_hz,
        "ns_per_tick": 1_000_000_000 // run_board.clock_hz,
    }


def _targets_context(targets: Targets, plan: AppPlan) -> dict[str, Any]:
    from generator.project.targets import (
        PDM_RING_SAMPLES,
        ZEPHYR_MIC_BLOCKS,
        ZEPHYR_VIDEO_BUFFERS,
        ov767x_setting,
    )

    arduino = None
    if targets.arduino is not None:
        camera = ov767x_setting(plan) or ("", "")
        arduino = {"live": targets.arduino.live, "how": targets.arduino.how,
                   "ring_samples": PDM_RING_SAMPLES, "resolution": camera[0],
                   "pixel_format": camera[1], "rate_hz": plan.config.get("rate_hz", 0)}
    zephyr = None
    if targets.zephyr is not None:
        z = targets.zephyr
        zephyr = {"board": z.board, "overlay": z.overlay, "live": z.capture.live,
                  "how": z.capture.how, "node": z.node, "kconfig": z.kconfig,
                  "version": ZEPHYR_DOC_VERSION, "mic_blocks": ZEPHYR_MIC_BLOCKS,
                  "video_buffers": ZEPHYR_VIDEO_BUFFERS}
    return {
        "envs": [{"name": env.name, "emulated": env.emulated, "options": env.options,
                  "comments": env.comments} for env in targets.envs],
        "default_env": targets.default_env,
        "run_env": targets.run_env,
        "arduino": arduino,
        "zephyr": zephyr,
    }
