"""Structured-pruning surgery: channel groups, the rebuilt model, and the IR <-> Keras mapping.

The strong check of the rebuild: if the channels about to be removed are made exactly zero in the
original model (their filters and biases zero, their batch-norm gamma and beta zero), removing them
cannot change what the model computes, so the rebuilt model must give the original's outputs. Float32
sums lose terms that were exactly zero, which can only change the rounding of the summation order:
outputs are compared to 1e-5 relative and absolute.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from generator.errors import InputError
from generator.plan.pex import search_splits
from generator.prune.channels import ChannelGraph, Index, Role, analyse, layer_nodes
from generator.prune.importance import channel_importance, keep_top
from generator.prune.irmap import PeakShare, ir_channels, match_ops, peak_share
from generator.prune.policy import PolicyOptions, removal_counts
from generator.prune.surgery import rebuild

pytestmark = pytest.mark.tflite

keras = pytest.importorskip("keras")
L = keras.layers
TOL = {"rtol": 1e-5, "atol": 1e-5}


# ---- helpers --------------------------------------------------------------------------------------


def randomise(model: Any, seed: int = 0) -> None:
    """Random weights everywhere; batch norms get random gamma/beta and positive variances."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        if isinstance(layer, L.BatchNormalization):
            g, b, m, v = ws
            ws = [rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.2, b.shape),
                  rng.normal(0, 0.2, m.shape), rng.uniform(0.5, 2.0, v.shape)]
        else:
            ws = [rng.normal(0, 0.4, w.shape) for w in ws]
        layer.set_weights([w.astype(np.float32) for w in ws])


def removed(full: int, kept: Index) -> Index:
    return np.setdiff1d(np.arange(full), kept)


def zero_removed(cg: ChannelGraph, keep: dict[int, Index]) -> None:
    """Make every channel that ``keep`` drops exactly zero in the original model."""
    sizes = cg.sizes
    for node in cg.nodes:
        layer, ws = node.layer, node.layer.get_weights()
        if node.role in (Role.MIXING, Role.SEPARABLE):
            g = cg.out_group[layer.name]
            if g in keep:
                gone = removed(sizes[g], keep[g])
                k = 1 if node.role is Role.SEPARABLE else 0
                ws[k][..., gone] = 0
                if len(ws) > k + 1:
                    ws[k + 1][gone] = 0
        elif node.role in (Role.NORM, Role.DEPTHWISE):
            m = cg.map_of(node.outputs[0])
            width = m.width(sizes)
            gone = removed(width, m.kept_indices(keep, sizes))
            if node.role is Role.NORM:
                ws[0][gone] = 0  # gamma
                ws[1][gone] = 0  # beta
            elif len(ws) > 1:
                ws[1][gone] = 0  # depthwise bias; the input channel is already zero
        layer.set_weights(ws)


def random_keep(cg: ChannelGraph, rng: np.random.Generator) -> dict[int, Index]:
    keep = {}
    for g in cg.prunable():
        n = int(rng.integers(1, g.size))
        keep[g.id] = np.sort(rng.choice(g.size, size=n, replace=False)).astype(np.int64)
    return keep


def assert_rebuild_exact(model: Any, shape: tuple[int, ...], seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    randomise(model, seed)
    cg = analyse(model)
    keep = random_keep(cg, rng)
    assert keep, "the model has prunable groups"
    x = rng.normal(0, 1, (4, *shape)).astype(np.float32)
    before = model.predict(x, verbose=0)
    zero_removed(cg, keep)
    zeroed = model.predict(x, verbose=0)
    assert not np.allclose(before, zeroed, **TOL), "zeroing must matter, or the check proves nothing"
    pruned = rebuild(cg, keep)
    np.testing.assert_allclose(pruned.predict(x, verbose=0), zeroed, **TOL)
    assert pruned.count_params() < model.count_params()
    return pruned, cg, keep


def by_type(model: Any, cls: type) -> list[Any]:
    return [layer for layer in model.layers if isinstance(layer, cls)]


# ---- models ---------------------------------------------------------------------------------------


def chain_model() -> Any:
    """conv -> BN -> ReLU -> depthwise (multiplier 2) -> BN -> ReLU -> conv -> BN -> pool -> dense."""
    inp = keras.Input((10, 10, 3))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(inp)))
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    x = L.ReLU()(L.BatchNormalization()(x))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(6, 1)(x)))
    return keras.Model(inp, L.Dense(3)(L.GlobalAveragePooling2D()(x)))


def residual_model() -> Any:
    """Two identity residual blocks and a strided block with a projection shortcut."""
    inp = keras.Input((12, 12, 3))
    a = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, padding="same")(inp)))
    b = L.BatchNormalization()(L.Conv2D(8, 3, padding="same")(a))
    c = L.ReLU()(L.Add()([a, b]))
    d = L.Conv2D(8, 1)(L.DepthwiseConv2D(3, padding="same")(c))
    e = L.Add()([c, d])
    f = L.ReLU()(L.BatchNormalization()(L.Conv2D(12, 3, strides=2, padding="same")(e)))
    s = L.Conv2D(12, 1, strides=2)(e)
    g = L.Add()([s, f])
    return keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(g)))


