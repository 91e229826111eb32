"""The planner's choices for the fast CONV_2D kernels: column scratch only where the arena has room
for it, and the cost-aware refinement of a plan never paying for fewer instructions in memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.codegen.conv_fast import cols_buffer
from generator.codegen.lower_split import lower_program
from generator.plan.arena import best_layout
from generator.plan.cost import BASE_TERMS, DSP, HELIUM, MODELS, TERMS, for_core
from generator.plan.pex import (
    Program,
    Split,
    _without_cols,
    build_program,
    candidate_chains,
    grant_in_layout,
    kernel_cost,
    overhead_cost,
    refine,
    search_splits,
)
from tests.support.irgraphs import dw_pw_net, inverted_residual_net

pytestmark = pytest.mark.unit

nets = st.one_of(
    st.builds(inverted_residual_net, st.integers(0, 10_000), st.integers(1, 3), st.sampled_from([8, 12]),
              st.sampled_from([4, 8]), st.sampled_from([2, 4, 6]), st.booleans()),
    st.builds(dw_pw_net, st.integers(0, 10_000), st.sampled_from([8, 10]), st.sampled_from([4, 6]),
              st.sampled_from([1, 2])),
)


def _arena(p: Program) -> int:
    return best_layout(list(p.buffers)).size


def _some_program(g, data: st.DataObject) -> Program:  # type: ignore[no-untyped-def]
    chosen: list[Split] = []
    for c in data.draw(st.permutations(candidate_chains(g))):
        if not any(c.overlaps(s.chain) for s in chosen) and data.draw(st.booleans()):
            chosen.append(Split(c, data.draw(st.sampled_from([2, 3, 4]))))
    return build_program(g, sorted(chosen, key=lambda s: s.chain.start))


@settings(max_examples=40, deadline=None)
@given(nets, st.data())
def test_column_scratch_never_raises_peak_or_arena(g, data) -> None:  # type: ignore[no-untyped-def]
    p = _some_program(g, data)
    bare = _without_cols(p)
    assert p.peak == bare.peak
    assert _arena(p) <= _arena(bare)
    more = grant_in_layout(p)
    assert p.cols <= more.cols
    assert _arena(more) <= _arena(p)


@settings(max_examples=40, deadline=None)
@given(nets, st.data())
def test_refine_is_cheaper_at_the_same_memory(g, data) -> None:  # type: ignore[no-untyped-def]
    p = _some_program(g, data)
    r = refine(g, p)
    assert r.peak <= p.peak
    assert _arena(r) <= _arena(p)
    assert overhead_cost(r) + kernel_cost(r) <= overhead_cost(p) + kernel_cost(p)


@settings(max_examples=30, deadline=None)
@given(nets)
def test_lowering_uses_scratch_only_where_granted(g) -> None:  # type: ignore[no-untyped-def]
    """The generated code's buffers are the planner's: a cols buffer exactly for granted ops."""
    p = search_splits(g).program
    schedule = lower_program(p)
    cols = {name for name in schedule.buffers if name.startswith("cols")}
    assert cols == {cols_buffer(i) for i in p.cols}
    assert best_layout(list(schedule.lifetimes())).size == _arena(p)


@settings(max_examples=30, deadline=None)
@given(nets, st.sampled_from(sorted(MODELS)), st.sampled_from([0.0, 0.02, 0.1]))
def test_search_stays_within_its_budget_on_each_core(g, name: str, budget: float) -> None:  # type: ignore[no-untyped-def]
    """The chosen plan's estimated extra instructions on the core (slices, in-place operators and
    the kernels the plan leaves without columns) stay within the budget of whole-tensor work."""
    result = search_splits(g, budget=budget, model=MODELS[name])
    assert result.overhead <= budget + 1e-12
    assert result.program.peak <= result.unsplit.peak


def test_cost_model_per_core() -> None:
    assert for_core(mve=True) is HELIUM and for_core(mve=False) is DSP
    for m in MODELS.values():
        assert set(m.per_term) == set(TERMS) and set(m.base) == set(BASE_TERMS)
        assert all(v >= 0 for v in m.per_term.values()) and all(v > 0 for v in m.base.values())
