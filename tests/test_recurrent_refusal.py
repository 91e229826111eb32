"""Recurrent layers are refused cleanly, never with a crash.

Facts these tests pin (TF 2.21): Keras 3's int8 calibration of an LSTM or GRU, and Keras 2's of a
GRU, crash the converting process, so Keras models with recurrent layers are refused before
conversion, naming the layer. A Keras 2 LSTM with fixed batch and sequence length converts to one
fused int8 UNIDIRECTIONAL_SEQUENCE_LSTM (int8 weights, int32 gate biases, int16 cell state, int8
hidden state), which mcuforge does not compile yet: the reader refuses it naming the operator's
output tensor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator.errors import UnsupportedOpsError

pytestmark = [pytest.mark.tflite]


@pytest.mark.parametrize("layer", ["LSTM", "GRU", "SimpleRNN"])
def test_keras3_recurrent_layers_are_refused_before_conversion(layer: str, tmp_path: Path) -> None:
    import keras

    from generator.importer.keras_import import load_keras_model

    inp = keras.Input((6, 3))
    out = getattr(keras.layers, layer)(4, name="rec")(inp)
    keras.Model(inp, out).save(tmp_path / "m.keras")
    with pytest.raises(UnsupportedOpsError, match=f"'rec' \\({layer}\\)"):
        load_keras_model(tmp_path / "m.keras")


def test_the_fused_int8_lstm_is_refused_naming_its_tensor() -> None:
    import tensorflow as tf
    import tf_keras

    from generator.importer.keras_import import quiet_native_output
    from generator.importer.tflite_reader import read_tflite

    tf_keras.utils.set_random_seed(1)
    inp = tf_keras.Input(batch_shape=(1, 6, 3))
    model = tf_keras.Model(inp, tf_keras.layers.LSTM(4, return_sequences=True)(inp))
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    conv.representative_dataset = lambda: (
        [rng.uniform(-1, 1, (1, 6, 3)).astype(np.float32)] for _ in range(8))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with quiet_native_output():
        data = bytes(conv.convert())
    with pytest.raises(UnsupportedOpsError, match=r"UNIDIRECTIONAL_SEQUENCE_LSTM \(output tensor '"):
        read_tflite(data, "lstm.tflite")
