"""Views of a pruning run: a table of the steps, a JSON record and a plot of accuracy against SRAM."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from generator.prune.loop import PruneResult, StepRecord

COLUMNS = ("step", "channels removed", "SRAM B", "flash B", "MACs", "acc fp32", "acc int8")


def removed_text(rec: StepRecord) -> str:
    if not rec.removed:
        return f"({rec.note})" if rec.note else ("-" if rec.step else "(unpruned)")
    return ", ".join(f"{r.group} {r.before}->{r.after}" for r in rec.removed)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def step_row(rec: StepRecord) -> tuple[str, ...]:
    sram = f"{rec.arena:,}" if rec.peak == rec.arena else f"{rec.arena:,} (peak {rec.peak:,})"
    return (str(rec.step), removed_text(rec), sram, f"{rec.flash:,}", f"{rec.macs:,}",
            _pct(rec.float_acc), _pct(rec.int8_acc))


def prune_json(result: PruneResult, model_out: str = "") -> str:
    first, last = result.steps[0], result.steps[-1]
    doc: dict[str, Any] = {
        "budget_bytes": result.budget,
        "met": result.met,
        "measure": "arena of the partial-execution plan (the SRAM the generated C declares)",
        "importance": "L1 norm of each filter after folding the following batch norm's scale",
        "model_out": model_out,
        "data": {
            "source": result.split.source,
            "classes": list(result.split.classes),
            "train": len(result.split.train_y),
            "validation": len(result.split.val_y),
            "val_share": result.split.val_share,
            "seed": result.split.seed,
            "describe": result.split.describe(),
        },
        "options": asdict(result.options),
        "summary": {
            "arena_before_bytes": first.arena, "arena_after_bytes": last.arena,
            "peak_before_bytes": first.peak, "peak_after_bytes": last.peak,
            "val_accuracy_float_before": first.float_acc, "val_accuracy_float_after": last.float_acc,
            "val_accuracy_int8_before": first.int8_acc, "val_accuracy_int8_after": last.int8_acc,
        },
        "steps": [rec.as_dict() for rec in result.steps],
    }
    return json.dumps(doc, indent=2) + "\n"


def plot_accuracy(result: PruneResult, path: Path, title: str) -> None:
    """Validation accuracy (float and int8) against the planned arena, one point per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = result.steps
    kb = [rec.arena / 1024 for rec in steps]
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    ax.plot(kb, [100 * rec.float_acc for rec in steps], "o-", label="float")
    int8 = [(k, rec.int8_acc) for k, rec in zip(kb, steps, strict=True) if rec.int8_acc is not None]
    if int8:
        ax.plot([k for k, _ in int8], [100 * a for _, a in int8], "s--", label="int8")
    for k, rec in zip(kb, steps, strict=True):
        ax.annotate(str(rec.step), (k, 100 * rec.float_acc), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    accs = [100 * rec.float_acc for rec in steps] + [100 * a for _, a in int8 if a is not None]
    ax.set_ylim(max(0.0, min(accs) - 5.0), 101.0)
    ax.axvline(result.budget / 1024, color="#c44", linestyle=":", label="budget")
    ax.invert_xaxis()
    ax.set_xlabel("planned SRAM arena (KB), pruning steps go right")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
