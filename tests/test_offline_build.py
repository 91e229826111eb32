"""Offline PlatformIO builds on the shipped mcuforge-qemu platform, run in qemu-system-arm.

A throwaway project with one small C program is built for both emulated boards in a private
PlatformIO core. Every pio call has a timeout well under PlatformIO's ~60 s network give-up, so an
accidental registry lookup fails the test instead of stalling it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from generator.boards import load_board
from generator.build import (
    elf_sizes,
    firmware_elf,
    pio_run,
    platform_option,
    platformio_env_options,
    prepare_offline_core,
    run_on_board,
    run_qemu,
)
from generator.build.platformio import scons_package_version
from generator.errors import ToolError

pytestmark = pytest.mark.emulator

PIO_TIMEOUT_S = 45.0
NO_NETWORK = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
              "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
              "NO_PROXY": "", "no_proxy": ""}

MAIN_C = r"""
#include <stdint.h>
#include <stdio.h>

#include "mcuf_port.h"

#ifndef MCUF_TEST_EXIT
#define MCUF_TEST_EXIT 0
#endif

static volatile float gain = 0.5f;      /* float arithmetic on the FPU */
static int32_t offset = 1000;           /* .data, copied from flash by the startup code */
static int32_t total;                   /* .bss, zeroed by the startup code */

