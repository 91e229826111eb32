"""``mcuforge generate --fit``: a model too big for the board is pruned until it fits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from generator.cli import app
from tests.test_prune import patterns, small_cnn

pytestmark = [pytest.mark.tflite, pytest.mark.slow]


def _tiny_board(tmp_path: Path, sram: int) -> Path:
    text = (Path(__file__).parents[1] / "boards" / "qemu_mps2_an386.yaml").read_text()
    text = text.replace("  sram: 4MB", f"  sram: {sram}")
    text = text.replace("length: 4MB, kind: ram", f"length: {sram}, kind: ram")
    text = text.replace("  stack_bytes: 16KB", "  stack_bytes: 2KB")
    path = tmp_path / "qemu_mps2_an386.yaml"  # the emulated platform knows the board by this id
    path.write_text(text)
    return path


def test_generate_fit_prunes_until_the_model_fits(tmp_path: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = patterns(400, seed=1)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    model_path = tmp_path / "cnn.keras"
    model.save(model_path)
    data = tmp_path / "data.npz"
    np.savez(data, x=x, y=y)
    calib = tmp_path / "calib.npy"
    np.save(calib, x[:32])
    cfg = tmp_path / "app.yaml"
    cfg.write_text("frontend: {out_width: 16, out_height: 16, out_format: gray}\n")
    args = ["generate", str(model_path), "--calib", str(calib), "--app", "vww", "--app-config",
            str(cfg), "-o", str(tmp_path / "p")]

    # find the SRAM the unpruned project needs, then offer a board with less
    (tmp_path / "roomy").mkdir()
    roomy = _tiny_board(tmp_path / "roomy", 1 << 20)
    res = CliRunner().invoke(app, [*args, "--board", str(roomy)])
    assert res.exit_code == 0, res.output
    import json

    need = json.loads((tmp_path / "p" / "mcuforge.json").read_text())
    arena = need["plan"]["arena_bytes"]
    sram_need = need["fit"]["sram_need"]
    (tmp_path / "small").mkdir()
    small = _tiny_board(tmp_path / "small", sram_need - arena // 2)

    res = CliRunner().invoke(app, [*args, "--board", str(small), "--force"])
    assert res.exit_code == 3 and "does not fit" in res.output

    res = CliRunner().invoke(app, [*args, "--board", str(small), "--fit", str(data), "--force"])
    assert res.exit_code == 0, res.output
    pruned = json.loads((tmp_path / "p" / "mcuforge.json").read_text())
    assert pruned["plan"]["arena_bytes"] <= arena - arena // 2
    assert "--fit" in pruned["regenerate"]


def test_generate_splits_more_before_refusing(tmp_path: Path) -> None:
    """A model that fits the board only with more channel slices than the default
    --split-overhead allows is planned again memory-first, with a warning saying what it costs."""
    import json

    from tests.support.zoo import zoo_tflite

    model = tmp_path / "mobilenet_v2.tflite"
    model.write_bytes(zoo_tflite("mobilenet_v2"))
    args = ["generate", str(model), "--app", "vww", "-o", str(tmp_path / "p")]
    (tmp_path / "roomy").mkdir()
    res = CliRunner().invoke(app, [*args, "--board", str(_tiny_board(tmp_path / "roomy", 1 << 21))])
    assert res.exit_code == 0, res.output
    need = json.loads((tmp_path / "p" / "mcuforge.json").read_text())
    arena, sram_need = need["plan"]["arena_bytes"], need["fit"]["sram_need"]
    assert "more partial execution" not in res.output
    (tmp_path / "small").mkdir()
    small = _tiny_board(tmp_path / "small", sram_need - 16_384)
    res = CliRunner().invoke(app, [*args, "--board", str(small), "--force"])
    assert res.exit_code == 0, res.output
    assert "more partial execution" in " ".join(res.output.split())
    tighter = json.loads((tmp_path / "p" / "mcuforge.json").read_text())
    assert tighter["plan"]["arena_bytes"] <= arena - 16_384
