"""The framework variants of generated projects (Arduino, Zephyr) are well formed.

They cannot be built offline (PlatformIO's Arduino cores and the Zephyr tree are downloads), so
these tests check structure: ``platformio.ini`` as PlatformIO's own parser reads it, the Arduino
port's guard and capture code, the Zephyr CMakeLists against the files it names, ``prj.conf``
against Kconfig symbols checked in the Zephyr tree, and the devicetree overlay's syntax. Golden
files pin the generated text for the Nano 33 BLE Sense (both frameworks); refresh them with
``MCUFORGE_UPDATE_GOLDEN=1 pytest tests/test_generate_frameworks.py``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from generator.boards import load_board
from generator.build import platform_option
from generator.dsp import ImageConfig
from generator.project.generate import Project, generate_project
from generator.project.options import AppKind, GenerateOptions
from tests.support.projects import model_file, sensor_tflite

pytestmark = pytest.mark.unit

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN_CASE = "nano33ble_sense_kws"
GOLDEN_FILES = (
    "platformio.ini",
    "src/main.c",
    "src/port_arduino.cpp",
    "zephyr/CMakeLists.txt",
    "zephyr/prj.conf",
    "zephyr/boards/arduino_nano_33_ble_nrf52840_sense.overlay",
    "zephyr/src/port_zephyr.c",
)
PLATFORM_PLACEHOLDER = "symlink://<mcuforge-qemu platform>"

# Kconfig symbols the generator may write, each checked in the Zephyr tree (v4.0) at this file.
KCONFIG_SYMBOLS = {
    "MAIN_STACK_SIZE": "kernel/Kconfig",
    "PRINTK": "subsys/debug/Kconfig (selected by BOOT_BANNER in kernel/Kconfig)",
    "TIMING_FUNCTIONS": "subsys/timing/Kconfig",
    "FPU": "arch/Kconfig",
    "AUDIO": "drivers/audio/Kconfig",
    "AUDIO_DMIC": "drivers/audio/Kconfig",
    "VIDEO": "drivers/video/Kconfig",
    "VIDEO_BUFFER_POOL_SZ_MAX": "drivers/video/Kconfig",
    "VIDEO_BUFFER_POOL_NUM_MAX": "drivers/video/Kconfig",
    "SENSOR": "drivers/sensor/Kconfig",
    "I2C": "drivers/i2c/Kconfig",
}

PORT_CALLS = {"kws": "port_audio_read", "vww": "port_camera_capture", "sensor": "port_imu_read"}
PORT_COMMON = ("port_init", "port_print", "port_counter", "port_counter_unit", "port_exit")


@dataclass(frozen=True)
class Case:
    model: str
    board: str
    app: AppKind
    live_arduino: bool | None  # None: no Arduino environment
    live_zephyr: bool


CASES = {
    "nano33ble_sense-kws": Case("ds_cnn", "nano33ble_sense", AppKind.KWS, True, True),
    "nano33ble_sense-sensor": Case("sensor", "nano33ble_sense", AppKind.SENSOR, True, True),
    "nano33ble_sense-vww": Case("mobilenet_v1", "nano33ble_sense", AppKind.VWW, False, False),
    "disco_f746ng-vww": Case("mobilenet_v1", "disco_f746ng", AppKind.VWW, False, True),
    "disco_f746ng-kws": Case("ds_cnn", "disco_f746ng", AppKind.KWS, False, False),
    "pico-kws": Case("ds_cnn", "pico", AppKind.KWS, False, False),
    "ov7675_nano-vww": Case("mobilenet_v1", "ov7675_nano", AppKind.VWW, True, False),
    "qemu_mps2_an500-vww": Case("mobilenet_v1", "qemu_mps2_an500", AppKind.VWW, None, False),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    for name in ("ds_cnn", "mobilenet_v1"):
        model_file(root, name)
    (root / "sensor.tflite").write_bytes(sensor_tflite())
    (root / "sensor.yaml").write_text("frontend: {n_samples: 64}\n")
    nano = yaml.safe_load((Path(__file__).parents[1] / "boards" / "nano33ble_sense.yaml")
                          .read_text())
    nano["name"] = "ov7675_nano"
    nano["peripherals"]["camera"] = {"model": "OV7675", "width": 640, "height": 480,
                                     "pixel_format": "rgb565", "accessory": True}
    (root / "ov7675_nano.yaml").write_text(yaml.safe_dump(nano))
    return root


@pytest.fixture(scope="module")
def projects(inputs: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[dict[str, tuple[Project, Path]]]:
    made = {}
    for name, case in CASES.items():
        out = tmp_path_factory.mktemp("projects") / name
        board = str(inputs / f"{case.board}.yaml") if case.board == "ov7675_nano" else case.board
        options = GenerateOptions(
            model=inputs / f"{case.model}.tflite", board=board, app=case.app,
            app_config=inputs / "sensor.yaml" if case.app is AppKind.SENSOR else None)
        made[name] = (generate_project(options, out), out)
    yield made


def _read(out: Path, rel: str) -> str:
    return (out / rel).read_text(encoding="utf-8")


# ---- PlatformIO ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_platformio_ini_parses_with_platformio(projects: dict[str, tuple[Project, Path]],
                                               name: str) -> None:
    from platformio.project.config import ProjectConfig

    project, out = projects[name]
    case = CASES[name]
    config = ProjectConfig(str(out / "platformio.ini"))
    board = project.board
    emulated = project.targets.run_env
    expected = [emulated] + ([board.name] if case.live_arduino is not None else [])
    assert config.envs() == expected
    assert config.default_envs() == [board.name]
    assert config.get(f"env:{emulated}", "platform") == platform_option()
    assert config.get(f"env:{emulated}", "board") == emulated
    upload = config.get(f"env:{emulated}", "upload_command")
    assert "-icount shift=0,align=off,sleep=off" in upload and upload.endswith("-kernel $SOURCE")
    emulator = load_board(emulated).emulator
    assert emulator is not None and f"-M {emulator.machine}" in upload
    assert config.get(f"env:{emulated}", "build_flags") == ["-Isrc/mcuf", "-Isrc/frontend"]
    if case.live_arduino is None:
        return
    real = f"env:{board.name}"
    assert config.get(real, "platform") == board.platformio.platform
    assert config.get(real, "board") == board.platformio.board
    assert config.get(real, "framework") == ["arduino"]
    assert config.get(real, "build_src_filter") == ["+<*>", "-<port_replay.c>"]
    assert config.get(f"env:{emulated}", "build_src_filter") == ["+<*>", "-<port_arduino.cpp>"]
    libs = config.get(real, "lib_deps") if config.has_option(real, "lib_deps") else []
    wanted = {AppKind.SENSOR: ["arduino-libraries/Arduino_LSM9DS1"],
              AppKind.VWW: ["arduino-libraries/Arduino_OV767X"]}
    assert libs == (wanted.get(case.app, []) if case.live_arduino else [])


def test_a_non_arduino_framework_in_the_yaml_is_explained(
        projects: dict[str, tuple[Project, Path]]) -> None:
    _, out = projects["disco_f746ng-vww"]
    ini = _read(out, "platformio.ini")
    assert "names framework 'stm32cube'" in ini and "framework = arduino" in ini


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.live_arduino is not None])
def test_arduino_port_is_guarded_and_complete(projects: dict[str, tuple[Project, Path]],
                                              name: str) -> None:
    project, out = projects[name]
    case = CASES[name]
    text = _read(out, "src/port_arduino.cpp")
    code = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL).strip()
    assert code.startswith("#if defined(ARDUINO)") and code.endswith("#endif")
    for function in (*PORT_COMMON, PORT_CALLS[case.app.value], "setup", "loop"):
        assert re.search(rf"^\S.*\b{function}\(.*\)\s*$", text, re.MULTILINE), function
    library = {AppKind.KWS: "#include <PDM.h>", AppKind.VWW: "#include <Arduino_OV767X.h>",
               AppKind.SENSOR: "#include <Arduino_LSM9DS1.h>"}[case.app]
    assert (library in text) == bool(case.live_arduino)
    assert ('#include "replay_input.h"' in text) == (not case.live_arduino)
    assert text.count("{") == text.count("}")
    assert project.targets.arduino is not None and project.targets.arduino.live == case.live_arduino


def test_ov767x_camera_is_driven_at_qqvga_big_endian(
        projects: dict[str, tuple[Project, Path]]) -> None:
    project, out = projects["ov7675_nano-vww"]
    assert "Camera.begin(QQVGA, RGB565, 1)" in _read(out, "src/port_arduino.cpp")
    assert isinstance(project.plan.frontend, ImageConfig)
    assert project.plan.frontend.in_format == "rgb565_be"


# ---- Zephyr ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_zephyr_cmakelists_names_every_source_and_only_existing_ones(
        projects: dict[str, tuple[Project, Path]], name: str) -> None:
    _, out = projects[name]
    text = _read(out, "zephyr/CMakeLists.txt")
    assert "find_package(Zephyr REQUIRED" in text and "cmake_minimum_required" in text
    assert text.count("(") == text.count(")")
    listed = re.findall(r"\$\{MCUF_APP_SRC\}/(\S+\.c)", text)
    for rel in listed:
        assert (out / "src" / rel).is_file(), rel
    assert (out / "zephyr" / "src" / "port_zephyr.c").is_file() and "src/port_zephyr.c" in text
    all_c = sorted(p.relative_to(out / "src").as_posix() for p in (out / "src").rglob("*.c"))
    assert listed == [c for c in all_c if c != "port_replay.c"]
    for folder in re.findall(r"\$\{MCUF_APP_SRC\}(/\w+)?\s*$", text, re.MULTILINE):
        assert (out / "src" / folder.lstrip("/")).is_dir()


@pytest.mark.parametrize("name", CASES)
def test_prj_conf_uses_only_known_kconfig_symbols(projects: dict[str, tuple[Project, Path]],
                                                  name: str) -> None:
    project, out = projects[name]
    case = CASES[name]
    symbols = {}
    for line in _read(out, "zephyr/prj.conf").splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"CONFIG_([A-Z0-9_]+)=(y|n|\d+)", line)
        assert match, line
        symbols[match[1]] = match[2]
    assert set(symbols) <= set(KCONFIG_SYMBOLS), set(symbols) - set(KCONFIG_SYMBOLS)
    assert symbols["MAIN_STACK_SIZE"] == str(project.board.memory.stack_bytes)
    live = {AppKind.KWS: {"AUDIO", "AUDIO_DMIC"}, AppKind.VWW: {"VIDEO"},
            AppKind.SENSOR: {"SENSOR", "I2C"}}[case.app]
    assert live <= set(symbols) if case.live_zephyr else not live & set(symbols)


_DTS_TOKEN = re.compile(r'\s+|/\*.*?\*/|//[^\n]*|"[^"]*"|<[^>]*>|[{};=,]'
                        r'|[^\s{};=,"<]+(?:,[^\s{};=,"<]+)*', re.DOTALL)
_NODE_NAME = re.compile(r"/|&[A-Za-z_]\w*|[A-Za-z_][\w,.+-]*(@[0-9a-fA-F,]+)?")
_LABEL = re.compile(r"[A-Za-z_]\w*:")
_PROPERTY = re.compile(r"[A-Za-z_#][\w,.+#-]*")
_VALUE = re.compile(r'"[^"]*"|<[^>]*>|&[A-Za-z_]\w*')


def _overlay_problems(text: str) -> list[str]:
    """Parse a devicetree overlay: nodes ``[label:] name { ... };`` and ``&label { ... };``,
    properties ``name;`` or ``name = value[, value];``; returns what does not parse."""
    tokens = [m.group(0) for m in _DTS_TOKEN.finditer(text)
              if not m.group(0).isspace() and not m.group(0).startswith(("/*", "//"))]
    problems: list[str] = []

    def expect(i: int, want: str) -> int:
        if i >= len(tokens) or tokens[i] != want:
            problems.append(f"expected {want!r} at token {i}, got "
                            f"{tokens[i] if i < len(tokens) else 'end of file'!r}")
            return len(tokens)
        return i + 1

    def items(i: int, nested: bool) -> int:
        while i < len(tokens) and not problems:
            if tokens[i] == "}":
                if not nested:
                    problems.append("unbalanced '}'")
                return i
            if _LABEL.fullmatch(tokens[i]):
                i += 1
            name = tokens[i] if i < len(tokens) else ""
            after = tokens[i + 1] if i + 1 < len(tokens) else ""
            if after == "{":
                if not _NODE_NAME.fullmatch(name):
                    problems.append(f"bad node name {name!r}")
                i = expect(expect(items(i + 2, True), "}"), ";")
            elif _PROPERTY.fullmatch(name) and after in (";", "="):
                i += 2
                separator = "," if after == "=" else ";"
                while separator == "," and not problems:
                    if i >= len(tokens) or not _VALUE.fullmatch(tokens[i]):
                        problems.append(f"bad value of {name!r}")
                    separator = tokens[i + 1] if i + 1 < len(tokens) else ""
                    i += 2
                    if separator not in (",", ";"):
                        problems.append(f"property {name!r} does not end with ';'")
            else:
                problems.append(f"cannot parse {name!r} {after!r}")
        if nested and not problems and i >= len(tokens):
            problems.append("unbalanced '{'")
        return i

    items(0, False)
    return problems


@pytest.mark.parametrize("name", CASES)
def test_overlay_is_well_formed(projects: dict[str, tuple[Project, Path]], name: str) -> None:
    project, out = projects[name]
    assert project.targets.zephyr is not None
    path = out / "zephyr" / "boards" / project.targets.zephyr.overlay
    assert project.board.zephyr is not None
    assert path.name == project.board.zephyr.board.replace("/", "_") + ".overlay"
    text = path.read_text()
    assert _overlay_problems(text) == []
    port = _read(out, "zephyr/src/port_zephyr.c")
    for alias in re.findall(r"DT_ALIAS\((\w+)\)", port):
        if alias != "accel0":  # defined by the board's own devicetree
            assert f"{alias.replace('_', '-')} = &" in text, alias
    if "DT_CHOSEN(zephyr_camera)" in port:
        assert "zephyr,camera = &" in text


def test_overlay_checker_catches_mistakes() -> None:
    good = ('/* c */ &pdm0 {\n\tstatus = "okay";\n};\n/ {\n\taliases {\n\t\tmic = &pdm0;\n\t};\n'
            '\tchosen { zephyr,camera = &dcmi; };\n'
            '\tcam: camera@3c { reg = <0x3c>; compatible = "a", "b"; read-only; };\n};\n')
    assert _overlay_problems(good) == []
    assert _overlay_problems('&pdm0 {\n\tstatus = "okay";\n') != []  # unclosed
    assert _overlay_problems('&pdm0 {\n\tstatus = "okay"\n};\n') != []  # no ';' after value
    assert _overlay_problems('&pdm0 {\n\tstatus = "okay";\n}\n') != []  # no ';' after node
    assert _overlay_problems('&pdm0 {\n\tstatus = okay;\n};\n') != []  # unquoted string
    assert _overlay_problems('};') != []


@pytest.mark.parametrize("name", CASES)
def test_zephyr_port_defines_the_port_calls(projects: dict[str, tuple[Project, Path]],
                                            name: str) -> None:
    _, out = projects[name]
    text = _read(out, "zephyr/src/port_zephyr.c")
    for function in (*PORT_COMMON, PORT_CALLS[CASES[name].app.value], "main"):
        assert re.search(rf"^\S.*\b{function}\(.*\)\s*$", text, re.MULTILINE), function
    assert text.count("{") == text.count("}")
    assert ("dmic_read(" in text) == (CASES[name].live_zephyr and CASES[name].app is AppKind.KWS)
    assert ("video_dequeue(" in text) == (CASES[name].live_zephyr
                                          and CASES[name].app is AppKind.VWW)


# ---- golden files --------------------------------------------------------------------------------


def _normalised(text: str) -> str:
    return text.replace(platform_option(), PLATFORM_PLACEHOLDER)


@pytest.mark.parametrize("rel", GOLDEN_FILES)
def test_golden_files(projects: dict[str, tuple[Project, Path]], rel: str) -> None:
    _, out = projects["nano33ble_sense-kws"]
    golden = GOLDEN_DIR / GOLDEN_CASE / rel
    text = _normalised(_read(out, rel))
    if os.environ.get("MCUFORGE_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"{golden} is missing: run with MCUFORGE_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8"), (
        f"{rel} differs from {golden}; if the change is intended, refresh with "
        "MCUFORGE_UPDATE_GOLDEN=1")


def test_no_stale_golden_files() -> None:
    present = {p.relative_to(GOLDEN_DIR / GOLDEN_CASE).as_posix()
               for p in (GOLDEN_DIR / GOLDEN_CASE).rglob("*") if p.is_file()}
    assert present == set(GOLDEN_FILES)


# ---- the ports against their framework APIs ----------------------------------------------------
# The frameworks cannot be installed offline, so each port is compiled (syntax and types only) by
# arm-none-eabi-gcc against stand-in headers that declare just the framework calls the ports make,
# with the signatures of the framework's documentation (Zephyr 4.0 include/zephyr/..., the Arduino
# PDM, Arduino_OV767X and Arduino_LSM9DS1 library references, CMSIS DWT/CoreDebug).

ZEPHYR_STUBS = {
    "zephyr/kernel.h": """
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
typedef struct { int64_t ticks; } k_timeout_t;
#define K_FOREVER ((k_timeout_t){-1})
int32_t k_sleep(k_timeout_t timeout);
int32_t k_usleep(int32_t us);
struct device { const char *name; const void *api; };
extern const struct device stub_device;
bool device_is_ready(const struct device *dev);
#define DT_ALIAS(alias) 0
#define DT_NODELABEL(label) 0
#define DT_CHOSEN(prop) 0
#define DEVICE_DT_GET(node) (&stub_device)
struct k_mem_slab { int blocks; };
#define K_MEM_SLAB_DEFINE_STATIC(name, size, count, align) static struct k_mem_slab name
void k_mem_slab_free(struct k_mem_slab *slab, void *mem);
""",
    "zephyr/sys/printk.h": "void printk(const char *fmt, ...);\n",
    "zephyr/timing/timing.h": """
