"""``mcuforge prune``: prune a Keras model until its planned SRAM arena fits a budget.

Writes the pruned model (``-o``, a ``.keras``) and beside it ``<stem>.tflite`` (int8, quantised with
the same data), ``<stem>.prune.json`` (every step) and ``<stem>.prune.png`` (accuracy against SRAM).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from generator.errors import FitError, InputError, McuforgeError, OutputError

if TYPE_CHECKING:
    from rich.console import Console

    from generator.data import DataOptions
    from generator.prune.loop import PruneOptions, PruneResult


def parse_budget(text: str) -> int:
    """``"64KB"`` -> 65536 (KB = 1024), as board files write sizes."""
    from pydantic_core import PydanticCustomError

    from generator.boards import parse_size

    try:
        value = parse_size(text.strip())
    except PydanticCustomError as exc:
        raise typer.BadParameter(str(exc)) from None
    if not isinstance(value, int) or value <= 0:
        raise typer.BadParameter(f"'{text}' is not a positive size")
    return value


def output_paths(out: Path) -> dict[str, Path]:
    stem = out.with_suffix("")
    return {"model": out, "tflite": stem.with_suffix(".tflite"),
            "json": Path(f"{stem}.prune.json"), "png": Path(f"{stem}.prune.png")}


def prune_cmd(
    model: Annotated[Path, typer.Argument(help="Keras functional model (.keras, .h5)")],
    data: Annotated[Path, typer.Option("--data", help="Class folders of WAVs/images/.npy, or .npz "
                                                      "with arrays x and y")],
    sram_budget: Annotated[str, typer.Option("--sram-budget", help="SRAM for the activation arena, "
                                                                   "e.g. 64KB (KB = 1024)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Pruned model (.keras); the .tflite, "
                                                          ".prune.json and .prune.png go beside it")]
    = Path("pruned.keras"),
    epochs: Annotated[int, typer.Option(min=0, help="Fine-tuning epochs after each pruning step")] = 2,
    final_epochs: Annotated[int, typer.Option(min=0, help="Fine-tuning epochs once the budget is "
                                                        "met")] = 4,
    max_steps: Annotated[int, typer.Option(min=1, help="Give up after this many pruning steps")] = 12,
    val_split: Annotated[float, typer.Option(help="Share of each class held out for validation")] = 0.2,
    min_keep: Annotated[float, typer.Option(min=0.0, max=1.0, help="Never narrow a layer below "
                                                                  "this share of its channels")]
    = 0.125,
    max_fraction: Annotated[float, typer.Option(min=0.01, max=1.0, help="Most of a layer's "
                                                "channels removed in one step")] = 0.25,
    learning_rate: Annotated[float, typer.Option(help="Adam learning rate of fine-tuning")] = 1e-3,
    image_scale: Annotated[str, typer.Option(help="Image pixels to inputs: unit (/255), symmetric "
                                                  "(/127.5 - 1) or raw")] = "unit",
    labels: Annotated[str | None, typer.Option(help="Class folders in the model's output order: a "
                                               "comma list, or a file with one per line (default: "
                                               "folder names sorted)")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split, calibration subset and training")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace existing output files")] = False,
) -> None:
    """Prune whole channels where the planned SRAM peak is set, fine-tune, repeat until it fits."""
    from rich.markup import escape

    from generator.console import console, err_console, fail
    from generator.data import DataOptions
    from generator.prune.loop import PruneOptions

    budget = parse_budget(sram_budget)
    if image_scale not in ("unit", "symmetric", "raw"):
        raise typer.BadParameter("use unit, symmetric or raw", param_hint="--image-scale")
    paths = output_paths(out)
    try:
        _check_outputs(paths, force, _inputs(model, data, labels))
        opts = PruneOptions(epochs=epochs, final_epochs=final_epochs, max_steps=max_steps,
                            min_keep=min_keep, max_fraction=max_fraction,
                            learning_rate=learning_rate, seed=seed)
        data_opts = DataOptions(image_scale=image_scale,  # type: ignore[arg-type]  # checked above
                                classes=parse_labels(labels))
        result = _run(model, data, budget, opts, val_split, data_opts)
        _write(result, paths, model, _inputs(model, data, labels))
    except McuforgeError as exc:
        raise fail(exc) from None
    _print(result, paths, console)
    if not result.met:
        last = result.steps[-1]
        err_console.print(f"[yellow]note:[/] the model saved to {escape(str(out))} does not fit",
                          highlight=False)
        raise fail(FitError(f"after {len(result.steps) - 1} pruning steps the planned arena is "
                            f"{last.arena:,} B, still above the budget of {budget:,} B",
                            "allow more steps (--max-steps), lower --min-keep, or raise the budget"))


def _inputs(model: Path, data: Path, labels: str | None) -> list[Path]:
    """The files the command reads: no output may replace one."""
    given = [model, data]
    if labels and "\0" not in labels and os.path.lexists(labels):
        given.append(Path(labels))
    return given


def _check_outputs(paths: dict[str, Path], force: bool, inputs: list[Path]) -> None:
    from generator.output import check_files

    if paths["model"].suffix != ".keras":
        raise InputError(f"{paths['model']}: the pruned model is saved as .keras",
                         "give -o NAME.keras")
    check_files(paths.values(), inputs)
    existing = [str(p) for p in paths.values() if os.path.lexists(p)]
    if existing and not force:
        raise OutputError(f"{', '.join(existing)} already exist(s)", "pass --force to replace")


def parse_labels(text: str | None) -> tuple[str, ...] | None:
    """A comma list of labels, or a file with one label per line, checked as ``generate`` checks
    them (:func:`generator.project.options.parse_labels`)."""
    from generator.project.options import parse_labels as parse_label_list

    if text is None:
        return None
    names = parse_label_list(text, "--labels")
    if len(names) < 2:
        raise InputError(f"labels '{text}': need at least two distinct labels",
                         "give e.g. --labels silence,unknown,yes,no or a labels.txt")
    return tuple(names)


def _run(model: Path, data: Path, budget: int, opts: PruneOptions, val_split: float,
         data_opts: DataOptions) -> PruneResult:
    from generator.console import console
    from generator.data import load_dataset, split_dataset
    from generator.importer.keras_import import load_keras_model
    from generator.prune.loop import prune_to_budget
    from generator.prune.progress import RichObserver, make_progress

    with console.status("loading the model and the data"):
        keras_model = load_keras_model(model)
        if not hasattr(keras_model, "inputs") or not keras_model.inputs:
            raise InputError(f"{model}: not a Keras functional model",
                             "give a model saved with model.save('model.keras')")
        shape = tuple(int(d) for d in keras_model.inputs[0].shape[1:])
        split = split_dataset(load_dataset(data, shape, data_opts), val_split, opts.seed)
    console.print(split.describe(), highlight=False, markup=False)
    with make_progress(console) as progress:
        observer = RichObserver(progress, budget)
        try:
            return prune_to_budget(keras_model, split, budget, opts, observer)
        finally:
            observer.close()


def _write(result: PruneResult, paths: dict[str, Path], source: Path, inputs: list[Path]) -> None:
    from generator.output import content, plot_text, write_files
    from generator.prune.report import plot_accuracy, prune_json

    title = plot_text(f"{source.name}: accuracy vs planned SRAM (budget {result.budget:,} B)")
    doc = prune_json(result, str(paths["model"]))
    write_files({
        paths["model"]: lambda p: result.model.save(str(p)),
        paths["tflite"]: content(result.tflite),
        paths["json"]: content(doc),
        paths["png"]: lambda p: plot_accuracy(result, p, title),
    }, inputs=inputs)


def _print(result: PruneResult, paths: dict[str, Path], console: Console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from generator.prune.report import COLUMNS, step_row

    t = Table(title=f"pruning steps: SRAM = planned arena (budget {result.budget:,} B), flash = "
                    "constants, accuracy on the validation split")
    for col in COLUMNS:
        if col == "channels removed":
            t.add_column(col, overflow="fold", ratio=1, min_width=12)
        else:
            t.add_column(col, justify="right")
    for rec in result.steps:
        t.add_row(*(escape(cell) for cell in step_row(rec)))
    console.print(t)
    console.print("channel importance: L1 norm of each filter after folding the batch norm that "
                  "follows; int8 accuracy on the TFLite reference kernels", highlight=False)
    console.print(f"[green]wrote[/] {escape(', '.join(str(p) for p in paths.values()))}")
