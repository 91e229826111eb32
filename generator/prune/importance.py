"""Channel importance: the L1 norm of each output filter after folding the batch norm that follows.

A convolution followed by BatchNormalization computes ``gamma * (w . x - mean) / sqrt(var + eps)``, so
the filter that reaches the int8 model is ``w * |gamma| / sqrt(var + eps)``; its L1 norm measures how
much the channel can contribute, where the raw kernel's norm would be meaningless after the rescaling.
Within a group fed by several layers (the branches of a residual add), each layer's norms are divided by
their mean before they are summed, so every branch counts equally.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from generator.prune.channels import ChannelGraph, LayerNode, Role

Scores = npt.NDArray[np.float64]


def channel_importance(cg: ChannelGraph) -> dict[int, Scores]:
    """Importance of each channel of every prunable group (higher: keep)."""
    consumers: dict[int, list[LayerNode]] = {}
    for node in cg.nodes:
        for t in node.inputs:
            consumers.setdefault(id(t), []).append(node)
    prunable = {g.id for g in cg.prunable()}
    scores: dict[int, Scores] = {}
    for node in cg.nodes:
        if node.role not in (Role.MIXING, Role.SEPARABLE):
            continue
        g = cg.out_group[node.layer.name]
        if g not in prunable:
            continue
        norms = filter_norms(node) * _bn_scale(consumers.get(id(node.outputs[0]), []))
        mean = float(norms.mean())
        contrib = norms / mean if mean > 0 else np.ones_like(norms)
        scores[g] = scores.get(g, 0.0) + contrib
    return scores


def filter_norms(node: LayerNode) -> Scores:
    """L1 norm of each output filter of a convolution, dense or separable layer."""
    weights = node.layer.get_weights()
    kernel = np.asarray(weights[1] if node.role is Role.SEPARABLE else weights[0], np.float64)
    norms: Scores = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
    return norms


def _bn_scale(consumers: list[LayerNode]) -> Scores | float:
    if len(consumers) != 1 or consumers[0].role is not Role.NORM:
        return 1.0
    bn = consumers[0].layer
    var = np.asarray(bn.moving_variance, np.float64)
    gamma = np.abs(np.asarray(bn.gamma, np.float64)) if bn.scale else 1.0
    scale: Scores = gamma / np.sqrt(var + bn.epsilon)
    return scale


def keep_top(scores: Scores, n: int) -> npt.NDArray[np.int64]:
    """Indices of the ``n`` most important channels, in channel order (ties: lower index first)."""
    order = np.argsort(-scores, kind="stable")[:n]
    return np.sort(order).astype(np.int64)
