"""Hostile operands for the element-wise and reduction operators (test_kernels_ops): random shapes
(broadcasting or not), quantisations (missing, per channel, tiny, huge), types, axes (out of range,
repeated, not constant), options and outputs. Each model is refused with an InputError naming the
file, or compiles (no engine is built here): never a traceback."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.compiler import compile_graph
from generator.errors import InputError
from generator.importer.tflite_reader import read_tflite
from tests.support.single_op import T, single_op

UNARY = ["TANH", "HARD_SWISH", "RSQRT", "L2_NORMALIZATION", "LOG_SOFTMAX"]
BINARY = ["SUB", "MAXIMUM", "MINIMUM", "PRELU", "SQUARED_DIFFERENCE"]
REDUCE = ["MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN"]
ARG = ["ARG_MAX", "ARG_MIN"]


def _options(op: str, draw: Any) -> Any:
    from ai_edge_litert import schema_py_generated as S

    if op in REDUCE:
        o = S.ReducerOptionsT()
        o.keepDims = draw(st.booleans())
        return o
    if op == "SUB":
        o = S.SubOptionsT()
        o.fusedActivationFunction = draw(st.integers(0, 5))
        return o
    if op == "L2_NORMALIZATION" and draw(st.booleans()):
        o = S.L2NormOptionsT()
        o.fusedActivationFunction = draw(st.integers(0, 3))
        return o
    if op in ARG:
        o = S.ArgMaxOptionsT() if op == "ARG_MAX" else S.ArgMinOptionsT()
        o.outputType = draw(st.sampled_from([S.TensorType.INT32, S.TensorType.INT64,
                                             S.TensorType.INT8]))
        return o
    return None


@st.composite
def _tensor(draw: Any, shape: tuple[int, ...], data: bool = False) -> T:
    dtype = draw(st.sampled_from(["int8"] * 14 + ["int32", "float32"]))
    kind = draw(st.integers(0, 19))
    if kind == 0:
        scale: Any = None
    elif kind == 1 and shape:
        scale = tuple(float(np.float32(0.1 * (i + 1))) for i in range(shape[-1]))
    elif kind == 2:
        scale = float(np.float32(10 ** draw(st.floats(-12, 6))))
    else:
        scale = float(np.float32(10 ** draw(st.floats(-3, 0.5))))
    zp = draw(st.integers(-130, 130)) if draw(st.integers(0, 9)) == 0 else draw(
        st.integers(-128, 127))
    axis = len(shape) - 1 if kind == 1 and shape else 0
    values = None
    if data:
        values = np.random.default_rng(len(shape)).integers(-128, 128, size=shape).astype(dtype)
    return T(shape, dtype, scale, zp, values, axis)


@st.composite
def hostile_models(draw: Any) -> bytes:
    op = draw(st.sampled_from(UNARY + BINARY + REDUCE + ARG))
    shapes = st.lists(st.integers(1, 5), min_size=0, max_size=5).map(tuple)
    shape = draw(shapes)
    x = draw(_tensor(shape))
    inputs = [x]
    alike = draw(st.booleans())  # every tensor quantised as the input (MAXIMUM, REDUCE_MAX, ...)
    if op in BINARY:
        other = draw(st.sampled_from([shape, shape[-1:], (1,), draw(shapes)]))
        t = draw(_tensor(other, data=op == "PRELU" or draw(st.booleans())))
        inputs.append(replace(t, scale=x.scale, zp=x.zp) if alike and t.dtype == "int8" and
                      not isinstance(x.scale, tuple) else t)
    elif op in REDUCE + ARG:
        axes = draw(st.lists(st.integers(-6, 6), min_size=0 if op in REDUCE else 1, max_size=4))
        if draw(st.integers(0, 7)):
            inputs.append(T((len(axes),), "int32", data=np.array(axes, dtype=np.int32)))
        else:  # axes computed at run time
            inputs.append(T((len(axes),), "int32"))
    if draw(st.integers(0, 9)) == 0:  # the wrong number of operands
        inputs = inputs[:1] if len(inputs) > 1 else [*inputs, inputs[0]]
    try:
        right = tuple(np.broadcast_shapes(*(t.shape for t in inputs[:2]))) if op in BINARY else shape
    except ValueError:
        right = shape
    if op in REDUCE + ARG and len(inputs) > 1 and inputs[1].data is not None and shape:
        axes = {int(a) % len(shape) for a in inputs[1].data.reshape(-1)}
        right = tuple(d for i, d in enumerate(shape) if i not in axes)
    out_shape = right if draw(st.integers(0, 3)) else draw(shapes)
    out_q = {"TANH": (1 / 128, 0), "L2_NORMALIZATION": (1 / 128, 0),
             "LOG_SOFTMAX": (16 / 256, 127)}.get(op)
    if op in ARG:
        out = T(out_shape, draw(st.sampled_from(["int32", "int32", "int8"])))
    elif out_q is not None and draw(st.integers(0, 3)):
        out = T(out_shape, scale=out_q[0], zp=out_q[1])
    else:
        out = draw(_tensor(out_shape))
        if alike and not isinstance(x.scale, tuple):
            out = T(out_shape, x.dtype, x.scale, x.zp)
    return single_op(op, inputs, [out], _options(op, draw), version=1)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(model=hostile_models())
def test_hostile_operands_are_errors_not_crashes(model: bytes) -> None:
    try:
        g = read_tflite(model, where="hostile")
    except InputError as err:
        assert "hostile" in err.message
        return
    compile_graph(g, model, source="hostile")
