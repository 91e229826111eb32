"""Crafted .tflite files that a converter never writes and the engine cannot compute exactly.

Each maker starts from a valid one-operator model of :mod:`tests.support.badgen` and breaks one
thing: a zero point, an enum, an operand count, a dtype, a quantisation array, a shape. The expected
messages are in ``tests/bad_inputs/expected_exact.yaml``; :data:`CLASSES` says which error each is.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ADD, CONCATENATION, MAX_POOL_2D, MUL, SOFTMAX, LOGISTIC, MEAN, QUANTIZE = 0, 2, 17, 18, 25, 14, 40, 114
INT16 = 7


def _fc_weight_zero_point() -> TfliteBuilder:
    m = fc_model()
    m.tensors[1].zero_point = (5,)
    m.tensors[1].data = bytes([1]) * 32
    return m


def _conv_padding(value: int) -> TfliteBuilder:
    m = conv_model()
    m.ops[0].byte_options[0] = value
    return m


def _conv_activation(value: int) -> TfliteBuilder:
    m = conv_model()
    m.ops[0].byte_options[3] = value
    return m


def _one_zero_point_four_scales() -> TfliteBuilder:
    m = fc_model()
    m.tensors[1].scale, m.tensors[1].zero_point = (0.01,) * 4, (0,)
    return m


def _fc_five_inputs() -> TfliteBuilder:
    m = fc_model()
    m.ops[0].inputs = (0, 1, 2, 2, 2)
    return m


def _fc_two_outputs() -> TfliteBuilder:
    m = fc_model()
    extra = m.tensor(TensorSpec((1, 4), scale=(0.1,), name="second_output"))
    m.ops[0].outputs = (3, extra)
    return m


def _fc_int8_bias() -> TfliteBuilder:
    m = fc_model()
    m.tensors[2].dtype, m.tensors[2].data = INT8, bytes(4)
    return m


def _fc_bias_scale() -> TfliteBuilder:
    m = fc_model()  # input scale 0.05 times weight scale 0.01 is 0.0005
    m.tensors[2].scale = (0.01,)
    return m


def _fc_output_rank() -> TfliteBuilder:
    m = fc_model()
    m.tensors[3].shape = (1, 1, 4)
    return m


def _fc_shuffled_weights() -> TfliteBuilder:
    m = fc_model()
    m.ops[0].options_type, m.ops[0].byte_options = 8, {1: 1}
    return m


def _fc_int16_input() -> TfliteBuilder:
    m = fc_model()
    m.tensors[0].dtype = INT16
    return m


def _fc_per_channel_input() -> TfliteBuilder:
    m = fc_model()
    m.tensors[0].scale, m.tensors[0].zero_point = (0.05,) * 8, (0,) * 8
    m.tensors[0].quantized_dimension = 1
    return m


def _conv_options_type() -> TfliteBuilder:
    m = conv_model()
    m.ops[0].options_type = 5  # Pool2DOptions
    return m


def _conv_without_options() -> TfliteBuilder:
    m = conv_model()
    m.ops[0] = OpSpec(CONV_2D, m.ops[0].inputs, m.ops[0].outputs)
    return m


def _conv_without_bias() -> TfliteBuilder:
    m = conv_model()
    m.ops[0].inputs = (0, 1, -1)
    return m


def _conv_bias_zero_point() -> TfliteBuilder:
    m = conv_model()
    m.tensors[3].zero_point = (128,)
    return m


def _conv_filter_axis() -> TfliteBuilder:
    m = conv_model(channels=4)  # filter (4, 3, 3, 4): four scales along the input channels
    m.tensors[1].scale, m.tensors[1].zero_point = (0.01, 0.02, 0.03, 0.04), (0,) * 4
    m.tensors[1].quantized_dimension = 3
    return m


def _conv_batch_two() -> TfliteBuilder:
    m = conv_model()
    m.tensors[0].shape, m.tensors[2].shape = (2, 8, 8, 2), (2, 6, 6, 4)
    return m


def _two_inputs(code: int, out_scale: float, options: tuple[int, dict[int, int], dict[int, int]]
                ) -> TfliteBuilder:
    m = TfliteBuilder()
    a = m.tensor(TensorSpec((1, 4), scale=(0.1,), name="a"))
    y = m.tensor(TensorSpec((1, 8), scale=(out_scale,), name="joined"))
    m.ops.append(OpSpec(code, (a, a), (y,), *options))
    m.inputs, m.outputs = [a], [y]
    return m


def _concat_requantizes() -> TfliteBuilder:
    return _two_inputs(CONCATENATION, 0.2, (10, {0: 1}, {1: 0}))


def _concat_relu() -> TfliteBuilder:
    return _two_inputs(CONCATENATION, 0.1, (10, {0: 1}, {1: 1}))


def _pool(out_scale: float = 0.1, filter_hw: int = 1, padding: int = 1) -> TfliteBuilder:
    m = TfliteBuilder()
    x = m.tensor(TensorSpec((1, 4, 4, 2), scale=(0.1,), name="map"))
    y = m.tensor(TensorSpec((1, 4, 4, 2), scale=(out_scale,), name="pooled"))
    m.ops.append(OpSpec(MAX_POOL_2D, (x,), (y,), 5, {1: 1, 2: 1, 3: filter_hw, 4: filter_hw},
                        {0: padding, 5: 0}))
    m.inputs, m.outputs = [x], [y]
    return m


def _reshape(shape: list[int] | None, out_shape: tuple[int, ...], out_scale: float = 0.1
             ) -> TfliteBuilder:
    m = TfliteBuilder()
    x = m.tensor(TensorSpec((1, 4), scale=(0.1,), name="flat"))
    inputs = (x,)
    if shape is not None:
        data = np.asarray(shape, np.int32).tobytes()
        inputs = (x, m.tensor(TensorSpec((len(shape),), INT32, data, None, name="new_shape")))
    y = m.tensor(TensorSpec(out_shape, scale=(out_scale,), name="reshaped"))
    m.ops.append(OpSpec(RESHAPE, inputs, (y,)))
    m.inputs, m.outputs = [x], [y]
    return m


def _unary(code: int, out_scale: float, out_zp: int, options_type: int = 0,
           out_scales: int = 1) -> TfliteBuilder:
    m = TfliteBuilder()
    x = m.tensor(TensorSpec((1, 4), scale=(0.1,), name="logits"))
    y = m.tensor(TensorSpec((1, 4), scale=(out_scale,) * out_scales, zero_point=(out_zp,) * out_scales,
                            name="probabilities", quantized_dimension=1))
    m.ops.append(OpSpec(code, (x,), (y,), options_type))
    m.inputs, m.outputs = [x], [y]
    return m


def _mean_dynamic_axes() -> TfliteBuilder:
    """MEAN whose axes are a model input: which axes it reduces is known only at run time."""
    m = TfliteBuilder()
    x = m.tensor(TensorSpec((1, 2, 2, 3), scale=(0.1,), name="map"))
    axes = m.tensor(TensorSpec((1,), INT32, None, None, name="axes"))
    y = m.tensor(TensorSpec((1, 2, 2), scale=(0.1,), name="channel_mean"))
    m.ops.append(OpSpec(MEAN, (x, axes), (y,), 27, {}, {0: 0}))
    m.inputs, m.outputs = [x, axes], [y]
    return m


def _add_broadcast_rows() -> TfliteBuilder:
    """ADD of a (1, 4, 1, 1) constant to a (1, 4, 4, 4) map: one value per row, not per channel."""
    m = TfliteBuilder()
    x = m.tensor(TensorSpec((1, 4, 4, 4), scale=(0.1,), name="map"))
    rows = m.tensor(TensorSpec((1, 4, 1, 1), data=bytes([10, 20, 30, 40]), scale=(0.1,), name="rows"))
    y = m.tensor(TensorSpec((1, 4, 4, 4), scale=(0.2,), name="sum"))
    m.ops.append(OpSpec(ADD, (x, rows), (y,), 11, {}, {0: 0}))
    m.inputs, m.outputs = [x], [y]
    return m


def _softmax_rows(depth: int) -> TfliteBuilder:
    m = TfliteBuilder()
    x = m.tensor(TensorSpec((1, depth), scale=(0.1,), name="logits"))
    y = m.tensor(TensorSpec((1, depth), scale=(1 / 256,), zero_point=(-128,), name="probabilities"))
    m.ops.append(OpSpec(SOFTMAX, (x,), (y,), 9, float_options={0: 1.0}))
    m.inputs, m.outputs = [x], [y]
    return m


class _Repacked:
    """A valid model with one field set through TFLite's own schema classes (fields the test builder
    does not write: is_variable, sparsity, custom quantization details)."""

    def __init__(self, base: Callable[[], TfliteBuilder], change: Callable[[Any, Any], None]) -> None:
        self.base, self.change = base, change

    def build(self) -> bytes:
        import flatbuffers
        from ai_edge_litert import schema_py_generated as schema

        model = schema.ModelT.InitFromPackedBuf(self.base().build(), 0)
        self.change(schema, model.subgraphs[0].tensors)
        b = flatbuffers.Builder(1024)
        b.Finish(model.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _variable(schema: Any, tensors: list[Any]) -> None:
    tensors[0].isVariable = True


def _sparse(schema: Any, tensors: list[Any]) -> None:
    sparsity = schema.SparsityParametersT()
    sparsity.traversalOrder = [0, 1]
    tensors[1].sparsity = sparsity


def _custom_quantization(schema: Any, tensors: list[Any]) -> None:
    custom = schema.CustomQuantizationT()
    custom.custom = [1, 2, 3]
    tensors[1].quantization.detailsType = schema.QuantizationDetails.CustomQuantization
    tensors[1].quantization.details = custom


def _with_tensor(m: TfliteBuilder, index: int, **fields: object) -> TfliteBuilder:
    for name, value in fields.items():
        setattr(m.tensors[index], name, value)
    return m


def _add_output_scale_tiny() -> TfliteBuilder:
    """ADD whose output scale is below 2 * input scale / 2^20: TFLite's Prepare aborts on it."""
    m = _add_broadcast_rows()
    _with_tensor(m, 1, shape=(1, 4, 4, 4), data=bytes(64))
    return _with_tensor(m, 2, scale=(1e-9,))


