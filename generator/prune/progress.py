"""Rich progress for the pruning loop: a status line per phase and a bar per fine-tuning run."""

from __future__ import annotations

from typing import Any

import keras
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from generator.prune.loop import StepRecord
from generator.prune.report import removed_text


class RichFitProgress(keras.callbacks.Callback):  # type: ignore[misc]
    """Drives one rich progress bar through a ``model.fit`` run: batches of all epochs, and the loss."""

    def __init__(self, progress: Progress, step: int, epochs: int, batches: int) -> None:
        super().__init__()
        self.progress = progress
        self.label = f"step {step} fine-tuning"
        self.epochs = epochs
        self.task = progress.add_task(self.label, total=epochs * batches, loss="")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.progress.update(self.task, description=f"{self.label} (epoch {epoch + 1}/{self.epochs})")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        self.progress.update(self.task, advance=1,
                             loss=f"loss {float(loss):.3f}" if loss is not None else "")

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        total = self.progress.tasks[self.task].total
        self.progress.update(self.task, completed=total, description=self.label)


def make_progress(console: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(),
                    MofNCompleteColumn(), TextColumn("{task.fields[loss]}", markup=False),
                    TimeElapsedColumn(),
                    console=console, transient=False)


class RichObserver:
    """Shows the loop's phases in a status task and each step's figures as a line."""

    def __init__(self, progress: Progress, budget: int) -> None:
        self.progress = progress
        self.budget = budget
        self.phase = progress.add_task("starting", total=None, loss="")

    def status(self, text: str) -> None:
        self.progress.update(self.phase, description=text)

    def step(self, record: StepRecord) -> None:
        fits = "[green]fits[/]" if record.arena <= self.budget else "[yellow]over budget[/]"
        int8 = "-" if record.int8_acc is None else f"{100 * record.int8_acc:.1f}%"
        self.progress.console.print(
            f"step {record.step}: {escape(removed_text(record))}; arena {record.arena:,} B ({fits}), "
            f"accuracy {100 * record.float_acc:.1f}% float / {int8} int8", highlight=False)

    def fit_callbacks(self, step: int, epochs: int, batches: int) -> list[Any]:
        return [RichFitProgress(self.progress, step, epochs, batches)]

    def close(self) -> None:
        self.progress.remove_task(self.phase)