def mixed_model() -> Any:
    """Concatenation, separable convolution, max pooling, Flatten -> Dense -> Dense."""
    inp = keras.Input((8, 8, 2))
    x = L.ReLU()(L.Conv2D(6, 3, padding="same")(inp))
    y = L.ReLU()(L.Conv2D(4, 1)(inp))
    cat = L.Concatenate()([x, y])
    s = L.SeparableConv2D(5, 3, padding="same", depth_multiplier=2)(cat)
    z = L.Flatten()(L.MaxPooling2D(2)(L.ReLU()(s)))
    return keras.Model(inp, L.Dense(3)(L.ReLU()(L.Dense(7)(z))))


# ---- channel groups --------------------------------------------------------------------------------


def test_chain_groups_follow_depthwise_and_norms() -> None:
    cg = analyse(chain_model())
    conv1, conv2 = by_type(cg.model, L.Conv2D)
    assert {g.producers for g in cg.prunable()} == {(conv1.name,), (conv2.name,)}
    dw = by_type(cg.model, L.DepthwiseConv2D)[0]
    m = cg.map_of(dw.output)
    assert len(m.segments) == 1 and m.segments[0].mult == 2
    assert m.segments[0].group == cg.out_group[conv1.name]
    dense = by_type(cg.model, L.Dense)[0]
    assert cg.groups[cg.out_group[dense.name]].frozen, "the model output keeps its channels"


def test_residual_adds_join_all_branches_into_one_group() -> None:
    cg = analyse(residual_model())
    convs = by_type(cg.model, L.Conv2D)
    first_stage = {cg.out_group[c.name] for c in convs[:3]}
    second_stage = {cg.out_group[c.name] for c in convs[3:]}
    assert len(first_stage) == 1 and len(second_stage) == 1
    assert first_stage != second_stage
    assert sorted(cg.groups[first_stage.pop()].producers) == sorted(c.name for c in convs[:3])


def test_layers_pruning_cannot_see_through_freeze_their_groups() -> None:
    inp = keras.Input((6, 6, 2))
    a = L.Conv2D(4, 1)(inp)
    b = L.Reshape((6, 4, 6))(a)          # mixes channels with space
    c = L.Conv2D(5, 1)(b)
    model = keras.Model(inp, L.Dense(2)(L.Flatten()(c)))
    cg = analyse(model)
    conv_a, conv_b = by_type(model, L.Conv2D)
    assert cg.groups[cg.out_group[conv_a.name]].frozen
    assert not cg.groups[cg.out_group[conv_b.name]].frozen
    with pytest.raises(InputError, match="cannot be pruned"):
        rebuild(cg, {cg.out_group[conv_a.name]: np.array([0, 1])})


def test_shared_layers_are_rejected() -> None:
    inp = keras.Input((4,))
    dense = L.Dense(4)
    model = keras.Model(inp, dense(dense(inp)))
    with pytest.raises(InputError, match="more than once"):
        layer_nodes(model)


@pytest.mark.parametrize("keep", [[], [3, 1], [0, 0], [0, 99]], ids=["empty", "unsorted",
                                                                       "repeated", "range"])
def test_bad_kept_sets_are_input_errors(keep: list[int]) -> None:
    cg = analyse(chain_model())
    g = cg.prunable()[0].id
    with pytest.raises(InputError, match="kept channels"):
        rebuild(cg, {g: np.array(keep, dtype=np.int64)})


# ---- exactness of the rebuild ----------------------------------------------------------------------


def test_chain_rebuild_is_exact_and_consistent() -> None:
    pruned, cg, keep = assert_rebuild_exact(chain_model(), (10, 10, 3), seed=1)
    conv1, conv2 = by_type(cg.model, L.Conv2D)
    n1, n2 = (keep[cg.out_group[c.name]].size for c in (conv1, conv2))
    p1, p2 = by_type(pruned, L.Conv2D)
    assert p1.filters == n1 and p2.filters == n2
    assert p2.kernel.shape == (1, 1, 2 * n1, n2), "the next conv reads the depthwise channels"
    bn1, bn2, bn3 = by_type(pruned, L.BatchNormalization)
    assert (bn1.gamma.shape[0], bn2.gamma.shape[0], bn3.gamma.shape[0]) == (n1, 2 * n1, n2)
    assert by_type(pruned, L.DepthwiseConv2D)[0].kernel.shape == (3, 3, n1, 2)
    assert by_type(pruned, L.Dense)[0].kernel.shape == (n2, 3)


def test_residual_rebuild_is_exact() -> None:
    pruned, _cg, _keep = assert_rebuild_exact(residual_model(), (12, 12, 3), seed=2)
    widths = {c.filters for c in by_type(pruned, L.Conv2D)[:3]}
    assert len(widths) == 1, "every branch of an add keeps the same channels"
    for add in by_type(pruned, L.Add):
        assert len({int(t.shape[-1]) for t in add.input}) == 1


