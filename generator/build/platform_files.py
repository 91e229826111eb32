"""Board files of the shipped ``mcuforge-qemu`` PlatformIO platform, derived from the board YAML.

``generator/build/platform/boards/<id>.json`` and ``ldscripts/<id>.ld`` are generated from the boards
whose YAML says ``platformio.local_platform: true``, so the memory map lives in one place. They are
kept in git (PlatformIO reads them as plain files); :func:`stale_platform_files` reports drift and
:func:`write_platform_files` regenerates them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from generator.boards import (
    LOCAL_PLATFORM_NAME,
    Board,
    MemoryRegion,
    gcc_cpu,
    gcc_fpu,
    list_boards,
)
from generator.encoders import c_comment
from generator.errors import BoardError

PLATFORM_NAME = LOCAL_PLATFORM_NAME
UPLOAD_TIMEOUT_S = 60
_GENERATED_BY = "generated from boards/{name}.yaml by generator/build/platform_files.py"


def platform_dir() -> Path:
    """The platform folder (``platform.json``, ``builder/``, ``boards/``, ``ldscripts/``)."""
    return Path(__file__).resolve().parent / "platform"


def local_boards() -> list[Board]:
    """The shipped boards that build with the local platform."""
    return [b for b in list_boards() if b.platformio.local_platform]


def _largest(regions: tuple[MemoryRegion, ...], kind: str, board: Board) -> MemoryRegion:
    if not regions:
        raise BoardError(f"boards/{board.name}.yaml: memory.regions: no usable {kind} region",
                         hint="add a region with kind: " + kind)
    return max(regions, key=lambda r: r.length)


def board_manifest(board: Board) -> dict[str, Any]:
    """The PlatformIO board manifest (``boards/<id>.json``) for one emulated board."""
    if board.emulator is None:
        raise BoardError(f"boards/{board.name}.yaml: emulator: missing",
                         hint="only emulated boards can use the local platform")
    flash = _largest(board.memory.flash_regions, "flash", board)
    ram = _largest(board.memory.ram_regions, "ram", board)
    fpu = gcc_fpu(board)
    build: dict[str, Any] = {
        "core": board.core.value,
        "cpu": gcc_cpu(board),
        "float_abi": "hard" if fpu else "soft",
        **({"fpu": fpu} if fpu else {}),
        "f_cpu": f"{board.clock_hz}L",
        "mcu": board.emulator.machine,
        "ldscript": f"{board.name}.ld",
    }
    upload: dict[str, Any] = {
        "maximum_size": flash.length,
        "maximum_ram_size": ram.length,
        "protocol": "qemu",
        "protocols": ["qemu"],
        "qemu_machine": board.emulator.machine,
        **({"qemu_cpu": board.emulator.cpu} if board.emulator.cpu else {}),
        "timeout_s": UPLOAD_TIMEOUT_S,
    }
    return {
        "name": board.display_name,
        "vendor": board.vendor,
        "url": board.url or "",
        "frameworks": [],
        "build": build,
        "upload": upload,
        "mcuforge": _GENERATED_BY.format(name=board.name),
    }


def board_manifest_text(board: Board) -> str:
    return json.dumps(board_manifest(board), indent=2) + "\n"


def linker_script_text(board: Board) -> str:
    """The board's linker script: its memory regions, stack reserve, then the shared sections."""
    flash = _largest(board.memory.flash_regions, "flash", board)
    ram = _largest(board.memory.ram_regions, "ram", board)
    return (
        f"/* {c_comment(board.display_name)}: {_GENERATED_BY.format(name=board.name)}. */\n"
        "MEMORY\n{\n"
        f"    FLASH (rx)  : ORIGIN = 0x{flash.origin:08X}, LENGTH = 0x{flash.length:X}\n"
        f"    RAM   (rwx) : ORIGIN = 0x{ram.origin:08X}, LENGTH = 0x{ram.length:X}\n"
        "}\n\n"
        f"__mcuf_stack_size = 0x{board.memory.stack_bytes:X};\n\n"
        "INCLUDE mcuforge_sections.ld\n"
    )


def expected_platform_files() -> dict[Path, str]:
    """Every generated file of the platform, keyed by its path, with its expected content."""
    root = platform_dir()
    files: dict[Path, str] = {}
    for board in local_boards():
        files[root / "boards" / f"{board.platformio.board}.json"] = board_manifest_text(board)
        files[root / "ldscripts" / f"{board.name}.ld"] = linker_script_text(board)
    return files


def stale_platform_files() -> list[Path]:
    """Generated files that are missing or differ from what the board YAML gives."""
    return [
        path for path, text in expected_platform_files().items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


def write_platform_files() -> list[Path]:
    """Regenerate the platform's board manifests and linker scripts; returns the files written."""
    written = []
    for path, text in expected_platform_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
