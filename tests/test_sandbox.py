"""QEMU under mcuforge cannot reach the host: no host commands, no host files, no survivors.

Tiny firmware (tests/support/firmware.py) asks the host, through semihosting, to run
``touch <marker>`` (SYS_SYSTEM) or to open a host file for writing (SYS_OPEN). Run the way mcuforge
runs QEMU, neither happens; run by a plain QEMU command line, both do, so the tests can fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator.boards import load_board
from generator.build import landlock, run_qemu
from generator.build.qemu import QEMU, check_qemu_ran, qemu_command
from generator.build.sandbox import (
    QEMU_SANDBOX,
    SEMIHOSTING,
    killed_by_sandbox,
    run_captured,
    stream_lines,
)
from generator.errors import ToolError
from generator.project.run import check_finished, run_firmware
from generator.project.targets import qemu_upload_command
from tests.support.firmware import (
    MACHINE,
    SPIN_C,
    build_firmware,
    open_host_file_c,
    remove_host_file_c,
    system_call_c,
    tools_missing,
)

PLAIN_QEMU = [QEMU, "-M", MACHINE, "-nographic", "-monitor", "none", "-serial", "none"]
"""QEMU as it ran before the sandbox: semihosting with full host access."""


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    missing = tools_missing()
    if missing:
        pytest.skip(missing)


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("firmware")
    marker = root / "marker"
    target = root / "written-by-firmware.txt"
    return {
        "marker": marker,
        "target": target,
        "system": build_firmware(system_call_c(f"touch {marker}"), root / "system.elf"),
        "open": build_firmware(open_host_file_c(str(target)), root / "open.elf"),
        "spin": build_firmware(SPIN_C, root / "spin.elf"),
        "remove": build_firmware(remove_host_file_c(str(target)), root / "remove.elf"),
    }


def _plain(elf: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PLAIN_QEMU, *extra, *SEMIHOSTING, "-kernel", str(elf)],
                          capture_output=True, text=True, timeout=60, check=False)


# ---- SYS_SYSTEM -----------------------------------------------------------------------------------


@pytest.mark.emulator
def test_without_the_sandbox_the_firmware_runs_a_host_command(firmware: dict[str, Path]) -> None:
    firmware["marker"].unlink(missing_ok=True)
    done = _plain(firmware["system"])
    assert done.returncode == 0 and "SYS_SYSTEM returned 0" in done.stdout
    assert firmware["marker"].exists()  # the attack works on plain QEMU
    firmware["marker"].unlink()


@pytest.mark.emulator
def test_seccomp_sandbox_stops_sys_system(firmware: dict[str, Path]) -> None:
    firmware["marker"].unlink(missing_ok=True)
    done = _plain(firmware["system"], *QEMU_SANDBOX)
    assert killed_by_sandbox(done.returncode), (done.returncode, done.stdout, done.stderr)
    assert "SYS_SYSTEM returned" not in done.stdout  # QEMU died in the call
    assert not firmware["marker"].exists()


@pytest.mark.emulator
def test_run_qemu_reports_the_stopped_firmware(firmware: dict[str, Path]) -> None:
    firmware["marker"].unlink(missing_ok=True)
    with pytest.raises(ToolError, match="QEMU's sandbox stopped the firmware") as caught:
        run_qemu(firmware["system"], MACHINE, timeout=30)
    assert "SYS_SYSTEM" in caught.value.message and caught.value.hint
    assert not firmware["marker"].exists()


@pytest.mark.emulator
def test_the_generated_upload_command_stops_sys_system(firmware: dict[str, Path]) -> None:
    """The command mcuforge writes into platformio.ini, run the way `mcuforge run` runs it."""
    firmware["marker"].unlink(missing_ok=True)
    ini_value = qemu_upload_command(load_board("qemu_mps2_an386"))
    command = [str(firmware["system"]) if p == "$SOURCE" else p for p in ini_value.split()]
    with pytest.raises(ToolError, match="QEMU's sandbox stopped the firmware"):
        run_firmware(command, echo=lambda line: None, elf=firmware["system"])
    assert not firmware["marker"].exists()


def test_every_qemu_command_line_carries_the_sandbox() -> None:
    sandbox = " ".join(QEMU_SANDBOX)
    assert sandbox in " ".join(qemu_command(Path("fw.elf"), MACHINE))
    for board in ("qemu_mps2_an386", "qemu_mps2_an500"):
        assert sandbox in qemu_upload_command(load_board(board))
    builder = Path(__file__).parents[1] / "generator/build/platform/builder/main.py"
    assert f'"{QEMU_SANDBOX[0]}", "{QEMU_SANDBOX[1]}"' in builder.read_text()
    assert "spawn=deny" in QEMU_SANDBOX[1]


# ---- SYS_OPEN on host files ---------------------------------------------------------------------


@pytest.mark.emulator
def test_without_confinement_the_firmware_writes_host_files(firmware: dict[str, Path]) -> None:
    firmware["target"].unlink(missing_ok=True)
    done = _plain(firmware["open"], *QEMU_SANDBOX)  # seccomp alone does not stop file access
    assert done.returncode == 1 and "opened" in done.stdout
    assert firmware["target"].read_text() == "written by firmware\n"
    firmware["target"].unlink()


@pytest.mark.emulator
def test_landlock_stops_host_file_writes(firmware: dict[str, Path]) -> None:
    if not landlock.available():
        pytest.skip("this kernel has no Landlock: host file access cannot be confined here")
    firmware["target"].unlink(missing_ok=True)
    result = run_qemu(firmware["open"], MACHINE, timeout=30)
    assert result.exit_code == 0 and "refused" in result.stdout
    assert not firmware["target"].exists()


@pytest.mark.emulator
def test_landlock_stops_host_file_removal(firmware: dict[str, Path]) -> None:
    if not landlock.available():
        pytest.skip("this kernel has no Landlock: host file access cannot be confined here")
    firmware["target"].write_text("precious\n")
    result = run_qemu(firmware["remove"], MACHINE, timeout=30)
    assert result.exit_code == 0 and "refused" in result.stdout
    assert firmware["target"].read_text() == "precious\n"
    done = _plain(firmware["remove"], *QEMU_SANDBOX)  # and without confinement it is gone
    assert done.returncode == 1 and not firmware["target"].exists()


# ---- QEMU failures ----------------------------------------------------------------------------------


@pytest.mark.emulator
def test_an_unknown_machine_is_a_qemu_failure(firmware: dict[str, Path]) -> None:
    with pytest.raises(ToolError, match="qemu-system-arm failed") as caught:
        run_qemu(firmware["spin"], "no-such-machine", timeout=30)
    assert "unsupported machine type" in caught.value.message  # QEMU's own words


@pytest.mark.emulator
def test_a_kernel_that_is_no_elf_is_a_qemu_failure(tmp_path: Path) -> None:
    junk = tmp_path / "junk.elf"
    junk.write_bytes(b"\x7fELF" + bytes(60))
    with pytest.raises(ToolError, match="qemu-system-arm failed"):
        run_qemu(junk, MACHINE, timeout=30)


@pytest.mark.emulator
def test_the_upload_command_failing_to_start_qemu_is_reported(firmware: dict[str, Path]) -> None:
    command = ["timeout", "-k", "2", "30", QEMU, "-M", "no-such-machine", *QEMU_SANDBOX,
               *SEMIHOSTING, "-kernel", str(firmware["spin"])]
    with pytest.raises(ToolError, match="qemu-system-arm failed"):
        run_firmware(command, echo=lambda line: None, elf=firmware["spin"])


def test_qemu_missing_is_a_tool_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elf = tmp_path / "fw.elf"
    elf.write_bytes(b"")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="qemu-system-arm is not on PATH"):
        run_qemu(elf, MACHINE)
    with pytest.raises(ToolError, match="cannot start timeout"):
        run_firmware(["timeout", "5", QEMU], echo=lambda line: None)


def test_qemu_missing_behind_the_timeout_wrapper_is_a_tool_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrapper = tmp_path / "timeout"
    wrapper.symlink_to(shutil.which("timeout") or "/usr/bin/timeout")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="cannot run the emulator: timeout: failed to run command"):
        run_firmware(["timeout", "5", QEMU, "-M", MACHINE], echo=lambda line: None)


def test_a_qemu_without_seccomp_is_refused_not_run_unsandboxed() -> None:
    said = "qemu-system-arm: -sandbox on: seccomp support is disabled\n"
    with pytest.raises(ToolError, match="cannot sandbox the firmware") as caught:
        check_qemu_ran("fw.elf", 1, said)
    assert "seccomp support is disabled" in caught.value.message and "-sandbox" in caught.value.hint


def test_exit_zero_without_the_last_line_is_not_a_run(tmp_path: Path) -> None:
    code, output = run_firmware(["true"], echo=lambda line: None)
    assert code == 0
    with pytest.raises(ToolError, match="never printed its last line"):
        check_finished(tmp_path, "qemu_mps2_an386", code, output)
    check_finished(tmp_path, "qemu_mps2_an386", 0, "done 3 inferences 1 detections\n")
    check_finished(tmp_path, "qemu_mps2_an386", 4, "")  # the firmware's own failure code


# ---- process groups -------------------------------------------------------------------------------


def _pids_with(needle: str, programs: tuple[bytes, ...] = (b"timeout", QEMU.encode())
               ) -> list[int]:
    """Live processes of ``programs`` whose command line contains ``needle``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        program = cmdline.split(b"\0", 1)[0]
        if (needle.encode() in cmdline and state != "Z"
                and program in programs):
            found.append(int(entry.name))
    return found


