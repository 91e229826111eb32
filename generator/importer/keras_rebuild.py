"""A Keras 3 model with LSTM layers rebuilt in Keras 2 (``tf_keras``), for the converter.

Keras 3's int8 calibration of an LSTM crashes the converting process; Keras 2's converts an LSTM
with a fixed batch to the one fused int8 UNIDIRECTIONAL_SEQUENCE_LSTM that mcuforge compiles. The
rebuild walks the model's graph layer by layer, builds each layer in tf_keras from its config
(Keras 3-only keys dropped, initialisers left at their defaults since the weights are copied), copies
the weights, and checks that both models compute the same function on random inputs; a model it
cannot rebuild exactly is refused, naming the layer.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from generator.errors import UnsupportedOpsError

_UNKNOWN_KEYS = re.compile(r"Unrecognized keyword arguments:?\s*\[([^\]]*)\]"
                           r"|unexpected keyword argument '(\w+)'"
                           r"|Keyword argument not understood:',\s*'(\w+)'")
_DROPPED_SUFFIXES = ("_initializer", "_regularizer", "_constraint")
MAX_TRIES = 8
TOLERANCE = 1e-4
"""Largest difference between the two models' float outputs (relative to the output range)."""


def _hint() -> str:
    return ("save the model with tf_keras (Keras 2) as a .h5 file, whose LSTM layers mcuforge "
            "converts directly")


def _clean(config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key.endswith(_DROPPED_SUFFIXES):
            continue
        if key == "dtype" and isinstance(value, dict):
            value = value.get("config", {}).get("name", "float32")
        out[key] = value
    return out


def _layer(tf_keras: Any, layer: Any) -> Any:
    """The tf_keras twin of a Keras 3 layer, from its config."""
    config = _clean(layer.get_config())
    name = type(layer).__name__
    for _ in range(MAX_TRIES):
        try:
            return tf_keras.layers.deserialize({"class_name": name, "config": config})
        except (TypeError, ValueError) as exc:
            found = _UNKNOWN_KEYS.search(str(exc))
            listed = next((g for g in found.groups() if g), "") if found else ""
            keys = [k.strip(" '\"") for k in listed.split(",")]
            keys = [k for k in keys if k in config]
            if not keys:
                raise UnsupportedOpsError(
                    f"layer '{layer.name}' ({name}) cannot be rebuilt in Keras 2 for the LSTM "
                    f"conversion: {str(exc).splitlines()[0][:200]}", _hint()) from None
            for k in keys:
                config.pop(k)
    raise UnsupportedOpsError(f"layer '{layer.name}' ({name}) cannot be rebuilt in Keras 2",
                              _hint())


def rebuild(model: Any, tf_keras: Any, batch: int = 1) -> Any:
    """``model`` (Keras 3, one or more inputs) as a tf_keras model with a fixed ``batch``."""
    tensors: dict[int, Any] = {}
    inputs = []
    for t in model.inputs:
        x = tf_keras.Input(batch_shape=(batch, *t.shape[1:]), dtype=str(t.dtype))
        tensors[id(t)] = x
        inputs.append(x)
    pairs = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        if getattr(layer, "layers", None):
            raise UnsupportedOpsError(
                f"layer '{layer.name}' ({type(layer).__name__}) is a nested model, which the "
                "LSTM conversion does not rebuild", _hint())
        nodes = [n for n in layer._inbound_nodes
                 if all(id(t) in tensors for t in n.input_tensors)]
        if len(nodes) != 1:
            raise UnsupportedOpsError(
                f"layer '{layer.name}' ({type(layer).__name__}) is called {len(nodes)} times in "
                "the model; the LSTM conversion rebuilds layers called once", _hint())
        twin = _layer(tf_keras, layer)
        args = [tensors[id(t)] for t in nodes[0].input_tensors]
        result = twin(args[0] if len(args) == 1 else args)
        outs = result if isinstance(result, (list, tuple)) else [result]
        for t, y in zip(nodes[0].output_tensors, outs, strict=True):
            tensors[id(t)] = y
        pairs.append((layer, twin))
    missing = [t for t in model.outputs if id(t) not in tensors]
    if missing:
        raise UnsupportedOpsError("the model's outputs could not be rebuilt in Keras 2", _hint())
    outputs = [tensors[id(t)] for t in model.outputs]
    twin_model = tf_keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs)
    for layer, twin in pairs:
        try:
            twin.set_weights(layer.get_weights())
        except ValueError as exc:
            raise UnsupportedOpsError(
                f"layer '{layer.name}' ({type(layer).__name__}): its weights do not fit its Keras 2 "
                f"twin ({str(exc).splitlines()[0][:160]})", _hint()) from None
    same_function(model, twin_model, batch)
    return twin_model


def same_function(model: Any, twin: Any, batch: int,
                  what: str = "the model rebuilt in Keras 2 for the LSTM conversion",
                  hint: str = "") -> None:
    """Refuse ``twin`` unless it computes ``model``'s function on random inputs of ``batch``."""
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-1, 1, (batch, *t.shape[1:])).astype(np.float32) for t in model.inputs]
    arg = xs[0] if len(xs) == 1 else xs
    want = [np.asarray(y) for y in _as_list(model(arg))]
    got = [np.asarray(y) for y in _as_list(twin(arg))]
    for w, g in zip(want, got, strict=True):
        span = max(float(np.max(np.abs(w))), 1.0)
        if w.shape != g.shape or float(np.max(np.abs(w - g))) > TOLERANCE * span:
            raise UnsupportedOpsError(f"{what} computes another function than the model",
                                      hint or _hint())


def _as_list(y: Any) -> list[Any]:
    return list(y) if isinstance(y, (list, tuple)) else [y]
