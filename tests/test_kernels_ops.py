"""The elementwise and reduction operators beyond the activations of test_kernels_unary (TANH,
HARD_SWISH, ...): Python's twin of TFLite Micro's integer arithmetic, the C kernel, and a compiled
single-operator model, each exact against TFLite Micro and the TFLite interpreter on random shapes
and quantisations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from generator.codegen import qparams_unary as qu
from generator.codegen.qparams_eltwise import LogisticParams
from generator.errors import ModelFormatError, UnsupportedOpsError
from generator.importer.reference import run_reference
from generator.importer.tflite_reader import read_tflite
from generator.numerics import Numerics
from tests.support import ckernels_eltwise as ck
from tests.support.opcheck import engine_matches
from tests.support.single_op import T, single_op

ALL_I8 = np.arange(-128, 128, dtype=np.int8)
scales = st.floats(-3.0, 0.7).map(lambda e: float(np.float32(10**e)))
zps = st.integers(-128, 127)
shapes = st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)
BUILDS = settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.generate])


def _rand(shape: tuple[int, ...], seed: int, n: int = 3) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.integers(-128, 128, size=shape, dtype=np.int8)] for _ in range(n)]


def _each_runtime(model: bytes, table: dict[Numerics, tuple[int, ...]], what: str) -> None:
    """The table, looked up by the C kernel on every int8 input, equals each runtime."""
    for mode, t in table.items():
        got = ck.logistic(LogisticParams(t), ALL_I8)
        np.testing.assert_array_equal(got, run_reference(model, [ALL_I8], mode)[0],
                                      err_msg=f"{mode.value} {what}")


# ---- TANH ----------------------------------------------------------------------------------------

TANH_OUT = T((256,), scale=1.0 / 128.0, zp=0)


@pytest.mark.hostc
@pytest.mark.tflite
@settings(max_examples=60, deadline=None)
@given(si=scales, zi=zps)
def test_tanh_every_input(si: float, zi: int) -> None:
    model = single_op("TANH", [T((256,), scale=si, zp=zi)], [TANH_OUT])
    _each_runtime(model, {m: qu.tanh_table(si, zi, 1 / 128, 0, m) for m in Numerics},
                  f"{si} {zi}")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@BUILDS
@given(shape=shapes, si=scales, zi=zps)
def test_tanh_compiled(shape: tuple[int, ...], si: float, zi: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    model = single_op("TANH", [T(shape, scale=si, zp=zi)], [T(shape, scale=1 / 128, zp=0)])
    engine_matches(model, _rand(shape, 1), tmp_path_factory.mktemp("tanh"), what="TANH")


def test_tanh_output_quantisation_refused() -> None:
    """TFLite Micro writes 1/128 steps whatever the output says; the interpreter rescales."""
    model = single_op("TANH", [T((4,), scale=0.05, zp=0)], [T((4,), scale=0.01, zp=3)])
    with pytest.raises(UnsupportedOpsError, match=r"'t1' has scale 0\.00999.* 1/128"):
        read_tflite(model, where="m")


# ---- HARD_SWISH -----------------------------------------------------------------------------------


def _hard_swish(si: float, zi: int, so: float, zo: int, shape: tuple[int, ...] = (256,)) -> bytes:
    # version 1: the interpreter's HARD_SWISH kernel registers no other
    return single_op("HARD_SWISH", [T(shape, scale=si, zp=zi)], [T(shape, scale=so, zp=zo)],
                     version=1)


@pytest.mark.hostc
@pytest.mark.tflite
@settings(max_examples=80, deadline=None)
@given(si=scales, zi=zps, so=scales, zo=zps)
def test_hard_swish_every_input(si: float, zi: int, so: float, zo: int) -> None:
    if np.float32(np.float32(si / 128) / np.float32(so)) >= 1.0:  # TFLite Micro refuses these
        so = si
    model = _hard_swish(si, zi, so, zo)
    table = qu.hard_swish_table(si, zi, so, zo)
    _each_runtime(model, dict.fromkeys(Numerics, table), f"{si} {zi} {so} {zo}")


@pytest.mark.hostc
@pytest.mark.tflite
@pytest.mark.slow
@BUILDS
@given(shape=shapes, si=scales, zi=zps, zo=zps)
def test_hard_swish_compiled(shape: tuple[int, ...], si: float, zi: int, zo: int,
                             tmp_path_factory: pytest.TempPathFactory) -> None:
    model = _hard_swish(si, zi, si * 0.7, zo, shape)
    engine_matches(model, _rand(shape, 2), tmp_path_factory.mktemp("hs"), what="HARD_SWISH")


def test_hard_swish_left_shift_refused() -> None:
    """TFLite Micro's Prepare fails where the output multiplier would shift left."""
    with pytest.raises(ModelFormatError, match=r"HARD_SWISH.*shift left"):
        read_tflite(_hard_swish(1.0, 0, 0.005, 0, (4,)), where="m")