#include <stdint.h>
typedef uint64_t timing_t;
void timing_init(void);
void timing_start(void);
timing_t timing_counter_get(void);
uint64_t timing_cycles_get(volatile timing_t *const start, volatile timing_t *const end);
""",
    "zephyr/audio/dmic.h": """
#include <stddef.h>
#include <stdint.h>
enum dmic_trigger { DMIC_TRIGGER_STOP, DMIC_TRIGGER_START };
enum pdm_lr { PDM_CHAN_LEFT, PDM_CHAN_RIGHT };
struct pdm_io_cfg { uint32_t min_pdm_clk_freq; uint32_t max_pdm_clk_freq; uint8_t min_pdm_clk_dc;
                    uint8_t max_pdm_clk_dc; };
struct pcm_stream_cfg { uint32_t pcm_rate; uint8_t pcm_width; uint16_t block_size;
                        struct k_mem_slab *mem_slab; };
struct pdm_chan_cfg { uint32_t req_chan_map_lo; uint32_t req_chan_map_hi; uint32_t act_chan_map_lo;
                      uint32_t act_chan_map_hi; uint8_t req_num_chan; uint8_t act_num_chan;
                      uint8_t req_num_streams; uint8_t act_num_streams; };
struct dmic_cfg { struct pdm_io_cfg io; struct pcm_stream_cfg *streams;
                  struct pdm_chan_cfg channel; };
