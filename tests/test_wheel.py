"""The wheel carries templates/ and boards/: build it, install it in a fresh venv, use it."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(ROOT)], check=True, capture_output=True)
    wheel = next(dist.glob("mcuforge-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("generator/_data/templates/engine/") for n in names)
    assert any(n.startswith("generator/_data/boards/") and n.endswith(".yaml") for n in names)
    assert any(n.startswith("generator/runtime/src/") for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True,
                   capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([str(py), "-c", "import generator; print(generator.__file__)"], cwd=work,
                           check=True, capture_output=True, text=True).stdout
    assert str(env_dir) in where, f"imported the checkout instead of the wheel: {where}"
    from tests.support.tinymodel import write_tiny_tflite

    model = write_tiny_tflite(work / "tiny.tflite")
    res = subprocess.run([str(env_dir / "bin" / "mcuforge"), "compile", str(model), "-o",
                          str(work / "out")], cwd=work, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (work / "out" / "model.c").is_file() and (work / "out" / "mcuf" / "mcuf_kernels.h").is_file()
    res = subprocess.run([str(env_dir / "bin" / "mcuforge"), "boards", "list"], cwd=work,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "qemu_mps2_an386" in res.stdout
