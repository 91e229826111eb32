"""The partial-execution planner on random graphs built directly in the IR."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.codegen.lower_split import lower_program
from generator.ir import OpKind
from generator.plan.arena import best_layout, check_layout, naive_layout
from generator.plan.pex import (
    Chain,
    Split,
    build_program,
    candidate_chains,
    inplace_form,
    lower_bound,
    search_splits,
    slice_ranges,
    valid_chain,
)
from tests.support.irgraphs import dw_pw_net, inverted_residual_net

pytestmark = pytest.mark.unit

nets = st.one_of(
    st.builds(inverted_residual_net, st.integers(0, 10_000), st.integers(1, 3), st.sampled_from([8, 12]),
              st.sampled_from([4, 8]), st.sampled_from([2, 4, 6]), st.booleans()),
    st.builds(dw_pw_net, st.integers(0, 10_000), st.sampled_from([8, 10]), st.sampled_from([4, 6]),
              st.sampled_from([1, 2])),
)


@settings(max_examples=60, deadline=None)
@given(nets, st.data())
def test_any_split_program_lays_out_without_overlap(g, data) -> None:  # type: ignore[no-untyped-def]
    chains = candidate_chains(g)
    chosen: list[Split] = []
    for c in data.draw(st.permutations(chains)):
        if not any(c.overlaps(s.chain) for s in chosen):
            chosen.append(Split(c, data.draw(st.sampled_from([1, 2, 3, 4, 16]))))
    chosen.sort(key=lambda s: s.chain.start)
    in_chains = {i for s in chosen for i in s.chain.ops}
    inplace = {
        i: data.draw(st.sampled_from([1, 2, 3, 8]))
        for i, op in enumerate(g.ops)
        if inplace_form(g, op) and i not in in_chains and data.draw(st.booleans())
    }
    program = build_program(g, chosen, inplace)
    buffers = list(program.buffers)
    layout = best_layout(buffers)
    assert check_layout(buffers, layout) == []
    assert layout.size >= program.peak - 4 * len(buffers)  # peak counts aligned sizes
    # the code generator allocates exactly the buffers the memory model counted
    schedule = lower_program(program)
    assert {n: s.nbytes for n, s in schedule.buffers.items()} == program.sizes


@settings(max_examples=40, deadline=None)
@given(nets)
def test_search_never_worse_than_unsplit_or_naive(g) -> None:  # type: ignore[no-untyped-def]
    result = search_splits(g)
    assert result.program.peak <= result.unsplit.peak
    buffers = list(result.program.buffers)
    assert best_layout(buffers).size <= naive_layout(buffers).size
    assert lower_bound(g) <= result.program.peak


def test_inverted_residual_block_is_split() -> None:
    # a tiny block: its slices cost several percent of its few instructions, so the planner gets a
    # larger budget than its default to show it finds the split
    g = inverted_residual_net(1, blocks=1, hw=16, c=8, expand=6, residual=True)
    result = search_splits(g, budget=0.2)
    assert result.program.splits, "the expand -> depthwise chain should be split"
    assert result.program.peak < 0.8 * result.unsplit.peak
    kinds = [g.ops[i].kind for i in result.program.splits[0].chain.ops]
    assert kinds[:2] == [OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D]


def test_chain_rules() -> None:
    g = inverted_residual_net(2, blocks=1, hw=8, c=4, expand=2, residual=True)
    # ops: 0 expand, 1 dw, 2 project, 3 add(x, project)
    assert valid_chain(g, Chain(0, 1)) and valid_chain(g, Chain(0, 2)) and valid_chain(g, Chain(1, 2))
    assert not valid_chain(g, Chain(0, 3))  # an ADD cannot follow a channel-mixing op inside a chain
    assert not valid_chain(g, Chain(2, 2))


def test_slice_ranges_cover_channels_evenly() -> None:
    assert slice_ranges(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert slice_ranges(2, 8) == [(0, 1), (1, 2)]


@pytest.mark.slow
@pytest.mark.hostc
@settings(max_examples=12, deadline=None)
@given(nets, st.data())
def test_split_and_in_place_execution_equal_whole_execution(tmp_path_factory, g, data) -> None:  # type: ignore[no-untyped-def]
    """The generated C with random splits and in-place operators computes exactly what the
    whole-tensor C computes (which the zoo tests hold equal to the TFLite interpreter)."""
    import numpy as np

    from generator.compiler import compile_graph, compile_program
    from generator.host import build_host

    chains = candidate_chains(g)
    chosen: list[Split] = []
    for c in data.draw(st.permutations(chains)):
        if not any(c.overlaps(s.chain) for s in chosen) and data.draw(st.booleans()):
            chosen.append(Split(c, data.draw(st.sampled_from([2, 3, 5]))))
    chosen.sort(key=lambda s: s.chain.start)
    in_chains = {i for s in chosen for i in s.chain.ops}
    inplace = {i: data.draw(st.sampled_from([1, 2, 3])) for i, op in enumerate(g.ops)
               if inplace_form(g, op) and i not in in_chains}
    whole = compile_graph(g, b"", partial=False)
    split = compile_program(g, build_program(g, chosen, inplace), b"")
    rng = np.random.default_rng(0)
    shape = g.tensors[g.inputs[0]].shape
    xs = [[rng.integers(-128, 128, size=shape, dtype=np.int8)] for _ in range(3)]
    a = build_host(whole, tmp_path_factory.mktemp("whole")).run(xs)
    b = build_host(split, tmp_path_factory.mktemp("split")).run(xs)
    for ra, rb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ra[0], rb[0])


def test_every_operator_declares_its_channel_relation() -> None:
    from generator.ir import OpKind
    from generator.plan.relations import RELATIONS, SLICEABLE, Relation

    missing = [k.value for k in OpKind if k not in RELATIONS]
    assert not missing, f"operators without a channel relation: {missing}"
    # only channel-mixing and channel-wise operators may be sliced
    assert all(RELATIONS[k] in (Relation.MIXING, Relation.WISE) for k in SLICEABLE)
