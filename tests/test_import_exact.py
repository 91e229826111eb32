"""Exact or refused: what the import accepts compiles to what TFLite computes, everything else is an
input error naming the operator, the operand and the field.

* every crafted model of :mod:`tests.support.badgen_exact` is refused with its error class, by
  ``compile`` and ``debug`` alike (one import path);
* the valid model each of them was made from compiles, so no rule is broader than it says;
* where TFLite's interpreter itself refuses a crafted model, mcuforge refuses it too; the valid ones
  and random operator chains mcuforge accepts are accepted by the interpreter and compile to C whose
  outputs equal the interpreter's;
* a SavedModel written by Keras's ``model.export()`` compiles bit-exactly.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.compiler import compile_graph
from generator.errors import McuforgeError, ModelFormatError, UnsupportedOpsError
from generator.importer.tflite_reader import read_tflite
from generator.numerics import Numerics
from tests.support import badgen
from tests.support import badgen_exact as bx

runner = CliRunner()

VALID: dict[str, Callable[[], badgen.TfliteBuilder]] = {
    "fc": badgen.fc_model,
    "fc_per_channel": lambda: _with(badgen.fc_model(), 1, scale=(0.01, 0.02, 0.03, 0.04),
                                    zero_point=(0,) * 4),
    "fc_bias_scale_within_tflite_bound": lambda: _with(badgen.fc_model(), 2, scale=(0.0005 * 1.1,)),
    "conv": badgen.conv_model,
    "conv_stride_2": lambda: badgen.conv_model(stride=2),
    "concat": lambda: bx._two_inputs(bx.CONCATENATION, 0.1, (10, {0: 1}, {1: 0})),
    "max_pool": bx._pool,
    "reshape": lambda: bx._reshape([1, 4], (1, 4)),
    "reshape_inferred": lambda: bx._reshape([-1, 2], (2, 2)),
    "softmax": lambda: _softmax_with_beta(bx._unary(bx.SOFTMAX, 1 / 256, -128, 9)),
    "logistic": lambda: bx._unary(bx.LOGISTIC, 1 / 256, -128),
    "quantize": lambda: bx._unary(bx.QUANTIZE, 0.2, 3),
    "add_per_channel": lambda: _add_constant((4,)),
    "add_per_pixel": lambda: _add_constant((1, 4, 4, 1)),
    "add_scalar": lambda: _add_constant(()),
    "add_same_shape": lambda: _add_constant((4, 4, 4)),
    "fc_rescale_large_within_int32": lambda: _fc_rescale(1e4),
    "conv_multiplier_above_one": lambda: _with(_with(badgen.conv_model(), 1, data=bytes(range(1, 73))),
                                               2, scale=(0.05 * 0.01 / 1e3,)),
}
"""Models the crafted ones were made from (or next to), which must compile."""

REFUSED_BY_TFLITE = (
    "conv_padding_7.tflite", "one_zero_point_four_scales.tflite", "fc_five_inputs.tflite",
    "fc_int8_bias.tflite", "fc_bias_scale.tflite", "conv_without_options.tflite",
    "conv_without_bias.tflite", "conv_bias_zero_point.tflite", "concat_requantizes.tflite",
    "reshape_without_shape.tflite", "logistic_output_scale.tflite", "max_pool_window_2_31.tflite",
    "fc_shuffled_weights.tflite",
)
"""Crafted models TFLite's own interpreter refuses when it prepares them (a subset: the interpreter
accepts some others, e.g. an unknown fused activation, and computes something else)."""


def _with(m: badgen.TfliteBuilder, tensor: int, **fields: object) -> badgen.TfliteBuilder:
    for name, value in fields.items():
        setattr(m.tensors[tensor], name, value)
    return m


def _add_constant(shape: tuple[int, ...]) -> badgen.TfliteBuilder:
    """ADD of a constant of ``shape`` to a (1, 4, 4, 4) map (the operand forms the kernel takes)."""
    m = badgen.TfliteBuilder()
    x = m.tensor(badgen.TensorSpec((1, 4, 4, 4), scale=(0.1,), name="map"))
    values = np.arange(int(np.prod(shape)), dtype=np.int8) * 7
    c = m.tensor(badgen.TensorSpec(shape, data=values.tobytes(), scale=(0.05,), zero_point=(2,),
                                   name="constant"))
    y = m.tensor(badgen.TensorSpec((1, 4, 4, 4), scale=(0.2,), zero_point=(-5,), name="sum"))
    m.ops.append(badgen.OpSpec(bx.ADD, (x, c), (y,), 11, {}, {0: 0}))
    m.inputs, m.outputs = [x], [y]
    return m


def _fc_rescale(real: float) -> badgen.TfliteBuilder:
    """FULLY_CONNECTED of weights 1..32 whose output multiplier is ``real``."""
    m = _with(badgen.fc_model(), 1, data=bytes(range(1, 33)))
    m.ops[0].inputs = (0, 1, -1)
    return _with(m, 3, scale=(0.05 * 0.01 / real,))


def _softmax_with_beta(m: badgen.TfliteBuilder) -> badgen.TfliteBuilder:
    m.ops[0].float_options = {0: 1.0}
    return m


# ---- the crafted models --------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(bx.BUILDERS))
def test_crafted_model_is_refused_with_its_error_class(name: str) -> None:
    data = bx.BUILDERS[name]().build()
    with pytest.raises(McuforgeError) as err:
        compile_graph(read_tflite(data, name), data)
    expected = UnsupportedOpsError if name in bx.UNSUPPORTED else ModelFormatError
    assert type(err.value) is expected, err.value.message
    assert err.value.message.startswith(f"{name}: "), err.value.message
    assert err.value.hint


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(VALID))
def test_the_valid_neighbours_compile(name: str) -> None:
    data = VALID[name]().build()
    compiled = compile_graph(read_tflite(data, name), data)
    assert compiled.engine.files()


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(bx.BUILDERS))
def test_compile_and_debug_give_the_same_answer(name: str, tmp_path: Path) -> None:
    model = tmp_path / name
    bx.MAKERS[name](model)
    compiled = runner.invoke(app, ["compile", str(model), "-o", str(tmp_path / "out")])
    debugged = runner.invoke(app, ["debug", str(model)])
    assert compiled.exit_code == debugged.exit_code == 2, (compiled.output, debugged.output)
    first = " ".join(compiled.output.split())
    assert first and first == " ".join(debugged.output.split())
    assert f"{name}: operator" in first or f"{name}: tensor" in first, first
    assert not (tmp_path / "out").exists()


@pytest.mark.unit
def test_fc_weight_zero_point_names_the_tensor_and_field() -> None:
    data = bx.BUILDERS["fc_weight_zero_point_5.tflite"]().build()
    with pytest.raises(ModelFormatError, match=r"operator 0 FULLY_CONNECTED 'output': weights "
                                               r"'weights' has quantization.zero_point \[5\]"):
        read_tflite(data, "m.tflite")


@pytest.mark.unit
@pytest.mark.parametrize("value", [2, 7, -1, 127])
def test_every_unknown_padding_is_refused(value: int) -> None:
    with pytest.raises(ModelFormatError, match=f"Conv2DOptions.padding is {value};"):
        read_tflite(bx._conv_padding(value).build(), "m.tflite")


@pytest.mark.unit
@pytest.mark.parametrize("value", [6, 9, 100, -3])
def test_every_unknown_fused_activation_is_refused(value: int) -> None:
    with pytest.raises(ModelFormatError, match=f"fused_activation_function is {value};"):
        read_tflite(bx._conv_activation(value).build(), "m.tflite")


@pytest.mark.unit
@pytest.mark.parametrize(("scales", "zero_points"), [(4, 1), (1, 2), (3, 4)])
def test_zero_points_must_match_the_scales_one_for_one(scales: int, zero_points: int) -> None:
    m = badgen.fc_model()
    m.tensors[1].scale, m.tensors[1].zero_point = (0.01,) * scales, (0,) * zero_points
    with pytest.raises(ModelFormatError, match=f"has {scales} quantization scale.s. and "
                                               f"{zero_points} zero point"):
        read_tflite(m.build(), "m.tflite")


@pytest.mark.unit
def test_schema_version_other_than_3_is_refused() -> None:
    data = bytearray(badgen.fc_model().build())
    model = int.from_bytes(data[0:4], "little")
    vtable = model - int.from_bytes(data[model:model + 4], "little", signed=True)
    version_at = model + int.from_bytes(data[vtable + 4:vtable + 6], "little")
    assert int.from_bytes(data[version_at:version_at + 4], "little") == 3
    data[version_at:version_at + 4] = (4).to_bytes(4, "little")
    with pytest.raises(ModelFormatError, match=r"m.tflite: schema version 4 \(Model.version\)"):
        read_tflite(bytes(data), "m.tflite")


# ---- against the interpreter ----------------------------------------------------------------------------


@pytest.mark.tflite
@pytest.mark.parametrize("name", REFUSED_BY_TFLITE)
def test_mcuforge_refuses_what_the_interpreter_refuses(name: str) -> None:
    from generator.importer.reference import run_reference

    data = bx.BUILDERS[name]().build()
    with pytest.raises(ModelFormatError, match="the TFLite interpreter refuses the model"):
        run_reference(data, [np.zeros((1, 8), np.int8)], numerics=Numerics.TFLITE_REF)
    with pytest.raises(McuforgeError):
        read_tflite(data, name)


def _exact(data: bytes, seed: int, tmp_path: Path, partial: bool) -> None:
    """mcuforge compiles ``data`` to C whose outputs equal the interpreter's on random inputs."""
    from generator.host import build_host
    from generator.importer.reference import run_reference

    model = compile_graph(read_tflite(data, "m.tflite"), data, partial=partial)
    rng = np.random.default_rng(seed)
    runs = [[rng.integers(-128, 128, size=s.shape).astype(s.dtype.value)
             for s in model.schedule.inputs] for _ in range(3)]
    outs = build_host(model, tmp_path).run(runs)
    for run, got in zip(runs, outs, strict=True):
        for want, g in zip(run_reference(data, run), got, strict=True):
            np.testing.assert_array_equal(g.reshape(-1), want.reshape(-1))