def _wait_for(predicate: object, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.emulator
def test_the_watchdog_kills_the_whole_group(firmware: dict[str, Path]) -> None:
    elf = firmware["spin"]
    command = ["timeout", "-k", "2", "600", *qemu_command(elf, MACHINE)]
    seen: list[str] = []
    done = stream_lines(command, seen.append, timeout=3, readable=[elf])
    assert done.timed_out and seen == ["spinning\n"]
    assert _pids_with(str(elf)) == []  # neither timeout nor QEMU survived


def test_a_timed_out_tool_leaves_no_grandchild() -> None:
    """What pio_run does on a timeout: PlatformIO, SCons and the compilers it started all go."""
    script = "sleep 987.5 & sleep 987.5 & wait"
    done = run_captured(["sh", "-c", script], timeout=1)
    assert done.timed_out
    assert _wait_for(lambda: _pids_with("987.5", (b"sleep",)) == [], 10)


_RUNNER = """
import signal, sys
from pathlib import Path
from generator.project.run import run_firmware

def _terminate(signum, frame):
    raise KeyboardInterrupt

signal.signal(signal.SIGTERM, _terminate)
try:
    run_firmware(sys.argv[2:], echo=lambda line: print(line, end="", flush=True),
                 elf=Path(sys.argv[1]))
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.emulator
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_signal_kills_qemu_and_its_timeout_wrapper(firmware: dict[str, Path],
                                                     signum: int) -> None:
    """The run function in a real process, as the CLI runs it (SIGTERM → KeyboardInterrupt), then
    killed: no QEMU of the run is left, not even after a ``kill -9``."""
    elf = firmware["spin"]
    command = ["timeout", "-k", "2", "600", *qemu_command(elf, MACHINE)]
    runner = subprocess.Popen([sys.executable, "-c", _RUNNER, str(elf), *command],
                              stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).parents[1])
    try:
        assert runner.stdout is not None
        assert runner.stdout.readline() == "spinning\n"  # QEMU is up and running the firmware
        assert len(_pids_with(str(elf))) == 2  # timeout and QEMU
        os.kill(runner.pid, signum)
        # SIGINT is Python's KeyboardInterrupt; SIGKILL leaves no clean-up to the runner, and QEMU
        # ends by the parent-death signal its timeout wrapper was given
        assert runner.wait(timeout=30) == (-signum if signum == signal.SIGKILL else 130)
    finally:
        runner.kill()
        runner.wait()
    assert _wait_for(lambda: _pids_with(str(elf)) == [], 10), _pids_with(str(elf))


# ---- the command line, end to end ---------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a `mcuforge run` subprocess: a private key and PlatformIO core."""
    root = tmp_path_factory.mktemp("cli")
    return {**os.environ, "XDG_CONFIG_HOME": str(root / "config"),
            "MCUFORGE_PIO_CORE_DIR": str(root / "core")}


def _project_with_main(root: Path, env: dict[str, str], main_c: str) -> Path:
    """A generated project whose src/main.c (the app loop, ``app_main``) is replaced: it runs only
    with --trust-project."""
    from tests.support.badgen_run import generated

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", env["XDG_CONFIG_HOME"])
        project = generated(root / "project")
    (project / "src" / "main.c").write_text(main_c, encoding="utf-8")
    return project


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "generator.cli", *args]


