"""Board YAMLs that try to smuggle text into generated files (corpus: expected_encoders.yaml).

Each is the shipped ``qemu_mps2_an386`` board with one field changed, its ``name`` set to the file
stem, written with ``yaml.safe_dump`` (which escapes line breaks and NUL as YAML allows).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from generator.resources import boards_dir

MARKER = "/tmp/mcuforge-encoders-pwned"


def _board(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], object]:
    def make(path: Path) -> Path:
        data = yaml.safe_load((boards_dir() / "qemu_mps2_an386.yaml").read_text(encoding="utf-8"))
        data["name"] = path.stem
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path
    return make


def _set(*keys: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return change


MAKERS: dict[str, Callable[[Path], object]] = {
    "board_pio_board_newline.yaml": _board(_set(
        "platformio", "board", value=f"qemu_mps2_an386\nbuild_unflags = !touch {MARKER}")),
    "board_extra_args_dollar.yaml": _board(_set(
        "emulator", "extra_args", value=["-m", "${sysenv.HOME}"])),
    "board_display_name_comment.yaml": _board(_set(
        "display_name", value="QEMU */ int evil(void) { return 1; } /*")),
    "board_zephyr_board_newline.yaml": _board(_set(
        "zephyr", "board", value=f"mps2/an386\nexecute_process(COMMAND touch {MARKER})")),
    "board_display_name_300.yaml": _board(_set("display_name", value="Q" * 300)),
    "board_mcu_nul.yaml": _board(_set("mcu", value="MPS2\0AN386")),
    "board_machine_space.yaml": _board(_set(
        "emulator", "machine", value="mps2-an386 -semihosting-config enable=on,target=native")),
}