@pytest.mark.tflite
@pytest.mark.hostc
@pytest.mark.parametrize("name", sorted(VALID))
def test_the_valid_neighbours_are_bit_exact(name: str, tmp_path: Path) -> None:
    _exact(VALID[name]().build(), 1, tmp_path, partial=False)


@pytest.mark.tflite
@pytest.mark.hostc
@pytest.mark.slow
def test_accepted_random_chains_are_bit_exact(tmp_path: Path) -> None:
    """Random operator chains, half with one field broken: each one mcuforge accepts runs on the
    interpreter and the C equals it (found by this: the FULLY_CONNECTED bias-scale bound, bias zero
    points, windows beyond int16, a bias-less convolution)."""
    checked = 0
    for seed in range(40):
        rng = random.Random(seed)
        m = badgen.random_graph(rng, rng.randint(1, 6))
        if seed % 2:
            badgen.break_one_thing(m, rng)
        data = m.build()
        try:
            read_tflite(data, "m.tflite")
        except McuforgeError:
            continue
        _exact(data, seed, tmp_path / str(seed), partial=seed % 3 == 0)
        checked += 1
    assert checked >= 20


@pytest.mark.tflite
@pytest.mark.hostc
@pytest.mark.slow
def test_accepted_widely_mutated_chains_are_bit_exact(tmp_path: Path) -> None:
    """The same with one to three free mutations (tests.support.badgen_exact.mutate_widely; found by
    this: quantized_dimension outside the shape, which TFLite's loader refuses)."""
    checked = 0
    for seed in range(60):
        rng = random.Random(seed * 7919)
        m = badgen.random_graph(rng, rng.randint(1, 5))
        for _ in range(rng.randint(1, 3)):
            bx.mutate_widely(m, rng)
        data = m.build()
        try:
            read_tflite(data, "m.tflite")
        except McuforgeError:
            continue
        _exact(data, seed, tmp_path / str(seed), partial=seed % 3 == 0)
        checked += 1
    assert checked >= 15


