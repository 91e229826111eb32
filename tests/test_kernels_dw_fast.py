"""The fast DEPTHWISE_CONV_2D kernels against the portable one: host (the portable emulation of the same
instructions) and Cortex-M4F / M7 in QEMU (the DSP path), on random geometry, channel slices of wider
maps, the in-place form, extreme accumulators; and where the generator may use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.codegen import dw_fast
from generator.codegen import qparams as qp
from generator.ir import Padding
from tests.support import ckernels as ck
from tests.support import ckernels_dw as ckd
from tests.support import cortex_m
from tests.test_kernels_linear import (
    _embed,
    _sentinels_intact,
    _wide_out,
    geometries,
    np_dw_sums,
    np_finish,
    window_of,
)

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]

PROPERTY = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much])


@st.composite
def fast_quant(draw: st.DrawFn, n: int) -> tuple[ck.Quant, I32, I32, I32 | None]:
    """Offsets, a clamp (int8's or narrower), and multipliers of real scales in (2**-20, 0.5): every
    shift a right shift, as the fast kernel needs."""
    zp_in, zp_out = draw(st.integers(-128, 127)), draw(st.integers(-128, 127))
    lo, hi = (-128, 127) if draw(st.booleans()) else sorted(
        (draw(st.integers(-128, 127)), draw(st.integers(-128, 127))))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mults, shifts = zip(*(qp.quantize_multiplier(float(2.0 ** rng.uniform(-20, -1.0001)))
                          for _ in range(n)), strict=True)
    bias = rng.integers(-30000, 30000, size=n).astype(np.int32) if draw(st.booleans()) else None
    return (ck.Quant(-zp_in, zp_out, lo, hi), np.asarray(mults, np.int32),
            np.asarray(shifts, np.int32), bias)


def _rand(seed: int, shape: tuple[int, ...]) -> I8:
    return np.random.default_rng(seed).integers(-128, 128, size=shape, dtype=np.int8)


@pytest.mark.hostc
@PROPERTY
@given(geo=geometries(), c=st.integers(1, 11), data=st.data())
def test_fast_equals_portable(geo: Any, c: int, data: st.DataObject) -> None:
    """Any filter size, stride, dilation and padding; any channel count (groups of four, a pair, one);
    input and output as channel slices of wider maps: the fast kernel's output is the portable
    kernel's and the NumPy reference's, and nothing outside the slice is written."""
    in_hw, k_hw, win = geo
    q, mult, shift, bias = data.draw(fast_quant(c))
    seed = data.draw(st.integers(0, 2**32 - 1))
    x = _embed(_rand(seed, (*in_hw, c)), data.draw(st.integers(0, 5)), data.draw(st.integers(0, 5)),
               np.random.default_rng(seed))
    filt = _rand(seed + 1, (*k_hw, c))
    assert dw_fast.fast_eligible(filt, bias, mult, shift, q.out_offset, 1)
    want = ck.dwconv2d(x, filt, bias, mult, shift, win, q)
    np.testing.assert_array_equal(want, np_finish(np_dw_sums(x, filt, win, q.in_offset), bias, mult,
                                                  shift, q))
    before = data.draw(st.integers(0, 3))
    wide, out = _wide_out((win.out_h, win.out_w, c), before, data.draw(st.integers(0, 3)))
    ckd.dwconv_fast(x, filt, bias, mult, shift, win, q, out)
    np.testing.assert_array_equal(out, want)
    _sentinels_intact(wide, before, c)


@pytest.mark.hostc
@PROPERTY
@given(hw=st.tuples(st.integers(1, 7), st.integers(1, 7)), c=st.integers(1, 13),
       groups=st.integers(1, 5), data=st.data())
def test_fast_inplace_equals_portable_inplace(hw: tuple[int, int], c: int, groups: int,
                                              data: st.DataObject) -> None:
    """The in-place form by channel groups (groups of uneven width, more groups than channels
    included) leaves the portable in-place kernel's output in the buffer."""
    q, mult, shift, bias = data.draw(fast_quant(c))
    seed = data.draw(st.integers(0, 2**32 - 1))
    x = _rand(seed, (*hw, c))
    filt = _rand(seed + 1, (3, 3, c))
    win = window_of(Padding.SAME, hw, (3, 3), (1, 1), (1, 1))
    want = ck.dwconv2d(x, filt, bias, mult, shift, win, q)
    portable, fast = x.copy(), x.copy()
    ckd.dwconv_inplace(portable, filt, bias, mult, shift, win, q, groups, fast=False)
    ckd.dwconv_inplace(fast, filt, bias, mult, shift, win, q, groups, fast=True)
    np.testing.assert_array_equal(portable, want)
    np.testing.assert_array_equal(fast, want)


def _extreme_case(rng: np.random.Generator, c: int, zp_in: int) -> tuple[I8, I8, I32, I32, I32,
                                                                          ck.Quant]:
    """Inputs and weights at the int8 ends and biases at the eligibility bound: accumulators as
    large as the fast kernel accepts, of both signs (scales near 2**-27 keep outputs unsaturated;
    a small output offset keeps the rounding sum in int32)."""
    x = rng.choice(np.array([-128, 127], np.int8), size=(5, 6, c))
    filt = rng.choice(np.array([-128, 127], np.int8), size=(3, 3, c))
    room = (2**30 - 1 - 256 * np.abs(filt.astype(np.int64)).sum(axis=(0, 1))) // 2
    bias = (rng.choice([-1, 1], size=c) * room).astype(np.int32)
    mults, shifts = zip(*(qp.quantize_multiplier(float(v)) for v in rng.uniform(2e-9, 1e-8, c)),
                        strict=True)
    q = ck.Quant(-zp_in, int(rng.integers(-3, 4)))
    return x, filt, bias, np.asarray(mults, np.int32), np.asarray(shifts, np.int32), q


@pytest.mark.hostc
@pytest.mark.parametrize("zp_in", [-128, 0, 127])
def test_fast_extreme_accumulators(zp_in: int) -> None:
    rng = np.random.default_rng(zp_in + 1000)
    x, filt, bias, mult, shift, q = _extreme_case(rng, 7, zp_in)
    assert dw_fast.fast_eligible(filt, bias, mult, shift, q.out_offset, 1)
    win = window_of(Padding.SAME, (5, 6), (3, 3), (1, 1), (1, 1))
    want = ck.dwconv2d(x, filt, bias, mult, shift, win, q)
    assert len(np.unique(want)) > 2, "the case should not saturate everywhere"
    np.testing.assert_array_equal(ckd.dwconv_fast(x, filt, bias, mult, shift, win, q), want)


def test_eligibility_refuses_what_the_fast_arithmetic_cannot_do_exactly() -> None:
    filt = np.ones((3, 3, 4), np.int8)
    mult = np.full(4, 1 << 30, np.int32)
    right = np.full(4, -7, np.int32)
    assert dw_fast.fast_eligible(filt, None, mult, right, 0, 1)
    assert not dw_fast.fast_eligible(filt, None, mult, right, 0, 2)  # depth multiplier
    assert not dw_fast.fast_eligible(filt, None, mult, np.array([-7, -7, 0, -7]), 0, 1)  # no right shift
    assert not dw_fast.fast_eligible(filt, None, mult, np.array([-7, -7, 3, -7]), 0, 1)  # left shift
    big = np.full(4, 2**30 - 1000, np.int32)
    assert not dw_fast.fast_eligible(filt, big, mult, right, 0, 1)  # accumulator bound
    deep = np.full(4, -31, np.int32)
    assert not dw_fast.fast_eligible(filt, None, mult, deep, 127, 1)  # rounding sum leaves int32
    assert not dw_fast.fast_eligible(np.ones((33, 1, 4), np.int8), None, mult, right, 0, 1)


def test_stream_layout() -> None:
    """Groups of four, then a pair, then one: biases folded and doubled, weights doubled in int16
    pairs, records {m, K, r}."""
    w = np.arange(9 * 7, dtype=np.int64).reshape(3, 3, 7).astype(np.int8) - 30
    bias = np.arange(7, dtype=np.int32) * 10
    mult = np.arange(7, dtype=np.int32) + (1 << 30)
    shift = -np.arange(1, 8, dtype=np.int32)
    s = dw_fast.fast_stream(w, bias, mult, shift, in_offset=5, out_offset=-3).astype(np.int64)
    assert s.size == dw_fast.fast_words(7, 9) == 34 + 17 + 13
    wt = w.reshape(9, 7).astype(np.int64)
    np.testing.assert_array_equal(s[:4], 2 * bias[:4] + 5 * 2 * wt[:, :4].sum(axis=0))
    lo, hi = (s[4:22] << 48) >> 48, s[4:22] >> 16
    np.testing.assert_array_equal(lo[0::2], 2 * wt[:, 0])
    np.testing.assert_array_equal(hi[0::2], 2 * wt[:, 2])
    np.testing.assert_array_equal(lo[1::2], 2 * wt[:, 1])
    np.testing.assert_array_equal(hi[1::2], 2 * wt[:, 3])
    r = -shift
    np.testing.assert_array_equal(s[22:34].reshape(4, 3),
                                  np.stack([mult[:4], (1 << (r[:4] - 1)) + (-3 << r[:4]), r[:4]], 1))
    tail = s[34 + 17 :]
    assert tail[0] == 2 * bias[6] + 5 * 2 * wt[:, 6].sum()
    np.testing.assert_array_equal((tail[1:10] << 48) >> 48, 2 * wt[:, 6])
    assert not (tail[1:10] >> 16).any()  # (w, 0) pairs: the high half is zero
    assert ckd.lib().mcuf_dwconv_fast_words(7, 9) == s.size


# ---- the Cortex-M build (the DSP path) in QEMU -----------------------------------------------------


def _cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Calls covering the 3x3 interior block, every border shape, strides 1 and 2, dilation, other
    filter sizes, channel slices, units of four, two and one channel, both clamps, extremes."""
    out: list[dict[str, Any]] = []
    shapes = [((7, 6), (3, 3), (1, 1), (1, 1), Padding.SAME, 11),
              ((8, 9), (3, 3), (2, 2), (1, 1), Padding.SAME, 6),
              ((9, 7), (3, 3), (2, 1), (1, 1), Padding.VALID, 5),
              ((7, 7), (3, 3), (1, 1), (2, 2), Padding.SAME, 4),
              ((6, 8), (5, 3), (1, 2), (1, 1), Padding.SAME, 9),
              ((3, 3), (3, 3), (1, 1), (1, 1), Padding.SAME, 13),
              ((2, 1), (3, 3), (1, 1), (1, 1), Padding.SAME, 3),
              ((25, 5), (3, 3), (1, 1), (1, 1), Padding.SAME, 5)]
    for n, (hw, k, stride, dil, pad, c) in enumerate(shapes):
        win = window_of(pad, hw, k, stride, dil)
        mults, shifts = zip(*(qp.quantize_multiplier(float(2.0 ** rng.uniform(-12, -5)))
                              for _ in range(c)), strict=True)
        clamp = (-128, 127) if n % 2 == 0 else (-100, 90)
        q = ck.Quant(int(rng.integers(-127, 129)), int(rng.integers(-128, 128)), *clamp)
        x = _embed(rng.integers(-128, 128, size=(*hw, c), dtype=np.int8), n % 3, 2, rng)
        out.append(dict(x=x, filt=rng.integers(-128, 128, size=(*k, c), dtype=np.int8),
                        bias=rng.integers(-20000, 20000, size=c).astype(np.int32),
                        mult=np.asarray(mults, np.int32), shift=np.asarray(shifts, np.int32),
                        win=win, q=q))
    x, filt, bias, mult, shift, q = _extreme_case(rng, 9, -128)
    out.append(dict(x=x, filt=filt, bias=bias, mult=mult, shift=shift, q=q,
                    win=window_of(Padding.SAME, (5, 6), (3, 3), (1, 1), (1, 1))))
    return out


def _c_array(name: str, ctype: str, values: npt.NDArray[Any]) -> str:
    flat = values.reshape(-1)
    body = ", ".join(str(int(v)) for v in flat) or "0"
    return f"static const {ctype} {name}[{max(flat.size, 1)}] __attribute__((aligned(4))) = {{{body}}};"


def _firmware(rng: np.random.Generator) -> str:
    decls, body = [], []
    for n, cs in enumerate(_cases(rng)):
        x, filt, win, q = cs["x"], cs["filt"], cs["win"], cs["q"]
        want = ck.dwconv2d(x, filt, cs["bias"], cs["mult"], cs["shift"], win, q)
        wide = x.base if x.base is not None else x
        _, _, c, _ = ck.hwc(x)
        first = int(x.ctypes.data - wide.ctypes.data)
        p = ckd.params(x, filt.shape[:2], win, q, c + 1)
        fields = ", ".join(f".{f[0]} = {getattr(p, f[0])}" for f in p._fields_)
        decls += [_c_array(f"in{n}", "int8_t", np.ascontiguousarray(wide)),
                  _c_array(f"s{n}", "int32_t", ckd.stream(filt, cs["bias"], cs["mult"],
                                                          cs["shift"], q)),
                  _c_array(f"want{n}", "int8_t", want),
                  f"static const mcuf_dwconv_params p{n} = {{{fields}}};",
                  f"static int8_t out{n}[{want.size + win.out_h * win.out_w}];"]
        body.append(f"    mcuf_dwconv2d_fast_s8(&p{n}, in{n} + {first}, s{n}, out{n});\n"
                    f"    fails += check(out{n}, want{n}, {win.out_h * win.out_w}, {c}, {c + 1});")
    # the in-place form, three uneven groups
    hw, c = (6, 5), 11
    xi = rng.integers(-128, 128, size=(*hw, c), dtype=np.int8)
    filt = rng.integers(-128, 128, size=(3, 3, c), dtype=np.int8)
    bias = rng.integers(-20000, 20000, size=c).astype(np.int32)
    mults, shifts = zip(*(qp.quantize_multiplier(float(v)) for v in rng.uniform(1e-4, 1e-2, c)),
                        strict=True)
    mult, shift = np.asarray(mults, np.int32), np.asarray(shifts, np.int32)
    win = window_of(Padding.SAME, hw, (3, 3), (1, 1), (1, 1))
    q = ck.Quant(7, -9)
    want = ck.dwconv2d(xi, filt, bias, mult, shift, win, q)
    p = ckd.params(xi, (3, 3), win, q, c)
    fields = ", ".join(f".{f[0]} = {getattr(p, f[0])}" for f in p._fields_)
    stream = np.concatenate([ckd.stream(filt[:, :, lo:hi], bias[lo:hi], mult[lo:hi], shift[lo:hi], q)
                             for lo, hi in ckd.group_ranges(c, 3)])
    decls += [_c_array("inp_x", "int8_t", xi), _c_array("inp_s", "int32_t", stream),
              _c_array("inp_want", "int8_t", want),
              f"static const mcuf_dwconv_params inp_p = {{{fields}}};",
              f"static int8_t inp_buf[{xi.size}];", f"static int8_t inp_tmp[{hw[0] * hw[1] * 4}];"]
    body.append("    memcpy(inp_buf, inp_x, sizeof inp_buf);\n"
                "    mcuf_dwconv2d_inplace_fast_s8(&inp_p, inp_buf, inp_s, inp_tmp, 3);\n"
                f"    fails += check(inp_buf, inp_want, {hw[0] * hw[1]}, {c}, {c});")
    return "\n".join([_PRELUDE, *decls, _CHECK, "int main(void)", "{", "    int fails = 0;", *body,
                      '    mcuf_port_print(fails ? "FAIL\\n" : "OK\\n");', "    return fails ? 1 : 0;",
                      "}", ""])


_PRELUDE = """#include <stdint.h>
#include <string.h>
#include "mcuf_kernels.h"
#include "mcuf_port.h"
"""

# got has pixel stride cs >= c: the bytes between pixels must stay 0.
_CHECK = """static int check(const int8_t *got, const int8_t *want, int pixels, int c, int cs)
{
    int bad = 0;
    for (int i = 0; i < pixels; i++) {
        for (int j = 0; j < cs; j++) {
            bad += got[i * cs + j] != (j < c ? want[i * c + j] : 0);
        }
    }
    if (bad) {
        mcuf_port_print("mismatches: ");
        mcuf_port_print_int(bad);
        mcuf_port_print("\\n");
    }
    return bad;
}
"""


@pytest.mark.emulator
@pytest.mark.cross
@pytest.mark.parametrize("board", ["qemu_mps2_an386", "qemu_mps2_an500"])
@pytest.mark.parametrize("opt", ["-Os", "-O2"])
def test_cortex_m_fast_path_matches_host(board: str, opt: str, tmp_path: Path) -> None:
    """The DSP path (hand-scheduled SXTB16 / SMLABB / SMMLAR blocks) built for Cortex-M4F and M7 at
    the project's and the kernels' optimisation levels gives the portable kernel's outputs."""
    if (missing := cortex_m.tools_missing()) is not None:
        pytest.skip(missing)
    elf = cortex_m.build(board, _firmware(np.random.default_rng(33)), tmp_path, opt=opt)
    dis = cortex_m.disassembly(elf)
    assert "smmlar" in dis and "smlatt" in dis, "the DSP blocks were not compiled in"
    cortex_m.run_checks(board, elf)
