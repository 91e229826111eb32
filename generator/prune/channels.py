"""Which channels of a Keras functional model must be pruned together: channel groups.

A *channel group* is a set of channels that can only be removed as one: the filters of a convolution
(or the units of a dense layer) together with every channel that follows them one to one through
batch norms, activations, pooling, padding and depthwise convolutions. Residual adds (and the other
elementwise merges) join the groups of their inputs, so removing channel 5 of a group removes channel 5
from every branch of the add. Concatenation lays groups side by side; Flatten repeats the channels once
per spatial position.

Every tensor's last axis is described by a :class:`ChannelMap`, a list of segments ``(group,
multiplier)``: a depthwise convolution with depth multiplier ``m`` turns each base channel into ``m``
consecutive channels. Layers whose channel semantics are unknown here are *opaque*: the groups entering
them and leaving them are frozen (never pruned), so any layer can appear in a model; only the known ones
let pruning pass through. Behaviour is decided by layer class and configuration, never by name.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from generator.errors import InputError

Index = npt.NDArray[np.int64]


class Role(enum.Enum):
    INPUT = "input"
    MIXING = "mixing"          # Conv1D/2D/3D, Dense: kernel [..., in, out], new output group
    DEPTHWISE = "depthwise"    # DepthwiseConv1D/2D: channels follow the input, times the multiplier
    SEPARABLE = "separable"    # SeparableConv1D/2D: depthwise then pointwise, new output group
    NORM = "norm"              # BatchNormalization on the last axis: per-channel weights
    WISE = "wise"              # no channel-dependent weights, channels pass through
    MERGE = "merge"            # Add, Subtract, Multiply, Maximum, Minimum, Average
    CONCAT = "concat"
    FLATTEN = "flatten"
    RESHAPE = "reshape"
    OPAQUE = "opaque"


@dataclass(frozen=True)
class Segment:
    group: int
    mult: int = 1


@dataclass(frozen=True)
class ChannelMap:
    """A tensor's last axis: ``positions`` repeats of the concatenated segments."""

    segments: tuple[Segment, ...]
    positions: int = 1

    def width(self, sizes: Mapping[int, int]) -> int:
        return self.positions * sum(sizes[s.group] * s.mult for s in self.segments)

    def groups(self) -> set[int]:
        return {s.group for s in self.segments}

    def kept_indices(self, keep: Mapping[int, Index], sizes: Mapping[int, int]) -> Index:
        """Indices along the last axis that survive when each group keeps ``keep[group]``."""
        parts: list[Index] = []
        offset = 0
        for s in self.segments:
            base = keep.get(s.group, np.arange(sizes[s.group], dtype=np.int64))
            idx = (base[:, None] * s.mult + np.arange(s.mult, dtype=np.int64)[None, :]).ravel()
            parts.append(offset + idx)
            offset += sizes[s.group] * s.mult
        inner = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return (np.arange(self.positions, dtype=np.int64)[:, None] * offset + inner[None, :]).ravel()

    def scaled(self, factor: int) -> ChannelMap:
        return ChannelMap(tuple(Segment(s.group, s.mult * factor) for s in self.segments),
                          self.positions)


@dataclass(frozen=True)
class Group:
    id: int
    size: int
    frozen: bool
    producers: tuple[str, ...]    # layers whose output channels make this group, in model order

    @property
    def label(self) -> str:
        names = "+".join(self.producers) if self.producers else f"group {self.id}"
        return names if len(self.producers) < 4 else f"{self.producers[0]}+{len(self.producers) - 1} more"


@dataclass(frozen=True, eq=False)
class LayerNode:
    """One call of a layer in the model, in topological order."""

    layer: Any
    role: Role
    inputs: tuple[Any, ...]       # KerasTensors
    outputs: tuple[Any, ...]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass(frozen=True, eq=False)
class ChannelGraph:
    """The layer graph with a channel map for every tensor and the channel groups."""

    model: Any
    nodes: tuple[LayerNode, ...]
    maps: dict[int, ChannelMap]          # id(KerasTensor) -> map
    groups: dict[int, Group]
    out_group: dict[str, int] = field(default_factory=dict)   # producing layer name -> group

    def map_of(self, tensor: Any) -> ChannelMap:
        return self.maps[id(tensor)]

    @property
    def sizes(self) -> dict[int, int]:
        return {g.id: g.size for g in self.groups.values()}

    def prunable(self) -> list[Group]:
        return [g for g in self.groups.values() if not g.frozen and g.producers]


# ---- layer roles -----------------------------------------------------------------------------------


def _keras() -> Any:
    import keras

    return keras


def _channels_last(layer: Any) -> bool:
    fmt = getattr(layer, "data_format", None)
    return fmt in (None, "channels_last")


def _softmax_like(layer: Any) -> bool:
    acts = _keras().activations
    return getattr(layer, "activation", None) in (acts.softmax, acts.log_softmax)


