"""How mcuforge runs QEMU and the build tools: firmware cannot reach the host, nothing outlives us.

* **QEMU's own sandbox.** Every QEMU command line carries :data:`QEMU_SANDBOX`: a seccomp filter
  that denies spawning processes (``spawn=deny``: semihosting ``SYS_SYSTEM`` cannot run a host
  command; QEMU is killed with SIGSYS instead), raising privileges, obsolete system calls and
  resource control. Semihosting stays on (:data:`SEMIHOSTING`): the firmware's output and exit code
  travel through it.
* **File access.** Semihosting also lets firmware open, read and write any host file QEMU can
  (``SYS_OPEN`` with a host path), and QEMU 7.2 has no option to restrict that. Where the kernel
  supports Landlock, the QEMU runs that mcuforge starts itself (:func:`run_captured` and
  :func:`stream_lines` given ``readable``) may write nowhere (but ``/dev/null``) and read only the
  system's program folders and the firmware file. ``pio run -t upload`` typed by hand has the
  seccomp filter only.
* **Process groups.** Each tool runs in a session of its own; on return, on a timeout and on
  KeyboardInterrupt (the CLI turns SIGTERM into one) the whole group is killed and reaped, so
  neither QEMU nor a compiler survives mcuforge. A confined QEMU run also gets SIGTERM when
  mcuforge dies (``PR_SET_PDEATHSIG``; coreutils ``timeout`` passes it on to QEMU), even by
  ``kill -9``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from generator.build import landlock

QEMU_SANDBOX = ("-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                "resourcecontrol=deny")
"""QEMU's seccomp filter: no process spawning (semihosting SYS_SYSTEM), no privilege changes."""
SEMIHOSTING = ("-semihosting-config", "enable=on,target=native")
SIGSYS_EXIT_CODES = (128 + signal.SIGSYS, -signal.SIGSYS)
"""How a QEMU killed by its seccomp filter exits: through coreutils ``timeout``, or directly."""
READABLE_SYSTEM_DIRS = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc",
                        "/opt", "/nix", "/proc", "/sys", "/dev")
"""What a confined QEMU may read besides the firmware: its program, libraries and data files."""


def qemu_guard_args() -> tuple[str, ...]:
    """The options every QEMU command line of mcuforge carries, seccomp sandbox first."""
    return (*QEMU_SANDBOX, *SEMIHOSTING)


def killed_by_sandbox(exit_code: int) -> bool:
    """True if ``exit_code`` says QEMU's seccomp filter stopped it (a forbidden host call)."""
    return exit_code in SIGSYS_EXIT_CODES


class Finished(NamedTuple):
    """The end of one tool run: its exit code, its output, and whether the time limit ended it."""

    returncode: int
    stdout: str
    stderr: str
    timed_out: bool


def kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL every process of ``process``'s group (it leads its own session), then reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _program_prefixes(command: Sequence[str]) -> list[str]:
    """The install prefixes (``<prefix>/bin/tool``) of the command's program and of QEMU in it."""
    found = []
    for arg in command:
        if arg == command[0] or arg.startswith("qemu-system-"):
            where = shutil.which(arg)
            if where is not None:
                found.append(str(Path(where).resolve().parent.parent))
    return found


def _ruleset(command: Sequence[str], readable: Sequence[Path] | None) -> int | None:
    """A Landlock ruleset for a confined child, or None (not asked for, or no Landlock here)."""
    if readable is None or not landlock.available():
        return None
    return landlock.read_only_ruleset([*READABLE_SYSTEM_DIRS, *_program_prefixes(command),
                                       *(str(p) for p in readable)])


def _child_setup(parent: int, ruleset: int | None) -> Callable[[], None]:
    """What the child does between fork and exec: die with its parent, then confine itself.

    The parent-death signal is SIGTERM, which coreutils ``timeout`` passes on to QEMU: even a
    ``kill -9`` of mcuforge ends the run.
    """
    def _setup() -> None:
        landlock.die_with_parent(signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)
        if ruleset is not None:
            landlock.enforce(ruleset)
    return _setup


@contextmanager
def process_group(command: Sequence[str], *, readable: Sequence[Path] | None = None,
                  **popen: object) -> Iterator[subprocess.Popen[str]]:
    """Start ``command`` as the leader of a new session; its whole group is killed on exit.

    ``readable``: confine the child with Landlock (where the kernel has it) to reading these paths
    (and the system's program folders) and writing nothing, and have it die with this process;
    None leaves the child as it is. Raises OSError if the program cannot be started.
    """
    ruleset = _ruleset(command, readable)
    try:
        # Python code between fork and exec is unsafe while other threads run (a build runs
        # under the CLI's spinner thread): only confined runs, started from one thread, get it.
        preexec = None if readable is None else _child_setup(os.getpid(), ruleset)
        process: subprocess.Popen[str] = subprocess.Popen(  # type: ignore[call-overload]
            list(command), start_new_session=True, text=True, preexec_fn=preexec, **popen)
    except subprocess.SubprocessError as exc:  # the confinement failed in the child
        raise OSError(f"cannot confine {command[0]} ({exc})") from None
    finally:
        if ruleset is not None:
            os.close(ruleset)
    try:
        yield process
    finally:
        kill_group(process)


def run_captured(command: Sequence[str], timeout: float, *,
                 env: Mapping[str, str] | None = None,
                 readable: Sequence[Path] | None = None) -> Finished:
    """Run ``command`` to its end or for ``timeout`` seconds; stdout and stderr are captured.

    Raises OSError if the program cannot be started; a timeout is reported in the result.
    """
    with process_group(command, readable=readable, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       errors="replace") as process:
        try:
            out, err = process.communicate(timeout=timeout)
            return Finished(process.returncode, out, err, False)
        except subprocess.TimeoutExpired:
            kill_group(process)
            try:
                out, err = process.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # a process outside the group holds the pipes
                out, err = "", ""
            return Finished(process.returncode, out, err, True)


def stream_lines(command: Sequence[str], echo: Callable[[str], None], timeout: float, *,
                 readable: Sequence[Path] | None = None) -> Finished:
    """Run ``command``, passing each line of its merged stdout/stderr to ``echo`` as it comes.

    A watchdog kills the group after ``timeout`` seconds. Raises OSError if it cannot start.
    """
    lines: list[str] = []
    with process_group(command, readable=readable, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1,
                       errors="replace") as process:
        expired = threading.Event()

        def _expire() -> None:
            expired.set()
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

        watchdog = threading.Timer(timeout, _expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                echo(line)
            code = process.wait()
        finally:
            watchdog.cancel()
    return Finished(code, "".join(lines), "", expired.is_set())
