"""``mcuforge run``: check, build offline and run a generated project in QEMU, streaming its output.

1. **Check** (:func:`check_project`), before anything is built: the folder must be exactly what
   this user's ``mcuforge generate`` wrote, by the signed file hashes of its ``mcuforge.json``
   (:mod:`generator.project.trust`). A changed, added or missing file, or a manifest that is
   unsigned or signed elsewhere, or a ``.pio/`` build folder the last run did not leave, is
   refused unless the user passes ``--trust-project``: the build runs the project's Python
   (``extra_scripts``, library scripts) and its ``upload_command``.
2. **Build**: ``pio run -e ENV`` in mcuforge's private offline PlatformIO core
   (:func:`generator.build.pio_run`).
3. **Run**: the environment's own ``upload_command`` from ``platformio.ini`` (sandboxed QEMU with
   ``-icount shift=0``: what ``pio run -t upload`` would run) with the ELF in place of ``$SOURCE``,
   in a process group of its own (:mod:`generator.build.sandbox`), confined to reading the ELF.
   Each line of the firmware's output is passed on as it comes. QEMU failing to start, its
   sandbox stopping the firmware, a timeout, and an exit code 0 without the firmware's last line
   (``done N inferences``) are tool errors. The result is the firmware's exit code.
"""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.build import firmware_elf, pio_run
from generator.build.qemu import check_qemu_ran
from generator.build.sandbox import stream_lines
from generator.errors import InputError, ToolError
from generator.project.manifest import MANIFEST_NAME, read_manifest
from generator.project.targets import QEMU_TIMEOUT_S
from generator.project.trust import describe_problems, project_problems, stamp_build_dir

TIMEOUT_EXIT_CODES = (124, 137)
"""Exit codes of coreutils ``timeout`` when the time limit was reached (TERM, then KILL)."""
INFERENCE_RE = re.compile(r"^inference (\d+) (\w+) (\d+) scores((?: -?\d+)+)\s*$")
DONE_RE = re.compile(r"^done \d+ inferences\b", re.MULTILINE)
"""The last line every generated firmware prints: the proof that it ran to its end."""
RUN_TIMEOUT_S = QEMU_TIMEOUT_S + 30
"""Watchdog of a firmware run: longer than the upload_command's own ``timeout``."""
TRUST_HINT = ("regenerate it with `mcuforge generate` (mcuforge.json's 'regenerate' holds the "
              "command), or pass --trust-project if you trust whoever wrote every file in it: "
              "building and running it executes its scripts")


@dataclass(frozen=True)
class Inference:
    """One ``inference`` line of the firmware's output."""

    index: int
    unit: str
    cost: int
    scores: tuple[int, ...]


def parse_inferences(output: str) -> list[Inference]:
    found = []
    for line in output.splitlines():
        match = INFERENCE_RE.match(line)
        if match:
            found.append(Inference(int(match[1]), match[2], int(match[3]),
                                   tuple(int(v) for v in match[4].split())))
    return found


def check_project(project_dir: Path, trust: bool = False) -> list[str]:
    """Refuse (InputError) a project this user's mcuforge did not generate, or that was changed.

    Reads and checks ``mcuforge.json`` first. With ``trust`` nothing is refused: the problems
    found are returned for the caller to warn about.
    """
    manifest = read_manifest(project_dir)
    _targets(project_dir, manifest)
    problems = project_problems(project_dir, manifest)
    if problems and not trust:
        raise InputError(f"{project_dir}: not built or run, it is not the project mcuforge "
                         f"generated: {describe_problems(problems)}", TRUST_HINT)
    return problems


def resolve_env(project_dir: Path, env: str | None) -> str:
    """The environment to run: ``env`` if it is emulated, else the manifest's run environment."""
    targets = _targets(project_dir, read_manifest(project_dir))
    emulated = [str(e) for e in targets["emulated_envs"]]
    envs = [str(e) for e in targets["platformio_envs"]]
    if env is None:
        return str(targets["run_env"])
    if env not in envs:
        raise InputError(f"{project_dir}/platformio.ini: no environment '{env}'",
                         f"choose one of {', '.join(envs)}")
    if env not in emulated:
        raise InputError(f"environment '{env}' is for the real board and cannot run offline",
                         f"flash it with `pio run -d {project_dir} -e {env} -t upload`, or run "
                         f"{', '.join(emulated)} in QEMU")
    return env