uint32_t dmic_build_channel_map(uint8_t channel, uint8_t pdm, enum pdm_lr lr);
int dmic_configure(const struct device *dev, struct dmic_cfg *cfg);
int dmic_trigger(const struct device *dev, enum dmic_trigger cmd);
int dmic_read(const struct device *dev, uint8_t stream, void **buffer, size_t *size,
              int32_t timeout);
""",
    "zephyr/drivers/video.h": """
#include <stddef.h>
#include <stdint.h>
struct video_format { uint32_t pixelformat; uint32_t width; uint32_t height; uint32_t pitch; };
struct video_buffer { void *driver_data; uint8_t *buffer; uint32_t size; uint32_t bytesused;
                      uint32_t timestamp; uint16_t line_offset; };
enum video_endpoint_id { VIDEO_EP_NONE = -1, VIDEO_EP_ALL = -2, VIDEO_EP_IN = -3,
                         VIDEO_EP_OUT = -4 };
#define VIDEO_PIX_FMT_RGB565 0x50424752u
int video_set_format(const struct device *dev, enum video_endpoint_id ep, struct video_format *fmt);
int video_enqueue(const struct device *dev, enum video_endpoint_id ep, struct video_buffer *buf);
int video_dequeue(const struct device *dev, enum video_endpoint_id ep, struct video_buffer **buf,
                  k_timeout_t timeout);
