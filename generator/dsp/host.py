"""Build the front-end C for the host or cross-compile it for a Cortex-M4F, from one configuration.

Tests use the host build through ctypes to compare the C with the Python twins; the cross build
checks that the sources compile cleanly for the firmware target.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from generator.dsp.cheader import FrontendConfig
from generator.dsp.emit import write_frontend_files
from generator.errors import ToolError

WARNINGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wvla", "-Wdouble-promotion",
            "-Wconversion")
HOST_CFLAGS = (*WARNINGS, "-O2", "-fPIC", "-shared")
CORTEX_M4F_CFLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                     *WARNINGS, "-O2", "-c")


def _compile(cmd: list[str]) -> None:
    if shutil.which(cmd[0]) is None:
        raise ToolError(f"{cmd[0]} not found", f"install it (Debian: apt-get install "
                        f"{'gcc-arm-none-eabi' if 'arm' in cmd[0] else 'gcc'})")
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        raise ToolError(f"{cmd[0]} failed on the front-end sources:\n{res.stderr.strip()}",
                        "the generated headers and the fixed sources disagree; regenerate them")


def build_host_library(dest: Path, *configs: FrontendConfig, cc: str = "gcc",
                       extra_flags: Sequence[str] = ()) -> Path:
    """Write the front-end files into ``dest`` and link them into ``dest/libmcuf_frontend.so``.

    ``extra_flags`` come after the standard ones, so they can override e.g. ``-std`` or ``-O``.
    """
    sources = write_frontend_files(dest, *configs)
    lib = dest / "libmcuf_frontend.so"
    _compile([cc, *HOST_CFLAGS, *extra_flags, f"-I{dest}", *map(str, sources), "-o", str(lib)])
    return lib


def cross_compile(dest: Path, *configs: FrontendConfig, cc: str = "arm-none-eabi-gcc",
                  extra_flags: Sequence[str] = ()) -> list[Path]:
    """Compile each front-end source to an object file for a Cortex-M4F; returns the objects."""
    objects = []
    for src in write_frontend_files(dest, *configs):
        obj = src.with_suffix(".o")
        _compile([cc, *CORTEX_M4F_CFLAGS, *extra_flags, f"-I{dest}", str(src), "-o", str(obj)])
        objects.append(obj)
    return objects