def _targets(project_dir: Path, manifest: object) -> dict[str, Any]:
    """The manifest's ``targets``, checked: a hand-edited or foreign mcuforge.json is an input error."""
    targets = manifest.get("targets") if isinstance(manifest, dict) else None
    if (not isinstance(targets, dict) or not isinstance(targets.get("run_env"), str)
            or not all(isinstance(targets.get(key), list)
                       for key in ("emulated_envs", "platformio_envs"))):
        raise InputError(f"{project_dir}/{MANIFEST_NAME}: no 'targets' with run_env, emulated_envs "
                         "and platformio_envs", "regenerate the project with mcuforge generate")
    return targets


def upload_command(project_dir: Path, env: str, elf: Path) -> list[str]:
    """The environment's ``upload_command`` with ``$SOURCE`` replaced by the ELF's path."""
    from platformio.project.config import ProjectConfig
    from platformio.project.exception import ProjectError

    try:
        config = ProjectConfig(str(project_dir / "platformio.ini"), parse_extra=False)
        section = f"env:{env}"
        command = (str(config.get(section, "upload_command"))
                   if config.has_option(section, "upload_command") else None)
    except ProjectError as exc:
        raise InputError(f"{project_dir}/platformio.ini: {exc}", "regenerate the project") from None
    if not command:
        raise InputError(f"{project_dir}/platformio.ini: [env:{env}] has no upload_command",
                         "regenerate the project")
    try:
        parts = shlex.split(command)
    except ValueError as exc:
        raise InputError(f"{project_dir}/platformio.ini: [env:{env}] upload_command: {exc}",
                         "regenerate the project") from None
    return [str(elf) if part == "$SOURCE" else part for part in parts]


def build(project_dir: Path, env: str, core_dir: Path | None = None) -> Path:
    """``pio run -e env`` offline; returns the ELF. The build folder is stamped afterwards (also
    after a failed build: its content came from the checked sources) so the next run accepts it."""
    try:
        pio_run(project_dir, env, core_dir=core_dir)
    finally:
        with contextlib.suppress(OSError, InputError):
            stamp_build_dir(project_dir, read_manifest(project_dir))
    return firmware_elf(project_dir, env)


def run_firmware(command: list[str], echo: Callable[[str], None] | None = None, *,
                 elf: Path | None = None, timeout: float = RUN_TIMEOUT_S) -> tuple[int, str]:
    """Run ``command``, passing each output line to ``echo`` as it arrives; (exit code, output).

    The firmware's stderr (faults, semihosting stream 2) is merged into its stdout, in order.
    With ``elf`` the run is confined to reading that file (and the system's program folders).
    Raises ToolError if the command cannot start, runs out of time, or QEMU fails or stops the
    firmware.
    """
    echo = echo or (lambda line: print(line, end="", flush=True))
    readable = None if elf is None else [elf.resolve()]
    try:
        done = stream_lines(command, echo, timeout, readable=readable)
    except OSError as exc:
        raise ToolError(f"cannot start {command[0]} ({exc.strerror or exc})",
                        "install qemu-system-arm and coreutils") from None
    if done.timed_out or (done.returncode in TIMEOUT_EXIT_CODES and command[0] == "timeout"):
        limit = command[3] if command[0] == "timeout" and len(command) > 3 else f"{timeout:g}"
        raise ToolError(f"the firmware did not finish within {limit} s",
                        "look for a hang, or raise the timeout in the upload_command")
    _check_started(command, done.returncode, done.stdout)
    check_qemu_ran(str(elf or command[0]), done.returncode, done.stdout)
    return done.returncode, done.stdout


def _check_started(command: list[str], code: int, output: str) -> None:
    """coreutils ``timeout`` exits 125 to 127 when it cannot run the program it wraps."""
    if command[0] != "timeout" or code not in (125, 126, 127):
        return
    said = [line for line in output.splitlines() if line.startswith("timeout:")]
    if said:
        raise ToolError(f"cannot run the emulator: {said[0]}", "install qemu-system-arm")


def check_finished(project_dir: Path, env: str, code: int, output: str) -> None:
    """A run that exits 0 must have printed the firmware's last line; else a ToolError."""
    if code == 0 and DONE_RE.search(output) is None:
        raise ToolError(f"{project_dir}: environment '{env}' exited with 0, but the firmware never "
                        "printed its last line ('done N inferences'): QEMU did not run it to its end",
                        "check the upload_command in platformio.ini, or regenerate the project")


def run_project(project_dir: Path, env: str | None = None, core_dir: Path | None = None,
                echo: Callable[[str], None] | None = None,
                trust: bool = False) -> tuple[int, str]:
    """Check, build and run; returns the firmware's exit code and its standard output."""
    check_project(project_dir, trust)
    name = resolve_env(project_dir, env)
    elf = build(project_dir, name, core_dir)
    code, output = run_firmware(upload_command(project_dir, name, elf), echo, elf=elf)
    check_finished(project_dir, name, code, output)
    return code, output
