"""TRANSPOSE_CONV and SVDF engines built with arm-none-eabi-gcc and run in QEMU (Cortex-M4
mps2-an386 with the SIMD dot products, Cortex-M55 mps3-an547): every output equals TFLite Micro's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator.compiler import compile_graph
from generator.importer.reference_tflm import run_tflm
from generator.importer.tflite_reader import read_tflite
from tests.test_kernels_svdf import svdf_model
from tests.test_kernels_tconv import tconv_model

pytestmark = [pytest.mark.emulator, pytest.mark.cross, pytest.mark.slow, pytest.mark.tflite]


def _c_array(name: str, values: np.ndarray) -> str:
    return f"static const int8_t {name}[{values.size}] = {{{', '.join(map(str, values.ravel()))}}};"


def _models() -> dict[str, bytes]:
    return {
        "tconv": tconv_model((1, 4, 3, 6), (1, 8, 6, 5), (3, 3), (2, 2), "SAME", "RELU6",
                             xq=(0.04, -5), yq=(0.15, 9), seed=2),
        "tconv_valid": tconv_model((1, 3, 3, 5), (1, 9, 7, 3), (3, 3), (3, 2), "VALID", "NONE",
                                   per_channel=False, bias=False, seed=3),
        "svdf": svdf_model(2, 40, 8, 2, 6, seed=4)[0],
        "svdf_int8_state": svdf_model(1, 24, 6, 1, 4, state_scale=0.05, wts=0.02, state_zp=-77,
                                      seed=5)[0],
    }


@pytest.mark.parametrize("board", ["qemu_mps2_an386", "qemu_mps3_an547"])
def test_engines_equal_tflm_on_cortex_m(board: str, tmp_path: Path) -> None:
    from tests.support import cortex_m

    if cortex_m.tools_missing():
        pytest.skip(cortex_m.tools_missing() or "")
    for name, model in _models().items():
        graph = read_tflite(model, where=name)
        files = compile_graph(graph, model, source=name).engine.files()
        out = tmp_path / name
        out.mkdir(parents=True)
        for fname, text in files.items():
            (out / fname).write_text(text)
        shape = graph.tensors[graph.inputs[0]].shape
        rng = np.random.default_rng(7)
        inputs = [rng.integers(-128, 128, shape, dtype=np.int8) for _ in range(3)]
        inputs += [np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)]
        decls, body = [], []
        for k, x in enumerate(inputs):
            want = run_tflm(model, [x])[0]
            decls += [_c_array(f"x{k}", x), _c_array(f"want{k}", want)]
            body.append(f"    memcpy(model_input(0), x{k}, sizeof x{k}); model_run();\n"
                        f"    fails += memcmp(model_output(0), want{k}, sizeof want{k}) != 0;")
        source = "\n".join(['#include <string.h>', '#include "mcuf_port.h"', '#include "model.c"',
                            *decls, "int main(void)", "{", "    int fails = 0;", *body,
                            '    mcuf_port_print(fails ? "FAIL\\n" : "OK\\n");',
                            "    return fails ? 1 : 0;", "}", ""])
        elf = cortex_m.build(board, source, out, std="c99")
        cortex_m.run_checks(board, elf)