def test_concat_separable_flatten_rebuild_is_exact() -> None:
    pruned, _cg, _keep = assert_rebuild_exact(mixed_model(), (8, 8, 2), seed=3)
    sep = by_type(pruned, L.SeparableConv2D)[0]
    conv_x, conv_y = by_type(pruned, L.Conv2D)
    assert sep.depthwise_kernel.shape[2] == conv_x.filters + conv_y.filters
    first_dense = by_type(pruned, L.Dense)[0]
    assert first_dense.kernel.shape[0] == 4 * 4 * sep.filters, "Flatten rows per position"


@pytest.mark.parametrize("seed", range(3))
def test_rebuild_exact_for_random_kept_sets(seed: int) -> None:
    assert_rebuild_exact(residual_model(), (12, 12, 3), seed=10 + seed)


def test_importance_keeps_the_largest_folded_filters() -> None:
    model = chain_model()
    randomise(model)
    conv = by_type(model, L.Conv2D)[0]
    bn = by_type(model, L.BatchNormalization)[0]
    w = conv.get_weights()[0]
    w[..., 5] *= 100.0             # a big filter ...
    conv.set_weights([w])
    g, b, m, v = bn.get_weights()
    g[5] = 1e-6                    # ... that its batch norm silences
    g[2] = 50.0
    bn.set_weights([g, b, m, v])
    cg = analyse(model)
    scores = channel_importance(cg)[cg.out_group[conv.name]]
    assert int(np.argmax(scores)) == 2
    assert 5 not in keep_top(scores, 4)


# ---- the IR side -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def residual_ir() -> tuple[Any, ChannelGraph, Any]:
    from generator.importer.tflite_reader import read_tflite
    from generator.prune.measure import quantize

    keras.utils.set_random_seed(5)
    model = residual_model()
    randomise(model, 5)
    calib = np.random.default_rng(0).normal(0, 1, (16, 12, 12, 3)).astype(np.float32)
    return model, analyse(model), read_tflite(quantize(model, calib))


def test_every_conv_and_dense_op_matches_its_layer(residual_ir: tuple[Any, ChannelGraph, Any]) -> None:
    _model, cg, g = residual_ir
    matched = match_ops(g, cg)
    mixing = [i for i, op in enumerate(g.ops) if op.kind.value in ("CONV_2D", "FULLY_CONNECTED")]
    assert sorted(matched) == mixing
    assert len({n.layer.name for n in matched.values()}) == len(mixing)
    for i, node in matched.items():
        w = g.tensors[g.ops[i].inputs[1]]
        kernel = node.layer.get_weights()[0]
        assert w.shape[0] == kernel.shape[-1]


def test_peak_attribution_accounts_for_every_live_byte(
        residual_ir: tuple[Any, ChannelGraph, Any]) -> None:
    _model, cg, g = residual_ir
    program = search_splits(g).program
    share = peak_share(program, ir_channels(g, cg), {grp.id for grp in cg.prunable()})
    assert share.peak == program.peak
    for by_group, fixed in zip(share.by_group, share.fixed, strict=True):
        assert abs(sum(by_group.values()) + fixed - share.peak) <= len(by_group)
        assert set(by_group) <= {grp.id for grp in cg.prunable()}
    assert any(share.by_group), "the peak of this model is made of prunable channels"


@pytest.mark.parametrize("build", [residual_model, chain_model, mixed_model])
def test_what_if_plan_equals_the_plan_of_the_pruned_model(build: Any) -> None:
    """The resized IR is planned exactly as the real pruned, re-converted model is."""
    from generator.compiler import compile_graph
    from generator.importer.tflite_reader import read_tflite
    from generator.prune.measure import quantize
    from generator.prune.whatif import planned_arena, resized_graph

    model = build()
    randomise(model, 6)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    calib = np.random.default_rng(1).normal(0, 1, (8, *shape)).astype(np.float32)
    cg = analyse(model)
    g = read_tflite(quantize(model, calib))
    for seed in range(2):
        keep = random_keep(cg, np.random.default_rng(seed))
        sizes = {k: v.size for k, v in keep.items()}
        predicted = planned_arena(resized_graph(g, ir_channels(g, cg), sizes))
        tflite = quantize(rebuild(cg, keep), calib)
        real = compile_graph(read_tflite(tflite), tflite)
        assert predicted == (real.program.peak, real.arena_bytes)


def test_removal_counts_share_the_excess_over_groups_at_the_peak() -> None:
    sizes = {1: 10, 2: 20, 3: 8}
    share = PeakShare(1200, (4,), (2,), ({1: 600, 2: 400, 3: 100},), (100,))
    floors = {1: 1, 2: 1, 3: 8}   # group 3 is at its floor already
    counts = removal_counts(share, 200, sizes, floors, PolicyOptions(overshoot=1.0))
    assert counts == {1: 2, 2: 4}  # 200 / 1000 = a fifth of each
    capped = removal_counts(share, 5000, sizes, floors, PolicyOptions(max_fraction=0.5))
    assert capped == {1: 5, 2: 10}
