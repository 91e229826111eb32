"""Small Keras LSTM models converted to the fused int8 UNIDIRECTIONAL_SEQUENCE_LSTM (tf_keras with a
fixed batch and sequence length and a representative data set: the converter path that gives the
fused operator), and edits of them through the schema's object API for the refusal tests."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np


@cache
def keras_lstm(batch: int, steps: int, features: int, units: int, seed: int = 0,
               return_sequences: bool = True, time_major: bool = False,
               weight_gain: float = 1.0, unit_forget_bias: bool = True) -> bytes:
    """A one-layer tf_keras LSTM, int8 in and out, with random weights (times ``weight_gain``)."""
    import tensorflow as tf
    import tf_keras

    from generator.importer.keras_import import quiet_native_output

    tf_keras.utils.set_random_seed(seed)
    shape = (steps, batch, features) if time_major else (batch, steps, features)
    inp = tf_keras.Input(batch_shape=shape)
    layer = tf_keras.layers.LSTM(units, return_sequences=return_sequences, time_major=time_major,
                                 unit_forget_bias=unit_forget_bias)
    model = tf_keras.Model(inp, layer(inp))
    if weight_gain != 1.0:
        model.set_weights([w * weight_gain for w in model.get_weights()])
    rng = np.random.default_rng(seed)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: (
        [rng.uniform(-1, 1, shape).astype(np.float32)] for _ in range(16))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with quiet_native_output():
        return bytes(conv.convert())


def edit(model: bytes, change: Callable[[Any, Any], None]) -> bytes:
    """``model`` with ``change(model_t, lstm_operator_t)`` applied to its object-API form."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    m = S.ModelT.InitFromObj(S.Model.GetRootAsModel(model, 0))
    code = S.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    op = next(o for o in m.subgraphs[0].operators
              if max(m.operatorCodes[o.opcodeIndex].builtinCode,
                     m.operatorCodes[o.opcodeIndex].deprecatedBuiltinCode) == code)
    op.inputs = [int(t) for t in op.inputs]  # a read-only array in the object API
    change(m, op)
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