# ---- model.export() SavedModels -------------------------------------------------------------------------


@pytest.mark.tflite
@pytest.mark.hostc
def test_model_export_saved_model_compiles_bit_exact(tmp_path: Path) -> None:
    import keras

    from generator.compiler import ImportOptions, compile_model
    from generator.host import build_host
    from generator.importer.reference_tflm import run_tflm

    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.MaxPooling2D()(x)
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    keras.Model(inp, out).export(str(tmp_path / "exported"), verbose=False)
    assert not (tmp_path / "exported" / "keras_metadata.pb").exists()
    np.save(tmp_path / "calib.npy",
            np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 3)).astype(np.float32))

    model = compile_model(tmp_path / "exported", ImportOptions(tmp_path / "calib.npy"))
    assert [op.kind.value for op in model.graph.ops] == [
        "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    rng = np.random.default_rng(4)
    runs = [[rng.integers(-128, 128, size=(1, 8, 8, 3)).astype(np.int8)] for _ in range(8)]
    outs = build_host(model, tmp_path / "host").run(runs)
    for run, got in zip(runs, outs, strict=True):
        np.testing.assert_array_equal(got[0].reshape(-1), run_tflm(model.tflite, run)[0].reshape(-1))


@pytest.mark.tflite
def test_saved_model_with_two_inputs_is_refused(tmp_path: Path) -> None:
    import keras

    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Concatenate()([a, b]))).export(
        str(tmp_path / "two"), verbose=False)
    res = runner.invoke(app, ["compile", str(tmp_path / "two"), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert "the 'serving_default' signature takes 2 inputs" in " ".join(res.output.split())
    assert not (tmp_path / "out").exists()


@pytest.mark.tflite
@pytest.mark.parametrize("name", ["saved_model_write_file", "saved_model_print_to_file",
                                  "saved_model_method_writes"])
def test_hostile_saved_model_is_refused_before_it_is_loaded(name: str, tmp_path: Path) -> None:
    marker = Path(bx.MARKER)
    marker.unlink(missing_ok=True)
    bx.MAKERS[name](tmp_path / name)
    for args in (["compile", str(tmp_path / name), "-o", str(tmp_path / "out")],
                 ["debug", str(tmp_path / name)]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, res.output
        assert "the SavedModel's graphs use" in " ".join(res.output.split())
    assert not marker.exists(), "an operator of the SavedModel ran"
    assert not (tmp_path / "out").exists()
