"""Arena layout of buffers with lifetimes.

A :class:`Buffer` lives from the first to the last step (inclusive) of the schedule that touches it.
Planners map buffers to byte offsets in one arena; :func:`check_layout` verifies that no two buffers
alive at the same step overlap. :func:`naive_layout` (every buffer its own region) is the trivially
correct baseline the real planners are tested against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

ALIGN = 4


def align_up(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


@dataclass(frozen=True)
class Buffer:
    name: str
    size: int
    first: int
    last: int

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class Layout:
    offsets: Mapping[str, int]
    size: int


def lifetimes(step_uses: Sequence[Iterable[str]], sizes: Mapping[str, int],
              pinned_first: Iterable[str] = (), pinned_last: Iterable[str] = ()) -> list[Buffer]:
    """Each buffer alive from the first to the last step that uses it; ``pinned_first`` buffers
    (model inputs) live from step 0, ``pinned_last`` ones (model outputs) to the last step."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    n_steps = 0
    for i, uses in enumerate(step_uses):
        n_steps = i + 1
        for b in uses:
            first.setdefault(b, i)
            last[b] = i
    end = max(n_steps - 1, 0)
    for b in pinned_first:
        first[b] = 0
        last.setdefault(b, 0)
    for b in pinned_last:
        first.setdefault(b, end)
        last[b] = end
    return [Buffer(n, sizes[n], first[n], last[n]) for n in sizes if n in first]


def naive_layout(buffers: Sequence[Buffer]) -> Layout:
    offsets: dict[str, int] = {}
    top = 0
    for b in buffers:
        offsets[b.name] = top
        top += align_up(b.size)
    return Layout(offsets, top)


def greedy_by_size(buffers: Sequence[Buffer]) -> Layout:
    """Place buffers largest first, each at the lowest offset free for its whole lifetime."""
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[str, int] = {}
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.name))
    for b in order:
        offsets[b.name] = _lowest_fit(b, placed)
        placed.append((b, offsets[b.name]))
    size = max((align_up(off + b.size) for b, off in placed), default=0)
    return Layout({b.name: offsets[b.name] for b in buffers}, size)


def greedy_by_first_use(buffers: Sequence[Buffer]) -> Layout:
    """Place buffers in order of first use (ties: larger first), each at the lowest free offset."""
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[str, int] = {}
    for b in sorted(buffers, key=lambda b: (b.first, -b.size, b.name)):
        offsets[b.name] = _lowest_fit(b, placed)
        placed.append((b, offsets[b.name]))
    size = max((align_up(off + b.size) for b, off in placed), default=0)
    return Layout({b.name: offsets[b.name] for b in buffers}, size)


def best_layout(buffers: Sequence[Buffer]) -> Layout:
    """The smaller of the greedy layouts."""
    return min((greedy_by_size(buffers), greedy_by_first_use(buffers)), key=lambda lay: lay.size)


def _lowest_fit(b: Buffer, placed: Iterable[tuple[Buffer, int]]) -> int:
    busy = sorted((off, off + o.size) for o, off in placed if o.overlaps_in_time(b))
    candidate = 0
    for start, end in busy:
        if candidate + b.size <= start:
            break
        candidate = max(candidate, align_up(end))
    return candidate


def check_layout(buffers: Sequence[Buffer], layout: Layout) -> list[str]:
    """Every pair of buffers alive at the same time and overlapping in memory, as messages."""
    problems: list[str] = []
    for i, a in enumerate(buffers):
        oa = layout.offsets[a.name]
        if oa % ALIGN or oa + a.size > layout.size:
            problems.append(f"{a.name} at {oa}+{a.size} is misaligned or outside the arena")
        for b in buffers[i + 1 :]:
            ob = layout.offsets[b.name]
            if a.overlaps_in_time(b) and oa < ob + b.size and ob < oa + a.size and a.size and b.size:
                problems.append(f"{a.name} [{oa}, {oa + a.size}) overlaps {b.name} [{ob}, {ob + b.size})")
    return problems


def peak_live(buffers: Sequence[Buffer]) -> int:
    """The largest total size of buffers alive at one step: a lower bound of any layout."""
    if not buffers:
        return 0
    steps = max(b.last for b in buffers) + 1
    live = [0] * (steps + 1)
    for b in buffers:
        live[b.first] += b.size
        live[b.last + 1] -= b.size
    peak = run = 0
    for d in live:
        run += d
        peak = max(peak, run)
    return peak


