"""Offline firmware builds and emulation: PlatformIO without a network, QEMU, ELF sizes."""

from __future__ import annotations

from generator.build.elfsize import ElfSizes, elf_sizes
from generator.build.platform_files import PLATFORM_NAME, platform_dir
from generator.build.platformio import (
    default_core_dir,
    firmware_elf,
    pio_run,
    platform_option,
    platformio_env_options,
    prepare_offline_core,
)
from generator.build.qemu import QemuResult, run_on_board, run_qemu

__all__ = [
    "PLATFORM_NAME",
    "ElfSizes",
    "QemuResult",
    "default_core_dir",
    "elf_sizes",
    "firmware_elf",
    "pio_run",
    "platform_dir",
    "platform_option",
    "platformio_env_options",
    "prepare_offline_core",
    "run_on_board",
    "run_qemu",
]
