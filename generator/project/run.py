"""``mcuforge run``: build a generated project offline and run it in QEMU, streaming its output.

The build is ``pio run -e ENV`` in mcuforge's private offline PlatformIO core
(:func:`generator.build.pio_run`). The run uses the environment's own ``upload_command`` from
``platformio.ini`` (QEMU with ``-icount shift=0``: what ``pio run -t upload`` would run), with the
ELF in place of ``$SOURCE``, and copies the firmware's output line by line as it comes. The result
is the firmware's exit code.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.build import firmware_elf, pio_run
from generator.errors import InputError, ToolError
from generator.project.manifest import MANIFEST_NAME, read_manifest

TIMEOUT_EXIT_CODES = (124, 137)
"""Exit codes of coreutils ``timeout`` when the time limit was reached (TERM, then KILL)."""
INFERENCE_RE = re.compile(r"^inference (\d+) (\w+) (\d+) scores((?: -?\d+)+)\s*$")


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


def resolve_env(project_dir: Path, env: str | None) -> str:
    """The environment to run: ``env`` if it is emulated, else the manifest's run environment."""
    targets = _targets(project_dir, read_manifest(project_dir))
    emulated = list(targets["emulated_envs"])
    if env is None:
        return str(targets["run_env"])
    if env not in targets["platformio_envs"]:
        raise InputError(f"{project_dir}/platformio.ini: no environment '{env}'",
                         f"choose one of {', '.join(targets['platformio_envs'])}")
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

    config = ProjectConfig(str(project_dir / "platformio.ini"), parse_extra=False)
    section = f"env:{env}"
    if not config.has_option(section, "upload_command"):
        raise InputError(f"{project_dir}/platformio.ini: [{section}] has no upload_command",
                         "regenerate the project")
    command = str(config.get(section, "upload_command"))
    return [str(elf) if part == "$SOURCE" else part for part in shlex.split(command)]


def build(project_dir: Path, env: str, core_dir: Path | None = None) -> Path:
    """``pio run -e env`` offline; returns the ELF."""
    pio_run(project_dir, env, core_dir=core_dir)
    return firmware_elf(project_dir, env)


def run_firmware(command: list[str], echo: Callable[[str], None] | None = None
                 ) -> tuple[int, str]:
    """Run ``command``, passing each output line to ``echo`` as it arrives; (exit code, output).

    The firmware's stderr (faults, semihosting stream 2) is merged into its stdout, in order.
    """
    echo = echo or (lambda line: print(line, end="", flush=True))
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, bufsize=1)
    except OSError as exc:
        raise ToolError(f"cannot start {command[0]} ({exc.strerror or exc})",
                        "install qemu-system-arm and coreutils") from None
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        echo(line)
    code = process.wait()
    if code in TIMEOUT_EXIT_CODES and command[0] == "timeout":
        raise ToolError(f"the firmware did not finish within {command[3]} s",
                        "look for a hang, or raise the timeout in the upload_command")
    return code, "".join(lines)


def run_project(project_dir: Path, env: str | None = None, core_dir: Path | None = None,
                echo: Callable[[str], None] | None = None) -> tuple[int, str]:
    """Build and run; returns the firmware's exit code and its standard output."""
    name = resolve_env(project_dir, env)
    elf = build(project_dir, name, core_dir)
    return run_firmware(upload_command(project_dir, name, elf), echo)
