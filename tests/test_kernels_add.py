"""The table ADD kernel (``mcuf_add_lut_s8``) on Cortex-M: the Cortex-M4F (scalar loop) and the
Cortex-M55 with Helium (gathers from the tables, VQRDMULH and VRSHL for the output), in QEMU,
against the host's kernels on seeded random quantisations, activations and operand forms (dense
maps of every length modulo 4, a per-channel vector, a scalar). On the host the table kernel is
checked against the plain one and TFLite's interpreter by every ADD test of
``tests/test_kernels_eltwise.py`` (``ckernels_eltwise.add`` runs both)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator.codegen import qparams_eltwise as qe
from generator.ir import Activation
from tests.support import ckernels_eltwise as ck
from tests.support import cortex_m
from tests.test_kernels_linear import Firmware

HAVE_TOOLS = cortex_m.tools_missing() is None
SOURCES = ("mcuf_fixedpoint.c", "mcuf_add.c", "mcuf_add_lut.c")
ACTS = (Activation.NONE, Activation.RELU, Activation.RELU6, Activation.RELU_N1_TO_1)


def _firmware(seed: int) -> Firmware:
    rng = np.random.default_rng(seed)
    fw = Firmware([], [])
    for case in range(12):
        qs = [(float(np.float32(10 ** rng.uniform(-3, 0))), int(rng.integers(-128, 128)))
              for _ in range(3)]
        params = qe.add_params(*qs[0], *qs[1], *qs[2], ACTS[case % 4])
        n, c = int(rng.integers(1, 9)), int(rng.integers(1, 13))
        form = case % 3  # dense + dense, dense + per-channel, scalar + dense
        a = rng.integers(-128, 128, size=(n, c) if form != 2 else (1,), dtype=np.int8)
        b = rng.integers(-128, 128, size=(n, c) if form != 1 else (c,), dtype=np.int8)
        want = ck.add(params, a, b, n, c)  # the host's table kernel, checked against the plain one
        struct = ck._fill(ck.AddStruct(), params, n=n, c=c,
                          in1_ps=c if form != 2 else 0, in1_chs=1 if form != 2 else 0,
                          in2_ps=c if form != 1 else 0, in2_chs=1, out_cs=c)
        t1, t2 = qe.add_tables(params)
        p = fw.params(f"p{case}", "mcuf_add_params", struct)
        args = (f"{p}, {fw.array(f't1_{case}', 'int32_t', t1)}, "
                f"{fw.array(f't2_{case}', 'int32_t', t2)}, {fw.array(f'a{case}', 'int8_t', a)}, "
                f"{fw.array(f'b{case}', 'int8_t', b)}")
        fw.check(f"add{case}", f"mcuf_add_lut_s8({args}, out_add{case})", want)
    return fw


@pytest.mark.emulator
@pytest.mark.cross
@pytest.mark.skipif(not HAVE_TOOLS, reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("board", ["qemu_mps2_an386", "qemu_mps3_an547"])
@pytest.mark.parametrize("seed", [0, 1])
def test_table_add_on_cortex_m_matches_host(board: str, seed: int, tmp_path: Path) -> None:
    elf = cortex_m.build(board, _firmware(seed).source(), tmp_path, SOURCES, opt="-O2", std="c99")
    if board == "qemu_mps3_an547":
        dis = cortex_m.disassembly(elf, "mcuf_add_lut_s8", arch="armv8.1-m.main")
        for insn in ("vqrdmulh.s32", "vrshl.s32", "vstrb.32"):
            assert insn in dis, f"the Helium ADD loop was not compiled in ({insn} missing)"
    cortex_m.run_checks(board, elf)
