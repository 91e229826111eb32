"""Operator order: where branches allow it, another topological order can lower the peak.

:func:`orders` proposes the graph's own order and a greedy memory-aware topological order (at each step
run, among the ready operators, the one that frees the most bytes net of what it allocates). The
planner searches splits for each and keeps the better plan.
"""

from __future__ import annotations

from dataclasses import replace

from generator.ir import ALIASES, Graph


def _net_bytes(g: Graph, i: int, remaining: dict[int, int]) -> int:
    op = g.ops[i]
    alloc = 0 if op.kind in ALIASES else sum(g.tensors[t].nbytes for t in op.outputs)
    freed = sum(
        g.tensors[t].nbytes
        for t in set(op.inputs)
        if t >= 0 and not g.tensors[t].is_const and remaining.get(t) == 1 and t not in g.outputs
    )
    return alloc - freed


def greedy_order(g: Graph) -> tuple[int, ...]:
    """A topological order of op indices that greedily keeps live memory low."""
    produced_by = {t: i for i, op in enumerate(g.ops) for t in op.outputs}
    needs = {
        i: {produced_by[t] for t in op.inputs if t in produced_by}
        for i, op in enumerate(g.ops)
    }
    remaining: dict[int, int] = {}
    for op in g.ops:
        for t in set(op.inputs):
            if t >= 0:
                remaining[t] = remaining.get(t, 0) + 1
    done: set[int] = set()
    order: list[int] = []
    while len(order) < len(g.ops):
        ready = [i for i in range(len(g.ops)) if i not in done and needs[i] <= done]
        best = min(ready, key=lambda i: (_net_bytes(g, i, remaining), i))
        order.append(best)
        done.add(best)
        for t in set(g.ops[best].inputs):
            if t >= 0:
                remaining[t] -= 1
    return tuple(order)


def reordered(g: Graph, order: tuple[int, ...]) -> Graph:
    return replace(g, ops=tuple(g.ops[i] for i in order))


def orders(g: Graph) -> list[Graph]:
    """The graph in its own order, and in the greedy order if that differs."""
    order = greedy_order(g)
    if order == tuple(range(len(g.ops))):
        return [g]
    return [g, reordered(g, order)]
