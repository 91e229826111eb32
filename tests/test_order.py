"""Operator order search on branching graphs."""

from __future__ import annotations

import numpy as np
import pytest

from generator.ir import OpKind
from generator.plan.order import greedy_order, orders, reordered
from generator.plan.pex import build_program
from tests.support.irgraphs import GraphBuilder

pytestmark = pytest.mark.unit


def badly_ordered_branches():  # type: ignore[no-untyped-def]
    """Two branches from one input, emitted so that the big tensor of one branch is held while the
    other branch runs: A1 (big), B1 (big), B2, A2, add."""
    b = GraphBuilder(np.random.default_rng(0))
    x = b.act((1, 8, 8, 4), "input")
    a1 = b.conv(x, 32)
    b1 = b.conv(x, 32)
    b2 = b.pool(b.conv(b1, 4), OpKind.MAX_POOL_2D)
    a2 = b.pool(b.conv(a1, 4), OpKind.MAX_POOL_2D)
    return b.graph((x,), (b.add(a2, b2),))


def test_greedy_order_is_topological_and_lowers_the_peak() -> None:
    g = badly_ordered_branches()
    order = greedy_order(g)
    assert sorted(order) == list(range(len(g.ops)))
    position = {op: k for k, op in enumerate(order)}
    for i, op in enumerate(g.ops):
        for t in op.inputs:
            p = g.producer(t)
            if p is not None:
                assert position[p] < position[i]
    better = reordered(g, order)
    assert build_program(better).peak < build_program(g).peak


def test_orders_offers_the_graph_itself_first() -> None:
    g = badly_ordered_branches()
    candidates = orders(g)
    assert candidates[0] is g and len(candidates) == 2
