"""uint8 model inputs and outputs: QUANTIZE uint8 -> int8 after the input and int8 -> uint8 before the
output, as vendor image models have them, bit-exact with TFLite Micro and the TFLite interpreter.

Keras models converted with ``inference_input_type=tf.uint8`` / ``inference_output_type=tf.uint8``
run whole and partially executed; hand-made single-QUANTIZE models sweep every input value over random
scales and zero points (saturating ones included). QUANTIZE forms TFLite runs but mcuforge does not
compile are refused as unsupported, not as a corrupt file.
"""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from generator.compiler import compile_graph
from generator.errors import ModelFormatError, UnsupportedOpsError
from generator.importer.problems import CORRUPT_HINT
from generator.importer.tflite_reader import read_tflite
from generator.ir import DType
from generator.numerics import Numerics
from tests.support.badgen import INT8, OpSpec, TensorSpec, TfliteBuilder

UINT8, INT16, INT32, BOOL = 3, 7, 2, 6
QUANTIZE = 114
NUMERICS = (Numerics.TFLM, Numerics.TFLITE_REF)


def _convert(model: Any, calib: npt.NDArray[np.float32]) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calib[i : i + 1]] for i in range(len(calib)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.uint8
    return bytes(conv.convert())


@cache
def keras_uint8(name: str) -> bytes:
    import keras

    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    if name == "image":
        inp = keras.Input((6, 6, 3))
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
        x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        out = keras.layers.Softmax()(keras.layers.Dense(3)(x))
        calib = rng.uniform(0, 1, size=(16, 6, 6, 3))
    else:  # a dense regressor whose output is not a probability
        inp = keras.Input((8,))
        out = keras.layers.Dense(5)(keras.layers.Dense(6, activation="relu")(inp))
        calib = rng.uniform(-2, 3, size=(16, 8))
    return _convert(keras.Model(inp, out), calib.astype(np.float32))


def _exact(data: bytes, tmp_path: Path, runs: list[list[npt.NDArray[Any]]],
           partial: bool = False) -> None:
    """The generated C on the host equals both references on each run, type and values."""
    from generator.host import build_host
    from generator.importer.reference import run_reference

    graph = read_tflite(data, "m.tflite")
    for numerics in NUMERICS:
        model = compile_graph(graph, data, partial=partial, numerics=numerics)
        outs = build_host(model, tmp_path / numerics.value).run(runs)
        for run, got in zip(runs, outs, strict=True):
            want = run_reference(data, run, numerics=numerics)
            for w, g in zip(want, got, strict=True):
                assert g.dtype == w.dtype, numerics
                np.testing.assert_array_equal(g.reshape(-1), w.reshape(-1), err_msg=numerics.value)


def _random_runs(data: bytes, seed: int, n: int = 4) -> list[list[npt.NDArray[Any]]]:
    g = read_tflite(data, "m.tflite")
    rng = np.random.default_rng(seed)
    specs = [g.tensors[t] for t in g.inputs]
    lows = {DType.UINT8: 0, DType.INT8: -128}
    return [[rng.integers(lows[t.dtype], lows[t.dtype] + 256, size=t.shape).astype(t.dtype.value)
             for t in specs] for _ in range(n)]


# ---- converted Keras models -------------------------------------------------------------------------


@pytest.mark.tflite
@pytest.mark.parametrize("name", ["image", "dense"])
def test_converter_uint8_io_reads_as_uint8_model_inputs_and_outputs(name: str) -> None:
    g = read_tflite(keras_uint8(name), "m.tflite")
    for tid in (*g.inputs, *g.outputs):
        assert g.tensors[tid].dtype is DType.UINT8
    assert g.ops[0].kind.value == "QUANTIZE" and g.ops[-1].kind.value == "QUANTIZE"


@pytest.mark.slow  # Keras conversions
@pytest.mark.tflite
@pytest.mark.hostc
@pytest.mark.parametrize("partial", [False, True], ids=["whole", "partial"])
@pytest.mark.parametrize("name", ["image", "dense"])
def test_converter_uint8_io_is_bit_exact(name: str, partial: bool, tmp_path: Path) -> None:
    data = keras_uint8(name)
    _exact(data, tmp_path, _random_runs(data, 1), partial=partial)


@pytest.mark.tflite
def test_uint8_engine_header_names_the_types(tmp_path: Path) -> None:
    data = keras_uint8("image")
    header = compile_graph(read_tflite(data, "m.tflite"), data).engine.header
    assert " 1x6x6x3 uint8 */" in header and " 1x3 uint8 */" in header
    assert "#define MODEL_INPUT0_BYTES 108" in header and "#define MODEL_OUTPUT0_BYTES 3" in header


# ---- one QUANTIZE, every input value, random quantisation ---------------------------------------------


def single_quantize(in_type: int, out_type: int, in_q: tuple[float, int],
                    out_q: tuple[float, int], n: int = 256) -> TfliteBuilder:
    return parallel_quantize(in_type, out_type, [(in_q, out_q)], n)


def parallel_quantize(in_type: int, out_type: int,
                      quants: list[tuple[tuple[float, int], tuple[float, int]]],
                      n: int = 256) -> TfliteBuilder:
    """One QUANTIZE per quantisation pair, each from a model input to a model output."""
    m = TfliteBuilder()
    for k, (in_q, out_q) in enumerate(quants):
        suffix = str(k) if k else ""
        x = m.tensor(TensorSpec((1, n), in_type, scale=(in_q[0],), zero_point=(in_q[1],),
                                name=f"x{suffix}"))
        y = m.tensor(TensorSpec((1, n), out_type, scale=(out_q[0],), zero_point=(out_q[1],),
                                name=f"y{suffix}"))
        m.ops.append(OpSpec(QUANTIZE, (x,), (y,)))
        m.inputs.append(x)
        m.outputs.append(y)
    return m


def _random_quantisation(rng: random.Random, dtype: int) -> tuple[float, int]:
    scale = 2.0 ** rng.uniform(-10, 0) * rng.uniform(1, 2)
    return scale, rng.randint(0, 255) if dtype == UINT8 else rng.randint(-128, 127)


def _every_value(dtype: int) -> npt.NDArray[Any]:
    values = np.arange(256) if dtype == UINT8 else np.arange(-128, 128)
    return values.astype(np.uint8 if dtype == UINT8 else np.int8).reshape(1, 256)


FIXED = {  # zero points 128 apart at equal scales (TFLite's shortcut), saturating, shrinking, equal
    (UINT8, INT8): [((0.02, 128), (0.02, 0)), ((1 / 255, 0), (1 / 255, -128)), ((0.5, 3), (0.01, 1)),
                    ((0.003, 255), (0.4, 0)), ((0.1, 17), (0.1, 17)), ((0.02, 0), (0.02, 0))],
    (INT8, UINT8): [((0.02, 0), (0.02, 128)), ((1 / 255, -128), (1 / 255, 0)), ((0.5, 3), (0.01, 1)),
                    ((0.003, -128), (0.4, 255)), ((0.1, 17), (0.1, 17)), ((0.02, 0), (0.02, 0))],
}


@pytest.mark.tflite
@pytest.mark.hostc
@pytest.mark.parametrize("in_type,out_type", sorted(FIXED), ids=["u8_to_s8", "s8_to_u8"])
def test_requantize_between_uint8_and_int8_is_bit_exact(in_type: int, out_type: int,
                                                         tmp_path: Path) -> None:
    rng = random.Random(in_type * 31 + out_type)
    quants = list(FIXED[in_type, out_type])
    quants += [(_random_quantisation(rng, in_type), _random_quantisation(rng, out_type))
               for _ in range(8)]
    data = parallel_quantize(in_type, out_type, quants).build()
    _exact(data, tmp_path, [[_every_value(in_type)] * len(quants)])


# ---- refused -----------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("in_type,out_type", [(INT16, INT8), (UINT8, UINT8), (INT8, INT16)],
                         ids=["s16_to_s8", "u8_to_u8", "s8_to_s16"])
