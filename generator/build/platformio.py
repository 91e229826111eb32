"""Run PlatformIO offline, in a private core directory that mcuforge prepares.

PlatformIO normally downloads two things before any build: the core package ``tool-scons`` and the
platform's toolchain. :func:`prepare_offline_core` writes local stand-ins for both into a private
``PLATFORMIO_CORE_DIR``:

* ``packages/tool-scons``: a ``scons.py`` that runs the SCons installed in this Python, registered
  under the owner and version PlatformIO asks for;
* ``packages/toolchain-gccarmnoneeabi``: ``bin/`` links to the system ``arm-none-eabi-*`` tools.

Projects then name the shipped platform by path (see :func:`platform_option`), so nothing is
fetched from the registry.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from generator.boards import Board
from generator.build.platform_files import PLATFORM_NAME, platform_dir
from generator.build.sandbox import run_captured
from generator.errors import ToolError

TOOLCHAIN_PACKAGE = "toolchain-gccarmnoneeabi"
SCONS_PACKAGE = "tool-scons"
TOOLCHAIN_PREFIX = "arm-none-eabi-"
DEFAULT_TIMEOUT_S = 300.0
LOG_TAIL_LINES = 40

_SCONS_SHIM = """\
# Stand-in for PlatformIO's tool-scons package: run the SCons installed in this Python.
import sys

from SCons.Script import main

sys.exit(main())
"""


def default_core_dir() -> Path:
    """``$MCUFORGE_PIO_CORE_DIR``, else a folder in the user's cache directory."""
    override = os.environ.get("MCUFORGE_PIO_CORE_DIR")
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mcuforge" / "platformio-core"


def platform_option() -> str:
    """The ``platform =`` value that selects the shipped offline platform."""
    return f"symlink://{platform_dir()}"


def platformio_env_options(board: Board) -> dict[str, str]:
    """``platform``/``board``/``framework`` options of a ``[env:...]`` section for ``board``."""
    pio = board.platformio
    options = {"platform": platform_option() if pio.local_platform else pio.platform,
               "board": pio.board}
    if pio.framework:
        options["framework"] = pio.framework
    return options


# --------------------------------------------------------------------------------------------------
# Package stand-ins


def _write_text(path: Path, text: str) -> None:
    """Write only if the content differs, atomically (other builds may read the core at once)."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _write_json(path: Path, data: Mapping[str, object]) -> None:
    _write_text(path, json.dumps(data, indent=2) + "\n")


def _write_package(folder: Path, name: str, version: str, owner: str | None) -> None:
    """A package folder PlatformIO accepts as installed: ``package.json`` plus ``.piopm``."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "package.json",
                {"name": name, "version": version, "description": "mcuforge offline stand-in"})
    spec = {"owner": owner, "id": None, "name": name, "requirements": None, "uri": None}
    _write_json(folder / ".piopm", {"type": "tool", "name": name, "version": version, "spec": spec})


def scons_package_version() -> str:
    """The tool-scons version this PlatformIO asks for (``~4.41101.0`` → ``4.41101.0``)."""
    from platformio.dependencies import get_core_dependencies

    requirement = str(get_core_dependencies()[SCONS_PACKAGE])
    match = re.search(r"\d+(\.\d+)*", requirement)
    if match is None:
        raise ToolError(f"cannot read the tool-scons requirement '{requirement}' of PlatformIO",
                        hint="install the PlatformIO version listed in pyproject.toml")
    return match.group(0)


def _check_scons() -> None:
    try:
        import SCons  # noqa: F401
    except ImportError:
        raise ToolError("SCons is not installed in this Python; PlatformIO builds need it",
                        hint="pip install 'scons==4.11.1'") from None


def prepare_scons(core_dir: Path) -> Path:
    _check_scons()
    folder = core_dir / "packages" / SCONS_PACKAGE
    _write_package(folder, SCONS_PACKAGE, scons_package_version(), owner="platformio")
    _write_text(folder / "scons.py", _SCONS_SHIM)
    return folder


def _gcc_path() -> Path:
    gcc = shutil.which(f"{TOOLCHAIN_PREFIX}gcc")
    if gcc is None:
        raise ToolError(f"{TOOLCHAIN_PREFIX}gcc is not on PATH",
                        hint="apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")
    return Path(gcc)


def toolchain_package_version(gcc: Path) -> str:
    """PlatformIO's numbering for a GCC release: 12.2.1 → ``1.120201.0``."""
    result = subprocess.run([str(gcc), "-dumpfullversion"], capture_output=True, text=True,
                            check=False)
    parts = [int(p) for p in re.findall(r"\d+", result.stdout)[:3]] + [0, 0, 0]
    return f"1.{parts[0]:d}{parts[1]:02d}{parts[2]:02d}.0"


