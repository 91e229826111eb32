"""Offline firmware builds and emulation: PlatformIO without a network, QEMU, ELF sizes.

A project for an emulated board names the shipped platform by path (or, in a core prepared by
:func:`prepare_offline_core`, by name) and needs nothing else::

    [env:qemu_mps2_an386]
    platform = symlink:///abs/path/to/generator/build/platform   ; or: platform = mcuforge-qemu
    board = qemu_mps2_an386

``pio run`` builds ``.pio/build/<env>/firmware.elf``; ``pio run -t upload`` runs it in
qemu-system-arm and fails unless the firmware exits with 0. Firmware output goes through
semihosting (``mcuf_port.h``: SYS_WRITE on ``:tt`` to QEMU's stdout; newlib ``printf`` works too)
and ``return`` from ``main`` or ``mcuf_port_exit(code)`` ends the run with that exit code.

Every QEMU command line carries QEMU's seccomp sandbox (semihosting cannot run host commands), and
the runs mcuforge starts itself are also kept from host files by Landlock and killed as a process
group on a timeout or an interrupt: :mod:`generator.build.sandbox`.
"""

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
