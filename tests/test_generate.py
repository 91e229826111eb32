"""``mcuforge generate``: layout, manifest, byte-identical regeneration, strict templates, fit and
input checks, settings layers, replay readers, and the CLI (through typer's CliRunner)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from generator.cli import app
from generator.dsp import MfccConfig, mfcc_features
from generator.errors import FitError, InputError
from generator.project.apps import expected_inputs
from generator.project.generate import ENGINE_PREFIX, Project, build_project, generate_project
from generator.project.options import AppKind, GenerateOptions, KwsSettings, parse_labels
from generator.project.render import TemplateError, render_sets, template_set
from generator.project.replay import read_images, read_wav
from generator.project.run import parse_inferences, run_firmware
from tests.support import wavs
from tests.support.projects import model_file, scene_frames, write_ppm

pytestmark = pytest.mark.unit

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _compile_once() -> Iterator[None]:
    """Compile each model once per module: generation is deterministic, the tests vary the rest."""
    from generator.compiler import compile_model as real
    from generator.project import generate as gen

    done: dict[tuple[object, ...], object] = {}

    def memo(path: Path, opts: object = None, **kwargs: object) -> object:
        key = (str(path), opts, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        if key not in done:
            done[key] = real(path, opts, **kwargs)  # type: ignore[arg-type]
        return done[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gen, "compile_model", memo)
        yield


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    for name in ("ds_cnn", "mobilenet_v1", "mobilenet_v2"):
        model_file(root, name)
    return root


@pytest.fixture(scope="module")
def kws386(models: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, Path]:
    out = tmp_path_factory.mktemp("kws") / "project"
    options = GenerateOptions(model=models / "ds_cnn.tflite", board="qemu_mps2_an386",
                              app=AppKind.KWS)
    return generate_project(options, out), out


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ---- layout and manifest -------------------------------------------------------------------------


def test_emulated_project_layout(kws386: tuple[Project, Path]) -> None:
    _, out = kws386
    files = set(_tree(out))
    for path in ("platformio.ini", "mcuforge.json", "README.md", "model/model.tflite",
                 "src/main.c", "src/app_config.h", "src/port.h", "src/port_replay.c",
                 "src/replay_data.h", "src/replay_input.c", "src/model.h", "src/model.c",
                 "src/mcuf/mcuf_kernels.h", "src/mcuf/mcuf_conv.c",
                 "src/frontend/mcuf_mfcc.c", "src/frontend/mcuf_mfcc_tables.h",
                 "src/frontend/mcuf_frontend_config.h", "zephyr/CMakeLists.txt",
                 "zephyr/prj.conf", "zephyr/boards/mps2_an386.overlay",
                 "zephyr/src/port_zephyr.c"):
        assert path in files, path
    assert "src/port_arduino.cpp" not in files  # no real board, no Arduino environment
    assert not any(".cookiecutter" in f or f.startswith("project/") for f in files)


def test_manifest_records_inputs_hashes_options_and_plan(kws386: tuple[Project, Path],
                                                         models: Path) -> None:
    project, out = kws386
    manifest = json.loads((out / "mcuforge.json").read_text())
    model_bytes = (models / "ds_cnn.tflite").read_bytes()
    assert manifest["mcuforge"] == "0.1.0"
    assert manifest["model"]["file"]["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    tflite = (out / "model" / "model.tflite").read_bytes()
    assert manifest["model"]["int8_tflite"]["sha256"] == hashlib.sha256(tflite).hexdigest()
    assert manifest["board"] == "qemu_mps2_an386" and manifest["app"] == "kws"
    assert manifest["options"]["frontend"]["n_frames"] == 49
    assert manifest["options"]["frontend"]["out_scale"] == project.compiled.schedule.inputs[0].scale
    assert manifest["options"]["settings"] == {"inference_every": 1, "smoothing": 3,
                                               "threshold": 0.8, "suppression": 25}
    assert manifest["options"]["replay"]["source"] == "default"
    plan = manifest["plan"]
    assert plan["arena_bytes"] == project.compiled.arena_bytes <= plan["unsplit_arena_bytes"]
    assert plan["lower_bound_bytes"] <= plan["arena_bytes"]
    assert plan["const_bytes"] == project.compiled.const_bytes
    assert manifest["targets"]["run_env"] == "qemu_mps2_an386"
    text = json.dumps(manifest)
    assert not re.search(r"20\d\d-\d\d-\d\d|timestamp|\"time\"", text)


def test_regeneration_is_byte_identical(models: Path, tmp_path: Path) -> None:
    """Two separate processes (different hash seeds), same inputs: every file equal, byte for byte."""
    labels = "_silence_,_unknown_,yes,no,up,down,left,right,on,off,stop,go"
    trees = []
    for name, seed in (("a", "1"), ("b", "2")):
        out = tmp_path / name
        subprocess.run([sys.executable, "-m", "generator.cli", "generate",
                        str(models / "ds_cnn.tflite"), "--board", "nano33ble_sense", "--app",
                        "kws", "--labels", labels, "-o", str(out)], check=True,
                       capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed})
        trees.append(_tree(out))
    first, second = trees
    assert first.keys() == second.keys() and len(first) > 30
    assert [p for p in first if first[p] != second[p]] == []


# ---- strict templates ----------------------------------------------------------------------------


def _template(root: Path, name: str, body: str, requires: list[str]) -> None:
    folder = root / name / "{{cookiecutter.project_slug}}"
    folder.mkdir(parents=True)
    (root / name / "cookiecutter.json").write_text(json.dumps(
        {"project_slug": "project", "_mcuf": {}, "_requires": requires}))
    (folder / "out.txt").write_text(body)


def test_undefined_template_variable_fails(tmp_path: Path) -> None:
    _template(tmp_path, "strict", "{{ cookiecutter._mcuf.board }} {{ cookiecutter._mcuf.nope }}\n",
              ["board"])
    with pytest.raises(TemplateError, match="nope"):
        render_sets(["strict"], {"board": "pico"}, root=tmp_path)


def test_defined_variables_render(tmp_path: Path) -> None:
    _template(tmp_path, "fine", "board={{ cookiecutter._mcuf.board }}\n", ["board"])
    assert render_sets(["fine"], {"board": "pico"}, root=tmp_path) == {"out.txt": "board=pico\n"}


def test_missing_context_key_is_named_before_rendering(tmp_path: Path) -> None:
    _template(tmp_path, "needy", "x\n", ["board", "app"])
    with pytest.raises(TemplateError, match="context lacks app"):
        render_sets(["needy"], {"board": "pico"}, root=tmp_path)


def test_shipped_template_with_a_missing_nested_value_fails(kws386: tuple[Project, Path]) -> None:
    from generator.project.generate import _context

    project, _ = kws386
    options = GenerateOptions(model=Path("ds_cnn.tflite"), board="qemu_mps2_an386", app=AppKind.KWS)
    context = _context(options, project.board, project.compiled, project.figures, project.plan,
                       project.targets, project.fit)
    del context["targets"]["default_env"]
    with pytest.raises(TemplateError, match="default_env"):
        render_sets(["platformio"], context)


def test_two_sets_writing_one_file_is_an_error(tmp_path: Path) -> None:
    _template(tmp_path, "one", "1\n", [])
    _template(tmp_path, "two", "2\n", [])
    with pytest.raises(TemplateError, match=r"both write out\.txt"):
        render_sets(["one", "two"], {}, root=tmp_path)


@pytest.mark.parametrize("name", ["common", "platformio", "zephyr", "kws", "vww", "sensor"])
def test_every_shipped_template_set_has_a_manifest(name: str) -> None:
    tset = template_set(name)
    assert "mcuforge_version" in tset.requires
    data = json.loads((tset.path / "cookiecutter.json").read_text())
    for pattern in data["_copy_without_render"]:
        assert (tset.path / "{{cookiecutter.project_slug}}" / pattern).is_file(), pattern


# ---- checks before writing -----------------------------------------------------------------------


def _small_board(tmp_path: Path, sram_kb: int, flash_kb: int = 1024) -> Path:
    data = yaml.safe_load((Path(__file__).parents[1] / "boards" / "nano33ble_sense.yaml").read_text())
    data["name"] = "tiny_board"
    data["memory"]["sram"] = f"{sram_kb}KB"
    data["memory"]["flash"] = f"{flash_kb + 64}KB"
    data["memory"]["regions"] = [
        {"name": "bootloader", "origin": 0, "length": "64KB", "kind": "flash", "reserved": True},
        {"name": "flash", "origin": 0x10000, "length": f"{flash_kb}KB", "kind": "flash"},
        {"name": "ram", "origin": 0x20000000, "length": f"{sram_kb}KB", "kind": "ram"},
    ]
    data["peripherals"]["camera"] = {"model": "OV7675", "width": 640, "height": 480,
                                     "pixel_format": "rgb565", "accessory": True}
    path = tmp_path / "tiny_board.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_fit_failure_names_the_numbers_and_what_to_try(models: Path, tmp_path: Path) -> None:
    board = _small_board(tmp_path, sram_kb=128)
    out = tmp_path / "out"
    result = runner.invoke(app, ["generate", str(models / "mobilenet_v2.tflite"), "--board",
                                 str(board), "--app", "vww", "-o", str(out)])
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert "mobilenet_v2.tflite does not fit tiny_board" in text
    from generator.compiler import compile_model
    from generator.plan.cost import for_core
    arena = compile_model(models / "mobilenet_v2.tflite", prefix=ENGINE_PREFIX, partial=True,
                          cost=for_core(False)).arena_bytes
    assert "SRAM needs" in text and f"arena {arena:,} " in text and "131,072 B" in text
    assert "mcuforge prune MODEL.keras --data DATA --sram-budget" in text
    assert "smaller model input" in text and "another board" in text
    assert not out.exists()


def test_flash_shortage_is_reported(models: Path, tmp_path: Path) -> None:
    board = _small_board(tmp_path, sram_kb=512, flash_kb=256)
    with pytest.raises(FitError, match=r"flash needs .*model constants [\d,]+") as caught:
        build_project(GenerateOptions(model=models / "mobilenet_v2.tflite", board=str(board),
                                      app=AppKind.VWW))
    # the constants alone (weights in their kernels' layouts, folded biases) exceed the 256 KB
    constants = re.search(r"model constants ([\d,]+)", str(caught.value))
    assert constants is not None and int(constants[1].replace(",", "")) > 256 * 1024


def test_board_without_zephyr_gets_no_zephyr_variant(models: Path, tmp_path: Path) -> None:
    board = yaml.safe_load((Path(__file__).parents[1] / "boards" / "pico.yaml").read_text())
    del board["zephyr"]
    board["name"] = "bare_pico"
    (tmp_path / "bare_pico.yaml").write_text(yaml.safe_dump(board))
    project = build_project(GenerateOptions(model=models / "ds_cnn.tflite",
                                            board=str(tmp_path / "bare_pico.yaml"),
                                            app=AppKind.KWS))
    assert project.targets.zephyr is None
    assert not [f for f in project.files if f.startswith("zephyr/")]
    assert "src/port_arduino.cpp" in project.files
    assert project.manifest["targets"]["zephyr"] is None


def test_kws_input_shape_mismatch_names_the_options(models: Path) -> None:
    with pytest.raises(InputError) as caught:
        build_project(GenerateOptions(model=models / "ds_cnn.tflite", board="qemu_mps2_an386",
                                      app=AppKind.KWS, frontend={"n_frames": 40}))
    assert "1x49x10x1" in caught.value.message and "40x10" in caught.value.message
    assert "--n-frames 40" in caught.value.message
    assert "--n-frames 49 --n-coeffs 10" in caught.value.hint


def test_image_model_on_the_kws_app_is_refused(models: Path) -> None:
    with pytest.raises(InputError, match="1x96x96x3 but the kws front-end produces 49x10"):
        build_project(GenerateOptions(model=models / "mobilenet_v1.tflite",
                                      board="qemu_mps2_an386", app=AppKind.KWS))


def test_label_count_must_match_the_model(models: Path) -> None:
    with pytest.raises(InputError, match=r"3 label.* 12 output classes"):
        build_project(GenerateOptions(model=models / "ds_cnn.tflite", board="qemu_mps2_an386",
                                      app=AppKind.KWS, labels="a,b,c"))


def test_non_empty_directory_is_refused_without_force(models: Path, tmp_path: Path) -> None:
    out = tmp_path / "existing"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["generate", str(models / "ds_cnn.tflite"), "--board", "qemu_mps2_an386", "--app",
            "kws", "-o", str(out)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 4
    assert "already exists and is not empty" in refused.output and "--force" in refused.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    # --force replaces only what mcuforge wrote: a folder with its manifest
    refused = runner.invoke(app, [*args, "--force"])
    assert refused.exit_code == 4 and "is not an mcuforge output" in refused.output
    (out / "mcuforge.json").write_text('{"mcuforge": "0.0"}\n')
    # a failing run with --force leaves the old contents in place as well
    failing = runner.invoke(app, [*args, "--force", "--n-frames", "7"])
    assert failing.exit_code == 2
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "mcuforge.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".existing")]
    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert (out / "platformio.ini").is_file() and not (out / "keep.txt").exists()


# ---- settings layers ------------------------------------------------------------------------------


def test_app_config_and_cli_layers(models: Path, tmp_path: Path) -> None:
    config = tmp_path / "kws.yaml"
    config.write_text(yaml.safe_dump({
        "labels": [f"w{i}" for i in range(12)],
        "app": {"smoothing": 5, "threshold": 0.6},
        "frontend": {"n_mels": 32, "mel_high_hz": 7000.0},
    }))
    project = build_project(GenerateOptions(
        model=models / "ds_cnn.tflite", board="qemu_mps2_an386", app=AppKind.KWS,
        app_config=config, settings={"smoothing": 2}, frontend={"window_ms": 25.0}))
    mfcc = project.plan.frontend
    assert isinstance(mfcc, MfccConfig)
    assert (mfcc.n_mels, mfcc.mel_high_hz, mfcc.window_ms) == (32, 7000.0, 25.0)
    settings = project.plan.settings
    assert isinstance(settings, KwsSettings)
    assert settings.smoothing == 2  # the command line wins over the file
    assert settings.threshold == 0.6
    assert project.plan.labels[3] == "w3"
    header = project.files["src/frontend/mcuf_frontend_config.h"]
    assert isinstance(header, str) and re.search(r"MCUF_MFCC_N_MELS\s+32", header)
    assert "#define APP_SMOOTHING 2" in str(project.files["src/app_config.h"])


@pytest.mark.parametrize(("content", "message"), [
    ({"colour": 1}, "unknown key.*colour"),
    ({"frontend": {"out_scale": 0.1}}, "out_scale: is taken from the model"),
    ({"frontend": {"n_frame": 3}}, "n_frame: is not a field"),
    ({"app": {"smoothing": "3"}}, "smoothing: expected a whole number"),
    ({"app": {"threshold": 2}}, "threshold: must be a probability"),
    ({"frontend": {"dct_norm": "l2"}}, "dct_norm: 'l2' is not one of ortho, none"),
    ({"frontend": {"fft_size": 300}}, "MfccConfig.fft_size"),
    ({"labels": ["ok", "no\"quote"]}, "label 'no\"quote' is not allowed"),
])
def test_app_config_errors_name_the_field(models: Path, tmp_path: Path, content: object,
                                          message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(content))
    with pytest.raises(InputError, match=message):
        build_project(GenerateOptions(model=models / "ds_cnn.tflite", board="qemu_mps2_an386",
                                      app=AppKind.KWS, app_config=config))


def test_labels_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("_silence_\nyes\n\nno\n")
    assert parse_labels(str(path)) == ("_silence_", "yes", "no")
    assert parse_labels("a, b ,c") == ("a", "b", "c")
    with pytest.raises(InputError, match="repeat"):
        parse_labels("a,a")


# ---- replay --------------------------------------------------------------------------------------


def test_default_replays_are_generated_and_documented(kws386: tuple[Project, Path]) -> None:
    project, out = kws386
    replay = project.plan.replay
    assert replay.source == "default" and replay.data.dtype == np.int16
    assert replay.data.size == 24000 and np.abs(replay.data[:4000]).max() == 0
    assert "chirp" in (out / "README.md").read_text()
    header = (out / "src" / "replay_data.h").read_text()
    assert "#define REPLAY_AUDIO_SAMPLES 24000" in header and replay.sha256 in header


def test_kws_replay_schedule_is_the_twin_of_the_loop(models: Path, tmp_path: Path) -> None:
    pcm = np.random.default_rng(0).integers(-3000, 3000, 16000 + 320 * 10).astype(np.int16)
    wav = wavs.write_wav(tmp_path / "noise.wav", pcm)
    project = build_project(GenerateOptions(model=models / "ds_cnn.tflite",
                                            board="qemu_mps2_an386", app=AppKind.KWS,
                                            replay=wav, settings={"inference_every": 3}))
    windows = expected_inputs(project.plan)
    assert len(windows) == 4  # 59 frames: inferences after frames 49, 52, 55, 58
    cfg = project.plan.frontend
    assert isinstance(cfg, MfccConfig)
    np.testing.assert_array_equal(windows[2], mfcc_features(pcm[6 * 320 : 6 * 320 + 15840], cfg))


def test_wav_with_another_rate_is_refused_with_the_fix(tmp_path: Path) -> None:
    import wave

    path = tmp_path / "a.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"\0" * 400)
    with pytest.raises(InputError, match=r"2 channel.*44100 Hz") as caught:
        read_wav(path, 16000)
    assert "sox" in caught.value.hint


def test_image_readers_agree(tmp_path: Path) -> None:
    from PIL import Image

    rgb = scene_frames(1, height=24, width=32)[0]
    np.save(tmp_path / "a.npy", rgb)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    write_ppm(tmp_path / "a.ppm", rgb)
    for name in ("a.npy", "a.png", "a.ppm"):
        np.testing.assert_array_equal(read_images(tmp_path / name), rgb[None])
    grey = rgb[..., 0]
    (tmp_path / "g.pgm").write_bytes(b"P5 32 24 255\n" + grey.tobytes())
    np.testing.assert_array_equal(read_images(tmp_path / "g.pgm")[0, :, :, 1], grey)


def test_replay_image_of_the_wrong_size_is_refused(models: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "small.npy", scene_frames(1, height=40, width=50)[0])
    with pytest.raises(InputError, match="frames are 50x40 but the camera frame is 160x120"):
        build_project(GenerateOptions(model=models / "mobilenet_v1.tflite",
                                      board="disco_f746ng", app=AppKind.VWW,
                                      replay=tmp_path / "small.npy"))


def test_replay_image_sets_the_frame_on_a_board_without_camera(models: Path,
                                                               tmp_path: Path) -> None:
    np.save(tmp_path / "frames.npy", scene_frames(2, height=100, width=130))
    project = build_project(GenerateOptions(model=models / "mobilenet_v1.tflite",
                                            board="qemu_mps2_an500", app=AppKind.VWW,
                                            replay=tmp_path / "frames.npy"))
    assert project.plan.replay.data.shape == (2, 130 * 100 * 2)
    assert len(expected_inputs(project.plan)) == 2


# ---- CLI and run --------------------------------------------------------------------------------


def test_cli_generate_prints_a_summary(models: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", str(models / "ds_cnn.tflite"), "-b",
                                 "nano33ble_sense", "--app", "kws", "-o", str(tmp_path / "p"),
                                 "--threshold", "0.7", "--smoothing", "4"])
    assert result.exit_code == 0, result.output
    assert "kws on nano33ble_sense" in result.output and "wrote" in result.output
    manifest = json.loads((tmp_path / "p" / "mcuforge.json").read_text())
    assert manifest["options"]["given"]["settings"] == {"threshold": 0.7, "smoothing": 4}
    assert manifest["regenerate"].endswith("--threshold 0.7 --smoothing 4 -o PROJECT_DIR --force")


def test_cli_unknown_board_is_an_input_error(models: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", str(models / "ds_cnn.tflite"), "--board", "nope",
                                 "--app", "kws", "-o", str(tmp_path / "p")])
    assert result.exit_code == 2 and "unknown board 'nope'" in result.output


def test_cli_errors_print_paths_verbatim(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", str(tmp_path / "m[/red]x[bold].tflite"), "--board",
                                 "pico", "--app", "kws", "-o", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "m[/red]x[bold].tflite: no such file" in result.output


def test_cli_run_refuses_a_real_board_environment(models: Path, tmp_path: Path) -> None:
    out = tmp_path / "p"
    generate_project(GenerateOptions(model=models / "ds_cnn.tflite", board="nano33ble_sense",
                                     app=AppKind.KWS), out)
    result = runner.invoke(app, ["run", str(out), "--env", "nano33ble_sense"])
    assert result.exit_code == 2
    assert "cannot run offline" in " ".join(result.output.split())
    assert runner.invoke(app, ["run", str(out), "--env", "bogus"]).exit_code == 2
    assert runner.invoke(app, ["run", str(tmp_path)]).exit_code == 2  # no mcuforge.json


def test_run_firmware_streams_lines_and_returns_the_exit_code() -> None:
    seen: list[str] = []
    script = "print('inference 0 instructions 80 scores 1 -2'); print('bye'); raise SystemExit(7)"
    code, output = run_firmware([sys.executable, "-c", script], echo=seen.append)
    assert code == 7
    assert seen == ["inference 0 instructions 80 scores 1 -2\n", "bye\n"]
    (only,) = parse_inferences(output)
    assert (only.index, only.unit, only.cost, only.scores) == (0, "instructions", 80, (1, -2))


def test_help_lists_the_commands() -> None:
    done = subprocess.run([sys.executable, "-m", "generator.cli", "--help"], capture_output=True,
                          text=True, check=True)
    assert "generate" in done.stdout and "run" in done.stdout
