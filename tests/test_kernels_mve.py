"""The packed FULLY_CONNECTED kernels (``mcuf_fc_packed.c``) on Cortex-M55 with Helium (MVE).

Built for the ``qemu_mps3_an547`` board (``-mcpu=cortex-m55``: ``__ARM_FEATURE_MVE`` is 3, so
``MCUF_MVE`` selects the VLD4 / byte-gather / VMLADAVA loops) and run in QEMU's ``mps3-an547``, the
kernels give the outputs of the host's portable kernels (``mcuf_fc_s8``, ``mcuf_fc_s8_f64``) on
seeded random shapes: whole calls, output slices (each slice's rows packed on their own, stored back
to back as the code generator stores them) and input slices accumulated in int32 and requantised
once. The packed weights start at every address modulo 4, since a C int8 array need not be
word-aligned and VLD4.32 needs it: aligned weights take the VLD4 loop, the others the gather loop.
(QEMU 7.2 does not fault on a misaligned VLD4, so only the outputs of both loops are checked
here; the rule is Arm's: MVE loads of words need word-aligned addresses, loads of bytes do not.)
"""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.codegen import qparams as qp
from generator.codegen.context import Lowering
from generator.codegen.lower_fc import BLOCK_ALIGN, fold_bias, pack_fc_weights, packed_blocks
from generator.ir import Graph
from generator.plan.pex import slice_ranges
from tests.support import ckernels as ck
from tests.support import cortex_m
from tests.test_kernels_linear import Firmware, reference_rescales

BOARD = "qemu_mps3_an547"
SOURCES = ("mcuf_fixedpoint.c", "mcuf_conv.c", "mcuf_fc.c", "mcuf_fc_packed.c")
HAVE_TOOLS = cortex_m.tools_missing() is None

# (batches, in_n, out_n) that reach every path: no chunk of 16 inputs, one, several; every rest
# n % 16 (groups 0..3, tail 0..3); remainder rows 0..3; batches; a single input and output.
EDGE_SHAPES = ((1, 16, 4), (1, 15, 4), (2, 64, 12), (1, 37, 6), (3, 9, 5), (1, 1, 1),
               (1, 130, 9), (1, 3, 8), (2, 48, 7), (1, 255, 13), (1, 12, 3), (1, 17, 4))


def _placed(fw: Firmware, name: str, data: npt.NDArray[np.int8], misalign: int) -> str:
    """``data`` in a word-aligned array, starting ``misalign`` bytes in: the C expression of its
    first byte."""
    values = [0] * misalign + [int(v) for v in data.reshape(-1)] + [0] * (4 - misalign)
    fw.decls.append(f"static const int8_t {name}[{len(values)}] __attribute__((aligned(4))) = "
                    f"{{{', '.join(map(str, values))}}};")
    return f"({name} + {misalign})"


def _packed_slices(parts: list[npt.NDArray[np.int8]]) -> tuple[npt.NDArray[np.int8], list[int]]:
    """Each part packed alone, back to back in one array, as the code generator stores them
    (lower_fc.packed_blocks): the array and the offset of each part."""
    lw = Lowering(Graph((), (), (), ()))
    refs = packed_blocks(lw, "wp", [np.ascontiguousarray(p) for p in parts])
    return np.asarray(lw.consts["wp"].data), [r.offset for r in refs]