@pytest.mark.emulator
def test_sigterm_to_mcuforge_run_kills_qemu(tmp_path: Path, cli_env: dict[str, str]) -> None:
    project = _project_with_main(tmp_path, cli_env, SPIN_C.replace("int main", "int app_main"))
    elf = project / ".pio" / "build" / "qemu_mps2_an386" / "firmware.elf"
    run = subprocess.Popen(_cli("run", str(project), "--trust-project"), env=cli_env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           cwd=Path(__file__).parents[1])
    try:
        assert run.stdout is not None
        assert run.stdout.readline() == "spinning\n"
        assert len(_pids_with(str(elf))) == 2
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 130
    finally:
        run.kill()
        run.wait()
    assert _wait_for(lambda: _pids_with(str(elf)) == [], 10), _pids_with(str(elf))


@pytest.mark.emulator
def test_mcuforge_run_of_firmware_that_never_finishes_its_loop_fails(
        tmp_path: Path, cli_env: dict[str, str]) -> None:
    project = _project_with_main(tmp_path, cli_env, "int app_main(void) { return 0; }\n")
    done = subprocess.run(_cli("run", str(project), "--trust-project"), env=cli_env,
                          capture_output=True, text=True, timeout=300, check=False,
                          cwd=Path(__file__).parents[1])
    assert done.returncode == 5, done.stderr
    text = " ".join(done.stderr.split())
    assert "warning:" in text and "src/main.c was changed" in text
    assert "exited with 0, but the firmware never printed its last line" in text
