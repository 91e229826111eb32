"""Recurrent layers: LSTM (fused or unrolled), GRU and SimpleRNN (unrolled) compile, the others are
refused cleanly, never with a crash.

Facts these tests pin (TF 2.21): Keras 3's int8 calibration of a rolled LSTM or GRU, and Keras 2's of
a GRU, crash the converting process; rolled recurrent layers otherwise become WHILE loops. A Keras 2
(tf_keras) LSTM with a fixed batch and sequence length converts to one fused int8
UNIDIRECTIONAL_SEQUENCE_LSTM (int8 weights, int32 gate biases, int16 cell state, int8 hidden state),
which mcuforge compiles; a Keras 3 model's LSTM layers reach it through a Keras 2 rebuild of the
model (generator/importer/keras_rebuild.py). An LSTM with ``return_sequences=False`` converts to the
fused operator followed by a STRIDED_SLICE of its output (the last step), which compiles as a strided
copy. GRU and SimpleRNN layers, and LSTM layers with options the fused form lacks (``go_backwards``,
other activations, no bias, ``return_state``, ``unroll=True``), over a fixed number of time steps are
converted unrolled (the importer clones them with ``unroll=True`` and dropout off): per step
FULLY_CONNECTED, TANH, LOGISTIC, MUL, ADD, SUB and the SPLIT / STRIDED_SLICE / UNPACK that cut gates
and steps apart, each of which compiles exactly against both runtimes. Bidirectional wrappers, stateful layers and variable sequence lengths
are refused before conversion, naming the layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from generator.errors import UnsupportedOpsError
from generator.ir import OpKind

pytestmark = [pytest.mark.tflite]

UNROLLED_CASES: list[tuple[str, dict[str, Any]]] = [
    ("GRU", {}),
    ("GRU", {"return_sequences": True, "go_backwards": True}),
    ("GRU", {"reset_after": False, "dropout": 0.2, "recurrent_dropout": 0.2}),
    ("GRU", {"unroll": True, "recurrent_activation": "hard_sigmoid"}),
    ("SimpleRNN", {}),
    ("SimpleRNN", {"activation": "relu", "return_sequences": True}),
    ("LSTM", {"go_backwards": True}),
    ("LSTM", {"activation": "relu", "use_bias": False}),
]


@pytest.mark.hostc
@pytest.mark.slow
@pytest.mark.parametrize(("layer", "options"), UNROLLED_CASES,
                         ids=[f"{n}-{'-'.join(o) or 'default'}" for n, o in UNROLLED_CASES])
def test_keras3_gru_and_simple_rnn_compile_unrolled_bit_exact(
        layer: str, options: dict[str, Any], tmp_path: Path) -> None:
    """Saved by Keras 3 as users write them, compiled from the .keras file (unrolled by the
    importer, no fused LSTM), run on the host: equal to TFLite Micro and to the TFLite interpreter."""
    import keras

    from generator.compiler import compile_graph, compile_model
    from generator.host import build_host
    from generator.importer.reference import run_reference
    from generator.importer.tflite_reader import read_tflite
    from generator.numerics import Numerics

    keras.utils.set_random_seed(5)
    inp = keras.Input((7, 4))
    x = getattr(keras.layers, layer)(5, name="rec", **options)(inp)
    if len(x.shape) == 3:
        x = keras.layers.Flatten()(x)
    keras.Model(inp, keras.layers.Dense(3)(x)).save(tmp_path / "m.keras")
    compiled = compile_model(tmp_path / "m.keras")
    kinds = {op.kind for op in compiled.graph.ops}
    assert OpKind.FULLY_CONNECTED in kinds and not kinds & {OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM}
    data = compiled.tflite
    rng = np.random.default_rng(4)
    inputs = [[rng.integers(-128, 128, size=(1, 7, 4), dtype=np.int8)] for _ in range(4)]
    for numerics in Numerics:
        model = compile_graph(read_tflite(data, "m"), data, source="m", numerics=numerics)
        outs = build_host(model, tmp_path / numerics.value).run(inputs)
        for x_run, got in zip(inputs, outs, strict=True):
            want = run_reference(data, x_run, numerics=numerics)[0]
            np.testing.assert_array_equal(got[0].reshape(want.shape), want,
                                          err_msg=numerics.value)


def _save(tmp_path: Path, build: Any) -> Path:
    import keras

    inp, x = build(keras)
    keras.Model(inp, keras.layers.Dense(2)(x)).save(tmp_path / "m.keras")
    return tmp_path / "m.keras"


@pytest.mark.parametrize(("build", "message"), [
    (lambda k: (i := k.Input((6, 3)), k.layers.Bidirectional(k.layers.GRU(4), name="rec")(i)),
     "'rec' \\(Bidirectional\\)"),
    (lambda k: (i := k.Input(batch_shape=(1, 6, 3)), k.layers.GRU(4, stateful=True, name="rec")(i)),
     "GRU layer 'rec' has stateful=True"),
    (lambda k: (i := k.Input(batch_shape=(1, 6, 3)), k.layers.LSTM(4, stateful=True, name="rec")(i)),
     "LSTM layer 'rec' has stateful=True; mcuforge resets recurrent state every inference"),
    (lambda k: (i := k.Input((None, 3)), k.layers.SimpleRNN(4, name="rec")(i)),
     "SimpleRNN layer 'rec' runs over a variable number of time steps"),
    (lambda k: (i := k.Input((600, 3)), k.layers.GRU(4, name="rec")(i)),
     "GRU layer 'rec' runs over 600 time steps; mcuforge unrolls GRU layers over at most 512"),
], ids=["bidirectional", "stateful-gru", "stateful-lstm", "variable-length", "too-long"])
def test_recurrent_layers_without_an_int8_form_are_refused_before_conversion(
        build: Any, message: str, tmp_path: Path) -> None:
    from generator.importer.keras_import import load_keras_model

    with pytest.raises(UnsupportedOpsError, match=message):
        load_keras_model(_save(tmp_path, build))


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


@pytest.mark.hostc
def test_an_lstm_returning_its_last_step_compiles_bit_exact(tmp_path: Path) -> None:
    """``return_sequences=False`` (Keras's default): the fused LSTM, a STRIDED_SLICE of its last
    step (a strided copy), then Dense; compiled from the .keras file, run on the host, equal to
    TFLite Micro."""
    import keras

    from generator.compiler import compile_model
    from generator.host import build_host
    from generator.importer.reference_tflm import run_tflm

    keras.utils.set_random_seed(3)
    inp = keras.Input((6, 3))
    out = keras.layers.Dense(2)(keras.layers.LSTM(4, name="rec")(inp))
    keras.Model(inp, out).save(tmp_path / "m.keras")
    compiled = compile_model(tmp_path / "m.keras")
    assert [op.kind for op in compiled.graph.ops] == [
        OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM, OpKind.STRIDED_SLICE, OpKind.FULLY_CONNECTED]
    rng = np.random.default_rng(4)
    inputs = [rng.integers(-128, 128, size=(1, 6, 3), dtype=np.int8) for _ in range(4)]
    outs = build_host(compiled, tmp_path / "host").run([[x] for x in inputs])
    for x, got in zip(inputs, outs, strict=True):
        want = run_tflm(compiled.tflite, [x])[0]
        np.testing.assert_array_equal(got[0].reshape(want.shape), want)
