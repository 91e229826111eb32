"""``mcuforge.json``: what a project was generated from, so it can be checked and regenerated.

It records the mcuforge version, the SHA-256 of the input model file and of the int8 ``.tflite``,
the board, the app, every option (as given and as resolved), the memory plan and the fit check. It
holds no timestamps and no machine-specific paths beyond what the user typed, so generating twice
from the same inputs gives the same bytes. :func:`generator.project.trust.signed_manifest` adds the
SHA-256 of every project file and this user's signature, which ``mcuforge run`` checks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from generator import __version__, inputs
from generator.boards import Board
from generator.codegen.schedule import IOSpec
from generator.compiler import CompiledModel
from generator.numerics import Numerics
from generator.plan.cost import DEFAULT_BUDGET
from generator.plan.report import PlanFigures
from generator.project.apps import AppPlan
from generator.project.fit import FitReport
from generator.project.options import GenerateOptions
from generator.project.targets import Targets

MANIFEST_NAME = "mcuforge.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
TFLITE_PATH = "model/model.tflite"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, or of a directory's files (relative names and contents, sorted)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(item.relative_to(path).as_posix().encode() + b"\0")
            inputs.sha256_update(digest, item, "input")
    else:
        inputs.sha256_update(digest, path, "input")
    return digest.hexdigest()


def _file_entry(path: Path | None) -> dict[str, str] | None:
    return None if path is None else {"path": str(path), "sha256": file_sha256(path)}


def regenerate_command(options: GenerateOptions) -> str:
    """The ``mcuforge generate`` command line that reproduces the project (into PROJECT_DIR)."""
    parts = ["mcuforge", "generate", str(options.model), "--board", options.board,
             "--app", options.app.value]
    for flag, value in (("--calib", options.calibration), ("--labels", options.labels),
                        ("--app-config", options.app_config), ("--replay", options.replay),
                        ("--fit", options.fit_data)):
        if value is not None:
            parts += [flag, str(value)]
    for name, value in {**options.settings, **options.frontend}.items():
        parts += ["--" + name.replace("_", "-"), str(value)]
    if options.numerics is not Numerics.TFLM:
        parts += ["--numerics", options.numerics.value]
    if options.split_overhead != DEFAULT_BUDGET:
        parts += ["--split-overhead", f"{options.split_overhead * 100:g}"]
    return shlex.join([*parts, "-o", "PROJECT_DIR", "--force"])


def _tensor(spec: IOSpec) -> dict[str, Any]:
    return {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype.value,
            "scale": spec.scale, "zero_point": spec.zero_point}


def build_manifest(options: GenerateOptions, board: Board, compiled: CompiledModel,
                   figures: PlanFigures, plan: AppPlan, targets: Targets,
                   fit: FitReport) -> dict[str, Any]:
    return {
        "mcuforge": __version__,
        "regenerate": regenerate_command(options),
        "model": {
            "file": _file_entry(options.model),
            "calibration": _file_entry(options.calibration),
            "int8_tflite": {"path": TFLITE_PATH, "sha256": compiled.model_hash},
            "input": _tensor(compiled.schedule.inputs[0]),
            "output": _tensor(compiled.schedule.outputs[0]),
        },
        "board": board.name,
        "app": plan.kind.value,
        "options": {
            "given": {"labels": options.labels, "app_config": _file_entry(options.app_config),
                      "replay": _file_entry(options.replay), "settings": dict(options.settings),
                      "frontend": dict(options.frontend)},
            "numerics": compiled.numerics.value,
            "labels": list(plan.labels),
            "settings": dataclasses.asdict(plan.settings),
            "frontend": {"kind": plan.frontend.kind, **dataclasses.asdict(plan.frontend)},
            "replay": {"source": plan.replay.source, "kind": plan.replay.kind,
                       "description": plan.replay.description, "bytes": plan.replay.nbytes,
                       "sha256": plan.replay.sha256},
        },
        "plan": {
            "arena_bytes": figures.arena,
            "unsplit_arena_bytes": figures.unsplit_arena,
            "lower_bound_bytes": figures.lower_bound,
            "peak_bytes": figures.peak,
            "unsplit_peak_bytes": figures.unsplit_peak,
            "const_bytes": compiled.const_bytes,
        },
        "fit": {
            "flash_budget": fit.flash_budget, "flash_need": fit.flash_need,
            "flash_items": dict(fit.flash_items),
            "sram_budget": fit.sram_budget, "sram_need": fit.sram_need,
            "sram_items": dict(fit.sram_items),
        },
        "targets": {
            "platformio_envs": [env.name for env in targets.envs],
            "emulated_envs": list(targets.emulated_envs),
            "default_env": targets.default_env,
            "run_env": targets.run_env,
            "arduino": None if targets.arduino is None else dataclasses.asdict(targets.arduino),
            "zephyr": None if targets.zephyr is None else {
                "board": targets.zephyr.board, "overlay": f"zephyr/boards/{targets.zephyr.overlay}",
                **dataclasses.asdict(targets.zephyr.capture)},
        },
    }


def manifest_text(manifest: Mapping[str, Any]) -> str:
    return json.dumps(manifest, indent=2) + "\n"


def _manifest_bytes(project_dir: Path) -> bytes:
    """The bytes of ``project_dir/mcuforge.json``: a regular file of at most MAX_MANIFEST_BYTES.

    Opened without blocking, so a FIFO or a device in its place is refused, not waited on.
    """
    from generator.errors import InputError

    path = project_dir / MANIFEST_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
            raise InputError(f"{project_dir}: no {MANIFEST_NAME}; not a project made by mcuforge "
                             "generate", "pass the folder `mcuforge generate -o` wrote") from None
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})",
                         "pass the folder `mcuforge generate -o` wrote") from None
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path}: not a regular file", "regenerate the project")
        if info.st_size > MAX_MANIFEST_BYTES:
            raise InputError(f"{path}: {info.st_size:,} bytes, more than any manifest mcuforge "
                             f"writes ({MAX_MANIFEST_BYTES:,})", "regenerate the project")
        try:
            return stream.read(MAX_MANIFEST_BYTES + 1)
        except OSError as exc:
            raise InputError(f"{path}: cannot read it ({exc.strerror or exc})",
                             "regenerate the project") from None


def read_manifest(project_dir: Path) -> dict[str, Any]:
    """The parsed ``mcuforge.json`` of a project (any JSON value: callers check its shape)."""
    from generator.errors import InputError

    path = project_dir / MANIFEST_NAME
    data = _manifest_bytes(project_dir)
    try:
        parsed: dict[str, Any] = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})", "regenerate the project") from None
    return parsed
