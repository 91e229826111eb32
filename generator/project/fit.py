"""Will it fit? Flash and SRAM needs of a project against the board, checked before anything is written.

Flash: the model's constants + the front-end's tables + the replay data (when the board's own build
plays it) + an estimate of the code (kernels, runtime, front-end, app and port; measured on the
emulated builds, rounded up). SRAM: the arena (which must also fit the largest RAM region: it is one
array) + the app's buffers + the board's stack reserve + a reserve for the runtime's own data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.boards import Board, format_size, list_boards
from generator.compiler import CompiledModel
from generator.errors import FitError
from generator.project.apps import AppPlan
from generator.project.options import AppKind
from generator.project.targets import Targets

CODE_BYTES = {AppKind.KWS: 36 * 1024, AppKind.VWW: 36 * 1024, AppKind.SENSOR: 16 * 1024}
"""Code of kernels, runtime, front-end, app and port, excluding the model's constants and tables
(measured on the emulated builds, the fast kernels at -O2: about 32.3 KB for kws on Cortex-M4F,
32.8 KB on M55, 32.2 KB for vww; rounded up)."""
RUNTIME_RAM_BYTES = 2 * 1024
"""Static data of the C library, the port and the runtime."""
FRAMEWORK_FLASH_BYTES = 96 * 1024
FRAMEWORK_RAM_BYTES = 48 * 1024
"""What the Arduino core (with its RTOS on mbed boards) or the Zephyr kernel adds on a real board;
an estimate (an empty Arduino sketch on the Nano 33 BLE is of this order)."""


@dataclass(frozen=True)
class FitReport:
    board: str
    flash_budget: int
    flash_items: tuple[tuple[str, int], ...]
    sram_budget: int
    sram_items: tuple[tuple[str, int], ...]
    largest_ram_region: int
    arena: int

    @property
    def flash_need(self) -> int:
        return sum(n for _, n in self.flash_items)

    @property
    def sram_need(self) -> int:
        return sum(n for _, n in self.sram_items)

    @property
    def fits(self) -> bool:
        return (self.flash_need <= self.flash_budget and self.sram_need <= self.sram_budget
                and self.arena <= self.largest_ram_region)


def fit_report(board: Board, compiled: CompiledModel, plan: AppPlan, targets: Targets
               ) -> FitReport:
    """The board's own build: its port's capture buffers, and the replay data if it plays it."""
    tables = sum(int(np.asarray(t.values).nbytes) for t in plan.frontend.c_tables())
    flash = [("model constants", compiled.const_bytes), ("front-end tables", tables),
             ("code (estimate)", CODE_BYTES[plan.kind])]
    if not board.is_emulated:
        flash.append(("framework (estimate)", FRAMEWORK_FLASH_BYTES))
    if targets.board_replays:
        flash.append(("replay data", plan.replay.nbytes))
    sram = [("arena", compiled.arena_bytes), *plan.buffers]
    if targets.port_ram_bytes:
        sram.append(("capture buffers (port)", targets.port_ram_bytes))
    sram += [("stack reserve", board.memory.stack_bytes), ("runtime data", RUNTIME_RAM_BYTES)]
    if not board.is_emulated:
        sram.append(("framework (estimate)", FRAMEWORK_RAM_BYTES))
    regions = board.memory.ram_regions
    return FitReport(board.name, board.memory.usable_flash, tuple(flash), board.memory.usable_sram,
                     tuple(sram), max(r.length for r in regions), compiled.arena_bytes)


def check_fit(report: FitReport, model: str) -> None:
    """Raise :class:`FitError` with the numbers and what to try when ``report`` does not fit."""
    if report.fits:
        return
    problems = []
    if report.sram_need > report.sram_budget:
        problems.append(f"SRAM needs {report.sram_need:,} B ({_items(report.sram_items)}) but "
                        f"{report.board} has {report.sram_budget:,} B")
    elif report.arena > report.largest_ram_region:
        problems.append(f"the {report.arena:,} B arena is one array but the largest RAM region "
                        f"of {report.board} is {report.largest_ram_region:,} B")
    if report.flash_need > report.flash_budget:
        problems.append(f"flash needs {report.flash_need:,} B ({_items(report.flash_items)}) but "
                        f"{report.board} has {report.flash_budget:,} B")
    raise FitError(f"{model} does not fit {report.board}: " + "; ".join(problems), _hint(report))


def _items(items: tuple[tuple[str, int], ...]) -> str:
    return " + ".join(f"{name} {n:,}" for name, n in items)


def _hint(report: FitReport) -> str:
    others = report.sram_need - report.arena
    room = min(report.sram_budget - others, report.largest_ram_region)
    tips = []
    if report.sram_need > report.sram_budget or report.arena > report.largest_ram_region:
        if room > 0:
            tips.append(f"shrink the arena to the {room:,} B left: `mcuforge prune MODEL.keras "
                        f"--data DATA --sram-budget {room}`")
        else:
            tips.append(f"the {others:,} B besides the arena already exceed the board's SRAM: "
                        "use a smaller camera frame or audio window (--app-config frontend)")
    sram_short = report.sram_need > report.sram_budget or report.arena > report.largest_ram_region
    if sram_short:
        tips.append("use a smaller model input (fewer frames, a smaller image or window)")
    if report.flash_need > report.flash_budget:
        tips.append("shrink the weights: fewer channels (`mcuforge prune`) or a smaller model")
    bigger = [b.name for b in list_boards() if b.memory.usable_sram >= report.sram_need
              and b.memory.usable_flash >= report.flash_need and b.name != report.board]
    if bigger:
        tips.append(f"or another board: {', '.join(bigger)}")
    else:
        need = [f"{format_size(report.sram_need)} SRAM"] if sram_short else []
        if report.flash_need > report.flash_budget:
            need.append(f"{format_size(report.flash_need)} flash")
        tips.append("or a board with more memory (" + " and ".join(need) + ")")
    return "; ".join(tips)