def _link_tools(bin_dir: Path, tools_dir: Path) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in sorted(tools_dir.glob(f"{TOOLCHAIN_PREFIX}*")):
        link = bin_dir / tool.name
        if link.is_symlink() and link.resolve() == tool.resolve():
            continue
        partial = bin_dir / f".{tool.name}.{os.getpid()}.tmp"
        partial.unlink(missing_ok=True)
        partial.symlink_to(tool)
        os.replace(partial, link)


def prepare_toolchain(core_dir: Path) -> Path:
    gcc = _gcc_path()
    folder = core_dir / "packages" / TOOLCHAIN_PACKAGE
    _write_package(folder, TOOLCHAIN_PACKAGE, toolchain_package_version(gcc), owner=None)
    _link_tools(folder / "bin", gcc.parent)
    return folder


def register_platform(core_dir: Path) -> Path:
    """Register the shipped platform in ``core_dir`` so ``platform = mcuforge-qemu`` finds it.

    This is the link file ``pio pkg install -g -p symlink://…`` would write.
    """
    folder = core_dir / "platforms"
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"owner": None, "id": None, "name": PLATFORM_NAME, "requirements": None,
            "uri": platform_option()}
    link = folder / f"{PLATFORM_NAME}.pio-link"
    _write_json(link, {"cwd": str(platform_dir().parent), "spec": spec})
    return link


def offline_environment(core_dir: Path) -> dict[str, str]:
    """Variables that point PlatformIO at ``core_dir`` and keep it off the network."""
    return {
        "PLATFORMIO_CORE_DIR": str(core_dir),
        "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "No",
        "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "3650",
        "PLATFORMIO_SETTING_ENABLE_CACHE": "Yes",
        "PLATFORMIO_DISABLE_PROGRESSBAR": "true",
        "PLATFORMIO_NO_ANSI": "true",
    }


def prepare_offline_core(core_dir: Path) -> dict[str, str]:
    """Make ``core_dir`` a PlatformIO core that builds offline; returns the environment to use.

    Idempotent and cheap: files are rewritten only when they differ.
    """
    core_dir = core_dir.resolve()
    prepare_scons(core_dir)
    prepare_toolchain(core_dir)
    register_platform(core_dir)
    return offline_environment(core_dir)


# --------------------------------------------------------------------------------------------------
# Running pio


def log_tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def firmware_elf(project_dir: Path, env_name: str) -> Path:
    """Where ``pio run`` leaves the linked firmware of one environment on the local platform."""
    return Path(project_dir) / ".pio" / "build" / env_name / "firmware.elf"


def pio_command(project_dir: Path, env_name: str, target: str | None) -> list[str]:
    command = [sys.executable, "-m", "platformio", "run", "-d", str(project_dir), "-e", env_name]
    return command + (["-t", target] if target else [])


def pio_run(
    project_dir: Path,
    env_name: str,
    target: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    *,
    core_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``pio run -e ENV [-t TARGET]`` offline; raises ToolError (with the log's tail) on failure.

    With ``target="upload"`` on the local platform this runs the firmware in QEMU, and a nonzero
    firmware exit code is a failure. PlatformIO and everything it starts run in a process group
    of their own, killed as a whole on a timeout or an interrupt.
    """
    env = {**os.environ, **prepare_offline_core(core_dir or default_core_dir()),
           **(extra_env or {})}
    command = pio_command(project_dir, env_name, target)
    try:
        result = run_captured(command, timeout, env=env)
    except OSError as exc:
        raise ToolError(f"cannot start PlatformIO ({exc.strerror or exc})",
                        hint="pip install platformio") from None
    if result.timed_out:
        raise ToolError(f"{_describe(command)} did not finish within {timeout:g} s:\n"
                        f"{log_tail(result.stdout + result.stderr)}",
                        hint="raise the timeout or look for a hang")
    if result.returncode != 0:
        raise ToolError(f"{_describe(command)} failed (exit code {result.returncode}):\n"
                        f"{log_tail(result.stdout + result.stderr)}",
                        hint=f"run it by hand in {project_dir} with PLATFORMIO_CORE_DIR set "
                             "for the full log")
    return subprocess.CompletedProcess(command, result.returncode, result.stdout, result.stderr)


def _describe(command: Sequence[str]) -> str:
    return "pio " + " ".join(command[3:])