def layer_role(layer: Any) -> Role:
    """The role of a layer in channel pruning, from its class and configuration."""
    L = _keras().layers
    if isinstance(layer, L.InputLayer):
        return Role.INPUT
    if not _channels_last(layer):
        return Role.OPAQUE
    transposed = tuple(getattr(L, n) for n in ("Conv1DTranspose", "Conv2DTranspose",
                                               "Conv3DTranspose") if hasattr(L, n))
    if isinstance(layer, transposed):  # kernel [..., out, in]; a Conv2D subclass in Keras 2
        return Role.OPAQUE
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D)):
        ok = getattr(layer, "groups", 1) == 1 and len(layer.weights) == (2 if layer.use_bias else 1)
        return Role.MIXING if ok else Role.OPAQUE
    if isinstance(layer, L.Dense):
        return Role.MIXING if len(layer.weights) == (2 if layer.use_bias else 1) else Role.OPAQUE
    if isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
        return Role.DEPTHWISE
    if isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)):
        return Role.SEPARABLE
    if isinstance(layer, L.BatchNormalization):
        return Role.NORM if layer.axis in (-1, len(layer.input.shape) - 1) else Role.OPAQUE
    if isinstance(layer, (L.Add, L.Subtract, L.Multiply, L.Maximum, L.Minimum, L.Average)):
        return Role.MERGE
    if isinstance(layer, L.Concatenate):
        return Role.CONCAT
    if isinstance(layer, L.Flatten):
        return Role.FLATTEN
    if isinstance(layer, L.Reshape):
        return Role.RESHAPE
    if isinstance(layer, wise_types()) and not layer.weights and not _softmax_like(layer):
        if isinstance(layer, L.Rescaling) and not all(
                np.ndim(layer.get_config()[k]) == 0 for k in ("scale", "offset")):
            return Role.OPAQUE
        return Role.WISE
    return Role.OPAQUE


def wise_types() -> tuple[Any, ...]:
    L = _keras().layers
    return (
        L.ReLU, L.Activation, L.LeakyReLU, L.ELU, L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D,
        L.GaussianNoise, L.GaussianDropout, L.AlphaDropout, L.ActivityRegularization, L.Identity,
        L.Rescaling, L.MaxPooling1D, L.MaxPooling2D, L.AveragePooling1D, L.AveragePooling2D,
        L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalMaxPooling1D,
        L.GlobalMaxPooling2D, L.ZeroPadding1D, L.ZeroPadding2D, L.Cropping1D, L.Cropping2D,
        L.UpSampling1D, L.UpSampling2D,
    )


# ---- the layer graph -------------------------------------------------------------------------------


def layer_nodes(model: Any) -> tuple[LayerNode, ...]:
    """Every layer call between the model's inputs and outputs, inputs first (topological order)."""
    keras = _keras()
    order: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(_node_of(t), False) for t in reversed(_flat(model.outputs))]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((_node_of(t), False) for t in reversed(node.input_tensors)
                     if id(_node_of(t)) not in seen)
    calls: dict[int, int] = {}
    out = []
    for node in order:
        layer = node.operation
        calls[id(layer)] = calls.get(id(layer), 0) + 1
        if calls[id(layer)] > 1:
            raise InputError(f"layer '{layer.name}' is called more than once (a shared layer)",
                             "pruning needs every layer used once; duplicate the layer instead")
        if not isinstance(layer, keras.layers.Layer):
            raise InputError(f"'{layer.name}' ({type(layer).__name__}) is not a Keras layer",
                             "wrap backend operations in layers (e.g. keras.layers.Add, Reshape)")
        out.append(LayerNode(layer, layer_role(layer), tuple(node.input_tensors),
                             tuple(_flat(node.outputs)), tuple(node.arguments.args),
                             dict(node.arguments.kwargs)))
    return tuple(out)


def _node_of(tensor: Any) -> Any:
    op, node_index, _ = tensor._keras_history
    return op._inbound_nodes[node_index]


def _flat(x: Any) -> list[Any]:
    return list(_keras().tree.flatten(x))


# ---- analysis --------------------------------------------------------------------------------------


