"""Which channels to remove in one step: candidate cuts at the peak, judged by re-planning their shapes.

Candidates are cuts of the groups live at the planner's peak: each such group alone by an eighth, a
quarter or half of its channels, and all of them together by the share that would remove the excess
over the budget from the peak (:func:`removal_counts`); and every prunable group by the same shares
(a width multiplier), for plans where narrowing one layer alone cannot help: a 1x1 convolution runs
in place only while its output is no wider than its input, so cutting only its input can raise the
peak. Each candidate's plan is computed on the resized IR (:mod:`generator.prune.whatif`); the pick
is the cheapest cut (least share of channels removed) that fits the budget, else the cut that lowers
the arena most per share of channels removed; groups whose part of the chosen cut does not lower the
planned arena are then left out of it. A step repeats this a few times on the resized IR (``cuts_per_step``) before any fine-tuning, and never
takes more than ``max_fraction`` of a group's channels in one step (but always allows one), nor
goes below its floor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from generator.ir import Graph
from generator.plan.arena import best_layout
from generator.plan.pex import Program, search_splits
from generator.prune.irmap import IrChannels, PeakShare, peak_share
from generator.prune.whatif import resized_graph

FRACTIONS = (0.125, 0.25, 0.5)


@dataclass(frozen=True)
class PolicyOptions:
    max_fraction: float = 0.25      # at most this share of a group's channels goes in one step
    min_keep: float = 0.125         # a group keeps at least this share of its original channels
    min_channels: int = 1
    overshoot: float = 1.15         # the uniform cut aims this much past the excess
    cuts_per_step: int = 3


@dataclass(frozen=True, eq=False)
class Cut:
    counts: dict[int, int]          # group -> channels removed
    cost: float                     # sum over groups of the share of their channels removed
    program: Program
    arena: int


def min_width(original: int, opts: PolicyOptions) -> int:
    return min(original, max(opts.min_channels, math.ceil(opts.min_keep * original)))


def removal_counts(share: PeakShare, excess: int, sizes: Mapping[int, int],
                   floors: Mapping[int, int], opts: PolicyOptions) -> dict[int, int]:
    """One share of channels off every group live at the peak, aimed at ``excess`` bytes."""
    fraction = 0.0
    live: set[int] = set()
    for by_group in share.by_group:
        room = {g: b for g, b in by_group.items() if sizes[g] > floors[g] and b > 0}
        live |= set(room)
        total = sum(room.values())
        if total:
            fraction = max(fraction, excess * opts.overshoot / total)
    fraction = min(fraction, opts.max_fraction)
    return {g: min(max(1, math.ceil(fraction * sizes[g])), sizes[g] - floors[g]) for g in sorted(live)}


def candidate_cuts(share: PeakShare, excess: int, sizes: Mapping[int, int],
                   floors: Mapping[int, int], opts: PolicyOptions) -> list[dict[int, int]]:
    out: list[dict[int, int]] = []
    uniform = removal_counts(share, excess, sizes, floors, opts)
    if uniform:
        out.append(uniform)
    live = sorted({g for by in share.by_group for g, b in by.items() if b > 0 and sizes[g] > floors[g]})
    every = sorted(g for g in floors if sizes[g] > floors[g])
    fractions = [f for f in FRACTIONS if f <= opts.max_fraction + 1e-9]
    for groups in [[g] for g in live] + [every]:
        for f in fractions:
            cut = {g: min(max(1, math.ceil(f * sizes[g])), sizes[g] - floors[g]) for g in groups}
            if cut and cut not in out:
                out.append(cut)
    return out


def plan_of(g: Graph) -> tuple[Program, int]:
    program = search_splits(g).program
    return program, best_layout(list(program.buffers)).size


def best_cut(g: Graph, irc: IrChannels, cuts: list[dict[int, int]], sizes: Mapping[int, int],
             budget: int, arena: int) -> Cut | None:
    """The cheapest cut that fits, else the one lowering the arena most per share removed."""
    judged = [judge(g, irc, counts, sizes) for counts in cuts]
    fitting = [c for c in judged if c.arena <= budget]
    if fitting:
        return trimmed(g, irc, min(fitting, key=lambda c: (c.cost, c.arena)), sizes)
    gaining = [c for c in judged if c.arena < arena]
    if gaining:
        return trimmed(g, irc, max(gaining, key=lambda c: ((arena - c.arena) / c.cost, -c.arena)),
                       sizes)
    return None


def judge(g: Graph, irc: IrChannels, counts: dict[int, int], sizes: Mapping[int, int]) -> Cut:
    new = {k: sizes[k] - n for k, n in counts.items()}
    program, size = plan_of(resized_graph(g, irc, {**sizes, **new}))
    return Cut(counts, sum(n / sizes[k] for k, n in counts.items()), program, size)


def trimmed(g: Graph, irc: IrChannels, cut: Cut, sizes: Mapping[int, int]) -> Cut:
    """``cut`` without the groups whose part of it does not lower the planned arena."""
    for k in sorted(cut.counts, key=lambda k: -cut.counts[k] / sizes[k]):
        if len(cut.counts) == 1:
            break
        rest = {j: n for j, n in cut.counts.items() if j != k}
        smaller = judge(g, irc, rest, sizes)
        if smaller.arena <= cut.arena:
            cut = smaller
    return cut


def plan_step(g: Graph, irc: IrChannels, program: Program, arena: int, sizes: Mapping[int, int],
              floors: Mapping[int, int], prunable: set[int], budget: int,
              opts: PolicyOptions) -> tuple[dict[int, int], int]:
    """Channels to remove from each group in this step, and the arena the re-plan predicts.

    Returns no cut when nothing at the peak can be cut or no cut lowers the arena.
    """
    start = dict(sizes)
    now = dict(sizes)
    step_floor = {k: max(floors[k], start[k] - max(1, math.floor(opts.max_fraction * start[k])))
                  for k in prunable}
    total: dict[int, int] = {}
    for _ in range(max(1, opts.cuts_per_step)):
        if arena <= budget:
            break
        share = peak_share(program, replace(irc, sizes={**irc.sizes, **now}), prunable)
        cuts = candidate_cuts(share, arena - budget, now, step_floor, opts)
        cut = best_cut(g, irc, cuts, now, budget, arena)
        if cut is None:
            break
        for k, n in cut.counts.items():
            total[k] = total.get(k, 0) + n
            now[k] -= n
        program, arena = cut.program, cut.arena
    return total, arena
