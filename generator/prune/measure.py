"""Measuring one candidate model: int8 conversion from the user's data, memory plan, accuracy, MACs."""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from generator.compiler import CompiledModel, compile_graph
from generator.importer.tflite_reader import read_tflite
from generator.ir import DepthwiseConv2DAttrs, Graph, OpKind
from generator.plan.pex import lower_bound


@dataclass(frozen=True, eq=False)
class Measured:
    tflite: bytes
    compiled: CompiledModel
    lower_bound: int

    @property
    def graph(self) -> Graph:
        return self.compiled.graph

    @property
    def peak(self) -> int:
        return self.compiled.program.peak

    @property
    def arena(self) -> int:
        return self.compiled.arena_bytes


def calibration_set(x: npt.NDArray[np.float32], samples: int, seed: int) -> npt.NDArray[np.float32]:
    """A fixed, shuffled subset of the training inputs as the representative data set."""
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(x))[: min(samples, len(x))]
    return x[np.sort(pick)]


def quantize(model: Any, calibration: npt.NDArray[np.float32]) -> bytes:
    """Full-int8 conversion with the given representative inputs; the converter's chatter muted."""
    from generator.importer.keras_import import QuantizeOptions, quantize_keras

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_keras(model, QuantizeOptions(calibration=calibration,
                                                     calibration_steps=len(calibration)))


def measure(model: Any, calibration: npt.NDArray[np.float32], name: str = "model") -> Measured:
    tflite = quantize(model, calibration)
    graph = read_tflite(tflite, where=name)
    compiled = compile_graph(graph, tflite, source=name, partial=True)
    return Measured(tflite, compiled, lower_bound(graph))


def graph_macs(g: Graph) -> int:
    """Multiply-accumulates of the convolution, depthwise and fully connected operators."""
    total = 0
    for op in g.ops:
        out = g.tensors[op.outputs[0]]
        if op.kind is OpKind.CONV_2D:
            _, kh, kw, cin = g.tensors[op.inputs[1]].shape
            total += out.size * kh * kw * cin
        elif op.kind is OpKind.DEPTHWISE_CONV_2D and isinstance(op.attrs, DepthwiseConv2DAttrs):
            _, kh, kw, _ = g.tensors[op.inputs[1]].shape
            total += out.size * kh * kw
        elif op.kind is OpKind.FULLY_CONNECTED:
            total += out.size * g.tensors[op.inputs[1]].shape[-1]
    return total


def predict_classes(scores: npt.NDArray[np.floating[Any]], threshold: float) -> npt.NDArray[np.int64]:
    """Class of each row: argmax, or for a single output, above ``threshold``."""
    if scores.shape[-1] == 1:
        return (scores.reshape(len(scores)) > threshold).astype(np.int64)
    classes: npt.NDArray[np.int64] = np.argmax(scores.reshape(len(scores), -1), axis=1)
    return classes.astype(np.int64)


def float_accuracy(model: Any, x: npt.NDArray[np.float32], y: npt.NDArray[np.int64],
                   threshold: float) -> float:
    scores = np.asarray(model.predict(x, batch_size=256, verbose=0))
    return float(np.mean(predict_classes(scores, threshold) == y))


def int8_accuracy(tflite: bytes, x: npt.NDArray[np.float32], y: npt.NDArray[np.int64],
                  threshold: float) -> float:
    """Accuracy of the int8 model on the TFLite reference kernels (what the generated C computes)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=tflite,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    det_in, det_out = interp.get_input_details()[0], interp.get_output_details()[0]
    s_in, z_in = det_in["quantization"]
    s_out, z_out = det_out["quantization"]
    q = np.clip(np.round(x / s_in) + z_in, -128, 127).astype(det_in["dtype"])
    outs = []
    for sample in q:
        interp.set_tensor(det_in["index"], sample.reshape(det_in["shape"]))
        interp.invoke()
        raw = interp.get_tensor(det_out["index"]).astype(np.float64)
        outs.append((raw - z_out) * s_out if s_out else raw)
    return float(np.mean(predict_classes(np.stack(outs), threshold) == y))
