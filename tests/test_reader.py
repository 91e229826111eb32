"""The .tflite reader: faithful to the interpreter's view, and strict on bad files."""

from __future__ import annotations

import numpy as np
import pytest

from generator.errors import ModelFormatError, UnsupportedOpsError
from generator.importer.tflite_reader import read_tflite
from generator.ir import Conv2DAttrs, DType, OpKind, Padding
from tests.support.tinymodel import tiny_tflite

pytestmark = pytest.mark.tflite


def test_graph_matches_the_interpreter() -> None:
    from ai_edge_litert.interpreter import Interpreter

    data = tiny_tflite()
    g = read_tflite(data)
    assert [op.kind for op in g.ops] == [
        OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.CONV_2D, OpKind.MAX_POOL_2D,
        OpKind.RESHAPE, OpKind.FULLY_CONNECTED,
    ]
    first = g.ops[0].attrs
    assert isinstance(first, Conv2DAttrs)
    assert (first.stride_h, first.stride_w, first.padding) == (2, 2, Padding.SAME)
    interp = Interpreter(model_content=data)
    for det in interp.get_tensor_details():
        t = g.tensors[det["index"]]
        assert t.shape == tuple(int(d) for d in det["shape"]), t.name
        q = det["quantization_parameters"]
        if len(q["scales"]):
            assert t.quant is not None
            np.testing.assert_array_equal(np.float32(t.quant.scale), q["scales"])
            np.testing.assert_array_equal(t.quant.zero_point, q["zero_points"])
        if t.is_const and t.dtype in (DType.INT8, DType.INT32):
            np.testing.assert_array_equal(t.data, interp.get_tensor(det["index"]))
    assert g.tensors[g.inputs[0]].dtype is DType.INT8


@pytest.mark.parametrize("cut", [0, 3, 7, 8, 64, 500, -200, -1])
def test_truncated_files_are_rejected_cleanly(cut: int) -> None:
    data = tiny_tflite()
    with pytest.raises(ModelFormatError):
        read_tflite(data[:cut] if cut > 0 else data[: len(data) + cut] if cut else b"")


def test_wrong_identifier_is_named() -> None:
    data = bytearray(tiny_tflite())
    data[4:8] = b"XXXX"
    with pytest.raises(ModelFormatError, match="not a TFLite model"):
        read_tflite(bytes(data))


def test_every_unsupported_op_is_listed() -> None:
    import keras

    from generator.importer.keras_import import QuantizeOptions, quantize_keras

    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inp)
    x = keras.layers.Activation("elu")(x)
    # CUMSUM: TFLite has no int8 kernel for it (the converter leaves it in float)
    x = keras.layers.Lambda(lambda t: keras.ops.cumsum(t, axis=1))(x)
    x = keras.layers.Lambda(lambda t: keras.ops.cumsum(t, axis=1))(x)
    model = keras.Model(inp, x)
    data = quantize_keras(model, QuantizeOptions(
        calibration=np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 3)).astype(np.float32)))
    with pytest.raises(UnsupportedOpsError) as err:
        read_tflite(data, where="m.tflite")
    msg = err.value.message
    assert msg.startswith("m.tflite: 3 unsupported operator(s)")
    assert "ELU (output tensor 'functional" in msg
    assert msg.count("CUMSUM (output tensor") == 2


def test_int16_with_its_own_zero_point_is_unsupported_not_corrupt() -> None:
    """TFLite's int16 SOFTMAX output has zero point -32768: a valid file mcuforge does not compile
    (int16 activations), said as such, never with the 'corrupt' hint."""
    from ai_edge_litert import schema_py_generated as S

    from tests.support.single_op import T, single_op

    opts = S.SoftmaxOptionsT()
    opts.beta = 1.0
    model = single_op("SOFTMAX", [T((1, 12), scale=0.1, zp=0)],
                      [T((1, 12), dtype="int16", scale=1 / 65536, zp=-32768)], opts)
    with pytest.raises(UnsupportedOpsError) as err:
        read_tflite(model, where="m.tflite")
    assert "is int16, expected int8" in err.value.message
    assert "corrupt" not in err.value.hint
