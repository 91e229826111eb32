"""The sample apps: their shipped models load, compile to C that equals the TFLite reference
interpreter exactly, classify their shipped examples through the Python front-end twins, and the
data and training scripts run end to end on a few samples.

The shipped models are converted to int8 here from ``model.keras`` and ``calib.npz``, just as
``mcuforge compile``/``generate`` converts them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from generator.compiler import CompiledModel, ImportOptions, compile_graph, load_tflite_bytes
from generator.dsp import ImageConfig, MfccConfig, image_features, mfcc_features, pack_frame
from generator.host import build_host
from generator.importer.reference import run_reference
from generator.importer.tflite_reader import read_tflite
from tests.support.wavs import read_wav

# The converter warns that int8 I/O has no input statistics; calib.npz sets them.
pytestmark = pytest.mark.filterwarnings("ignore:Statistics for quantized inputs")

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "sample_apps"
KWS, VWW = APPS / "kws", APPS / "vww"
EXAMPLES = {"kws": KWS / "example.wav", "vww": VWW / "example.ppm"}
RUNS = 24

_compiled: dict[str, CompiledModel] = {}


def compiled(app: str) -> CompiledModel:
    """The shipped Keras model, quantised with its calib.npz and compiled (cached per session)."""
    if app not in _compiled:
        folder = APPS / app
        tflite = load_tflite_bytes(folder / "model.keras",
                                   ImportOptions(calibration=folder / "calib.npz"))
        graph = read_tflite(tflite, where=app)
        _compiled[app] = compile_graph(graph, tflite, source=f"{app}/model.keras")
    return _compiled[app]


def input_quant(tflite: bytes) -> tuple[float, int]:
    from ai_edge_litert.interpreter import Interpreter

    scale, zero = Interpreter(model_content=tflite).get_input_details()[0]["quantization"]
    return float(scale), int(zero)


def labels(app: str) -> list[str]:
    return (APPS / app / "labels.txt").read_text().split()


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"sample_{path.parent.name}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it is executing
    spec.loader.exec_module(module)
    return module


def example_input(app: str, tflite: bytes) -> npt.NDArray[np.int8]:
    """The shipped example through the app's front-end twin, quantised as the model input."""
    scale, zero = input_quant(tflite)
    if app == "kws":
        cfg = MfccConfig(out_scale=scale, out_zero_point=zero)
        return mfcc_features(read_wav(EXAMPLES["kws"]), cfg)[None, ..., None]
    frame = load_module(VWW / "scenes.py").read_ppm(EXAMPLES["vww"])
    icfg = ImageConfig(out_scale=scale, out_zero_point=zero)
    return image_features(pack_frame(frame, icfg.in_format), icfg)[None]


# ---- shipped files -------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("app", ["kws", "vww"])
def test_shipped_files(app: str) -> None:
    folder = APPS / app
    for name in ("README.md", "model.py", "train.py", "model.keras", "labels.txt", "calib.npz",
                 "metrics.json", "make.sh"):
        assert (folder / name).is_file(), f"{app}/{name} is missing"
    assert EXAMPLES[app].is_file()
    assert (folder / "model.keras").stat().st_size < 400_000, "keep the shipped model small"
    assert (folder / "calib.npz").stat().st_size < 400_000, "keep the calibration file small"


@pytest.mark.tflite
@pytest.mark.parametrize("app", ["kws", "vww"])
def test_model_loads_with_its_labels(app: str) -> None:
    from generator.importer.keras_import import load_calibration, load_keras_model

    net = load_keras_model(APPS / app / "model.keras")
    calib = load_calibration(APPS / app / "calib.npz")
    assert tuple(net.inputs[0].shape[1:]) == calib.shape[1:]
    assert int(net.outputs[0].shape[-1]) == len(labels(app))
    assert len(calib) >= 8


# ---- bit-exact C ---------------------------------------------------------------------------------