int video_stream_start(const struct device *dev);
struct video_buffer *video_buffer_alloc(size_t size);
""",
    "zephyr/drivers/sensor.h": """
#include <stdint.h>
struct sensor_value { int32_t val1; int32_t val2; };
enum sensor_channel { SENSOR_CHAN_ACCEL_X, SENSOR_CHAN_ACCEL_Y, SENSOR_CHAN_ACCEL_Z,
                      SENSOR_CHAN_ACCEL_XYZ };
#define SENSOR_G 9806650LL
int sensor_sample_fetch(const struct device *dev);
int sensor_channel_get(const struct device *dev, enum sensor_channel chan,
                       struct sensor_value *val);
double sensor_value_to_double(const struct sensor_value *val);
""",
}

ARDUINO_STUBS = {
    "Arduino.h": """
#include <math.h>
#include <stdint.h>
#define F_CPU 64000000ul
class SerialStub {
public:
    void begin(unsigned long baud);
    explicit operator bool() const;
    void print(const char *text);
    void print(unsigned long value);
    void println(int value);
    void println(const char *text);
    void flush();
};
extern SerialStub Serial;
unsigned long micros(void);
void delay(unsigned long ms);
#ifdef STUB_CMSIS_DWT
struct DWT_Type { volatile uint32_t CTRL; volatile uint32_t CYCCNT; };
struct CoreDebug_Type { volatile uint32_t DEMCR; };
#define DWT ((DWT_Type *)0xE0001000u)
#define CoreDebug ((CoreDebug_Type *)0xE000EDF0u)
#define DWT_CTRL_CYCCNTENA_Msk 1u
#define CoreDebug_DEMCR_TRCENA_Msk (1u << 24)
#endif
""",
    "PDM.h": """
