"""Keras 2 models saved as ``.h5`` load through the Keras 2 package (``tf_keras``) when Keras 3
cannot read them, and compile bit-exactly.

Keras 3 refuses Keras 2's DepthwiseConv2D config (its ``groups`` field), as in the MLPerf Tiny
visual-wake-words model; the tests save such a model with ``tf_keras`` itself, compile it, and compare
the C engine with the TFLite interpreter and with TFLM's Python runtime on random int8 inputs. A
legacy ``.h5`` with a Lambda layer is refused before anything is deserialised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tf_keras

from generator.errors import ModelFormatError, UnsupportedOpsError

pytestmark = [pytest.mark.tflite]

def _vww_like(path: Path) -> None:
    """A small Keras 2 MobileNet-style block (Conv2D, BatchNorm, ReLU, DepthwiseConv2D, pooling, Dense)."""
    tf_keras.utils.set_random_seed(7)
    L = tf_keras.layers
    inp = tf_keras.Input((12, 12, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inp)
    x = L.BatchNormalization()(x)
    x = L.ReLU(6.0)(x)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=1)(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    x = L.Conv2D(6, 1)(x)
    x = L.AveragePooling2D(2)(x)
    out = L.Dense(2, activation="softmax")(L.Flatten()(x))
    tf_keras.Model(inp, out).save(str(path))


def test_keras3_cannot_read_the_legacy_file(tmp_path: Path) -> None:
    """The premise: Keras 3 alone fails on a Keras 2 DepthwiseConv2D ``.h5``."""
    import keras

    _vww_like(tmp_path / "m.h5")
    with pytest.raises(Exception, match="DepthwiseConv2D"):
        keras.models.load_model(str(tmp_path / "m.h5"), compile=False)


@pytest.mark.hostc
def test_keras2_h5_compiles_bit_exact_with_tflm(tmp_path: Path) -> None:
    from generator.compiler import ImportOptions, compile_model
    from generator.host import build_host
    from generator.importer.reference_tflm import run_tflm

    _vww_like(tmp_path / "m.h5")
    np.save(tmp_path / "calib.npy",
            np.random.default_rng(0).uniform(-1, 1, (16, 12, 12, 3)).astype(np.float32))
    model = compile_model(tmp_path / "m.h5", ImportOptions(tmp_path / "calib.npy"))
    kinds = [op.kind.value for op in model.graph.ops]
    assert "DEPTHWISE_CONV_2D" in kinds and "CONV_2D" in kinds
    rng = np.random.default_rng(5)
    runs = [[rng.integers(-128, 128, size=(1, 12, 12, 3)).astype(np.int8)] for _ in range(8)]
    outs = build_host(model, tmp_path / "host").run(runs)
    for run, got in zip(runs, outs, strict=True):
        np.testing.assert_array_equal(got[0].reshape(-1), run_tflm(model.tflite, run)[0].reshape(-1))


def test_keras2_h5_with_a_lambda_is_refused_before_loading(tmp_path: Path) -> None:
    from generator.importer.keras_import import load_keras_model

    inp = tf_keras.Input((4,))
    x = tf_keras.layers.DepthwiseConv2D(1)(tf_keras.layers.Reshape((2, 2, 1))(inp))
    out = tf_keras.layers.Lambda(lambda t: t * 2.0)(x)
    tf_keras.Model(inp, out).save(str(tmp_path / "m.h5"))
    with pytest.raises(UnsupportedOpsError, match="Lambda layer, which carries Python code"):
        load_keras_model(tmp_path / "m.h5")


@pytest.mark.hostc
def test_a_keras2_gru_compiles_unrolled_bit_exact(tmp_path: Path) -> None:
    """A Keras 2 GRU after a DepthwiseConv1D (loaded with tf_keras) is unrolled by a tf_keras clone
    and compiles; the engine equals TFLite Micro on random inputs."""
    from generator.compiler import compile_model
    from generator.host import build_host
    from generator.importer.reference_tflm import run_tflm
    from generator.ir import OpKind

    tf_keras.utils.set_random_seed(3)
    inp = tf_keras.Input((5, 3))
    x = tf_keras.layers.Conv1D(4, 1)(inp)
    x = tf_keras.layers.DepthwiseConv1D(1)(x)
    out = tf_keras.layers.GRU(2, name="my_gru")(x)
    tf_keras.Model(inp, out).save(str(tmp_path / "m.h5"))
    model = compile_model(tmp_path / "m.h5")
    assert {OpKind.TANH, OpKind.LOGISTIC, OpKind.MUL} <= {op.kind for op in model.graph.ops}
    rng = np.random.default_rng(5)
    runs = [[rng.integers(-128, 128, size=(1, 5, 3)).astype(np.int8)] for _ in range(4)]
    outs = build_host(model, tmp_path / "host").run(runs)
    for run, got in zip(runs, outs, strict=True):
        np.testing.assert_array_equal(got[0].reshape(-1), run_tflm(model.tflite, run)[0].reshape(-1))


def test_keras2_recurrent_layers_without_an_int8_form_are_refused_by_name(tmp_path: Path) -> None:
    from generator.importer.keras_import import load_keras_model

    inp = tf_keras.Input((None, 3))
    x = tf_keras.layers.Conv1D(4, 1)(inp)
    x = tf_keras.layers.DepthwiseConv1D(1)(x)
    out = tf_keras.layers.GRU(2, name="my_gru")(x)
    tf_keras.Model(inp, out).save(str(tmp_path / "m.h5"))
    with pytest.raises(UnsupportedOpsError, match="GRU layer 'my_gru' runs over a variable number"):
        load_keras_model(tmp_path / "m.h5")


def test_an_hdf5_weights_file_is_a_clear_format_error(tmp_path: Path) -> None:
    from generator.importer.keras_import import load_keras_model

    inp = tf_keras.Input((4,))
    tf_keras.Model(inp, tf_keras.layers.Dense(2)(inp)).save_weights(str(tmp_path / "w.h5"))
    with pytest.raises(ModelFormatError):
        load_keras_model(tmp_path / "w.h5")
