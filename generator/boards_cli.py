"""``mcuforge boards``: list, show and validate board definitions; export their JSON schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from generator.boards import (
    Board,
    Fpu,
    board_json_schema_text,
    cpu_flags,
    format_size,
    list_boards,
    load_board,
    validate_board_file,
    write_json_schema,
)
from generator.console import console, fail
from generator.errors import McuforgeError

app = typer.Typer(
    name="boards",
    help="Board definitions (YAML files validated against boards/schema.json).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")


def _or_exit(action: Callable[[], T]) -> T:
    """Run ``action``; a McuforgeError becomes a red message on stderr and its exit code."""
    try:
        return action()
    except McuforgeError as exc:
        raise fail(exc) from None


def _mhz(hz: int) -> str:
    return f"{hz / 1e6:g} MHz"


def _board_table(boards: list[Board]) -> Table:
    table = Table(title="Boards")
    for column in ("name", "core", "clock", "SRAM", "flash"):
        table.add_column(column, no_wrap=True)
    table.add_column("peripherals", overflow="fold")
    for board in boards:
        table.add_row(
            escape(board.name),
            board.core.value + (f" ({board.fpu.value})" if board.fpu is not Fpu.NONE else ""),
            _mhz(board.clock_hz),
            format_size(board.memory.sram),
            format_size(board.memory.flash),
            ", ".join(board.peripherals.present()) or "-",
        )
    return table


def _detail_rows(board: Board) -> list[tuple[str, str]]:
    pio = board.platformio
    rows = [
        ("name", board.name),
        ("board", f"{board.display_name} ({board.vendor})"),
        ("mcu", board.mcu),
        ("core", f"{board.core.value}, fpu {board.fpu.value}, {_mhz(board.clock_hz)}"),
        ("gcc flags", " ".join(cpu_flags(board))),
        ("sram", (f"{format_size(board.memory.sram)} (stack reserve "
                 f"{format_size(board.memory.stack_bytes)})")),
        ("flash", (f"{format_size(board.memory.flash)} "
                  f"({format_size(board.memory.usable_flash)} usable)")),
        ("platformio", f"platform={pio.platform} board={pio.board}"
                       + (f" framework={pio.framework}" if pio.framework else "")),
        ("zephyr", board.zephyr.board if board.zephyr else "-"),
        ("emulator", f"qemu-system-arm -M {board.emulator.machine}" if board.emulator else "-"),
    ]
    return rows + _peripheral_rows(board) + ([("notes", board.notes)] if board.notes else [])


def _peripheral_rows(board: Board) -> list[tuple[str, str]]:
    p = board.peripherals
    rows: list[tuple[str, str]] = []
    if p.microphone:
        model = f" {p.microphone.model}" if p.microphone.model else ""
        rows.append(("microphone", (f"{p.microphone.kind.value}{model}, "
                                   f"{p.microphone.sample_rate_hz} Hz")))
    if p.camera:
        extra = " (accessory module)" if p.camera.accessory else ""
        rows.append(("camera", (f"{p.camera.model}, {p.camera.width}x{p.camera.height} "
                               f"{p.camera.pixel_format.value}{extra}")))
    if p.imu:
        rows.append(("imu", f"{p.imu.model}, {p.imu.rate_hz:g} Hz"))
    return rows


def _region_table(board: Board) -> Table:
    table = Table(title="Memory regions")
    for column in ("name", "kind", "origin", "end", "size", "use"):
        table.add_column(column)
    for region in board.memory.regions:
        table.add_row(escape(region.name), region.kind.value, f"0x{region.origin:08X}",
                      f"0x{region.end:08X}", format_size(region.length),
                      "reserved" if region.reserved else "application")
    return table


@app.command("list")
def list_cmd() -> None:
    """List the shipped boards."""
    boards = _or_exit(list_boards)
    console.print(_board_table(boards))


@app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="Board name (see `list`) or path to a board YAML")],
) -> None:
    """Show one board in detail."""
    board = _or_exit(lambda: load_board(name))
    details = Table(show_header=False, box=None)
    details.add_column(style="bold")
    details.add_column(overflow="fold")
    for key, value in _detail_rows(board):
        details.add_row(key, escape(value))
    console.print(details)
    console.print(_region_table(board))


@app.command("validate")
def validate_cmd(
    file: Annotated[Path, typer.Argument(help="Board YAML file to check")],
) -> None:
    """Check a board YAML file against the schema; exit code 2 if it is invalid."""
    board = _or_exit(lambda: validate_board_file(file))
    console.print(f"[green]OK[/] {escape(str(file))}: board '{escape(board.name)}'",
                  highlight=False)


@app.command("schema")
def schema_cmd(
    write: Annotated[bool, typer.Option("--write", help="Rewrite boards/schema.json")] = False,
) -> None:
    """Print the board JSON schema, or rewrite the copy kept beside the board files."""
    if write:
        path = write_json_schema()
        console.print(f"wrote {path}", highlight=False, markup=False)
        return
    typer.echo(board_json_schema_text(), nl=False)


__all__ = ["app"]
