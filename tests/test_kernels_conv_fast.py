"""The fast CONV_2D kernels (mcuf_conv_fast.c) equal the portable ones bit for bit.

Random geometries (strides, dilations, SAME/VALID padding, 1..9 input channels, odd and even
output-channel and pixel counts), quantisations and channel-slice addressing, on the host build;
the same kernels built for Cortex-M4F / M7 (SMLAD path) in QEMU in test_cortex_m_fast_conv.
The compile-time constants (fast filter layout, folded bias) come from the code generator.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.codegen import conv_fast as cf
from tests.support import ckernels as ck
from tests.support import ckernels_conv as ckf
from tests.support import cortex_m
from tests.test_kernels_linear import (
    PROPERTY,
    Firmware,
    _embed,
    _rand,
    _sentinels_intact,
    _wide_out,
    geometries,
    requant_setup,
)

pytestmark = pytest.mark.hostc


@pytest.mark.unit
def test_fast_filter_layout() -> None:
    """Pairs of channels interleaved by groups of four, K zero-padded, an odd channel plain."""
    w = np.arange(3 * 1 * 1 * 5, dtype=np.int8).reshape(3, 1, 1, 5)
    words = cf.fast_filter(w)
    got = words.view(np.int8).reshape(-1).tolist()
    assert got == [0, 1, 2, 3, 5, 6, 7, 8, 4, 0, 0, 0, 9, 0, 0, 0, 10, 11, 12, 13, 14, 0, 0, 0]
    assert words.dtype == np.int32 and words.size == 3 * cf.padded_depth(5) // 4


@pytest.mark.unit
def test_folded_bias_wraps_like_int32() -> None:
    w = np.full((2, 3, 3, 64), 127, dtype=np.int8)
    b = np.array([2**31 - 1, -5], dtype=np.int32)
    got = cf.folded_bias(w, b, 128)
    want = [(int(v) + 128 * 127 * 576 + 2**31) % 2**32 - 2**31 for v in b]
    assert got.tolist() == want


@pytest.mark.unit
def test_small_columns_need_no_scratch() -> None:
    """Columns and their largest stage within 256 bytes stay on the kernel's stack: the planner
    counts no scratch for them (a 3x3 conv of 3 channels, a 1x1 of 64), and counts the rest."""
    from tests.support.irgraphs import GraphBuilder

    for k, c, want_zero in ((3, 3, True), (1, 64, True), (3, 8, False), (1, 68, False)):
        b = GraphBuilder(np.random.default_rng(0))
        x = b.act((1, 8, 8, c), "x")
        g = b.graph((x,), (b.conv(x, 4, k),))
        op = g.ops[0]
        assert (cf.cols_bytes(g, op, c) == 0) is want_zero, (k, c)


@PROPERTY
@given(geo=geometries(), c=st.integers(1, 9), oc=st.integers(1, 7), data=st.data())
def test_fast_conv_equals_portable(geo: Any, c: int, oc: int, data: st.DataObject) -> None:
    """Whole conv, reading a channel slice of a wider input and writing one of a wider output;
    and input-channel splits accumulated with the fast acc form, finished with the folded bias."""
    in_hw, k_hw, win = geo
    q, mult, shift, bias = data.draw(requant_setup(oc))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = _embed(_rand(seed, (*in_hw, c)), data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3)),
               rng)
    filt = _rand(seed + 1, (oc, *k_hw, c))
    want = ck.conv2d(x, filt, bias, mult, shift, win, q)
    before = data.draw(st.integers(0, 3))
    wide, out = _wide_out((win.out_h, win.out_w, oc), before, data.draw(st.integers(0, 3)))
    ckf.conv2d_fast(x, filt, bias, mult, shift, win, q, out)
    np.testing.assert_array_equal(out, want)
    _sentinels_intact(wide, before, oc)
    # without column scratch: 1x1 pixels read directly; else the columns borrow the first output
    # rows (dense output, a row left after them) or every output is summed tap by tap
    out[...] = 0x55
    ckf.conv2d_fast(x, filt, bias, mult, shift, win, q, out, scratch=False)
    np.testing.assert_array_equal(out, want)
    _sentinels_intact(wide, before, oc)

    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(c - 1, 1)), max_size=3))) | {0, c})
    acc = np.zeros((win.out_h, win.out_w, oc), dtype=np.int32)
    for lo, hi in itertools.pairwise(cuts):
        if hi > lo:
            ckf.conv2d_fast_acc(x[:, :, lo:hi], np.ascontiguousarray(filt[..., lo:hi]), win,
                                q.in_offset, acc)
    bf = cf.folded_bias(filt, bias, q.in_offset)
    got = ck.requant(acc.reshape(-1, oc), bf, mult, shift, q)
    np.testing.assert_array_equal(got.reshape(want.shape), want)


@PROPERTY
@given(h=st.integers(1, 5), w=st.integers(1, 6), ic=st.integers(1, 12), oc=st.integers(1, 12),
       block=st.integers(1, 7), data=st.data())
def test_fast_inplace_1x1_equals_portable(h: int, w: int, ic: int, oc: int, block: int,
                                          data: st.DataObject) -> None:
    """The fast in-place 1x1 conv leaves the buffer as the portable in-place form does."""
    if oc > ic:
        oc = ic  # the in-place form writes at most as many channels as it reads
    q, mult, shift, bias = data.draw(requant_setup(oc))
    seed = data.draw(st.integers(0, 2**32 - 1))
    x = _rand(seed, (h, w, ic))
    filt = _rand(seed + 1, (oc, 1, 1, ic))
    bufs = [x.reshape(-1).copy(), x.reshape(-1).copy()]
    for fast, buf in zip((False, True), bufs, strict=True):
        ckf.conv1x1_inplace(buf, (h, w, ic), filt, bias, mult, shift, q, block, fast)
    n = h * w * oc
    np.testing.assert_array_equal(bufs[1][:n], bufs[0][:n])
    want = ck.conv2d(x, filt, bias, mult, shift, ck.Window(h, w), q)
    np.testing.assert_array_equal(bufs[1][:n], want.reshape(-1))


@pytest.mark.parametrize("shape", [
    # (in_h, in_w, in_c, out_c, k_h, k_w, stride, pad_top, pad_left): DS-CNN's first conv, a
    # MobileNet stem, a ResNet-8 3x3, a pointwise conv.
    (49, 10, 1, 64, 10, 4, 2, 4, 1), (12, 12, 3, 8, 3, 3, 2, 0, 0), (8, 8, 16, 16, 3, 3, 1, 1, 1),
    (5, 5, 64, 64, 1, 1, 1, 0, 0),
])
def test_fast_conv_model_shapes(shape: tuple[int, ...]) -> None:
    ih, iw, ic, oc, kh, kw, s, pt, pl = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-128, 128, size=(ih, iw, ic), dtype=np.int8)
    filt = rng.integers(-128, 128, size=(oc, kh, kw, ic), dtype=np.int8)
    oh, ow = (ih + 2 * pt - kh) // s + 1, (iw + 2 * pl - kw) // s + 1
    win = ck.Window(oh, ow, s, s, 1, 1, pt, pl)
    mult = rng.integers(2**30, 2**31, size=oc, dtype=np.int64).astype(np.int32)
    shift = rng.integers(-12, -6, size=oc, dtype=np.int32)
    bias = rng.integers(-20000, 20000, size=oc, dtype=np.int32)
    q = ck.Quant(in_offset=1, out_offset=-5, act_min=-128, act_max=127)
    want = ck.conv2d(x, filt, bias, mult, shift, win, q)
    assert len(np.unique(want)) > 10  # not saturated
    np.testing.assert_array_equal(ckf.conv2d_fast(x, filt, bias, mult, shift, win, q), want)
    got = ckf.conv2d_fast(x, filt, bias, mult, shift, win, q, scratch=False)
    np.testing.assert_array_equal(got, want)


# ---- Cortex-M (SMLAD path) in QEMU ---------------------------------------------------------------


def _fast_firmware(rng: np.random.Generator) -> Firmware:
    """Fast kernels on fixed random cases; expected outputs from the host's portable kernels."""
    fw = Firmware([], [])
    cases = [((9, 7, 5), 7, (3, 3), ck.Window(4, 3, 2, 2, 1, 1, 1, 0)),
             ((6, 6, 8), 6, (1, 1), ck.Window(6, 6)),
             ((12, 6, 1), 5, (5, 4), ck.Window(6, 3, 2, 2, 1, 1, 2, 1)),
             ((7, 8, 3), 4, (3, 2), ck.Window(3, 3, 1, 3, 2, 1, 0, 1)),
             # small columns (3x3x3, 10x4x1: at most 256 bytes with their stage) go on the stack
             ((8, 16, 3), 24, (3, 3), ck.Window(4, 8, 2, 2, 1, 1, 1, 1)),
             ((49, 10, 1), 64, (10, 4), ck.Window(25, 5, 2, 2, 1, 1, 4, 1)),
             # output rows wide enough for the columns to borrow row 0 (gathered; by rows)
             ((8, 16, 7), 24, (3, 3), ck.Window(4, 8, 2, 2, 1, 1, 1, 1)),
             ((9, 16, 8), 32, (3, 3), ck.Window(5, 8, 2, 2, 1, 1, 1, 1)),
             # the columns need two output rows (ResNet-8's stride-2 conv needs two as well)
             ((12, 12, 8), 16, (3, 3), ck.Window(12, 12, 1, 1, 1, 1, 1, 1))]
    for n, (shape, oc, k_hw, win) in enumerate(cases):
        ic = shape[2]
        x = rng.integers(-128, 128, size=shape, dtype=np.int8)
        filt = rng.integers(-128, 128, size=(oc, *k_hw, ic), dtype=np.int8)
        bias = rng.integers(-9000, 9000, size=oc, dtype=np.int32)
        mult = rng.integers(2**30, 2**31, size=oc, dtype=np.int64).astype(np.int32)
        shift = rng.integers(-10, -5, size=oc, dtype=np.int32)
        q = ck.Quant(in_offset=int(rng.integers(-127, 128)), out_offset=3, act_min=-100,
                     act_max=120)
        want = ck.conv2d(x, filt, bias, mult, shift, win, q)
        p = ck.conv_params(x, k_hw, oc, win, q)
        kp = cf.padded_depth(k_hw[0] * k_hw[1] * ic)
        fw.decls.append(f"static int32_t cols{n}[{kp + kp // 4}];")
        bf = cf.folded_bias(filt, bias, q.in_offset)
        args = (f"{fw.params(f'p{n}', 'mcuf_conv_params', p)}, {fw.array(f'x{n}', 'int8_t', x)}, "
                f"{fw.array(f'wf{n}', 'int32_t', cf.fast_filter(filt))}, "
                f"{fw.array(f'bf{n}', 'int32_t', bf)}, "
                f"{fw.array(f'rq{n}', 'int32_t', cf.requant_records(filt, bf, mult, shift))}")
        fw.array(f"m{n}", "int32_t", mult)
        fw.array(f"s{n}", "int32_t", shift)
        fw.check(f"fast{n}", f"mcuf_conv2d_fast_s8({args}, out_fast{n}, cols{n})", want)
        fw.check(f"bare{n}", f"mcuf_conv2d_fast_s8(&p{n}, x{n}, wf{n}, bf{n}, rq{n}, out_bare{n}, "
                 "NULL)", want)  # no scratch: read directly, borrow output rows, or tap by tap
        # the same sums through the acc form, finished with mcuf_requant_s32
        acc_n = want.size
        fw.decls.append(f"static int32_t acc{n}[{acc_n}];")
        fw.check(f"fast_acc{n}", f"mcuf_requant_s32({acc_n // oc}, {oc}, acc{n}, bf{n}, m{n}, s{n}, "
                 f"{q.out_offset}, {q.act_min}, {q.act_max}, out_fast_acc{n}, {oc})", want,
                 pre=f"mcuf_zero_s32({acc_n}, acc{n}); mcuf_conv2d_fast_s8_acc(&p{n}, x{n}, wf{n}, "
                 f"acc{n}, cols{n});\n    ")
    return fw


@pytest.mark.emulator
@pytest.mark.cross
@pytest.mark.parametrize("board", ["qemu_mps2_an386", "qemu_mps2_an500"])
def test_cortex_m_fast_conv(board: str, tmp_path: Any) -> None:
    """The SMLAD build of the fast kernels gives the portable kernels' outputs, in QEMU."""
    if (missing := cortex_m.tools_missing()) is not None:
        pytest.skip(missing)
    elf = cortex_m.build(board, _fast_firmware(np.random.default_rng(5)).source(), tmp_path,
                         ("mcuf_fixedpoint.c", "mcuf_conv.c", "mcuf_conv_fast.c"))
    dis = cortex_m.disassembly(elf)
    assert "smlad" in dis and "sxtb16" in dis, "the DSP inner loop was not compiled in"
    cortex_m.run_checks(board, elf)
