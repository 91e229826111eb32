"""The arena planners: layouts never overlap live buffers and never exceed the naive layout."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.plan.arena import (
    Buffer,
    Layout,
    best_layout,
    check_layout,
    greedy_by_first_use,
    greedy_by_size,
    naive_layout,
    peak_live,
)

pytestmark = pytest.mark.unit


@st.composite
def buffer_sets(draw: st.DrawFn) -> list[Buffer]:
    n = draw(st.integers(1, 25))
    out = []
    for i in range(n):
        first = draw(st.integers(0, 30))
        last = draw(st.integers(first, first + 10))
        out.append(Buffer(f"b{i}", draw(st.integers(0, 5000)), first, last))
    return out


@settings(max_examples=300, deadline=None)
@given(buffer_sets())
def test_layouts_are_valid_and_no_worse_than_naive(buffers: list[Buffer]) -> None:
    naive = naive_layout(buffers)
    assert check_layout(buffers, naive) == []
    for planner in (greedy_by_size, greedy_by_first_use, best_layout):
        layout = planner(buffers)
        assert check_layout(buffers, layout) == [], planner.__name__
        assert layout.size <= naive.size
        assert layout.size >= peak_live(buffers)


def test_checker_finds_an_overlap() -> None:
    a, b = Buffer("a", 100, 0, 2), Buffer("b", 100, 1, 3)
    bad = Layout({"a": 0, "b": 52}, 152)
    assert check_layout([a, b], bad) == ["a [0, 100) overlaps b [52, 152)"]


def test_buffers_dead_at_different_times_share_memory() -> None:
    bufs = [Buffer("x", 1000, 0, 1), Buffer("y", 1000, 1, 2), Buffer("z", 1000, 2, 3)]
    layout = greedy_by_size(bufs)
    assert layout.size == 2000
    assert layout.offsets["x"] == layout.offsets["z"]


def test_peak_live_counts_the_busiest_step() -> None:
    bufs = [Buffer("x", 10, 0, 1), Buffer("y", 20, 1, 2), Buffer("z", 40, 3, 3)]
    assert peak_live(bufs) == 40
    assert peak_live(bufs[:2]) == 30
