"""UNIDIRECTIONAL_SEQUENCE_LSTM (recurrent family): single-operator models converted from small Keras
LSTMs (tf_keras, fixed batch and sequence, representative data), compiled to C and run on the host,
equal to TFLite Micro's Python runtime on random inputs over the whole int8 range; every variant
TFLite Micro's int8 kernel does not run is refused naming its tensor.

TFLite's interpreter computes the int8 LSTM differently: it rescales the gates with the scales of
the operator's intermediate tensors (calibrated by the converter), where TFLite Micro fixes them at
2^-12 and 2^-15. The two runtimes disagree on such models (the test below shows one output where
they do), so the engine matches TFLite Micro, and ``--numerics tflite-ref`` refuses the LSTM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from generator.errors import ModelFormatError, UnsupportedOpsError
from generator.ir import OpKind
from generator.numerics import Numerics
from tests.support.lstm_models import edit, keras_lstm

pytestmark = [pytest.mark.tflite]


def _compile(model: bytes, partial: bool = True, numerics: Numerics = Numerics.TFLM) -> Any:
    from generator.compiler import compile_graph
    from generator.importer.tflite_reader import read_tflite

    return compile_graph(read_tflite(model, where="lstm.tflite"), model, source="lstm",
                         partial=partial, numerics=numerics)


def _inputs(model: bytes, n: int, seed: int) -> list[np.ndarray]:
    from generator.importer.tflite_reader import read_tflite

    g = read_tflite(model, where="lstm.tflite")
    shape = g.tensors[g.inputs[0]].shape
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(n)]


def _exact_with_tflm(model: bytes, tmp_path: Path, runs: int = 4, seed: int = 0) -> None:
    from generator.host import build_host
    from generator.importer.reference_tflm import run_tflm

    compiled = _compile(model)
    assert [c.func for c in compiled.schedule.calls] == ["mcuf_lstm_s8"]
    inputs = _inputs(model, runs, seed)
    for i, (x, got) in enumerate(zip(inputs, build_host(compiled, tmp_path).run(
            [[x] for x in inputs]), strict=True)):
        want = run_tflm(model, [x])[0]
        np.testing.assert_array_equal(got[0].reshape(want.shape), want, err_msg=f"run {i}")


CASES: dict[str, dict[str, Any]] = {
    "one_sequence": dict(batch=1, steps=6, features=3, units=4),
    "batch_of_two": dict(batch=2, steps=5, features=3, units=4),
    "time_major": dict(batch=2, steps=5, features=3, units=4, time_major=True),
    "saturating": dict(batch=1, steps=8, features=5, units=6, weight_gain=6.0, seed=3),
}


@pytest.mark.hostc
@pytest.mark.parametrize("case", list(CASES))
def test_keras_lstm_equals_tflm(case: str, tmp_path: Path) -> None:
    model = keras_lstm(**CASES[case])
    _exact_with_tflm(model, tmp_path)


@pytest.mark.hostc
@pytest.mark.slow
@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.integers(1, 2), steps=st.integers(1, 7), features=st.integers(1, 9),
       units=st.integers(1, 12), seed=st.integers(0, 1000),
       gain=st.sampled_from([0.5, 1.0, 3.0, 8.0]), time_major=st.booleans())
def test_random_lstm_sizes_equal_tflm(batch: int, steps: int, features: int, units: int,
                                      seed: int, gain: float, time_major: bool,
                                      tmp_path: Path) -> None:
    model = keras_lstm(batch, steps, features, units, seed, time_major=time_major,
                       weight_gain=gain)
    _exact_with_tflm(model, tmp_path / f"{batch}_{steps}_{features}_{units}_{seed}", runs=3,
                     seed=seed)


def test_the_interpreter_and_tflm_differ_and_tflite_ref_refuses() -> None:
    """Where TFLite's interpreter differs from TFLite Micro (its gate scales come from the
    intermediate tensors), mcuforge follows TFLite Micro; the tflite-ref numerics refuse."""
    from generator.importer.reference import run_reference
    from generator.importer.reference_tflm import run_tflm

    model = keras_lstm(**CASES["saturating"])
    differ = 0
    for x in _inputs(model, 8, 1):
        a = run_tflm(model, [x])[0]
        b = run_reference(model, [x], Numerics.TFLITE_REF)[0]
        differ += int(np.sum(a != b))
    assert differ > 0, "the runtimes agree on this model: say so in the module docstring"
    with pytest.raises(UnsupportedOpsError, match=r"intermediate tensors.*TFLite Micro"):
        _compile(model, numerics=Numerics.TFLITE_REF)


def test_the_lstm_runs_whole_with_its_cell_scratch_in_the_arena() -> None:
    """Never split (channel-mixing and sequential); the arena holds input, output and one batch
    row of int16 cell state (the hidden state lives in the output)."""
    from generator.plan.relations import SLICEABLE, Relation, relation

    assert relation(OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM) is Relation.MIXING
    assert OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM not in SLICEABLE
    compiled = _compile(keras_lstm(**CASES["batch_of_two"]))
    assert not compiled.program.splits
    names = {b.name: b.size for b in compiled.buffers}
    assert names["op0_cell"] == 2 * 4
    assert compiled.arena_bytes >= 2 * 5 * 3 + 2 * 5 * 4 + 8


# ---- refusals ---------------------------------------------------------------------------------------


def _add_tensor(m: Any, like: int, name: bytes) -> int:
    import copy

    sg = m.subgraphs[0]
    t = copy.deepcopy(sg.tensors[like])
    t.name = name
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _variant(slot: int) -> Any:
    def change(m: Any, op: Any) -> None:
        like = op.inputs[13 if slot in (9, 10, 11, 17, 20, 21, 22, 23) else 6]
        op.inputs[slot] = _add_tensor(m, like, b"extra")
    return change


@pytest.mark.parametrize(("slot", "words"), [
    (9, "peephole connections: cell_to_input_weights \\(input 9\\) is tensor 'extra'"),
    (16, "a projection layer: projection_weights \\(input 16\\)"),
    (22, "layer normalisation: cell_layer_norm_coefficients \\(input 22\\)"),
])
def test_variants_are_refused_naming_the_tensor(slot: int, words: str) -> None:
    from generator.importer.tflite_reader import read_tflite

    model = edit(keras_lstm(**CASES["one_sequence"]), _variant(slot))
    with pytest.raises(UnsupportedOpsError, match=words):
        read_tflite(model, where="m")


def _set_input_absent(m: Any, op: Any) -> None:
    op.inputs[1] = -1


def _float_input(m: Any, op: Any) -> None:
    from ai_edge_litert import schema_py_generated as S

    m.subgraphs[0].tensors[op.inputs[0]].type = S.TensorType.FLOAT32


def _per_channel(m: Any, op: Any) -> None:
    t = m.subgraphs[0].tensors[op.inputs[2]]
    t.quantization.scale = [float(t.quantization.scale[0])] * 4
    t.quantization.zeroPoint = [0] * 4


def _cell_scale(m: Any, op: Any) -> None:
    m.subgraphs[0].tensors[op.inputs[19]].quantization.scale = [0.0003]


def _sigmoid_cell(m: Any, op: Any) -> None:
    op.builtinOptions.fusedActivationFunction = 1  # RELU


def _not_variable(m: Any, op: Any) -> None:
    m.subgraphs[0].tensors[op.inputs[19]].isVariable = False


@pytest.mark.parametrize(("change", "error", "words"), [
    (_set_input_absent, UnsupportedOpsError, "coupled input and forget gate.*input_to_input"),
    (_float_input, UnsupportedOpsError, "hybrid \\(float activations, int8 weights\\) LSTM"),
    (_per_channel, UnsupportedOpsError, "input_to_forget_weights \\(input 2\\).*4 quantization "
                                        "scales"),
    (_cell_scale, UnsupportedOpsError, "cell_state \\(input 19\\).*not a power of two"),
    (_sigmoid_cell, UnsupportedOpsError, "cell activation RELU"),
    (_not_variable, ModelFormatError, "LSTM state but not a variable tensor"),
])
def test_other_forms_are_refused(change: Any, error: type, words: str) -> None:
    from generator.importer.tflite_reader import read_tflite

    model = edit(keras_lstm(**CASES["one_sequence"]), change)
    with pytest.raises(error, match=words):
        read_tflite(model, where="m")


# ---- random quantisation: one converted model, its scales, zero points, biases and clip edited --


def _requantised(x_scale: float, x_zp: int, h_scale: float, h_zp: int, w_gain: float,
                 cell_power: int, clip: float, bias_seed: int) -> Any:
    def change(m: Any, op: Any) -> None:
        ts = m.subgraphs[0].tensors
        rng = np.random.default_rng(bias_seed)
        for tid in (op.inputs[0],):
            ts[tid].quantization.scale, ts[tid].quantization.zeroPoint = [x_scale], [x_zp]
        for tid in (op.inputs[18], op.outputs[0]):
            ts[tid].quantization.scale, ts[tid].quantization.zeroPoint = [h_scale], [h_zp]
        ts[op.inputs[19]].quantization.scale = [2.0**cell_power]
        for pos in range(1, 9):
            q = ts[op.inputs[pos]].quantization
            q.scale = [float(np.float32(q.scale[0] * w_gain * rng.uniform(0.5, 2.0)))]
        for pos in range(12, 16):
            buf = m.buffers[ts[op.inputs[pos]].buffer]
            n = len(buf.data) // 4
            buf.data = rng.integers(-(1 << 14), 1 << 14, size=n, dtype=np.int32).view(np.uint8)
        op.builtinOptions.cellClip = clip
    return change


@pytest.mark.hostc
@pytest.mark.slow
@settings(max_examples=10, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x_scale=st.floats(-3.0, 0.0).map(lambda e: float(np.float32(10**e))),
       x_zp=st.integers(-128, 127),
       h_scale=st.floats(-3.0, -1.0).map(lambda e: float(np.float32(10**e))),
       h_zp=st.integers(-128, 127), w_gain=st.sampled_from([0.25, 1.0, 4.0]),
       cell_power=st.integers(-15, -9), clip=st.sampled_from([0.0, 0.5, 3.0, 10.0]),
       bias_seed=st.integers(0, 1000))
def test_random_quantisation_equals_tflm(x_scale: float, x_zp: int, h_scale: float, h_zp: int,
                                         w_gain: float, cell_power: int, clip: float,
                                         bias_seed: int, tmp_path: Path) -> None:
    base = keras_lstm(**CASES["batch_of_two"])
    model = edit(base, _requantised(x_scale, x_zp, h_scale, h_zp, w_gain, cell_power, clip,
                                    bias_seed))
    _exact_with_tflm(model, tmp_path / f"q{bias_seed}_{cell_power}_{x_zp}_{h_zp}", runs=3,
                     seed=bias_seed)


@pytest.mark.hostc
def test_clipped_cell_and_shifted_zero_points_equal_tflm(tmp_path: Path) -> None:
    model = edit(keras_lstm(**CASES["batch_of_two"]),
                 _requantised(0.02, 17, 0.004, -9, 4.0, -13, 0.5, 7))
    _exact_with_tflm(model, tmp_path)


def test_a_state_of_the_wrong_size_is_refused() -> None:
    from generator.importer.tflite_reader import read_tflite

    def change(m: Any, op: Any) -> None:
        m.subgraphs[0].tensors[op.inputs[19]].shape = [1, 5]

    model = edit(keras_lstm(**CASES["one_sequence"]), change)
    with pytest.raises(ModelFormatError, match=r"cell_state \(input 19\).*need 4 values"):
        read_tflite(model, where="m")


def test_a_state_that_is_also_another_operand_is_refused() -> None:
    from generator.importer.tflite_reader import read_tflite

    def change(m: Any, op: Any) -> None:
        m.subgraphs[0].tensors[op.inputs[18]].isVariable = False  # now read by nothing
        op.inputs[18] = op.inputs[19]

    model = edit(keras_lstm(**CASES["one_sequence"]), change)
    with pytest.raises(UnsupportedOpsError, match="is 2 operands"):
        read_tflite(model, where="m")


# ---- the int16 sigmoid and tanh of the gates, on every input --------------------------------------


def _tflm_int16(op: str, in_scale: float) -> np.ndarray:
    """TFLite Micro's int16 LOGISTIC / TANH of every int16 value (input scale ``in_scale``, output
    2^-15: the forms its LSTM calls)."""
    from generator.importer.keras_import import quiet_native_output
    from tests.support.single_op import T, single_op

    with quiet_native_output():
        from tflite_micro.python.tflite_micro import runtime
    x = np.arange(-32768, 32768, dtype=np.int16)
    model = single_op(op, [T((x.size,), "int16", scale=in_scale)],
                      [T((x.size,), "int16", scale=2.0**-15)])
    interp = runtime.Interpreter.from_bytes(model, arena_size=1 << 20)
    interp.set_input(x, 0)
    interp.invoke()
    return np.array(interp.get_output(0))


@pytest.mark.hostc
def test_gate_sigmoid_equals_tflm_on_every_int16() -> None:
    import ctypes

    from tests.support.cruntime import runtime_lib

    f = runtime_lib().mcuf_sigmoid_s16
    f.restype, f.argtypes = ctypes.c_int16, [ctypes.c_int16]
    got = np.array([f(int(v)) for v in range(-32768, 32768)], dtype=np.int16)
    np.testing.assert_array_equal(got, _tflm_int16("LOGISTIC", 2.0**-12))


@pytest.mark.hostc
@pytest.mark.parametrize("power", [-15, -13, -12, -11, -9])
def test_cell_tanh_equals_tflm_on_every_int16(power: int) -> None:
    """The tanh of a cell state of scale 2^power (2^-12: the cell gate's), as TFLite Micro's int16
    TANH of that input scale computes it."""
    import ctypes

    from generator.codegen.qparams_lstm import tanh_input
    from tests.support.cruntime import runtime_lib

    f = runtime_lib().mcuf_tanh_s16
    f.restype, f.argtypes = ctypes.c_int16, [ctypes.c_int16, ctypes.c_int32, ctypes.c_int32]
    mult, shift = tanh_input(power)
    got = np.array([f(int(v), mult, shift) for v in range(-32768, 32768)], dtype=np.int16)
    np.testing.assert_array_equal(got, _tflm_int16("TANH", 2.0**power))


def test_an_lstm_of_20_operands_is_refused_for_its_count() -> None:
    """TFLite Micro's kernel takes the 24 operands of schema 3 (layer norm slots included)."""
    from generator.importer.tflite_reader import read_tflite

    def change(m: Any, op: Any) -> None:
        op.inputs = op.inputs[:20]

    model = edit(keras_lstm(**CASES["one_sequence"]), change)
    with pytest.raises(ModelFormatError, match="has 20 inputs; UNIDIRECTIONAL_SEQUENCE_LSTM takes 24"):
        read_tflite(model, where="m")
