"""The packed FULLY_CONNECTED kernels (``mcuf_fc_packed.c``) and the numerics modes.

* the packed layout and the folded bias are what the kernel documents;
* on the host (the portable path) the packed kernels equal the portable ones, ``mcuf_fc_s8`` and
  ``mcuf_fc_s8_f64``, on random shapes, for whole calls, output slices and accumulated input slices;
* built for Cortex-M4F and M7 (the SMLAD path) they give the host's outputs, in QEMU;
* random FULLY_CONNECTED models compile to C equal to TFLite Micro (default numerics) and to the
  TFLite interpreter (``tflite-ref``), whole and split by partial execution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.codegen import qparams as qp
from generator.codegen.lower_fc import ROWS, fold_bias, pack_fc_weights
from generator.numerics import Numerics
from generator.plan.pex import slice_ranges
from tests.support import ckernels as ck
from tests.support import ckernels_fc as fcf
from tests.support import cortex_m
from tests.support.fcmodels import FcLayer, fc_stack
from tests.test_kernels_linear import Firmware, reference_rescales, requant_setup

I8 = npt.NDArray[np.int8]

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _rand(seed: int, shape: tuple[int, ...]) -> I8:
    return np.random.default_rng(seed).integers(-128, 128, size=shape, dtype=np.int8)


# ---- layout -------------------------------------------------------------------------------------------


def _packed_position(o: int, i: int, out_n: int, in_n: int) -> int:
    """Where w[o][i] lives in the packed layout, from the kernel's description."""
    full, q = out_n - out_n % ROWS, in_n - in_n % 4
    if o >= full:
        return full * in_n + (o - full) * in_n + i
    block, r = divmod(o, ROWS)
    base = block * ROWS * in_n
    if i < q:
        return base + (i // 4) * 4 * ROWS + r * 4 + i % 4
    return base + q * ROWS + (i - q) * ROWS + r


@pytest.mark.unit
@given(out_n=st.integers(1, 13), in_n=st.integers(1, 19))
def test_packed_layout(out_n: int, in_n: int) -> None:
    w = np.arange(out_n * in_n, dtype=np.int64).reshape(out_n, in_n)
    packed = pack_fc_weights((w % 251 - 125).astype(np.int8))
    assert packed.size == out_n * in_n
    ids = pack_fc_weights(w.astype(np.int8)) if out_n * in_n <= 128 else None
    for o in range(out_n):
        for i in range(in_n):
            pos = _packed_position(o, i, out_n, in_n)
            assert packed[pos] == np.int8(w[o, i] % 251 - 125), (o, i)
    if ids is not None:
        assert sorted(ids.tolist()) == list(range(out_n * in_n))


@pytest.mark.unit
@given(seed=st.integers(0, 2**32 - 1), out_n=st.integers(1, 9), in_n=st.integers(1, 30),
       zp=st.integers(-128, 127), with_bias=st.booleans())
def test_folded_bias_moves_the_offset_out_of_the_sum(seed: int, out_n: int, in_n: int, zp: int,
                                                     with_bias: bool) -> None:
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, size=(out_n, in_n)).astype(np.int8)
    x = rng.integers(-128, 128, size=(3, in_n)).astype(np.int64)
    bias = rng.integers(-9000, 9000, size=out_n).astype(np.int32) if with_bias else None
    folded = fold_bias(w, bias, -zp)
    assert folded.dtype == np.int32
    plain = (x - zp) @ w.T.astype(np.int64) + (0 if bias is None else bias)
    np.testing.assert_array_equal(x @ w.T.astype(np.int64) + folded, plain)


# ---- host: packed == portable -----------------------------------------------------------------------


def _scales(seed: int, out_n: int, per_channel: bool) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    return reference_rescales(
        float(np.float32(rng.uniform(1e-3, 0.1))),
        tuple(float(np.float32(f)) for f in rng.uniform(1e-4, 1e-2, out_n if per_channel else 1)),
        float(np.float32(rng.uniform(1e-3, 0.2))))


@pytest.mark.hostc
@PROPERTY
@given(batches=st.integers(1, 3), in_n=st.integers(1, 70), out_n=st.integers(1, 19),
       per_channel=st.booleans(), data=st.data())
def test_packed_equals_portable(batches: int, in_n: int, out_n: int, per_channel: bool,
                                data: st.DataObject) -> None:
    q, mult, shift, bias = data.draw(requant_setup(out_n))
    seed = data.draw(st.integers(0, 2**32 - 1))
    x, w = _rand(seed, (batches, in_n)), _rand(seed + 1, (out_n, in_n))
    m1, s1 = (mult, shift) if per_channel else (mult[:1], shift[:1])
    folded = fold_bias(w, bias, q.in_offset)
    want = ck.fc(x, w, bias, m1, s1, q, per_channel)
    np.testing.assert_array_equal(fcf.fc_packed(x, w, folded, m1, s1, q, per_channel), want)
    scales = _scales(seed, out_n, per_channel)
    want_f64 = ck.fc_f64(x, w, bias, scales, q, per_channel)
    np.testing.assert_array_equal(fcf.fc_packed_f64(x, w, folded, scales, q, per_channel), want_f64)