@pytest.mark.tflite
@pytest.mark.hostc
@pytest.mark.slow
@pytest.mark.parametrize("app", ["kws", "vww"])
def test_generated_c_equals_the_interpreter(app: str, tmp_path: Path) -> None:
    """The calibration inputs, the example and random int8 inputs: outputs equal exactly."""
    from generator.importer.keras_import import load_calibration

    model = compiled(app)
    scale, zero = input_quant(model.tflite)
    calib = load_calibration(APPS / app / "calib.npz")
    q = np.clip(np.round(calib / np.float32(scale)) + zero, -128, 127).astype(np.int8)
    rng = np.random.default_rng(3)
    shape = (1, *calib.shape[1:])
    inputs = [q[i : i + 1] for i in range(min(len(q), RUNS // 2))]
    inputs.append(example_input(app, model.tflite).reshape(shape))
    inputs += [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(RUNS // 2)]
    got = build_host(model, tmp_path).run([[x] for x in inputs])
    for i, (x, out) in enumerate(zip(inputs, got, strict=True)):
        want = run_reference(model.tflite, [x])[0]
        np.testing.assert_array_equal(out[0].reshape(want.shape), want, err_msg=f"{app} input {i}")


# ---- the examples -------------------------------------------------------------------------------


def _scores(app: str) -> tuple[list[str], npt.NDArray[Any]]:
    model = compiled(app)
    return labels(app), run_reference(model.tflite, [example_input(app, model.tflite)])[0][0]


@pytest.mark.tflite
def test_kws_example_wav_is_its_word() -> None:
    names, scores = _scores("kws")
    assert names[int(np.argmax(scores))] == "yes", dict(zip(names, scores.tolist(), strict=True))


@pytest.mark.tflite
def test_vww_example_frame_has_the_figure() -> None:
    names, scores = _scores("vww")
    assert names[int(np.argmax(scores))] == "person", dict(zip(names, scores.tolist(), strict=True))


# ---- the scripts, on a few samples ---------------------------------------------------------------


def _script(path: Path, *args: str, timeout: int = 120) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    res = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True,
                         timeout=timeout, cwd=ROOT, env=env, check=False)
    assert res.returncode == 0, (f"{path.name} {' '.join(args)}:\n{res.stdout[-2000:]}\n"
                                 f"{res.stderr[-3000:]}")
    return res.stdout


@pytest.mark.slow
@pytest.mark.tflite
def test_kws_synth_data_and_train_smoke(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    _script(KWS / "synth_data.py", "--out", str(data), "--accents", "en-us,en-029",
            "--variants", "m1,m6", "--renditions", "1", "--unknown-per-voice", "2",
            "--noise-seconds", "2")
    wavs = sorted(data.glob("*/*.wav"))
    assert {p.parent.name for p in wavs} >= {"yes", "no", "up", "down", "_background_noise_"}
    test_list = (data / "testing_list.txt").read_text().split()
    assert test_list and all("en-029+" in name for name in test_list)  # held-out accent
    assert all("+m6_" in n for n in (data / "validation_list.txt").read_text().split())
    assert read_wav(data / "yes" / "en-us+m1_nohash_0.wav").size == 16000
    _script(KWS / "train.py", "--data", str(data), "--epochs", "1", "--out", str(out),
            "--no-int8")
    assert labels_of(out) == ["silence", "unknown", "yes", "no", "up", "down"]
    assert np.load(out / "calib.npz")["x"].shape[1:] == (49, 10, 1)


@pytest.mark.slow
@pytest.mark.tflite
def test_vww_train_smoke(tmp_path: Path) -> None:
    _script(VWW / "train.py", "--synthetic", "--train-scenes", "16", "--val-scenes", "4",
            "--test-scenes", "4", "--epochs", "1", "--alpha", "0.125", "--calib-samples", "2",
            "--out", str(tmp_path), "--no-int8")
    assert labels_of(tmp_path) == ["non_person", "person"]
    assert np.load(tmp_path / "example.npy").shape == (120, 160, 3)
    assert np.load(tmp_path / "calib.npz")["x"].shape == (2, 96, 96, 3)


# ---- the one command, in the emulator ------------------------------------------------------------


@pytest.mark.emulator
@pytest.mark.tflite
@pytest.mark.slow
@pytest.mark.parametrize(("app", "detection"), [("kws", r"^detected yes average \d+"),
                                                ("vww", r"^person present score \d+")])
def test_make_sh_prints_a_detection_in_qemu(app: str, detection: str, tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    res = subprocess.run(["sh", str(APPS / app / "make.sh"), str(tmp_path / app)], env=env,
                         capture_output=True, text=True, timeout=1200, check=False)
    out = res.stdout
    assert res.returncode == 0, f"{out[-3000:]}\n{res.stderr[-3000:]}"
    assert re.search(r"^inference 0 instructions \d+ scores( -?\d+)+$", out, re.MULTILINE), out
    assert re.search(detection, out, re.MULTILINE), out
    sizes = re.search(r"flash (\d+) B, RAM (\d+) B", out)
    assert sizes and 0 < int(sizes[1]) < 1 << 20 and 0 < int(sizes[2]) < 1 << 20, out


def labels_of(folder: Path) -> list[str]:
    return (folder / "labels.txt").read_text().split()


@pytest.mark.unit
def test_scenes_are_reproducible_and_balanced() -> None:
    scenes = load_module(VWW / "scenes.py")
    a, ya = scenes.scenes(6, seed=4)
    b, yb = scenes.scenes(6, seed=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert a.shape == (6, 120, 160, 3) and a.dtype == np.uint8 and ya.sum() == 3


@pytest.mark.unit
def test_ppm_round_trip(tmp_path: Path) -> None:
    scenes = load_module(VWW / "scenes.py")
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    scenes.write_ppm(tmp_path / "x.ppm", img)
    np.testing.assert_array_equal(scenes.read_ppm(tmp_path / "x.ppm"), img)