class _Groups:
    """Union-find over group ids with sizes, frozen flags and producers."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.size: list[int] = []
        self.frozen: list[bool] = []
        self.producers: list[list[str]] = []

    def new(self, size: int, frozen: bool = False, producer: str | None = None) -> int:
        self.parent.append(len(self.parent))
        self.size.append(size)
        self.frozen.append(frozen)
        self.producers.append([producer] if producer else [])
        return len(self.parent) - 1

    def find(self, g: int) -> int:
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        self.parent[rb] = ra
        self.frozen[ra] = self.frozen[ra] or self.frozen[rb]
        self.producers[ra] += self.producers[rb]

    def freeze(self, groups: Iterable[int]) -> None:
        for g in groups:
            self.frozen[self.find(g)] = True


def analyse(model: Any) -> ChannelGraph:
    """Channel maps of every tensor and the channel groups of ``model`` (a Keras functional model)."""
    nodes = layer_nodes(model)
    uf = _Groups()
    maps: dict[int, ChannelMap] = {}
    out_group: dict[str, int] = {}
    for node in nodes:
        for t, m in zip(node.outputs, _node_maps(node, maps, uf, out_group), strict=True):
            maps[id(t)] = m
    for t in _flat(model.outputs):
        uf.freeze(maps[id(t)].groups())
    return _finish(model, nodes, maps, uf, out_group)


def _fresh(t: Any, uf: _Groups, frozen: bool, producer: str | None = None) -> ChannelMap:
    last = int(t.shape[-1]) if len(t.shape) > 1 and t.shape[-1] is not None else 1
    return ChannelMap((Segment(uf.new(last, frozen, producer)),))


def _node_maps(node: LayerNode, maps: dict[int, ChannelMap], uf: _Groups,
               out_group: dict[str, int]) -> list[ChannelMap]:
    layer, role = node.layer, node.role
    ins = [maps[id(t)] for t in node.inputs]
    if role is Role.INPUT:
        return [_fresh(t, uf, frozen=True) for t in node.outputs]
    flat_ok = ins[0].positions == 1 if ins else False
    if (role is Role.MIXING and (flat_ok or _rank(node.inputs[0]) == 2)) or (
            role is Role.SEPARABLE and flat_ok):
        out = _fresh(node.outputs[0], uf, frozen=_softmax_like(layer), producer=layer.name)
        out_group[layer.name] = out.segments[0].group
        return [out]
    if role is Role.DEPTHWISE and flat_ok:
        return [ins[0].scaled(int(layer.depth_multiplier))]
    if role in (Role.NORM, Role.WISE):
        return [ins[0]]
    if role is Role.MERGE:
        return [_merge(node, ins, uf)]
    if role is Role.CONCAT and _concat_last(node) and all(m.positions == 1 for m in ins):
        return [ChannelMap(tuple(s for m in ins for s in m.segments))]
    if role is Role.CONCAT:
        return [_merge(node, ins, uf)]
    if role is Role.FLATTEN and flat_ok:
        spatial = math.prod(int(d) for d in node.inputs[0].shape[1:-1])
        return [ChannelMap(ins[0].segments, spatial)]
    if role is Role.RESHAPE and flat_ok:
        shaped = _reshape_map(node, ins[0])
        if shaped is not None:
            return [shaped]
    for m in ins:
        uf.freeze(m.groups())
    return [_fresh(t, uf, frozen=True) for t in node.outputs]


def _rank(t: Any) -> int:
    return len(t.shape)


def _concat_last(node: LayerNode) -> bool:
    axis = node.layer.axis
    return bool(axis == -1 or axis == _rank(node.outputs[0]) - 1)


def _reshape_map(node: LayerNode, m: ChannelMap) -> ChannelMap | None:
    """A reshape keeping the last axis keeps the channels; one flattening everything repeats them."""
    t_in, t_out = node.inputs[0], node.outputs[0]
    if t_in.shape[-1] == t_out.shape[-1]:
        return m
    spatial = math.prod(int(d) for d in t_in.shape[1:-1])
    if _rank(t_out) == 2 and int(t_out.shape[-1]) == spatial * int(t_in.shape[-1]):
        return ChannelMap(m.segments, spatial)
    return None


def _merge(node: LayerNode, ins: list[ChannelMap], uf: _Groups) -> ChannelMap:
    """Elementwise merge: inputs of the output's width are joined group by group; inputs of width 1
    broadcast. Inputs that do not line up freeze every group involved."""
    width = node.outputs[0].shape[-1]
    full = [m for m, t in zip(ins, node.inputs, strict=True) if t.shape[-1] == width]
    first = full[0]
    aligned = all(
        m.positions == first.positions and len(m.segments) == len(first.segments)
        and all(a.mult == b.mult and uf.size[uf.find(a.group)] == uf.size[uf.find(b.group)]
                for a, b in zip(m.segments, first.segments, strict=True))
        for m in full)
    if not aligned:
        for m in ins:
            uf.freeze(m.groups())
        return first
    for m in full[1:]:
        for a, b in zip(first.segments, m.segments, strict=True):
            uf.union(a.group, b.group)
    return first


def _finish(model: Any, nodes: tuple[LayerNode, ...], maps: dict[int, ChannelMap], uf: _Groups,
            out_group: dict[str, int]) -> ChannelGraph:
    def root(m: ChannelMap) -> ChannelMap:
        return ChannelMap(tuple(Segment(uf.find(s.group), s.mult) for s in m.segments), m.positions)

    roots = {uf.find(g) for g in range(len(uf.parent))}
    groups = {r: Group(r, uf.size[r], uf.frozen[r], tuple(uf.producers[r])) for r in sorted(roots)}
    return ChannelGraph(model, nodes, {k: root(m) for k, m in maps.items()}, groups,
                        {name: uf.find(g) for name, g in out_group.items()})
