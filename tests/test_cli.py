"""The command line: compile, plan, debug; messages, not tracebacks."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from generator.cli import app
from tests.support.tinymodel import write_tiny_tflite
from tests.support.zoo import zoo_tflite

pytestmark = pytest.mark.tflite
runner = CliRunner()


def test_compile_writes_the_engine_and_reports_the_arena(tmp_path: Path) -> None:
    model = write_tiny_tflite(tmp_path / "tiny.tflite")
    out = tmp_path / "engine"
    res = runner.invoke(app, ["compile", str(model), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "arena (SRAM)" in res.output
    for name in ("model.h", "model.c", "model.tflite", "mcuf/mcuf_kernels.h", "mcuf/mcuf_conv.c"):
        assert (out / name).is_file(), name
    assert "#define MODEL_ARENA_BYTES" in (out / "model.h").read_text()
    # a second run refuses to overwrite without --force, and leaves the first output alone
    before = (out / "model.c").read_text()
    res = runner.invoke(app, ["compile", str(model), "-o", str(out)])
    assert res.exit_code == 4 and "already exists" in res.output and "--force" in res.output
    assert (out / "model.c").read_text() == before
    assert runner.invoke(app, ["compile", str(model), "-o", str(out), "--force"]).exit_code == 0


def test_compile_keras_with_and_without_calibration(tmp_path: Path) -> None:
    import keras

    inp = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    model = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "m.keras"
    model.save(path)
    res = runner.invoke(app, ["compile", str(path), "-o", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert "random inputs" in res.output  # the warning about missing calibration data
    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(0).uniform(0, 1, (16, 6, 6, 2)).astype(np.float32))
    res = runner.invoke(app, ["compile", str(path), "--calib", str(calib), "-o", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "random inputs" not in res.output
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, 3, 3, 2), np.float32))
    res = runner.invoke(app, ["compile", str(path), "--calib", str(bad), "-o", str(tmp_path / "c")])
    assert res.exit_code == 2 and "calibration data has sample shape (3, 3, 2)" in res.output
    assert not (tmp_path / "c").exists()


def test_plan_prints_figures_and_writes_json_and_png(tmp_path: Path) -> None:
    model = tmp_path / "mobilenet_v2.tflite"
    model.write_bytes(zoo_tflite("mobilenet_v2"))
    res = runner.invoke(app, ["plan", str(model), "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "with partial execution" in res.output and "lower bound" in res.output
    doc = json.loads((tmp_path / "mobilenet_v2.plan.json").read_text())
    fig = doc["figures"]
    assert fig["arena_bytes"] < fig["unsplit_arena_bytes"]
    assert fig["lower_bound_bytes"] <= fig["peak_bytes"]
    assert doc["splits"] and doc["buffers"]
    png = (tmp_path / "mobilenet_v2.plan.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


@pytest.mark.slow
def test_plan_split_overhead_trades_instructions_for_memory(tmp_path: Path) -> None:
    """--split-overhead is the planner's budget (percent of the model's instructions); the
    Cortex-M55 board prices slices with the Helium cost model."""
    model = tmp_path / "mobilenet_v2.tflite"
    model.write_bytes(zoo_tflite("mobilenet_v2"))
    peaks = {}
    for args in ([], ["--split-overhead", "10"], ["--split-overhead", "0"],
                 ["--board", "qemu_mps3_an547"]):
        out = tmp_path / str(len(peaks))
        res = runner.invoke(app, ["plan", str(model), "-o", str(out), *args])
        assert res.exit_code == 0, res.output
        doc = json.loads((out / "mobilenet_v2.plan.json").read_text())
        peaks[" ".join(args)] = doc["figures"]["peak_bytes"]
    assert peaks["--split-overhead 10"] < peaks[""] <= peaks["--split-overhead 0"]
    assert peaks["--board qemu_mps3_an547"] < peaks[""]  # Helium slices are cheaper here
    res = runner.invoke(app, ["plan", str(model), "-o", str(tmp_path), "--split-overhead", "-1"])
    assert res.exit_code != 0 and "split-overhead" in res.output


@pytest.mark.hostc
def test_debug_reports_bit_exact(tmp_path: Path) -> None:
    model = write_tiny_tflite(tmp_path / "tiny.tflite")
    res = runner.invoke(app, ["debug", str(model)])
    assert res.exit_code == 0, res.output
    assert "bit-exact" in res.output


@pytest.mark.hostc
def test_debug_names_the_first_op_that_differs(tmp_path: Path) -> None:
    from generator.compiler import compile_graph
    from generator.debug import compare_layers, first_divergence
    from generator.importer.tflite_reader import read_tflite

    data = write_tiny_tflite(tmp_path / "tiny.tflite").read_bytes()
    model = compile_graph(read_tflite(data), data, partial=False)
    # corrupt the first depthwise weight (op 1) of the generated engine, in whichever layout the
    # kernel reads (plain ``op1_w``, or the fast kernel's packed stream ``op1_dwf_*``)
    engine = model.engine
    src = engine.source
    weights = re.search(r"\bop1_(?:w|dwf)\w*\[", src)
    assert weights is not None, "no weights of op 1 in the engine"
    first = src.index("{", weights.start()) + 1
    end = src.index(",", first)
    value = int(src[first:end])
    src = src[:first] + f"\n    {-value if value else 77}" + src[end:]
    corrupted = dataclasses.replace(model, engine=dataclasses.replace(engine, source=src))
    x = [np.random.default_rng(1).integers(-128, 128, (1, 12, 12, 2), dtype=np.int8)]
    rows = compare_layers(corrupted, x)
    bad = first_divergence(rows)
    assert bad is not None and bad.op == 1 and bad.kind == "DEPTHWISE_CONV_2D"
    assert all(r.mismatches == 0 for r in rows if r.op < 1)


def test_errors_are_messages_not_tracebacks(tmp_path: Path) -> None:
    res = runner.invoke(app, ["compile", str(tmp_path / "missing.keras"), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "no such file" in res.output and "Traceback" not in res.output
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x10\x00\x00\x00TFL3" + b"\xff" * 40)
    res = runner.invoke(app, ["compile", str(junk), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "hint:" in res.output and "Traceback" not in res.output
