"""``mcuforge prune``: prune a Keras model until its planned SRAM peak fits a budget."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def prune_cmd(
    model: Annotated[Path, typer.Argument(help="Keras functional model (.keras, .h5)")],
    data: Annotated[Path, typer.Option("--data", help="Class folders of WAVs/images/.npy, or .npz "
                                                      "with arrays x and y")],
    sram_budget: Annotated[str, typer.Option("--sram-budget", help="SRAM for the activation arena, "
                                                                   "e.g. 64KB (KB = 1024)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Pruned model (.keras)")] = Path(
        "pruned.keras"),
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs after each pruning step")] = 2,
    max_steps: Annotated[int, typer.Option(help="Give up after this many pruning steps")] = 12,
    val_split: Annotated[float, typer.Option(help="Share of each class held out for validation")] = 0.2,
) -> None:
    """Prune whole channels where the planned SRAM peak is set, fine-tune, repeat until it fits."""
    raise typer.Exit(1)