class PDMClass {
public:
    int begin(int channels, long sample_rate);
    void onReceive(void (*function)(void));
    int available();
    int read(void *buffer, int size);
};
extern PDMClass PDM;
""",
    "Arduino_OV767X.h": """
enum { VGA, CIF, QVGA, QCIF, QQVGA };
enum { YUV422, RGB444, RGB565, GRAYSCALE };
class OV767X {
public:
    int begin(int resolution, int format, int fps);
    void readFrame(void *buffer);
};
extern OV767X Camera;
""",
    "Arduino_LSM9DS1.h": """
class LSM9DS1Class {
public:
    int begin();
    int accelerationAvailable();
    int readAcceleration(float &x, float &y, float &z);
};
extern LSM9DS1Class IMU;
""",
}

STRICT = ("-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m4", "-mthumb")


def _stubs(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#pragma once\n" + text)
    return root


def _syntax_check(command: list[str]) -> None:
    import subprocess

    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.cross
@pytest.mark.parametrize("name", CASES)
def test_zephyr_port_compiles_against_the_zephyr_api(projects: dict[str, tuple[Project, Path]],
                                                     name: str, tmp_path: Path) -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    _, out = projects[name]
    stubs = _stubs(tmp_path, ZEPHYR_STUBS)
    _syntax_check(["arm-none-eabi-gcc", "-fsyntax-only", "-std=gnu11", *STRICT,
                   f"-I{stubs}", f"-I{out / 'src'}",
                   f"-I{out / 'src' / 'frontend'}", str(out / "zephyr" / "src" / "port_zephyr.c")])


@pytest.mark.cross
@pytest.mark.parametrize("dwt", [True, False], ids=["dwt", "micros"])
@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.live_arduino is not None])
def test_arduino_port_compiles_against_the_arduino_api(projects: dict[str, tuple[Project, Path]],
                                                       name: str, dwt: bool,
                                                       tmp_path: Path) -> None:
    if shutil.which("arm-none-eabi-g++") is None:
        pytest.skip("arm-none-eabi-g++ is not installed")
    _, out = projects[name]
    stubs = _stubs(tmp_path, ARDUINO_STUBS)
    _syntax_check(["arm-none-eabi-g++", "-fsyntax-only", "-std=gnu++17", *STRICT,
                   "-DARDUINO=10819", *(["-DSTUB_CMSIS_DWT"] if dwt else []), f"-I{stubs}",
                   f"-I{out / 'src'}", f"-I{out / 'src' / 'frontend'}",
                   str(out / "src" / "port_arduino.cpp")])