@pytest.mark.hostc
@PROPERTY
@given(in_n=st.integers(1, 70), out_n=st.integers(1, 19), slices=st.integers(1, 6), data=st.data())
def test_packed_slices_equal_the_whole(in_n: int, out_n: int, slices: int,
                                       data: st.DataObject) -> None:
    """Output slices (each slice's rows packed alone) and input slices accumulated in int32 and
    finished with the bias folded over all inputs give the whole op's outputs, in both modes."""
    q, mult, shift, bias = data.draw(requant_setup(out_n))
    seed = data.draw(st.integers(0, 2**32 - 1))
    x, w = _rand(seed, (1, in_n)), _rand(seed + 1, (out_n, in_n))
    folded = fold_bias(w, bias, q.in_offset)
    scales = _scales(seed, out_n, True)
    want = ck.fc(x, w, bias, mult, shift, q, True)
    want_f64 = ck.fc_f64(x, w, bias, scales, q, True)
    for lo, hi in slice_ranges(out_n, min(slices, out_n)):
        part = np.ascontiguousarray(w[lo:hi])
        got = fcf.fc_packed(x, part, folded[lo:hi], mult[lo:hi], shift[lo:hi], q, True)
        np.testing.assert_array_equal(got, want[:, lo:hi])
        got = fcf.fc_packed_f64(x, part, folded[lo:hi], scales[lo:hi], q, True)
        np.testing.assert_array_equal(got, want_f64[:, lo:hi])
    acc = np.zeros((1, out_n), dtype=np.int32)
    for lo, hi in slice_ranges(in_n, min(slices, in_n)):
        fcf.fc_packed_acc(np.ascontiguousarray(x[:, lo:hi]), np.ascontiguousarray(w[:, lo:hi]), acc)
    np.testing.assert_array_equal(ck.requant(acc, folded, mult, shift, q), want)
    np.testing.assert_array_equal(ck.requant_f64(acc, folded, scales, q), want_f64)


# ---- QEMU: the SMLAD path ---------------------------------------------------------------------------


def _firmware(rng: np.random.Generator) -> Firmware:
    """Packed kernel calls on shapes that exercise every path: depth tails 0..3, odd group counts,
    remainder rows, batches, slices; expected outputs from the portable kernels on the host."""
    fw = Firmware([], [])
    for case, (batches, in_n, out_n) in enumerate(((1, 64, 12), (2, 37, 6), (1, 9, 5), (3, 3, 4),
                                                   (1, 130, 9), (1, 1, 1))):
        x = rng.integers(-128, 128, size=(batches, in_n), dtype=np.int8)
        w = rng.integers(-128, 128, size=(out_n, in_n), dtype=np.int8)
        bias = rng.integers(-3000, 3000, size=out_n, dtype=np.int32)
        mult, shift = zip(*(qp.quantize_multiplier(float(v)) for v in rng.uniform(1e-3, 2e-2, out_n)),
                          strict=True)
        q = ck.Quant(in_offset=int(rng.integers(-127, 129)), out_offset=int(rng.integers(-20, 20)),
                     act_min=-110, act_max=120)
        folded = fold_bias(w, bias, q.in_offset)
        scales = _scales(case, out_n, True)
        p = fw.params(f"p{case}", "mcuf_fc_params",
                      ck.FcParams(batches, in_n, out_n, q.in_offset, q.out_offset, q.act_min,
                                  q.act_max, 1))
        args = (f"{fw.array(f'x{case}', 'int8_t', x)}, "
                f"{fw.array(f'w{case}', 'int8_t', pack_fc_weights(w))}, "
                f"{fw.array(f'bf{case}', 'int32_t', folded)}")
        fw.check(f"fc{case}", f"mcuf_fc_packed_s8({p}, {args}, "
                 f"{fw.array(f'm{case}', 'int32_t', mult)}, {fw.array(f's{case}', 'int32_t', shift)}, "
                 f"out_fc{case})", ck.fc(x, w, bias, mult, shift, q, True))
        fw.check(f"f64_{case}", f"mcuf_fc_packed_s8_f64({p}, {args}, "
                 f"{fw.array(f'sc{case}', 'double', scales)}, out_f64_{case})",
                 ck.fc_f64(x, w, bias, scales, q, True))
        if batches == 1 and in_n > 4:  # two input slices, accumulated, then requantised
            cut = in_n // 2 + 1
            fw.decls.append(f"static int32_t acc{case}[{out_n}];")
            pre = [f"mcuf_zero_s32({out_n}, acc{case});"]
            for j, (lo, hi) in enumerate(((0, cut), (cut, in_n))):
                pj = fw.params(f"p{case}_{j}", "mcuf_fc_params",
                               ck.FcParams(1, hi - lo, out_n, 0, 0, -128, 127, 1))
                wj = fw.array(f"w{case}_{j}", "int8_t",
                              pack_fc_weights(np.ascontiguousarray(w[:, lo:hi])))
                pre.append(f"mcuf_fc_packed_s8_acc({pj}, x{case} + {lo}, {wj}, acc{case});")
            fw.check(f"split{case}", f"mcuf_requant_s32(1, {out_n}, acc{case}, bf{case}, m{case}, "
                     f"s{case}, {q.out_offset}, {q.act_min}, {q.act_max}, out_split{case}, {out_n})",
                     ck.fc(x, w, bias, mult, shift, q, True), pre=" ".join(pre) + "\n    ")
    return fw


