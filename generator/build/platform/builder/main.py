"""SCons build script of the mcuforge-qemu PlatformIO platform.

Compiles the project with the arm-none-eabi toolchain for the board's core, links it with the board's
linker script and the platform runtime (startup code, semihosting port, newlib system calls), and
makes ``pio run -t upload`` run the firmware in qemu-system-arm, under QEMU's seccomp sandbox (no host
commands from semihosting). The firmware's exit code (passed to QEMU through semihosting) decides
whether the upload target succeeds.

Board manifest keys read here (boards/*.json, generated from the board YAML files):
``build.cpu``, ``build.float_abi``, ``build.fpu`` (absent without an FPU), ``build.ldscript``,
``upload.qemu_machine``, ``upload.qemu_cpu`` (optional), ``upload.timeout_s``. Any of them can be
overridden from platformio.ini with ``board_build.*`` / ``board_upload.*``.
"""

from __future__ import annotations

import os

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
platform_dir = env.PioPlatform().get_dir()
runtime_dir = os.path.join(platform_dir, "runtime")


def _machine_flags() -> list[str]:
    flags = [f"-mcpu={board.get('build.cpu')}", "-mthumb",
             f"-mfloat-abi={board.get('build.float_abi', 'soft')}"]
    fpu = board.get("build.fpu", "")
    return [*flags, f"-mfpu={fpu}"] if fpu else flags


def _qemu_command() -> str:
    cpu = board.get("upload.qemu_cpu", "")
    parts = [
        "timeout", "-k", "2", str(board.get("upload.timeout_s", 60)),
        "qemu-system-arm", "-M", board.get("upload.qemu_machine"),
        *(["-cpu", cpu] if cpu else []),
        "-nographic", "-monitor", "none", "-serial", "none",
        # seccomp: semihosting SYS_SYSTEM cannot spawn a host command (same as
        # generator/build/sandbox.py; this script runs inside SCons and imports nothing of mcuforge)
        "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
        "-semihosting-config", "enable=on,target=native",
        "-kernel", "$SOURCE",
    ]
    return " ".join(parts)


machine_flags = _machine_flags()

if env.get("PROGNAME", "program") == "program":
    env.Replace(PROGNAME="firmware")

env.Replace(
    AR="arm-none-eabi-gcc-ar",
    AS="arm-none-eabi-as",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    GDB="arm-none-eabi-gdb",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    PROGSUFFIX=".elf",
    SIZEPROGREGEXP=r"^(?:\.isr_vector|\.text|\.data|\.ARM\.extab|\.ARM\.exidx|\.preinit_array"
    r"|\.init_array|\.fini_array)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.stack|\.data|\.bss)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    UPLOADCMD=env.get("UPLOADCMD") or _qemu_command(),
)

env.Append(
    ASFLAGS=[*machine_flags, "-x", "assembler-with-cpp"],
    CCFLAGS=[*machine_flags, "-Os", "-g", "-ffunction-sections", "-fdata-sections", "-Wall"],
    CFLAGS=["-std=gnu11"],
    CXXFLAGS=["-fno-rtti", "-fno-exceptions"],
    CPPDEFINES=[("F_CPU", "$BOARD_F_CPU"), "MCUF_QEMU"],
    CPPPATH=[os.path.join(runtime_dir, "include")],
    LINKFLAGS=[
        *machine_flags, "-Os", "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections",
        "-Wl,-Map,${BUILD_DIR}/firmware.map",
    ],
    LIBS=["m"],
)

env.BuildSources(os.path.join("$BUILD_DIR", "mcuforge_runtime"), os.path.join(runtime_dir, "src"))

target_elf = env.BuildProgram()
target_size = env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Program size"))
AlwaysBuild(target_size)

target_upload = env.Alias(
    "upload", target_elf, env.VerboseAction("$UPLOADCMD", "Running $SOURCE in qemu-system-arm"))
AlwaysBuild(target_upload)

Default([env.Alias("buildprog", target_elf), target_size])
