"""Kernel firmware for the emulated boards: one C file of checks (a ``main`` that prints OK) built
with arm-none-eabi-gcc against mcuforge's runtime kernels and the mcuforge-qemu platform's startup,
semihosting port and linker script, for a board of the platform, then run in QEMU.

The kernel tests of each operator (host build equal to the reference, then this build equal to the
host's outputs) share it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from generator.build.platform_files import platform_dir
from generator.resources import runtime_dir

WARNINGS = ("-Wall", "-Wextra", "-Werror")


def tools_missing() -> str | None:
    """Why the firmware cannot be built and run here, or None."""
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-objdump", "qemu-system-arm"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install gcc-arm-none-eabi binutils-arm-none-eabi "\
                   "qemu-system-arm)"
    return None


def manifest(board: str) -> dict[str, Any]:
    """The platform's PlatformIO manifest of ``board`` (cpu, fpu, linker script, QEMU machine)."""
    data: dict[str, Any] = json.loads((platform_dir() / "boards" / f"{board}.json").read_text())
    return data


def machine_flags(board: str) -> list[str]:
    build = manifest(board)["build"]
    return [f"-mcpu={build['cpu']}", "-mthumb", f"-mfloat-abi={build['float_abi']}",
            *([f"-mfpu={build['fpu']}"] if "fpu" in build else [])]


def build(board: str, source: str, out: Path, kernels: Iterable[str] | None = None,
          opt: str = "-Os", std: str = "gnu11", warnings: Iterable[str] = WARNINGS) -> Path:
    """Compile ``source`` with the runtime kernel sources ``kernels`` (file names in
    ``generator/runtime/src``; all of them if None) for ``board``; returns the ELF."""
    rt, port = runtime_dir(), platform_dir() / "runtime"
    out.mkdir(parents=True, exist_ok=True)
    main_c = out / "main.c"
    main_c.write_text(source)
    names = sorted(p.name for p in (rt / "src").glob("*.c")) if kernels is None else list(kernels)
    elf = out / "kernels.elf"
    cmd = ["arm-none-eabi-gcc", *machine_flags(board), f"-std={std}", opt, *warnings,
           "-ffunction-sections", "-fdata-sections", f"-I{rt / 'include'}", f"-I{port / 'include'}",
           str(main_c), *(str(rt / "src" / n) for n in names),
           *map(str, sorted((port / "src").glob("*.c"))), "-nostartfiles", "--specs=nano.specs",
           "-Wl,--gc-sections", f"-L{platform_dir() / 'ldscripts'}",
           f"-T{manifest(board)['build']['ldscript']}", "-o", str(elf), "-lm"]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return elf


def disassembly(elf: Path, function: str | None = None, arch: str | None = None) -> str:
    """objdump's disassembly of ``elf``, or of one function in it."""
    cmd = ["arm-none-eabi-objdump", "-d", *(["-m", arch] if arch else []), str(elf)]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    if function is None:
        return text
    start = text.index(f"<{function}>:")
    end = text.find("\n\n", start)
    return text[start:] if end < 0 else text[start:end]


def run_checks(board: str, elf: Path) -> None:
    """Run the firmware in QEMU; it must exit 0 after printing OK."""
    from generator.build.qemu import run_qemu

    run = run_qemu(elf, manifest(board)["upload"]["qemu_machine"])
    assert run.exit_code == 0 and "OK" in run.stdout, run.stdout + run.stderr
