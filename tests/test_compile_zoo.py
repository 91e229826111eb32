"""Every zoo model compiles to C that equals the TFLite reference interpreter exactly, with and
without partial execution; the generated C also cross-compiles warning-free for Cortex-M4F."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from generator.compiler import CompiledModel, compile_graph
from generator.host import build_host
from generator.importer.reference import run_reference
from generator.importer.tflite_reader import read_tflite
from generator.resources import runtime_dir
from tests.support.zoo import SPECS, zoo_inputs, zoo_tflite

pytestmark = [pytest.mark.tflite, pytest.mark.hostc]

RUNS = 20
_cache: dict[tuple[str, bool], CompiledModel] = {}


def compiled(name: str, partial: bool) -> CompiledModel:
    key = (name, partial)
    if key not in _cache:
        data = zoo_tflite(name)
        _cache[key] = compile_graph(read_tflite(data, where=name), data, source=name, partial=partial)
    return _cache[key]


@pytest.mark.slow
@pytest.mark.parametrize("partial", [False, True], ids=["whole", "partial"])
@pytest.mark.parametrize("name", list(SPECS))
def test_bit_exact_with_tflite(name: str, partial: bool, tmp_path: Path) -> None:
    model = compiled(name, partial)
    engine = build_host(model, tmp_path)
    inputs = zoo_inputs(name, RUNS, seed=11)
    outs = engine.run([[x] for x in inputs])
    for i, (x, got) in enumerate(zip(inputs, outs, strict=True)):
        want = run_reference(model.tflite, [x])
        for w, g in zip(want, got, strict=True):
            assert w.dtype == g.dtype
            # exact: int8 outputs, and float outputs of DEQUANTIZE (one float multiply, same order)
            np.testing.assert_array_equal(g.reshape(w.shape), w, err_msg=f"{name} run {i}")


def test_partial_execution_splits_the_inverted_residual_model() -> None:
    whole, split = compiled("mobilenet_v2", False), compiled("mobilenet_v2", True)
    assert split.program.splits
    # within the default 2% instruction budget (the Cortex-M4F cost model) MobileNetV2 keeps
    # 0.73 of its whole-tensor arena; more slices (--split-overhead) go further
    assert split.arena_bytes < 0.8 * whole.arena_bytes
    kinds = {split.graph.ops[i].kind.value for s in split.program.splits for i in s.chain.ops}
    assert "DEPTHWISE_CONV_2D" in kinds


@pytest.mark.cross
@pytest.mark.parametrize("name", ["mobilenet_v2", "ds_cnn", "float_io", "sigmoid_out"])
def test_generated_c_cross_compiles_for_cortex_m4(name: str, tmp_path: Path) -> None:
    cc = shutil.which("arm-none-eabi-gcc")
    assert cc, "arm-none-eabi-gcc is missing: apt-get install gcc-arm-none-eabi"
    model = compiled(name, True)
    for fname, text in model.engine.files().items():
        (tmp_path / fname).write_text(text)
    rt = runtime_dir()
    sources = [tmp_path / "model.c", *sorted((rt / "src").glob("*.c"))]
    for src in sources:
        res = subprocess.run(
            [cc, "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-std=c99",
             "-O2", "-Wall", "-Wextra", "-Werror", f"-I{rt / 'include'}", f"-I{tmp_path}", "-c",
             str(src), "-o", str(tmp_path / (src.stem + ".o"))],
            capture_output=True, text=True)
        assert res.returncode == 0, f"{src.name}:\n{res.stderr}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ds_cnn", "mobilenet_v2"])
def test_partial_execution_adds_at_most_two_percent_instructions(name: str, tmp_path: Path) -> None:
    """Instructions of one inference (callgrind on the host: deterministic) stay within 2%."""
    assert shutil.which("valgrind"), "valgrind is missing: apt-get install valgrind"
    from bench.plan_bench import instructions

    x = zoo_inputs(name, 1, seed=3)[0]
    whole = instructions(compiled(name, False), x, tmp_path / "whole")
    split = instructions(compiled(name, True), x, tmp_path / "split")
    assert whole and split
    assert compiled(name, True).arena_bytes < compiled(name, False).arena_bytes
    assert split <= 1.02 * whole, f"{name}: {split} vs {whole} instructions"