static uint32_t crc32(const char *text)
{
    uint32_t crc = 0xFFFFFFFFu;
    while (*text != '\0') {
        crc ^= (uint8_t)*text++;
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

int main(void)
{
    printf("crc32(mcuforge)=%08lx\n", (unsigned long)crc32("mcuforge"));
    for (int32_t i = 1; i <= 100; ++i) {
        total += i;
    }
    mcuf_port_print("sum=");
    mcuf_port_print_int(total + offset);
    mcuf_port_print("\n");
    printf("scaled=%d\n", (int)(gain * 84.0f));
#ifdef MCUF_TEST_FAULT
    *(volatile uint32_t *)0xF0000000u = 1u;
#endif
#ifdef MCUF_TEST_HANG
    for (;;) {
    }
#endif
    return MCUF_TEST_EXIT;
}
"""

EXPECTED_LINES = [f"crc32(mcuforge)={zlib.crc32(b'mcuforge'):08x}", "sum=6050", "scaled=42"]

# env name -> (board, extra build flags)
ENVS = {
    "an386": ("qemu_mps2_an386", ""),
    "an500": ("qemu_mps2_an500", ""),
    "an386_exit42": ("qemu_mps2_an386", "-DMCUF_TEST_EXIT=42"),
    "an500_fault": ("qemu_mps2_an500", "-DMCUF_TEST_FAULT"),
    "an386_hang": ("qemu_mps2_an386", "-DMCUF_TEST_HANG"),
}


def _tools_present() -> str | None:
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    try:
        import SCons  # noqa: F401
    except ImportError:
        return "SCons is not installed (pip install scons)"
    return None


@pytest.fixture(scope="module", autouse=True)
def _require_tools() -> None:
    missing = _tools_present()
    if missing:
        pytest.skip(missing)


@pytest.fixture(scope="module")
def core_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pio-core")


def _env_section(env_name: str, board_name: str, flags: str) -> str:
    options = platformio_env_options(load_board(board_name))
    lines = [f"[env:{env_name}]", *(f"{key} = {value}" for key, value in options.items())]
    if flags:
        lines.append(f"build_flags = {flags}")
    return "\n".join(lines) + "\n"


def write_project(root: Path, envs: dict[str, tuple[str, str]], main_c: str = MAIN_C) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "main.c").write_text(main_c, encoding="utf-8")
    sections = [_env_section(name, board, flags) for name, (board, flags) in envs.items()]
    (root / "platformio.ini").write_text("\n".join(sections), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, core_dir: Path) -> Path:
    return write_project(tmp_path_factory.mktemp("project"), ENVS)


@pytest.fixture(scope="module")
def built(project: Path, core_dir: Path) -> dict[str, float]:
    """Build every environment once; returns the seconds each build took."""
    seconds = {}
    for env_name in ENVS:
        start = time.monotonic()
        pio_run(project, env_name, timeout=PIO_TIMEOUT_S, core_dir=core_dir, extra_env=NO_NETWORK)
        seconds[env_name] = time.monotonic() - start
    return seconds


def test_prepare_offline_core_writes_the_stand_ins(core_dir: Path) -> None:
    env = prepare_offline_core(core_dir)
    assert env == prepare_offline_core(core_dir)  # idempotent
    assert env["PLATFORMIO_CORE_DIR"] == str(core_dir.resolve())
    assert env["PLATFORMIO_SETTING_ENABLE_TELEMETRY"] == "No"
    scons = core_dir / "packages" / "tool-scons"
    assert (scons / "scons.py").is_file()
    assert f'"version": "{scons_package_version()}"' in (scons / ".piopm").read_text()
    assert '"owner": "platformio"' in (scons / ".piopm").read_text()
    gcc = core_dir / "packages" / "toolchain-gccarmnoneeabi" / "bin" / "arm-none-eabi-gcc"
    assert gcc.is_symlink() and gcc.resolve().is_file()


def test_ini_options_for_emulated_and_real_boards() -> None:
    assert platformio_env_options(load_board("qemu_mps2_an386")) == {
        "platform": platform_option(), "board": "qemu_mps2_an386"}
    assert platform_option().startswith("symlink:///")
    assert platformio_env_options(load_board("nano33ble_sense")) == {
        "platform": "nordicnrf52", "board": "nano33ble", "framework": "arduino"}


def test_builds_never_reach_for_the_network(built: dict[str, float]) -> None:
    """The builds ran with every HTTP(S) request sent to a closed local port: had PlatformIO tried
    its registry (for a platform, a tool or SCons), the build would have failed at once."""
    assert set(built) == set(ENVS)


@pytest.mark.parametrize("env_name", ["an386", "an500"])
def test_upload_target_runs_the_firmware_in_qemu(
    project: Path, core_dir: Path, built: dict[str, float], env_name: str
) -> None:
    result = pio_run(project, env_name, target="upload", timeout=PIO_TIMEOUT_S, core_dir=core_dir)
    for line in EXPECTED_LINES:
        assert line in result.stdout
    assert "qemu-system-arm" in result.stdout


@pytest.mark.parametrize(("env_name", "machine"), [("an386", "mps2-an386"), ("an500", "mps2-an500")])
def test_run_qemu_prints_and_exits_zero(
    project: Path, built: dict[str, float], env_name: str, machine: str
) -> None:
    exit_code, stdout, stderr = run_qemu(firmware_elf(project, env_name), machine, timeout=20)
    assert exit_code == 0, stderr
    assert stdout.splitlines() == EXPECTED_LINES


def test_firmware_exit_code_reaches_the_host(project: Path, built: dict[str, float]) -> None:
    result = run_on_board(firmware_elf(project, "an386_exit42"), load_board("qemu_mps2_an386"))
    assert result.exit_code == 42
    assert result.stdout.splitlines() == EXPECTED_LINES


def test_upload_of_failing_firmware_raises(project: Path, core_dir: Path,
                                           built: dict[str, float]) -> None:
    with pytest.raises(ToolError) as caught:
        pio_run(project, "an386_exit42", target="upload", timeout=PIO_TIMEOUT_S,
                core_dir=core_dir)
    assert "[upload] Error 42" in caught.value.message  # the firmware's code, as SCons saw it
    assert "sum=6050" in caught.value.message  # the log tail carries the firmware's output


def test_fault_exits_with_the_fault_code(project: Path, built: dict[str, float]) -> None:
    result = run_on_board(firmware_elf(project, "an500_fault"), load_board("qemu_mps2_an500"))
    assert result.exit_code == 134
    assert "unexpected exception 3" in result.stderr  # HardFault


def test_hanging_firmware_times_out(project: Path, built: dict[str, float]) -> None:
    with pytest.raises(ToolError, match="did not exit within 2 s"):
        run_qemu(firmware_elf(project, "an386_hang"), "mps2-an386", timeout=2)


def _berkeley_size(elf: Path) -> tuple[int, int]:
    out = subprocess.run(["arm-none-eabi-size", "-B", "-d", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return text + data, data + bss


@pytest.mark.parametrize("env_name", ["an386", "an500"])
def test_elf_sizes_match_the_size_tool(project: Path, built: dict[str, float],
                                       env_name: str) -> None:
    elf = firmware_elf(project, env_name)
    flash, ram = elf_sizes(elf)
    assert 1_000 < flash < 64 * 1024
    stack = load_board(ENVS[env_name][0]).memory.stack_bytes
    assert stack < ram < stack + 16 * 1024
    if shutil.which("arm-none-eabi-size"):
        assert (flash, ram) == _berkeley_size(elf)


def test_elf_sizes_rejects_a_non_elf(tmp_path: Path) -> None:
    bogus = tmp_path / "firmware.bin"
    bogus.write_bytes(b"\x00" * 64)
    with pytest.raises(ToolError, match="not an ELF"):
        elf_sizes(bogus)


def test_platform_can_be_named_instead_of_linked(tmp_path: Path, core_dir: Path) -> None:
    root = write_project(tmp_path, {"named": ("qemu_mps2_an500", "")})
    ini = root / "platformio.ini"
    ini.write_text(re.sub(r"platform = .*", "platform = mcuforge-qemu", ini.read_text()))
    pio_run(root, "named", timeout=PIO_TIMEOUT_S, core_dir=core_dir)
    exit_code, stdout, _ = run_qemu(firmware_elf(root, "named"), "mps2-an500", timeout=20)
    assert exit_code == 0 and "sum=6050" in stdout


def test_compile_error_raises_with_the_log_tail(tmp_path: Path, core_dir: Path) -> None:
    root = write_project(tmp_path, {"broken": ("qemu_mps2_an386", "")},
                         main_c="int main(void) { return undeclared_name; }\n")
    with pytest.raises(ToolError) as caught:
        pio_run(root, "broken", timeout=PIO_TIMEOUT_S, core_dir=core_dir)
    assert "undeclared_name" in caught.value.message
    assert "pio run" in caught.value.message and caught.value.hint