def test_quantize_forms_tflite_runs_are_unsupported_not_corrupt(in_type: int, out_type: int) -> None:
    data = single_quantize(in_type, out_type, (0.02, 0), (0.02, 0)).build()
    with pytest.raises(UnsupportedOpsError, match="operator 0 QUANTIZE 'y': converts") as info:
        read_tflite(data, "m.tflite")
    assert CORRUPT_HINT not in info.value.hint
    assert "uint8 to int8" in info.value.message


@pytest.mark.unit
@pytest.mark.parametrize("in_type,out_type", [(BOOL, INT8), (INT32, UINT8)],
                         ids=["bool_to_s8", "s32_to_u8"])
def test_quantize_forms_no_kernel_runs_are_malformed(in_type: int, out_type: int) -> None:
    data = single_quantize(in_type, out_type, (0.02, 0), (0.02, 0)).build()
    with pytest.raises(ModelFormatError, match="no TFLite kernel converts these types") as info:
        read_tflite(data, "m.tflite")
    assert info.value.hint == CORRUPT_HINT


@pytest.mark.unit
def test_a_uint8_activation_inside_the_graph_is_unsupported_not_corrupt() -> None:
    m = single_quantize(INT8, UINT8, (0.02, 0), (0.02, 128), n=8)
    z = m.tensor(TensorSpec((1, 8), INT8, scale=(1 / 256,), zero_point=(-128,), name="z"))
    m.ops.append(OpSpec(14, (m.outputs[0],), (z,)))  # LOGISTIC of the uint8 tensor
    m.outputs = [z]
    with pytest.raises(UnsupportedOpsError, match="LOGISTIC 'z': input 'y' is uint8, expected int8"):
        read_tflite(m.build(), "m.tflite")
