"""Run a bare-metal Cortex-M ELF in qemu-system-arm with semihosting.

Firmware built on the mcuforge-qemu platform writes through semihosting to QEMU's stdout and ends
with SYS_EXIT_EXTENDED, so QEMU's exit status is the firmware's exit code.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from generator.boards import Board
from generator.errors import BoardError, ToolError

QEMU = "qemu-system-arm"
DEFAULT_TIMEOUT_S = 60.0


class QemuResult(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


def qemu_command(elf: Path, machine: str, extra_args: Sequence[str] = ()) -> list[str]:
    """The command line: no display, no monitor or UART on stdio, semihosting on."""
    return [
        QEMU, "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
        "-semihosting-config", "enable=on,target=native", *extra_args, "-kernel", str(elf),
    ]


def _qemu_binary() -> str:
    found = shutil.which(QEMU)
    if found is None:
        raise ToolError(f"{QEMU} is not on PATH", hint="apt-get install qemu-system-arm")
    return found


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


def run_qemu(
    elf: Path, machine: str, timeout: float = DEFAULT_TIMEOUT_S, extra_args: Sequence[str] = ()
) -> QemuResult:
    """Run ``elf`` on QEMU machine ``machine`` (e.g. ``mps2-an386``) until the firmware exits.

    Returns the firmware's exit code and QEMU's stdout/stderr. Raises ToolError if the ELF is
    missing, QEMU is missing, or the firmware does not exit within ``timeout`` seconds.
    """
    if not Path(elf).is_file():
        raise ToolError(f"{elf}: no such firmware file", hint="build the project first")
    command = qemu_command(Path(elf), machine, extra_args)
    command[0] = _qemu_binary()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        tail = (_text(exc.stdout) + _text(exc.stderr))[-2000:]
        raise ToolError(f"{elf}: firmware did not exit within {timeout:g} s on {machine}; "
                        f"output so far:\n{tail}",
                        hint="the firmware must end with mcuf_port_exit() or return from main()"
                        ) from None
    return QemuResult(done.returncode, done.stdout, done.stderr)


def run_on_board(elf: Path, board: Board, timeout: float = DEFAULT_TIMEOUT_S) -> QemuResult:
    """Run ``elf`` on the emulator that ``board``'s YAML names."""
    if board.emulator is None:
        raise BoardError(f"boards/{board.name}.yaml: emulator: board '{board.name}' is not "
                         "emulated", hint="use qemu_mps2_an386 (M4F) or qemu_mps2_an500 (M7)")
    cpu = ["-cpu", board.emulator.cpu] if board.emulator.cpu else []
    return run_qemu(elf, board.emulator.machine, timeout, [*cpu, *board.emulator.extra_args])
