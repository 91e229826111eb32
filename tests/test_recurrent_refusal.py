"""Recurrent layers: LSTM compiles, the others are refused cleanly, never with a crash.

Facts these tests pin (TF 2.21): Keras 3's int8 calibration of an LSTM or GRU, and Keras 2's of a
GRU, crash the converting process, so Keras models with recurrent layers other than LSTM are refused
before conversion, naming the layer. A Keras 2 (tf_keras) LSTM with a fixed batch and sequence
length converts to one fused int8 UNIDIRECTIONAL_SEQUENCE_LSTM (int8 weights, int32 gate biases,
int16 cell state, int8 hidden state), which mcuforge compiles; a Keras 3 model's LSTM layers reach
it through a Keras 2 rebuild of the model (generator/importer/keras_rebuild.py). An LSTM with
``return_sequences=False`` converts to the fused operator followed by a STRIDED_SLICE of its output
(the last step), compiled with the data-movement operators.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator.errors import UnsupportedOpsError
from generator.ir import OpKind

pytestmark = [pytest.mark.tflite]


@pytest.mark.parametrize("layer", ["GRU", "SimpleRNN"])
def test_keras3_recurrent_layers_are_refused_before_conversion(layer: str, tmp_path: Path) -> None:
    import keras

    from generator.importer.keras_import import load_keras_model

    inp = keras.Input((6, 3))
    out = getattr(keras.layers, layer)(4, name="rec")(inp)
    keras.Model(inp, out).save(tmp_path / "m.keras")
    with pytest.raises(UnsupportedOpsError, match=f"'rec' \\({layer}\\)"):
        load_keras_model(tmp_path / "m.keras")


@pytest.mark.parametrize(("option", "value"), [("go_backwards", True), ("stateful", True),
                                               ("activation", "relu")])
def test_lstm_options_without_a_fused_int8_form_are_refused(option: str, value: object,
                                                            tmp_path: Path) -> None:
    import keras

    from generator.importer.keras_import import load_keras_model

    inp = keras.Input(batch_shape=(1, 6, 3))
    out = keras.layers.LSTM(4, name="rec", **{option: value})(inp)
    keras.Model(inp, out).save(tmp_path / "m.keras")
    with pytest.raises(UnsupportedOpsError, match=f"LSTM layer 'rec' has {option}="):
        load_keras_model(tmp_path / "m.keras")


def test_the_fused_int8_lstm_of_keras2_compiles() -> None:
    from generator.compiler import compile_graph
    from generator.importer.tflite_reader import read_tflite
    from tests.support.lstm_models import keras_lstm

    data = keras_lstm(1, 6, 3, 4, seed=1)
    graph = read_tflite(data, "lstm.tflite")
    assert [op.kind for op in graph.ops] == [OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM]
    compiled = compile_graph(graph, data, source="lstm")
    assert [c.func for c in compiled.schedule.calls] == ["mcuf_lstm_s8"]


@pytest.mark.hostc
def test_a_keras3_lstm_model_compiles_bit_exact(tmp_path: Path) -> None:
    """LSTM (whole sequence) then Flatten and Dense, saved by Keras 3, compiled through the
    importer (a Keras 2 rebuild, fixed batch), run on the host: equal to TFLite Micro."""
    import keras

    from generator.compiler import compile_model
    from generator.host import build_host
    from generator.importer.reference_tflm import run_tflm

    keras.utils.set_random_seed(2)
    inp = keras.Input((7, 5))
    x = keras.layers.LSTM(6, return_sequences=True, name="rec")(inp)
    out = keras.layers.Dense(3)(keras.layers.Flatten()(x))
    keras.Model(inp, out).save(tmp_path / "m.keras")
    compiled = compile_model(tmp_path / "m.keras")
    assert OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM in {op.kind for op in compiled.graph.ops}
    rng = np.random.default_rng(4)
    inputs = [rng.integers(-128, 128, size=(1, 7, 5), dtype=np.int8) for _ in range(4)]
    outs = build_host(compiled, tmp_path / "host").run([[x] for x in inputs])
    for x, got in zip(inputs, outs, strict=True):
        want = run_tflm(compiled.tflite, [x])[0]
        np.testing.assert_array_equal(got[0].reshape(want.shape), want)


def test_an_lstm_returning_its_last_step_reaches_the_strided_slice(tmp_path: Path) -> None:
    """``return_sequences=False``: the fused LSTM then a STRIDED_SLICE of its output. The LSTM
    compiles; the model as a whole compiles once STRIDED_SLICE on activations does (data-movement
    operators), and until then is refused naming that operator, not the LSTM."""
    import keras

    from generator.compiler import compile_model

    inp = keras.Input((6, 3))
    out = keras.layers.Dense(2)(keras.layers.LSTM(4, name="rec")(inp))
    keras.Model(inp, out).save(tmp_path / "m.keras")
    try:
        compiled = compile_model(tmp_path / "m.keras")
    except UnsupportedOpsError as exc:
        assert "STRIDED_SLICE" in str(exc) and "LSTM" not in str(exc), str(exc)
    else:
        assert OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM in {op.kind for op in compiled.graph.ops}