FIRMWARE_SOURCES = ("mcuf_fixedpoint.c", "mcuf_conv.c", "mcuf_fc.c", "mcuf_fc_packed.c")


@pytest.mark.emulator
@pytest.mark.cross
@pytest.mark.parametrize("board", ["qemu_mps2_an386", "qemu_mps2_an500"])
def test_cortex_m_packed_fc_matches_host(board: str, tmp_path: Path) -> None:
    assert cortex_m.tools_missing() is None, cortex_m.tools_missing()
    elf = cortex_m.build(board, _firmware(np.random.default_rng(5)).source(), tmp_path,
                         FIRMWARE_SOURCES, std="c99")
    block = cortex_m.disassembly(elf, "block_rows4")
    assert "smlad" in block and "ror #8" in block, "the SMLAD inner loop was not compiled in"
    cortex_m.run_checks(board, elf)


# ---- whole models: TFLite Micro and the TFLite interpreter ---------------------------------------------


def _engine_outputs(data: bytes, numerics: Numerics, xs: list[I8], tmp: Path,
                    splits: int = 0) -> list[npt.NDArray[Any]]:
    from generator.compiler import compile_graph, compile_program
    from generator.host import build_host
    from generator.importer.tflite_reader import read_tflite
    from generator.plan.pex import Chain, Split, build_program

    g = read_tflite(data, where="fc model")
    if splits:
        program = build_program(g, [Split(Chain(0, len(g.ops) - 1), splits)])
        assert program.splits
        model = compile_program(g, program, data, numerics=numerics)
    else:
        model = compile_graph(g, data, partial=False, numerics=numerics)
    funcs = {c.func for c in model.schedule.calls}
    assert not funcs & {"mcuf_fc_s8", "mcuf_fc_s8_f64", "mcuf_fc_s8_acc"}, funcs
    if numerics is Numerics.TFLM:
        assert "double" not in model.engine.source  # fixed point only on the target
    return [r[0] for r in build_host(model, tmp).run([[x] for x in xs])]


def _check_against_references(data: bytes, shape: tuple[int, ...], seed: int, tmp: Path,
                              splits: int = 0) -> None:
    from generator.importer.reference import run_reference

    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(8)]
    for numerics in Numerics:
        outs = _engine_outputs(data, numerics, xs, tmp / numerics.value, splits)
        for x, got in zip(xs, outs, strict=True):
            want = run_reference(data, [x], numerics)[0]
            np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=numerics.value)


layers = st.builds(FcLayer, st.integers(1, 40), st.booleans(),
                   st.sampled_from(["none", "relu", "relu6", "relu_n1_to_1"]))


@pytest.mark.tflite
@pytest.mark.slow  # about a minute: many random models through both runtimes
@pytest.mark.hostc
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31), batches=st.integers(1, 3), depth=st.integers(1, 90),
       stack=st.lists(layers, min_size=1, max_size=2))
def test_random_fc_models_equal_both_references(tmp_path_factory: pytest.TempPathFactory,
                                                seed: int, batches: int, depth: int,
                                                stack: list[FcLayer]) -> None:
    data = fc_stack(seed, (batches, depth), stack)
    _check_against_references(data, (batches, depth), seed, tmp_path_factory.mktemp("fc"))


@pytest.mark.tflite
@pytest.mark.hostc
@pytest.mark.parametrize("splits", [2, 3, 5])
def test_split_fc_chain_equals_both_references(splits: int, tmp_path: Path) -> None:
    """FC -> FC split in channel slices: the first layer in output slices, the second
    accumulating input slices, finished by one requantisation."""
    data = fc_stack(splits, (1, 45), [FcLayer(23, True, "relu"), FcLayer(10, False)])
    _check_against_references(data, (1, 45), splits, tmp_path, splits)
