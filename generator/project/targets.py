"""Where a generated project builds: PlatformIO environments, the Zephyr variant, and their ports.

Every project has an **emulated** PlatformIO environment, framework-free, on mcuforge's offline
``mcuforge-qemu`` platform: the board's own environment for an emulated board, otherwise the QEMU
board closest to the real core (Cortex-M7: ``qemu_mps2_an500``; Cortex-M55: ``qemu_mps3_an547``;
others: ``qemu_mps2_an386``). It plays ``replay_data.h`` through ``port_replay.c`` and its ``upload_command`` runs QEMU with
``-icount shift=0`` so the firmware's instruction counts are deterministic.

A project for a **real** board adds an Arduino-framework environment named after the board, with the
board YAML's PlatformIO ``platform`` and ``board``. Its port is ``port_arduino.cpp``: the Arduino
core is the one framework with capture libraries for all three apps (PDM, Arduino_OV767X,
Arduino_LSM9DS1). When the YAML names another framework (e.g. ``stm32cube``) the environment still
uses ``arduino`` and says so in a comment.

Every board with a ``zephyr`` section also gets the **Zephyr** variant side by side in ``zephyr/``
(one tree serves both build systems; nothing is chosen at generation time). Its port is
``zephyr/src/port_zephyr.c``.

A port captures live from the board's peripheral when the board has one the port can drive; else it
plays the replay data too (and the project's README says so).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from generator.boards import Board, Core, MicKind, load_board
from generator.build import platformio_env_options
from generator.build.sandbox import qemu_guard_args
from generator.dsp import MfccConfig
from generator.project.apps import AppPlan
from generator.project.options import AppKind

QEMU_BOARD_FOR_CORE = {Core.CORTEX_M7: "qemu_mps2_an500", Core.CORTEX_M55: "qemu_mps3_an547"}
QEMU_DEFAULT_BOARD = "qemu_mps2_an386"
QEMU_TIMEOUT_S = 120
ICOUNT = "shift=0,align=off,sleep=off"
INCLUDE_FLAGS = ("-Isrc/mcuf", "-Isrc/frontend")
REPLAY_PORT = "port_replay.c"
ARDUINO_PORT = "port_arduino.cpp"
ZEPHYR_DOC_VERSION = "4.0"


@dataclass(frozen=True)
class Capture:
    """How a port gets the app's input."""

    live: bool
    how: str
    """What it captures with, or why it replays."""
    ram_bytes: int = 0
    """SRAM the port itself holds for capture (sample rings, driver blocks, frame pools)."""


@dataclass(frozen=True)
class PioEnv:
    name: str
    emulated: bool
    options: tuple[tuple[str, str | tuple[str, ...]], ...]
    comments: tuple[str, ...] = ()


@dataclass(frozen=True)
class ZephyrTarget:
    board: str
    overlay: str
    """File name under ``zephyr/boards/``: the board target with '/' replaced by '_'."""
    capture: Capture
    node: str | None
    """Devicetree node label the live port uses (``pdm0``, ``dcmi``), if any."""
    kconfig: tuple[tuple[str, str, str], ...]
    """(symbol without CONFIG_, value, comment) lines of prj.conf."""


@dataclass(frozen=True)
class Targets:
    envs: tuple[PioEnv, ...]
    default_env: str
    run_env: str
    """The emulated environment ``mcuforge run`` uses by default."""
    arduino: Capture | None
    zephyr: ZephyrTarget | None

    @property
    def emulated_envs(self) -> tuple[str, ...]:
        return tuple(env.name for env in self.envs if env.emulated)

    @property
    def board_replays(self) -> bool:
        """Whether the board's own build plays the replay data (so it occupies its flash)."""
        ports = [c for c in (self.arduino, self.zephyr and self.zephyr.capture) if c]
        return not ports or any(not c.live for c in ports)

    @property
    def port_ram_bytes(self) -> int:
        ports = [c for c in (self.arduino, self.zephyr and self.zephyr.capture) if c]
        return max((c.ram_bytes for c in ports), default=0)


