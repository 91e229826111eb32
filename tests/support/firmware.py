"""Tiny bare-metal firmware for the sandbox tests, linked with the mcuforge-qemu platform runtime.

:func:`build_firmware` compiles one C file with arm-none-eabi-gcc for the MPS2 AN386 (Cortex-M4F)
against the platform's startup code, semihosting port and linker script: ``main``'s return value
becomes QEMU's exit code. :data:`SEMIHOST_C` gives the C a raw ``semihost(op, block)`` call.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from generator.build import platform_dir

MACHINE = "mps2-an386"
CPU_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")

SEMIHOST_C = r"""
#include <stdint.h>
#include "mcuf_port.h"

static int semihost(uint32_t operation, const void *block)
{
    register uint32_t r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int)r0;
}
"""


def c_string(text: str) -> str:
    """``text`` as a C string literal (the tests' own paths: printable ASCII)."""
    assert text.isascii() and text.isprintable()
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def system_call_c(command: str) -> str:
    """Firmware that asks the host to run ``command`` (SYS_SYSTEM, 0x12), prints what it got back,
    and exits 0 if the call succeeded, 3 if the host refused it."""
    return SEMIHOST_C + f"""
int main(void)
{{
    static const char command[] = {c_string(command)};
    const uint32_t block[2] = {{(uint32_t)(uintptr_t)command, (uint32_t)(sizeof command - 1u)}};
    const int result = semihost(0x12u, block);
    mcuf_port_print("SYS_SYSTEM returned ");
    mcuf_port_print_int(result);
    mcuf_port_print("\\n");
    return result == 0 ? 0 : 3;
}}
"""


def open_host_file_c(path: str) -> str:
    """Firmware that opens the host file ``path`` for writing (SYS_OPEN mode "w", then SYS_WRITE)
    and exits 0 if the open was refused, 1 if it got a handle."""
    return SEMIHOST_C + f"""
int main(void)
{{
    static const char path[] = {c_string(path)};
    static const char text[] = "written by firmware\\n";
    const uint32_t open_block[3] = {{(uint32_t)(uintptr_t)path, 4u, (uint32_t)(sizeof path - 1u)}};
    const int handle = semihost(0x01u, open_block);
    if (handle >= 0) {{
        const uint32_t write_block[3] = {{(uint32_t)handle, (uint32_t)(uintptr_t)text,
                                         (uint32_t)(sizeof text - 1u)}};
        (void)semihost(0x05u, write_block);
        (void)semihost(0x02u, &handle);
    }}
    mcuf_port_print(handle >= 0 ? "opened\\n" : "refused\\n");
    return handle >= 0 ? 1 : 0;
}}
"""


def remove_host_file_c(path: str) -> str:
    """Firmware that deletes the host file ``path`` (SYS_REMOVE, 0x0E) and exits 0 if the host
    refused, 1 if it was deleted."""
    return SEMIHOST_C + f"""
int main(void)
{{
    static const char path[] = {c_string(path)};
    const uint32_t block[2] = {{(uint32_t)(uintptr_t)path, (uint32_t)(sizeof path - 1u)}};
    const int result = semihost(0x0Eu, block);
    mcuf_port_print(result == 0 ? "removed\\n" : "refused\\n");
    return result == 0 ? 1 : 0;
}}
"""


SPIN_C = r"""
#include "mcuf_port.h"

int main(void)
{
    mcuf_port_print("spinning\n");
    for (;;) {
    }
}
"""


def tools_missing() -> str | None:
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm", "timeout"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def build_firmware(source: str, out: Path) -> Path:
    """Compile and link ``source`` (C) with the platform runtime into ``out`` (an ELF)."""
    root = platform_dir()
    out.parent.mkdir(parents=True, exist_ok=True)
    main_c = out.with_suffix(".c")
    main_c.write_text(source, encoding="utf-8")
    runtime = sorted(str(p) for p in (root / "runtime" / "src").glob("*.c"))
    subprocess.run(["arm-none-eabi-gcc", *CPU_FLAGS, "-Os", "-nostartfiles", "--specs=nano.specs",
                    "-Wl,--gc-sections", f"-I{root / 'runtime' / 'include'}",
                    f"-L{root / 'ldscripts'}", "-T", "qemu_mps2_an386.ld", str(main_c), *runtime,
                    "-lm", "-o", str(out)], check=True, capture_output=True, text=True)
    return out
