"""Board YAML: shipped boards load, invalid fixtures fail with their message, schema and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from generator.boards import (
    Board,
    Core,
    Fpu,
    MicKind,
    board_json_schema_text,
    cpu_flags,
    format_size,
    known_board_names,
    list_boards,
    load_board,
    parse_size,
    schema_path,
    validate_board_file,
)
from generator.boards_cli import app
from generator.build.platform_files import (
    board_manifest,
    expected_platform_files,
    platform_dir,
    stale_platform_files,
)
from generator.errors import BoardError
from generator.resources import boards_dir

pytestmark = pytest.mark.unit

SHIPPED = {"nano33ble_sense", "nucleo_f746zg", "disco_f746ng", "pico", "qemu_mps2_an386",
           "qemu_mps2_an500", "qemu_mps3_an547"}
INVALID_DIR = Path(__file__).parent / "boards_invalid"
EXPECTED: dict[str, str] = yaml.safe_load((INVALID_DIR / "expected.yaml").read_text())
KB = 1024


# -- shipped boards -------------------------------------------------------------------------------


def test_the_seven_boards_ship() -> None:
    assert set(known_board_names()) == SHIPPED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_board_loads_by_name_and_path(name: str) -> None:
    board = load_board(name)
    assert board.name == name
    assert load_board(boards_dir() / f"{name}.yaml") == board
    assert board.memory.usable_sram <= board.memory.sram
    assert board.memory.stack_bytes < board.memory.usable_sram


def test_list_boards_is_sorted_and_complete() -> None:
    names = [b.name for b in list_boards()]
    assert names == sorted(SHIPPED)


@pytest.mark.parametrize(
    ("name", "core", "fpu", "sram", "flash"),
    [
        ("nano33ble_sense", Core.CORTEX_M4F, Fpu.SP, 256 * KB, 1024 * KB),
        ("nucleo_f746zg", Core.CORTEX_M7, Fpu.SP, 320 * KB, 1024 * KB),
        ("disco_f746ng", Core.CORTEX_M7, Fpu.SP, 320 * KB, 1024 * KB),
        ("pico", Core.CORTEX_M0PLUS, Fpu.NONE, 264 * KB, 2048 * KB),
        ("qemu_mps2_an386", Core.CORTEX_M4F, Fpu.SP, 4096 * KB, 4096 * KB),
        ("qemu_mps2_an500", Core.CORTEX_M7, Fpu.DP, 4096 * KB, 4096 * KB),
        ("qemu_mps3_an547", Core.CORTEX_M55, Fpu.DP, 512 * KB, 512 * KB),
    ],
)
def test_board_facts(name: str, core: Core, fpu: Fpu, sram: int, flash: int) -> None:
    board = load_board(name)
    assert (board.core, board.fpu, board.memory.sram, board.memory.flash) == (core, fpu, sram, flash)


def test_nano33ble_sense_peripherals_and_bootloader() -> None:
    board = load_board("nano33ble_sense")
    assert board.peripherals.microphone is not None
    assert board.peripherals.microphone.kind is MicKind.PDM
    assert board.peripherals.microphone.sample_rate_hz == 16000
    assert board.peripherals.imu is not None
    assert board.memory.usable_flash == 960 * KB  # first 64 KB hold the Arduino bootloader


def test_disco_camera_is_an_accessory_on_dcmi() -> None:
    camera = load_board("disco_f746ng").peripherals.camera
    assert camera is not None
    assert camera.accessory and camera.interface == "DCMI"


def test_emulated_boards_use_the_local_platform_and_mps2_map() -> None:
    for name, machine in (("qemu_mps2_an386", "mps2-an386"), ("qemu_mps2_an500", "mps2-an500")):
        board = load_board(name)
        assert board.emulator is not None and board.emulator.machine == machine
        assert board.platformio.local_platform
        origins = {(r.kind.value, r.origin, r.length) for r in board.memory.regions}
        assert origins == {("flash", 0x0, 4096 * KB), ("ram", 0x20000000, 4096 * KB)}


def test_real_boards_are_not_emulated() -> None:
    for name in ("nano33ble_sense", "nucleo_f746zg", "disco_f746ng", "pico"):
        board = load_board(name)
        assert board.emulator is None and not board.platformio.local_platform


@pytest.mark.parametrize(
    ("name", "flags"),
    [
        ("pico", ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft")),
        ("nano33ble_sense", ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")),
        ("nucleo_f746zg", ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16")),
        ("qemu_mps2_an500", ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16")),
    ],
)
def test_cpu_flags(name: str, flags: tuple[str, ...]) -> None:
    assert cpu_flags(load_board(name)) == flags


# -- sizes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("256KB", 256 * KB), ("1MB", KB * KB), ("4 KB", 4 * KB), ("64k", 64 * KB), ("512", 512),
     ("2MiB", 2 * KB * KB), (4096, 4096)],
)
def test_parse_size(text: str | int, value: int) -> None:
    assert parse_size(text) == value


def test_format_size() -> None:
    assert [format_size(n) for n in (264 * KB, 2 * KB * KB, 1000)] == ["264 KB", "2 MB", "1000 B"]


# -- invalid fixtures -----------------------------------------------------------------------------


def test_every_fixture_has_an_expected_message() -> None:
    fixtures = {p.name for p in INVALID_DIR.glob("invalid_*.yaml")}
    assert fixtures == set(EXPECTED)


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_invalid_board_fails_with_its_message(fixture: str) -> None:
    with pytest.raises(BoardError) as caught:
        validate_board_file(INVALID_DIR / fixture)
    message = caught.value.message
    assert EXPECTED[fixture] in message
    assert all(line.split(": ")[0].endswith(fixture) for line in message.splitlines())
    assert "pydantic" not in message and "Traceback" not in message
    assert caught.value.hint
    assert caught.value.exit_code == 2


def test_unknown_board_name_lists_the_known_boards() -> None:
    with pytest.raises(BoardError) as caught:
        load_board("nano34")
    assert "unknown board 'nano34'" in caught.value.message
    assert all(name in caught.value.message for name in SHIPPED)


def test_missing_board_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(BoardError, match=r"nothere\.yaml: cannot read"):
        load_board(tmp_path / "nothere.yaml")


def test_boards_are_frozen() -> None:
    board = load_board("pico")
    with pytest.raises(ValueError, match="frozen"):
        board.clock_hz = 1


# -- schema and generated platform files ----------------------------------------------------------


def test_schema_file_is_up_to_date() -> None:
    assert schema_path().read_text(encoding="utf-8") == board_json_schema_text(), (
        "boards/schema.json is stale: run `mcuforge boards schema --write`")


def test_shipped_yaml_validates_against_the_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    for path in sorted(boards_dir().glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)


def test_platform_board_files_are_up_to_date() -> None:
    assert stale_platform_files() == [], (
        "run python -c 'from generator.build.platform_files import write_platform_files; "
        "write_platform_files()'")


def test_platform_has_a_manifest_per_emulated_board() -> None:
    manifests = {p.stem for p in (platform_dir() / "boards").glob("*.json")}
    emulated = {b.platformio.board for b in list_boards() if b.platformio.local_platform}
    assert manifests == emulated == {"qemu_mps2_an386", "qemu_mps2_an500", "qemu_mps3_an547"}
    assert len(expected_platform_files()) == 2 * len(emulated)


def test_m55_board_builds_with_helium_where_its_yaml_says_so() -> None:
    board = load_board("qemu_mps3_an547")
    assert board.mve and board.core is Core.CORTEX_M55
    assert cpu_flags(board) == ("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", "-mfpu=auto")
    no_mve = board.model_copy(update={"mve": False, "fpu": Fpu.NONE})
    assert cpu_flags(no_mve)[0] == "-mcpu=cortex-m55+nomve+nofp"
    assert board_manifest(board)["upload"]["qemu_machine"] == "mps3-an547"


@pytest.mark.parametrize("core", ["cortex-m4f", "cortex-m7", "cortex-m33"])
def test_mve_is_refused_on_a_core_without_it(core: str, tmp_path: Path) -> None:
    text = (boards_dir() / "qemu_mps2_an386.yaml").read_text(encoding="utf-8")
    text = text.replace("core: cortex-m4f", f"core: {core}").replace("fpu: sp", "fpu: sp\nmve: true")
    path = tmp_path / "qemu_mps2_an386.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BoardError, match=f"mve: a {core} core has no MVE"):
        load_board(path)


def test_manifest_carries_the_board_facts() -> None:
    manifest = board_manifest(load_board("qemu_mps2_an500"))
    assert manifest["build"]["cpu"] == "cortex-m7" and manifest["build"]["fpu"] == "fpv5-d16"
    assert manifest["upload"]["qemu_machine"] == "mps2-an500"
    assert manifest["upload"]["maximum_ram_size"] == 4 * KB * KB


# -- CLI ------------------------------------------------------------------------------------------


runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def test_cli_list() -> None:
    result = runner.invoke(app, ["list"], env=WIDE)
    assert result.exit_code == 0, result.output
    for name in SHIPPED:
        assert name in result.stdout
    assert "264 KB" in result.stdout and "microphone, imu" in result.stdout


def test_cli_show() -> None:
    result = runner.invoke(app, ["show", "nano33ble_sense"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "nRF52840" in result.stdout and "0x20000000" in result.stdout
    assert "pdm MP34DT05, 16000 Hz" in result.stdout


def test_cli_show_unknown_board_exits_2() -> None:
    result = runner.invoke(app, ["show", "nano34"], env=WIDE)
    assert result.exit_code == 2
    assert "unknown board 'nano34'" in result.stderr
    assert "hint:" in result.stderr


def test_cli_validate_ok() -> None:
    result = runner.invoke(app, ["validate", str(boards_dir() / "pico.yaml")], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout


def test_cli_validate_invalid_exits_2() -> None:
    fixture = "invalid_region_total.yaml"
    result = runner.invoke(app, ["validate", str(INVALID_DIR / fixture)], env=WIDE)
    assert result.exit_code == 2
    assert EXPECTED[fixture] in result.stderr
    assert result.stdout == ""


def test_cli_schema_prints_the_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == Board.__name__