def project_targets(board: Board, plan: AppPlan) -> Targets:
    emulated = board if board.is_emulated else load_board(
        QEMU_BOARD_FOR_CORE.get(board.core, QEMU_DEFAULT_BOARD))
    arduino = None if board.is_emulated else arduino_capture(board, plan)
    envs = [emulated_env(emulated, has_arduino_port=arduino is not None)]
    if arduino is not None:
        envs.append(arduino_env(board, plan, arduino))
    return Targets(envs=tuple(envs), default_env=board.name, run_env=emulated.name,
                   arduino=arduino, zephyr=zephyr_target(board, plan))


def qemu_upload_command(board: Board) -> str:
    """QEMU sandboxed (no host commands) with deterministic instruction counting; PlatformIO
    substitutes $SOURCE (the ELF)."""
    assert board.emulator is not None
    emu = board.emulator
    parts = ["timeout", "-k", "2", str(QEMU_TIMEOUT_S), "qemu-system-arm", "-M", emu.machine,
             *(["-cpu", emu.cpu] if emu.cpu else []), "-nographic", "-monitor", "none",
             "-serial", "none", *qemu_guard_args(), "-icount", ICOUNT, *emu.extra_args]
    return " ".join(shlex.quote(p) for p in parts) + " -kernel $SOURCE"


def emulated_env(board: Board, has_arduino_port: bool) -> PioEnv:
    options: list[tuple[str, str | tuple[str, ...]]] = list(platformio_env_options(board).items())
    if has_arduino_port:
        options.append(("build_src_filter", ("+<*>", f"-<{ARDUINO_PORT}>")))
    options += [("build_flags", INCLUDE_FLAGS), ("upload_command", qemu_upload_command(board))]
    run = (f"`pio run -e {board.name} -t upload` runs it in QEMU, counting instructions "
           "(-icount shift=0).")
    what = f"{board.display_name}: framework-free, replays src/replay_data.h (src/{REPLAY_PORT})."
    return PioEnv(board.name, True, tuple(options), (what, run))


_ARDUINO_LIBS = {AppKind.VWW: "arduino-libraries/Arduino_OV767X",
                 AppKind.SENSOR: "arduino-libraries/Arduino_LSM9DS1"}


def arduino_env(board: Board, plan: AppPlan, capture: Capture) -> PioEnv:
    pio = board.platformio
    options: list[tuple[str, str | tuple[str, ...]]] = [
        ("platform", pio.platform), ("board", pio.board), ("framework", "arduino"),
        ("build_src_filter", ("+<*>", f"-<{REPLAY_PORT}>")),
        ("build_flags", INCLUDE_FLAGS),
        ("monitor_speed", "115200"),
    ]
    if capture.live and plan.kind in _ARDUINO_LIBS:
        options.append(("lib_deps", _ARDUINO_LIBS[plan.kind]))
    comments = [f"{board.display_name}: Arduino core, src/{ARDUINO_PORT} ({capture.how})."]
    if pio.framework and pio.framework != "arduino":
        comments.append(f"boards/{board.name}.yaml names framework '{pio.framework}'; the generated "
                        "port is written for the Arduino core, which this platform also provides.")
    return PioEnv(board.name, False, tuple(options), tuple(comments))


PDM_RING_SAMPLES = 4096
"""Samples the Arduino PDM port buffers between reads (256 ms at 16 kHz)."""
ZEPHYR_MIC_BLOCKS = 4
"""100 ms blocks in the Zephyr DMIC slab."""
ZEPHYR_VIDEO_BUFFERS = 1
"""Frames in the Zephyr video buffer pool."""
OV767X_RESOLUTIONS = {(640, 480): "VGA", (352, 240): "CIF", (320, 240): "QVGA",
                      (176, 144): "QCIF", (160, 120): "QQVGA"}
OV767X_FORMATS = {"rgb565_be": "RGB565", "gray8": "GRAYSCALE"}


def arduino_capture(board: Board, plan: AppPlan) -> Capture:
    p = board.peripherals
    if plan.kind is AppKind.KWS and p.microphone and p.microphone.kind is MicKind.PDM:
        return Capture(True, f"PDM library, {p.microphone.model or 'PDM microphone'}",
                       PDM_RING_SAMPLES * 2)
    if (plan.kind is AppKind.VWW and p.camera and p.camera.model.upper().startswith("OV767")
            and ov767x_setting(plan) is not None):
        return Capture(True, f"Arduino_OV767X library, {p.camera.model}")
    if (plan.kind is AppKind.SENSOR and p.imu and p.imu.model.upper() == "LSM9DS1"
            and plan.config.get("n_axes") == 3):
        return Capture(True, "Arduino_LSM9DS1 library, accelerometer")
    return Capture(False, _replay_reason(board, plan, "the Arduino port supports a PDM microphone, "
                                         "an OV767x camera (RGB565 big-endian or grey, QQVGA to "
                                         "VGA) and an LSM9DS1 accelerometer (3 axes)"))


