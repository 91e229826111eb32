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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from generator.boards import load_board
from generator.build import platform_option
from generator.frontends import ImageConfig
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