def _case(fw: Firmware, case: int, rng: np.random.Generator, shape: tuple[int, int, int]) -> None:
    batches, in_n, out_n = shape
    x = rng.integers(-128, 128, size=(batches, in_n), dtype=np.int8)
    w = rng.integers(-128, 128, size=(out_n, in_n), dtype=np.int8)
    bias = rng.integers(-3000, 3000, size=out_n, dtype=np.int32)
    mult, shift = zip(*(qp.quantize_multiplier(float(v)) for v in rng.uniform(1e-4, 2e-2, out_n)),
                      strict=True)
    q = ck.Quant(in_offset=int(rng.integers(-127, 129)), out_offset=int(rng.integers(-20, 20)),
                 act_min=-110, act_max=120)
    folded = fold_bias(w, bias, q.in_offset)
    scales = reference_rescales(float(np.float32(rng.uniform(1e-3, 0.1))),
                                tuple(float(np.float32(v)) for v in rng.uniform(1e-4, 1e-2, out_n)),
                                float(np.float32(rng.uniform(1e-3, 0.2))))
    xs = fw.array(f"x{case}", "int8_t", x)
    bf = fw.array(f"bf{case}", "int32_t", folded)
    m, s = fw.array(f"m{case}", "int32_t", mult), fw.array(f"s{case}", "int32_t", shift)
    sc = fw.array(f"sc{case}", "double", scales)
    want = ck.fc(x, w, bias, mult, shift, q, True)
    want_f64 = ck.fc_f64(x, w, bias, scales, q, True)

    def params(name: str, b: int, i: int, o: int, qq: ck.Quant) -> str:
        return fw.params(name, "mcuf_fc_params", ck.FcParams(b, i, o, qq.in_offset, qq.out_offset,
                                                             qq.act_min, qq.act_max, 1))

    p = params(f"p{case}", batches, in_n, out_n, q)
    wp = _placed(fw, f"w{case}", pack_fc_weights(w), case % 4)
    fw.check(f"fc{case}", f"mcuf_fc_packed_s8({p}, {xs}, {wp}, {bf}, {m}, {s}, out_fc{case})", want)
    fw.check(f"f64_{case}", f"mcuf_fc_packed_s8_f64({p}, {xs}, {wp}, {bf}, {sc}, out_f64_{case})",
             want_f64)

    # batch 0 only below: the code generator slices only single-batch FULLY_CONNECTED ops
    slices = int(rng.integers(2, 6))
    outs = slice_ranges(out_n, min(slices, out_n))
    packed, offsets = _packed_slices([w[lo:hi] for lo, hi in outs])
    wo = _placed(fw, f"wo{case}", packed, (case + 1) % 4)
    for j, ((lo, hi), off) in enumerate(zip(outs, offsets, strict=True)):
        pj = params(f"po{case}_{j}", 1, in_n, hi - lo, q)
        fw.check(f"o{case}_{j}", f"mcuf_fc_packed_s8({pj}, {xs}, {wo} + {off}, {bf} + {lo}, "
                 f"{m} + {lo}, {s} + {lo}, out_o{case}_{j})", want[:1, lo:hi])
        fw.check(f"of{case}_{j}", f"mcuf_fc_packed_s8_f64({pj}, {xs}, {wo} + {off}, {bf} + {lo}, "
                 f"{sc} + {lo}, out_of{case}_{j})", want_f64[:1, lo:hi])

    ins = slice_ranges(in_n, min(slices, in_n))
    packed, offsets = _packed_slices([w[:, lo:hi] for lo, hi in ins])
    wi = _placed(fw, f"wi{case}", packed, (case + 2) % 4)
    fw.decls.append(f"static int32_t acc{case}[{out_n}];")
    pre = [f"mcuf_zero_s32({out_n}, acc{case});"]
    for j, ((lo, hi), off) in enumerate(zip(ins, offsets, strict=True)):
        pj = params(f"pi{case}_{j}", 1, hi - lo, out_n, ck.Quant(0, 0, -128, 127))
        pre.append(f"mcuf_fc_packed_s8_acc({pj}, {xs} + {lo}, {wi} + {off}, acc{case});")
    fw.check(f"acc{case}", f"mcuf_requant_s32(1, {out_n}, acc{case}, {bf}, {m}, {s}, "
             f"{q.out_offset}, {q.act_min}, {q.act_max}, out_acc{case}, {out_n})", want[:1],
             pre=" ".join(pre) + "\n    ")


def _firmware(seed: int) -> Firmware:
    rng = np.random.default_rng(seed)
    fw = Firmware([], [])
    shapes = [(int(rng.integers(1, 3)), int(rng.integers(1, 300)), int(rng.integers(1, 24)))
              for _ in range(10)]
    for case, shape in enumerate([*EDGE_SHAPES, *shapes] if seed == 0 else shapes):
        _case(fw, case, rng, shape)
    return fw


@pytest.mark.unit
@given(out_n=st.integers(1, 13), in_n=st.integers(1, 40), cuts=st.lists(st.integers(1, 39)),
       by_rows=st.booleans())