def ov767x_setting(plan: AppPlan) -> tuple[str, str] | None:
    """(resolution, format) names of the Arduino_OV767X library for the camera frame, if any."""
    if plan.kind is not AppKind.VWW:
        return None
    resolution = OV767X_RESOLUTIONS.get((int(plan.config["width"]), int(plan.config["height"])))
    fmt = OV767X_FORMATS.get(str(plan.config["in_format"]))
    return (resolution, fmt) if resolution and fmt else None


def _replay_reason(board: Board, plan: AppPlan, supported: str) -> str:
    present = getattr(board.peripherals, plan.peripheral)
    if present is None:
        return f"replays src/replay_data.h: {board.name} has no {plan.peripheral}"
    return f"replays src/replay_data.h: {supported}"


def zephyr_target(board: Board, plan: AppPlan) -> ZephyrTarget | None:
    if board.zephyr is None:
        return None
    capture, node = _zephyr_capture(board, plan)
    return ZephyrTarget(board=board.zephyr.board, overlay=board.zephyr.board.replace("/", "_")
                        + ".overlay", capture=capture, node=node,
                        kconfig=_kconfig(board, plan, capture))


def _zephyr_capture(board: Board, plan: AppPlan) -> tuple[Capture, str | None]:
    p = board.peripherals
    if (plan.kind is AppKind.KWS and p.microphone and p.microphone.kind is MicKind.PDM
            and board.mcu.lower().startswith("nrf") and isinstance(plan.frontend, MfccConfig)):
        block = plan.frontend.sample_rate // 10 * 2
        return Capture(True, "DMIC API on the nRF PDM peripheral (pdm0)",
                       ZEPHYR_MIC_BLOCKS * block), "pdm0"
    if (plan.kind is AppKind.VWW and p.camera and (p.camera.interface or "").upper() == "DCMI"
            and plan.config.get("in_format") == "rgb565"):
        return Capture(True, f"video API on the STM32 DCMI ({p.camera.model})",
                       ZEPHYR_VIDEO_BUFFERS * int(plan.config["frame_bytes"])), "dcmi"
    if plan.kind is AppKind.SENSOR and p.imu and plan.config.get("n_axes") == 3:
        return Capture(True, f"sensor API on the accel0 alias ({p.imu.model}, accelerometer)"), None
    return Capture(False, _replay_reason(board, plan, "the Zephyr port supports an nRF PDM "
                                         "microphone, an RGB565 DCMI camera and an accel0 "
                                         "accelerometer (3 axes)")), None


def _kconfig(board: Board, plan: AppPlan, capture: Capture) -> tuple[tuple[str, str, str], ...]:
    lines = [
        ("MAIN_STACK_SIZE", str(board.memory.stack_bytes), "the board's stack reserve"),
        ("PRINTK", "y", "results go to the console"),
        ("TIMING_FUNCTIONS", "y", "cycle counts around each inference"),
    ]
    if board.fpu.value != "none":
        lines.append(("FPU", "y", "the MFCC front-end computes in float"))
    if capture.live and plan.kind is AppKind.KWS:
        lines += [("AUDIO", "y", ""), ("AUDIO_DMIC", "y", "dmic_configure/trigger/read")]
    elif capture.live and plan.kind is AppKind.VWW:
        frame = int(plan.config["frame_bytes"])
        lines += [("VIDEO", "y", ""),
                  ("VIDEO_BUFFER_POOL_SZ_MAX", str(frame), "one camera frame"),
                  ("VIDEO_BUFFER_POOL_NUM_MAX", str(ZEPHYR_VIDEO_BUFFERS),
                   "one frame at a time: the app copies it out and gives it back")]
    elif capture.live and plan.kind is AppKind.SENSOR:
        lines += [("I2C", "y", ""), ("SENSOR", "y", "sensor_sample_fetch/channel_get")]
    return tuple(lines)
