"""Structured pruning surgery: rebuild a Keras functional model keeping chosen channels of each group.

The new model is built by walking the layer graph in order, re-creating every layer from its
configuration (with fewer filters or units where its output group shrinks) and copying the kept slices
of its weights: a convolution loses output filters *and* the input channels its input lost; depthwise
convolutions and batch norms keep the per-channel weights of the channels that survive; a dense layer
after Flatten keeps the rows of the surviving channels at every spatial position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from generator.errors import InputError, McuforgeError
from generator.prune.channels import ChannelGraph, Index, LayerNode, Role, _flat

Array = npt.NDArray[Any]


def check_keep(cg: ChannelGraph, keep: Mapping[int, Index]) -> dict[int, Index]:
    """Validate kept-channel sets: known, prunable groups; sorted, unique, in range, not empty."""
    out: dict[int, Index] = {}
    for g, idx in keep.items():
        group = cg.groups.get(g)
        if group is None:
            raise InputError(f"no channel group {g} in the model", "take group ids from analyse()")
        arr = np.asarray(idx, dtype=np.int64)
        if group.frozen and not np.array_equal(arr, np.arange(group.size)):
            raise InputError(f"channel group {g} ({group.label}) cannot be pruned",
                             "model inputs and outputs, and layers pruning cannot see through, "
                             "keep all their channels")
        if arr.ndim != 1 or arr.size == 0 or np.any(np.diff(arr) <= 0) or arr[0] < 0 \
                or arr[-1] >= group.size:
            raise InputError(f"kept channels of group {g} ({group.label}) must be a sorted, "
                             f"non-empty set of distinct indices below {group.size}",
                             "keep at least one channel of every group")
        out[g] = arr
    return out


def rebuild(cg: ChannelGraph, keep: Mapping[int, Index]) -> Any:
    """A new functional model in which group ``g`` keeps channels ``keep[g]`` (all when absent)."""
    import keras

    kept = check_keep(cg, keep)
    sizes = {g: (kept[g].size if g in kept else cg.groups[g].size) for g in cg.groups}
    full = cg.sizes
    new: dict[int, Any] = {}
    for node in cg.nodes:
        outs = _rebuild_node(cg, node, kept, full, new)
        for old, t in zip(node.outputs, outs, strict=True):
            want = cg.map_of(old).width(sizes) if len(old.shape) > 1 else None
            if want is not None and int(t.shape[-1]) != want:
                raise McuforgeError(f"internal error: pruned layer '{node.layer.name}' has "
                                    f"{t.shape[-1]} channels, expected {want}",
                                    "please report this with the model")
            new[id(old)] = t
    model = cg.model
    ins = [new[id(t)] for t in _flat(model.inputs)]
    outs = [new[id(t)] for t in _flat(model.outputs)]
    return keras.Model(ins[0] if len(ins) == 1 else ins, outs[0] if len(outs) == 1 else outs,
                       name=model.name)


def _rebuild_node(cg: ChannelGraph, node: LayerNode, keep: dict[int, Index],
                  full: dict[int, int], new: dict[int, Any]) -> list[Any]:
    import keras

    layer = node.layer
    if node.role is Role.INPUT:
        t = node.outputs[0]
        return [keras.Input(batch_shape=tuple(t.shape), dtype=t.dtype, name=layer.name)]
    in_idx = _kept(cg, node.inputs[0], keep, full) if node.inputs else None
    out_idx = _kept(cg, node.outputs[0], keep, full)
    cfg = layer.get_config()
    weights = [np.asarray(w) for w in layer.get_weights()]
    if node.role in (Role.MIXING, Role.SEPARABLE):
        cfg["units" if isinstance(layer, keras.layers.Dense) else "filters"] = int(out_idx.size)
    if node.role is Role.RESHAPE:
        cfg["target_shape"] = (*tuple(cfg["target_shape"])[:-1], int(out_idx.size))
    if in_idx is not None:
        weights = _slice_weights(node, weights, in_idx, out_idx)
    try:
        clone = type(layer).from_config(cfg)
    except (TypeError, ValueError) as exc:
        raise InputError(f"layer '{layer.name}' ({type(layer).__name__}) cannot be re-created from "
                         f"its configuration ({exc})", "register custom layers and give them a "
                         "complete get_config()") from exc
    args, kwargs = keras.tree.map_structure(lambda v: _swap(v, new), (node.args, node.kwargs))
    out = clone(*args, **kwargs)
    if weights:
        clone.set_weights(weights)
    return _flat(out)


def _swap(v: Any, new: dict[int, Any]) -> Any:
    import keras

    return new[id(v)] if isinstance(v, keras.KerasTensor) else v


def _kept(cg: ChannelGraph, t: Any, keep: dict[int, Index], full: dict[int, int]) -> Index:
    if len(t.shape) < 2:
        return np.zeros(0, np.int64)
    return cg.map_of(t).kept_indices(keep, full)


def _slice_weights(node: LayerNode, weights: list[Array], in_idx: Index,
                   out_idx: Index) -> list[Array]:
    layer = node.layer
    slicer: dict[Role, Callable[[Any, list[Array], Index, Index], list[Array]]] = {
        Role.MIXING: _slice_mixing,
        Role.DEPTHWISE: _slice_depthwise,
        Role.SEPARABLE: _slice_separable,
        Role.NORM: _slice_norm,
    }
    fn = slicer.get(node.role)
    return fn(layer, weights, in_idx, out_idx) if fn else weights


def _slice_mixing(layer: Any, w: list[Array], in_idx: Index, out_idx: Index) -> list[Array]:
    """Kernel [..., in, out]: keep input rows and output filters; bias follows the filters."""
    out = [np.take(np.take(w[0], in_idx, axis=-2), out_idx, axis=-1)]
    return [*out, np.take(w[1], out_idx)] if len(w) > 1 else out


def _slice_depthwise(layer: Any, w: list[Array], in_idx: Index, out_idx: Index) -> list[Array]:
    """Kernel [..., in, multiplier]; bias [in * multiplier]."""
    out = [np.take(w[0], in_idx, axis=-2)]
    if len(w) > 1:
        mult = w[0].shape[-1]
        out.append(w[1].reshape(-1, mult)[in_idx].ravel())
    return out


def _slice_separable(layer: Any, w: list[Array], in_idx: Index, out_idx: Index) -> list[Array]:
    """Depthwise [..., in, m], pointwise [..., in*m, out], bias [out]."""
    mult = w[0].shape[-1]
    rows = (in_idx[:, None] * mult + np.arange(mult)[None, :]).ravel()
    out = [np.take(w[0], in_idx, axis=-2), np.take(np.take(w[1], rows, axis=-2), out_idx, axis=-1)]
    return [*out, np.take(w[2], out_idx)] if len(w) > 2 else out


def _slice_norm(layer: Any, w: list[Array], in_idx: Index, out_idx: Index) -> list[Array]:
    width = int(layer.input.shape[-1])
    return [np.take(a, in_idx) if a.shape == (width,) else a for a in w]


def channel_counts(cg: ChannelGraph) -> dict[str, int]:
    """Output channels of every layer that produces a channel group (for reports and checks)."""
    return {name: cg.groups[g].size for name, g in cg.out_group.items()}


