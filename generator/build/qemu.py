"""Run a bare-metal Cortex-M ELF in qemu-system-arm with semihosting, sandboxed.

Firmware built on the mcuforge-qemu platform writes through semihosting to QEMU's stdout and ends
with SYS_EXIT_EXTENDED, so QEMU's exit status is the firmware's exit code. QEMU runs under its
seccomp sandbox (no host commands), confined by Landlock where the kernel has it (no host files),
in a process group of its own that is killed on a timeout or an interrupt
(:mod:`generator.build.sandbox`).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from generator.boards import Board
from generator.build.sandbox import Finished, killed_by_sandbox, qemu_guard_args, run_captured
from generator.errors import BoardError, ToolError

QEMU = "qemu-system-arm"
DEFAULT_TIMEOUT_S = 60.0


class QemuResult(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


def qemu_command(elf: Path, machine: str, extra_args: Sequence[str] = ()) -> list[str]:
    """The command line: no display, no monitor or UART on stdio, sandbox and semihosting on."""
    return [
        QEMU, "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
        *qemu_guard_args(), *extra_args, "-kernel", str(elf),
    ]


def _qemu_binary() -> str:
    found = shutil.which(QEMU)
    if found is None:
        raise ToolError(f"{QEMU} is not on PATH", hint="apt-get install qemu-system-arm")
    return found


_QEMU_ERROR_PREFIXES = (f"{QEMU}:", "qemu: fatal:")


def qemu_failure(output: str) -> str | None:
    """QEMU's own error (the first ``qemu-system-arm: ...`` or ``qemu: fatal: ...`` line that is
    not a warning, and the lines after it, at most five) in ``output``, or None if there is none."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(_QEMU_ERROR_PREFIXES) and not line.startswith(f"{QEMU}: warning:"):
            return "\n".join(lines[index:index + 5])
    return None


def check_qemu_ran(where: str, exit_code: int, output: str) -> None:
    """Raise ToolError if QEMU itself failed: it did not start, crashed, or its sandbox stopped
    the firmware. ``where`` names the firmware or project in the message."""
    if killed_by_sandbox(exit_code):
        raise ToolError(f"{where}: QEMU's sandbox stopped the firmware: it asked the host to run a "
                        "command (semihosting SYS_SYSTEM), which mcuforge never allows",
                        hint="firmware made by mcuforge never does this; regenerate the project "
                             "from a model and board you trust")
    failure = qemu_failure(output)
    if failure is not None and "seccomp" in failure:
        raise ToolError(f"{where}: {QEMU} cannot sandbox the firmware:\n{failure}",
                        hint="mcuforge runs QEMU only with -sandbox; install a QEMU built with "
                             "seccomp (Debian's and Ubuntu's qemu-system-arm are)")
    if failure is not None:
        raise ToolError(f"{where}: {QEMU} failed (exit code {exit_code}):\n{failure}",
                        hint="check the board's emulator settings (machine, cpu, extra_args) "
                             "and that the firmware file is an ARM ELF for that machine")
    if exit_code < 0:
        raise ToolError(f"{where}: {QEMU} was killed by signal {-exit_code}",
                        hint="run it again; if it recurs, run QEMU by hand to see why")


def run_qemu(
    elf: Path, machine: str, timeout: float = DEFAULT_TIMEOUT_S, extra_args: Sequence[str] = ()
) -> QemuResult:
    """Run ``elf`` on QEMU machine ``machine`` (e.g. ``mps2-an386``) until the firmware exits.

    Returns the firmware's exit code and QEMU's stdout/stderr. Raises ToolError if the ELF is
    missing, QEMU is missing, fails to start or stops the firmware, or the firmware does not exit
    within ``timeout`` seconds.
    """
    if not Path(elf).is_file():
        raise ToolError(f"{elf}: no such firmware file", hint="build the project first")
    command = qemu_command(Path(elf), machine, extra_args)
    command[0] = _qemu_binary()
    try:
        done: Finished = run_captured(command, timeout, readable=[Path(elf).resolve()])
    except OSError as exc:
        raise ToolError(f"cannot start {QEMU} ({exc.strerror or exc})",
                        hint="apt-get install qemu-system-arm") from None
    if done.timed_out:
        tail = (done.stdout + done.stderr)[-2000:]
        raise ToolError(f"{elf}: firmware did not exit within {timeout:g} s on {machine}; "
                        f"output so far:\n{tail}",
                        hint="the firmware must end with mcuf_port_exit() or return from main()")
    check_qemu_ran(str(elf), done.returncode, done.stderr)
    return QemuResult(done.returncode, done.stdout, done.stderr)


def run_on_board(elf: Path, board: Board, timeout: float = DEFAULT_TIMEOUT_S) -> QemuResult:
    """Run ``elf`` on the emulator that ``board``'s YAML names."""
    if board.emulator is None:
        raise BoardError(f"boards/{board.name}.yaml: emulator: board '{board.name}' is not "
                         "emulated", hint="use qemu_mps2_an386 (M4F), qemu_mps2_an500 (M7) or "
                         "qemu_mps3_an547 (M55)")
    cpu = ["-cpu", board.emulator.cpu] if board.emulator.cpu else []
    return run_qemu(elf, board.emulator.machine, timeout, [*cpu, *board.emulator.extra_args])