def _pool_of_a_constant() -> TfliteBuilder:
    """MAX_POOL_2D of a constant map, added to the model input."""
    m = TfliteBuilder()
    x = m.tensor(TensorSpec((1, 4, 4, 2), scale=(0.1,), name="map"))
    c = m.tensor(TensorSpec((1, 4, 4, 2), data=bytes(range(1, 33)), scale=(0.1,), name="const_map"))
    p = m.tensor(TensorSpec((1, 4, 4, 2), scale=(0.1,), name="pooled"))
    y = m.tensor(TensorSpec((1, 4, 4, 2), scale=(0.2,), name="sum"))
    m.ops.append(OpSpec(MAX_POOL_2D, (c,), (p,), 5, {1: 1, 2: 1, 3: 1, 4: 1}, {0: 0, 5: 0}))
    m.ops.append(OpSpec(ADD, (x, p), (y,), 11, {}, {0: 0}))
    m.inputs, m.outputs = [x], [y]
    return m


def _fc_rescale_overflows() -> TfliteBuilder:
    """Weights of 1..32 and an output scale so small that the rescaled accumulator leaves int32
    (TFLite's double-to-int32 conversion is then undefined: -128 where the engine saturates to 127)."""
    m = fc_model()
    m.tensors[1].data = bytes(range(1, 33))
    m.tensors[3].scale = (1e-9,)
    m.ops[0].inputs = (0, 1, -1)
    return m


