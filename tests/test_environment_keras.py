"""A Keras model converted with a full TMPDIR: TensorFlow's converter saves the model there first and
then fails in ways that do not say so; mcuforge must name the temporary folder instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tflite

ROOT = Path(__file__).resolve().parents[1]


def test_a_keras_model_with_a_full_tmpdir_is_an_output_error(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("a full TMPDIR needs a tmpfs mount (root)")
    import keras

    inp = keras.Input((8,))
    keras.Model(inp, keras.layers.Dense(3)(inp)).save(tmp_path / "m.keras")
    full = tmp_path / "full"
    full.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "mcuforge-tmpfull", str(full)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("this machine does not allow a tmpfs mount")
    try:
        (full / "filler").write_bytes(bytes(60 * 1024))
        res = subprocess.run([sys.executable, "-m", "generator.cli", "compile",
                              str(tmp_path / "m.keras"), "-o", str(tmp_path / "out")],
                             capture_output=True, text=True, check=False, timeout=300,
                             env={**os.environ, "TMPDIR": str(full), "PYTHONPATH": str(ROOT)})
    finally:
        subprocess.run(["umount", str(full)], capture_output=True, check=False)
    text = " ".join((res.stdout + res.stderr).split())
    assert res.returncode == 4, text
    assert f"{full}: the temporary folder cannot be used" in text and "set TMPDIR" in text
    assert "Traceback" not in text and "internal error" not in text
    assert not (tmp_path / "out").exists()
