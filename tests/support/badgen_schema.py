"""Models whose operators and tensor types are named from TFLite's schema (corpus:
expected_schema.yaml): unsupported operators and tensor types in one message, each by its schema
name, and the corrupt-file hint only for codes the schema does not define."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.support.badgen import INT8, INT32, OpSpec, TensorSpec, TfliteBuilder, fc_model

UINT8, INT16, UINT32 = 3, 7, 15
FAKE_QUANT, GATHER_ND, REDUCE_PROD, QUANTIZE = 80, 107, 81, 114


def _reduce_prod() -> TfliteBuilder:
    """REDUCE_PROD: an operator mcuforge does not compile."""
    m = TfliteBuilder()
    x = m.tensor(TensorSpec((1, 4, 4, 2), name="features"))
    axes = m.tensor(TensorSpec((2,), INT32, data=(1).to_bytes(4, "little") + (2).to_bytes(4, "little"),
                               scale=None, name="axes"))
    y = m.tensor(TensorSpec((1, 2), name="prod_out"))
    m.ops.append(OpSpec(REDUCE_PROD, (x, axes), (y,)))
    m.inputs, m.outputs = [x], [y]
    return m


def _ops_and_types() -> TfliteBuilder:
    """A REDUCE_PROD and a FAKE_QUANT, and a GATHER_ND whose indices are UINT32."""
    m = _reduce_prod()
    z = m.tensor(TensorSpec((1, 2), name="fake_quant_out"))
    m.ops.append(OpSpec(FAKE_QUANT, (m.outputs[0],), (z,)))
    idx = m.tensor(TensorSpec((1,), UINT32, data=bytes(4), scale=None, name="indices"))
    w = m.tensor(TensorSpec((1, 1), name="gathered"))
    m.ops.append(OpSpec(GATHER_ND, (z, idx), (w,)))
    m.outputs = [w]
    return m


def _unknown_op() -> TfliteBuilder:
    m = _reduce_prod()
    m.ops[0].code = 250
    return m


def _unknown_type() -> TfliteBuilder:
    m = fc_model()
    m.tensors[m.inputs[0]].dtype = 99
    return m


def _int16_quantize() -> TfliteBuilder:
    m = TfliteBuilder()
    x = m.tensor(TensorSpec((1, 8), INT16, name="audio"))
    y = m.tensor(TensorSpec((1, 8), INT8, name="audio_int8"))
    m.ops.append(OpSpec(QUANTIZE, (x,), (y,)))
    m.inputs, m.outputs = [x], [y]
    return m


def _write(build: Callable[[], TfliteBuilder]) -> Callable[[Path], object]:
    return lambda path: path.write_bytes(build().build())


MAKERS: dict[str, Callable[[Path], object]] = {
    "reduce_prod.tflite": _write(_reduce_prod),
    "ops_and_uint32.tflite": _write(_ops_and_types),
    "unknown_op_code.tflite": _write(_unknown_op),
    "unknown_tensor_type.tflite": _write(_unknown_type),
    "int16_quantize.tflite": _write(_int16_quantize),
}