def _mul_rescale_overflows() -> TfliteBuilder:
    """MUL of the input by itself with an output scale 10^7 times below the product of the scales."""
    m = TfliteBuilder()
    a = m.tensor(TensorSpec((1, 4), scale=(0.1,), name="a"))
    y = m.tensor(TensorSpec((1, 4), scale=(1e-9,), name="square"))
    m.ops.append(OpSpec(MUL, (a, a), (y,), 21, {}, {0: 0}))
    m.inputs, m.outputs = [a], [y]
    return m


def _unused_tensor_scales() -> TfliteBuilder:
    """A tensor no operator uses, with 3 scales along a dimension of 2: TFLite refuses the file."""
    m = fc_model()
    m.tensor(TensorSpec((2, 5), scale=(0.1, 0.2, 0.3), zero_point=(0, 0, 0), name="leftover"))
    return m


def _write(build: Callable[[], TfliteBuilder | _Repacked]) -> Callable[[Path], object]:
    return lambda path: path.write_bytes(build().build())


BUILDERS: dict[str, Callable[[], TfliteBuilder | _Repacked]] = {
    "fc_weight_zero_point_5.tflite": _fc_weight_zero_point,
    "conv_padding_7.tflite": lambda: _conv_padding(7),
    "conv_activation_9.tflite": lambda: _conv_activation(9),
    "conv_fused_tanh.tflite": lambda: _conv_activation(4),
    "one_zero_point_four_scales.tflite": _one_zero_point_four_scales,
    "fc_five_inputs.tflite": _fc_five_inputs,
    "fc_two_outputs.tflite": _fc_two_outputs,
    "fc_int8_bias.tflite": _fc_int8_bias,
    "fc_bias_scale.tflite": _fc_bias_scale,
    "fc_output_rank.tflite": _fc_output_rank,
    "fc_shuffled_weights.tflite": _fc_shuffled_weights,
    "fc_int16_input.tflite": _fc_int16_input,
    "fc_per_channel_input.tflite": _fc_per_channel_input,
    "conv_options_type.tflite": _conv_options_type,
    "conv_without_options.tflite": _conv_without_options,
    "conv_without_bias.tflite": _conv_without_bias,
    "conv_bias_zero_point.tflite": _conv_bias_zero_point,
    "conv_filter_axis.tflite": _conv_filter_axis,
    "conv_batch_2.tflite": _conv_batch_two,
    "concat_requantizes.tflite": _concat_requantizes,
    "concat_relu.tflite": _concat_relu,
    "max_pool_requantizes.tflite": lambda: _pool(out_scale=0.2),
    "max_pool_window_2_31.tflite": lambda: _pool(filter_hw=2**31 - 1, padding=0),
    "reshape_requantizes.tflite": lambda: _reshape([1, 4], (1, 4), out_scale=0.2),
    "reshape_other_shape.tflite": lambda: _reshape([1, 4], (1, 2, 2)),
    "reshape_without_shape.tflite": lambda: _reshape(None, (1, 4)),
    "softmax_without_beta.tflite": lambda: _unary(SOFTMAX, 1 / 256, -128),
    "logistic_output_scale.tflite": lambda: _unary(LOGISTIC, 0.1, 0),
    "quantize_per_channel_output.tflite": lambda: _unary(QUANTIZE, 0.1, 0, out_scales=4),
    "mean_dynamic_axes.tflite": _mean_dynamic_axes,
    "add_broadcast_rows.tflite": _add_broadcast_rows,
    "softmax_616_classes.tflite": lambda: _softmax_rows(616),
    "variable_tensor.tflite": lambda: _Repacked(fc_model, _variable),
    "sparse_weights.tflite": lambda: _Repacked(fc_model, _sparse),
    "custom_quantization.tflite": lambda: _Repacked(fc_model, _custom_quantization),
    "add_output_scale_tiny.tflite": _add_output_scale_tiny,
    "softmax_input_scale_tiny.tflite": lambda: _with_tensor(_softmax_rows(4), 0, scale=(1e-9,)),
    "pool_of_a_constant.tflite": _pool_of_a_constant,
    "fc_rescale_overflows.tflite": _fc_rescale_overflows,
    "mul_rescale_overflows.tflite": _mul_rescale_overflows,
    "requantize_overflows.tflite": lambda: _unary(QUANTIZE, 0.1 / 2**40, 0),
    "quantized_dimension_5.tflite": lambda: _with_tensor(fc_model(), 1, quantized_dimension=5),
    "unused_tensor_scales.tflite": _unused_tensor_scales,
}
"""Name -> the crafted model (a builder, so tests can also read it without a file)."""