def test_sliced_weights_start_word_aligned(out_n: int, in_n: int, cuts: list[int],
                                           by_rows: bool) -> None:
    """The code generator stores every slice's packed weights at a multiple of 4 bytes into their
    array, each slice exactly its own packed rows or columns."""
    w = np.random.default_rng(out_n * 100 + in_n).integers(-128, 128, (out_n, in_n), dtype=np.int8)
    size = out_n if by_rows else in_n
    edges = sorted({0, size, *(c for c in cuts if c < size)})
    parts = [w[a:b] if by_rows else w[:, a:b] for a, b in pairwise(edges)]
    lw = Lowering(Graph((), (), (), ()))
    refs = packed_blocks(lw, "wp", parts)
    data = lw.consts["wp"].data
    ends = [r.offset for r in refs[1:]] + [data.size]
    for ref, end, part in zip(refs, ends, parts, strict=True):
        assert ref.offset % BLOCK_ALIGN == 0
        want = pack_fc_weights(np.ascontiguousarray(part))
        np.testing.assert_array_equal(data[ref.offset : ref.offset + want.size], want)
        assert not data[ref.offset + want.size : end].any() and end - ref.offset - want.size < 4


@pytest.mark.emulator
@pytest.mark.cross
@pytest.mark.skipif(not HAVE_TOOLS, reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("opt", ["-Os", "-O2"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mve_packed_fc_matches_host(seed: int, opt: str, tmp_path: Path) -> None:
    elf = cortex_m.build(BOARD, _firmware(seed).source(), tmp_path, SOURCES, opt=opt, std="c99")
    block = cortex_m.disassembly(elf, "block_rows4", arch="armv8.1-m.main")
    for insn in ("vld40.32", "vld43.32", "vmlava.s8", "vctp.8"):
        assert insn in block, f"the Helium inner loop was not compiled in ({insn} missing)"
    assert re.search(r"vldrb\.u8\s+q\d, \[r\d+, q\d\]", block), "no byte gather (unaligned weights)"
    assert "smlad" not in block
    cortex_m.run_checks(BOARD, elf)


# ---- fast CONV_2D (mcuf_conv_fast.c) and DEPTHWISE_CONV_2D (mcuf_dwconv_fast.c) ----------------

CONV_SOURCES = ("mcuf_fixedpoint.c", "mcuf_conv.c", "mcuf_conv_fast.c")


def _wide_1x1_cases(fw: Firmware, rng: np.random.Generator) -> None:
    """1x1 convs over more input channels than one vector holds (several passes, every tail), an
    odd output channel count, pixels at every address modulo 4 (the input array's offset), read
    in place with and without column scratch and through the acc form."""
    from generator.codegen import conv_fast as cf

    for n, (ic, oc) in enumerate(((16, 4), (37, 5), (64, 6), (33, 3), (18, 7), (95, 2))):
        x = rng.integers(-128, 128, size=(3, 3, ic), dtype=np.int8)
        filt = rng.integers(-128, 128, size=(oc, 1, 1, ic), dtype=np.int8)
        bias = rng.integers(-9000, 9000, size=oc, dtype=np.int32)
        mult = rng.integers(2**30, 2**31, size=oc, dtype=np.int64).astype(np.int32)
        # right shifts that leave outputs in range (rounding ties included), and a left shift
        # or none (the lanes' VSHL, and saturation), for the vector requantisation
        lo, hi = ((-20, -10), (-11, -6), (-2, 2))[n % 3]
        shift = rng.integers(lo, hi, size=oc, dtype=np.int32)
        q = ck.Quant(in_offset=int(rng.integers(-127, 128)), out_offset=-2,
                     act_min=-128 if n % 2 else -90, act_max=127 if n % 2 else 100)
        win = ck.Window(3, 3)
        want = ck.conv2d(x, filt, bias, mult, shift, win, q)
        p = fw.params(f"pw{n}", "mcuf_conv_params", ck.conv_params(x, (1, 1), oc, win, q))
        kp = cf.padded_depth(ic)
        fw.decls.append(f"static int32_t colsw{n}[{kp + kp // 4}];")
        bf = cf.folded_bias(filt, bias, q.in_offset)
        xs = _placed(fw, f"xw{n}", x, n % 4)
        wf = fw.array(f"wfw{n}", "int32_t", cf.fast_filter(filt))
        bfs = fw.array(f"bfw{n}", "int32_t", bf)
        rq = fw.array(f"rqw{n}", "int32_t", cf.requant_records(filt, bf, mult, shift))
        m, s = fw.array(f"mw{n}", "int32_t", mult), fw.array(f"sw{n}", "int32_t", shift)
        for name, cols in ((f"wide{n}", f"colsw{n}"), (f"wide_bare{n}", "NULL")):
            fw.check(name, f"mcuf_conv2d_fast_s8({p}, {xs}, {wf}, {bfs}, {rq}, out_{name}, "
                     f"{cols})", want)
        fw.decls.append(f"static int32_t accw{n}[{want.size}];")
        fw.check(f"wide_acc{n}", f"mcuf_requant_s32(9, {oc}, accw{n}, {bfs}, {m}, {s}, "
                 f"{q.out_offset}, {q.act_min}, {q.act_max}, out_wide_acc{n}, {oc})", want,
                 pre=f"mcuf_zero_s32({want.size}, accw{n}); mcuf_conv2d_fast_s8_acc({p}, {xs}, "
                 f"{wf}, accw{n}, colsw{n});\n    ")


@pytest.mark.emulator
@pytest.mark.cross
@pytest.mark.skipif(not HAVE_TOOLS, reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("opt", ["-Os", "-O2"])
@pytest.mark.parametrize("seed", [5, 6])
def test_mve_fast_conv_matches_host(seed: int, opt: str, tmp_path: Path) -> None:
    """The Helium product of the fast CONV_2D (each pixel's int8 window copied into the scratch,
    or a 1x1 conv's int8 pixels in place: contiguous byte loads, byte gathers of the filter,
    VMLADAVA.S8, the last pass predicated) gives the host's portable kernels' outputs, with and
    without column scratch and through the acc form."""
    from tests.test_kernels_conv_fast import _fast_firmware

    fw = _fast_firmware(np.random.default_rng(seed))
    _wide_1x1_cases(fw, np.random.default_rng(seed + 100))
    elf = cortex_m.build(BOARD, fw.source(), tmp_path, CONV_SOURCES, opt=opt, std="c99")
    dis = cortex_m.disassembly(elf, arch="armv8.1-m.main")
    for insn in ("vmlava.s8", "vctp.8"):
        assert insn in dis, f"the Helium conv loop was not compiled in ({insn} missing)"
    assert re.search(r"vldrbt?\.[su]8\s+q\d, \[\w+, q\d\]", dis), "no byte gather"
    cortex_m.run_checks(BOARD, elf)


@pytest.mark.emulator
@pytest.mark.cross
@pytest.mark.skipif(not HAVE_TOOLS, reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("opt", ["-Os", "-O2"])
@pytest.mark.parametrize("seed", [33, 34])
def test_mve_fast_dwconv_matches_host(seed: int, opt: str, tmp_path: Path) -> None:
    """The Helium 3x3 block of the fast DEPTHWISE_CONV_2D (four channels in int32 lanes: widening
    byte loads or the zero point in the padding, halfword gathers of the weights, VMUL / VADD, the
    requantisation in lanes), interior and border pixels, gives the host's portable kernel's
    outputs; pairs, single channels and other filter sizes keep the scalar path."""
    from tests.test_kernels_dw_fast import _firmware as dw_firmware

    elf = cortex_m.build(BOARD, dw_firmware(np.random.default_rng(seed)), tmp_path, opt=opt)
    dis = cortex_m.disassembly(elf, arch="armv8.1-m.main")
    for insn in ("vrmulh.s32", "vmul.i32", "vstrb.32"):
        assert insn in dis, f"the Helium depthwise block was not compiled in ({insn} missing)"
    assert re.search(r"vldrh\.s32\s+q\d, \[\w+, q\d, uxtw #1\]", dis), "no halfword gather"
    assert re.search(r"vldrb\.s32\s+q\d, \[\w+(, #-?\d+)?\]", dis), "no widening byte load"
    cortex_m.run_checks(BOARD, elf)
