"""Views of a memory plan: per-operator memory, the chosen splits, a JSON record and a lifetime plot."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.ir import Graph
from generator.plan.arena import Buffer, Layout
from generator.plan.pex import Program, StepKind, base_channels, is_consumer


@dataclass(frozen=True)
class PlanFigures:
    """The headline numbers of a plan, in bytes."""

    unsplit_peak: int
    unsplit_arena: int
    peak: int
    arena: int
    lower_bound: int

    @property
    def reduction(self) -> float:
        return self.unsplit_arena / self.arena if self.arena else 1.0

    @property
    def over_bound(self) -> float:
        return self.arena / self.lower_bound if self.lower_bound else 1.0


def op_memory(program: Program) -> list[dict[str, Any]]:
    """Per operator: the largest live total over its steps, and how it ran."""
    live = program.step_live()
    g = program.graph
    rows: dict[int, dict[str, Any]] = {}
    for i, step in enumerate(program.steps):
        row = rows.setdefault(step.op, {
            "op": step.op, "kind": g.ops[step.op].kind.value, "name": g.ops[step.op].name,
            "live_bytes": 0, "mode": "full", "slices": 1,
        })
        row["live_bytes"] = max(row["live_bytes"], live[i])
        if step.kind is not StepKind.FULL:
            split = program.splits[step.split]
            row["mode"] = "split"
            row["slices"] = split.slices
    return [rows[k] for k in sorted(rows)]


def splits_table(program: Program) -> list[dict[str, Any]]:
    g = program.graph
    return [
        {
            "ops": [f"{g.ops[i].kind.value} {g.ops[i].name}" for i in s.chain.ops],
            "first_op": s.chain.start,
            "last_op": s.chain.end,
            "slices": s.slices,
            "channels": base_channels(g, s.chain),
            "end": "accumulate" if is_consumer(g, s.chain) else "write slices",
        }
        for s in program.splits
    ]


def plan_json(graph: Graph, program: Program, figures: PlanFigures, layout: Layout,
              buffers: tuple[Buffer, ...]) -> str:
    doc = {
        "model": graph.name,
        "figures": {
            "unsplit_peak_bytes": figures.unsplit_peak,
            "unsplit_arena_bytes": figures.unsplit_arena,
            "peak_bytes": figures.peak,
            "arena_bytes": figures.arena,
            "lower_bound_bytes": figures.lower_bound,
            "reduction": round(figures.reduction, 3),
            "arena_over_bound": round(figures.over_bound, 3),
        },
        "splits": splits_table(program),
        "operators": op_memory(program),
        "buffers": [
            {"name": b.name, "bytes": b.size, "offset": layout.offsets[b.name],
             "first_step": b.first, "last_step": b.last}
            for b in buffers
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def plot_lifetimes(buffers: tuple[Buffer, ...], layout: Layout, path: Path, title: str,
                   steps: int) -> None:
    """Buffers as rectangles: x = schedule step, y = arena offset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=110)
    cmap = plt.get_cmap("tab20")
    for n, b in enumerate(buffers):
        off = layout.offsets[b.name]
        color = "#c44" if b.name.startswith("acc") else (
            "#48c" if b.name.endswith("_slice") else cmap(n % 20))
        ax.add_patch(Rectangle((b.first, off), b.last - b.first + 1, b.size,
                               facecolor=color, edgecolor="black", linewidth=0.3, alpha=0.85))
    ax.set_xlim(0, max(steps, 1))
    ax.set_ylim(0, max(layout.size, 1) * 1.05)
    ax.axhline(layout.size, color="black", linestyle="--", linewidth=0.8)
    ax.text(0.5, layout.size, f" arena {layout.size:,} B", va="bottom", fontsize=8)
    ax.set_xlabel("schedule step")
    ax.set_ylabel("arena offset (bytes)")
    ax.set_title(title + "   (red: int32 accumulators, blue: channel-slice buffers)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