UNSUPPORTED = frozenset({
    "conv_fused_tanh.tflite", "fc_shuffled_weights.tflite", "conv_batch_2.tflite",
    "concat_relu.tflite", "mean_dynamic_axes.tflite", "add_broadcast_rows.tflite",
    "softmax_616_classes.tflite", "variable_tensor.tflite", "sparse_weights.tflite",
    "custom_quantization.tflite", "pool_of_a_constant.tflite", "fc_int16_input.tflite",
})
"""Valid TFLite that mcuforge does not compile (UnsupportedOpsError); the rest is ModelFormatError."""

def mutate_widely(m: TfliteBuilder, rng: random.Random) -> None:
    """Change one field of a consistent graph more freely than ``badgen.break_one_thing``: a
    quantized_dimension, the number of scales, an operand, every option, a dimension (constants keep
    a buffer of the new size), a constant int32 value (shapes, axes, paddings), zero points, a rank."""
    t, op, what = rng.choice(m.tensors), rng.choice(m.ops), rng.randrange(8)
    if what == 0:
        t.quantized_dimension = rng.randrange(4)
    elif what == 1 and t.scale:
        n = rng.choice((1, 2, 3, 4, 8))
        t.scale, t.zero_point = tuple(rng.uniform(0.001, 0.5) for _ in range(n)), (0,) * n
    elif what == 2:
        items = list(op.inputs)
        items[rng.randrange(len(items))] = rng.randrange(len(m.tensors))
        op.inputs = tuple(items)
    elif what == 3:
        op.int_options = {k: rng.choice((1, 1, 2, 3, -1, 0)) for k in op.int_options}
        op.byte_options = {k: rng.choice((0, 1, 2, 3)) for k in op.byte_options}
    elif what == 4 and t.shape:
        shape = list(t.shape)
        shape[rng.randrange(len(shape))] = rng.choice((1, 2, 3, 4))
        t.shape = tuple(shape)
        if t.data is not None:
            n = int(np.prod(t.shape)) * (4 if t.dtype == INT32 else 1)
            t.data = bytes(rng.randrange(256) for _ in range(n))
    elif what == 5 and t.data is not None and t.dtype == INT32:
        values = np.frombuffer(t.data, np.int32).copy()
        if values.size:
            values[rng.randrange(values.size)] = rng.choice((-2, -1, 0, 1, 2, 3, 4))
        t.data = values.tobytes()
    elif what == 6 and t.zero_point:
        t.zero_point = tuple(rng.randint(-128, 127) for _ in t.zero_point)
    elif what == 7 and t.shape and t.data is None:
        t.shape = tuple(t.shape[1:])


MARKER = "/tmp/mcuforge-exact-saved-model-pwned"
"""Where the hostile SavedModels would write if any of their operators ran."""


def _hostile_saved_model(how: str) -> Callable[[Path], object]:
    """A SavedModel folder whose serving function (or another restored method) writes a file."""

    def make(path: Path) -> None:
        import tensorflow as tf

        class Hostile(tf.Module):  # type: ignore[misc]
            @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])  # type: ignore[misc]
            def serve(self, x: Any) -> Any:
                if how == "serve":
                    tf.io.write_file(MARKER, "written by the serving function")
                if how == "print":
                    tf.print("written by tf.print", output_stream=f"file://{MARKER}")
                return {"y": x * 2.0}

            @tf.function(input_signature=[])  # type: ignore[misc]
            def other(self) -> Any:
                if how == "method":
                    tf.io.write_file(MARKER, "written by a restored method")
                return tf.constant(0)

        module = Hostile()
        tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})

    return make


def _saved_model_asset_outside(path: Path) -> None:
    """A SavedModel whose asset file name points out of its folder (at a host file)."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    vocabulary = path.parent / f"{path.name}_vocabulary.txt"
    vocabulary.write_text("a\nb\n")

    class WithAsset(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.vocabulary = tf.saved_model.Asset(str(vocabulary))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])  # type: ignore[misc]
        def serve(self, x: Any) -> Any:
            return {"y": x * 2.0}

    module = WithAsset()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    for meta in proto.meta_graphs:
        for asset in meta.asset_file_def:
            asset.filename = "../../../../../../etc/passwd"
    (path / "saved_model.pb").write_bytes(proto.SerializeToString())


MAKERS: dict[str, Callable[[Path], object]] = {name: _write(b) for name, b in BUILDERS.items()}
MAKERS.update({
    "saved_model_write_file": _hostile_saved_model("serve"),
    "saved_model_print_to_file": _hostile_saved_model("print"),
    "saved_model_method_writes": _hostile_saved_model("method"),
    "saved_model_asset_outside": _saved_model_asset_outside,
})
MADE_WITH_TENSORFLOW = {"saved_model_write_file", "saved_model_print_to_file",
                        "saved_model_method_writes", "saved_model_asset_outside"}

# Imported last: tests.support.badgen imports this module to collect MAKERS while it loads.
from tests.support.badgen import (  # noqa: E402
    CONV_2D,
    INT8,
    INT32,
    RESHAPE,
    OpSpec,
    TensorSpec,
    TfliteBuilder,
    conv_model,
    fc_model,
)
