"""Generated projects build offline with PlatformIO and run in QEMU, end to end, bit-exactly.

For both emulated boards and both reference apps (KWS with the zoo DS-CNN on a spoken word made by
espeak-ng; VWW with the zoo MobileNet v1 on replayed images) the generated project is built by
``pio run`` in a private offline core and run through its own upload command, either by
``pio run -t upload`` or by ``mcuforge run``. Every ``inference`` line the firmware prints must
carry exactly the int8 scores of the host reference: the app's Python twin (front-end twin on the
firmware's inference schedule) followed by the TFLite interpreter. The app logic after the model
(KWS smoothing and detection, VWW hysteresis) is compared with its twin too. Instruction counts come
from QEMU's -icount mode, so two runs of the same firmware print the same counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from generator.build import elf_sizes, firmware_elf, pio_run
from generator.cli import app
from generator.project.generate import Project, generate_project
from generator.project.options import AppKind, GenerateOptions
from generator.project.run import Inference, parse_inferences, run_firmware, upload_command
from tests.support.projects import (
    host_reference,
    kws_detections,
    model_file,
    scene_frames,
    sensor_tflite,
    speech_replay,
    tools_missing,
    vww_transitions,
    write_ppm,
)

pytestmark = pytest.mark.emulator

PIO_TIMEOUT_S = 120.0


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    missing = tools_missing()
    if missing:
        pytest.skip(missing)


@pytest.fixture(scope="module")
def core_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pio-core")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models and replay files shared by the cases."""
    root = tmp_path_factory.mktemp("inputs")
    model_file(root, "ds_cnn")
    model_file(root, "mobilenet_v1")
    (root / "sensor.tflite").write_bytes(sensor_tflite())
    speech_replay(root / "wav")
    np.save(root / "scenes.npy", scene_frames(4))
    write_ppm(root / "scene.ppm", scene_frames(1, seed=9)[0])
    (root / "sensor.yaml").write_text("labels: [idle, walk, run, wave]\napp: {threshold: 0.3}\n"
                                      "frontend: {n_samples: 64}\n")
    return root


@dataclass(frozen=True)
class Case:
    model: str
    board: str
    app: AppKind
    runner: str  # "upload": pio run -t upload; "cli": mcuforge run
    replay: str | None = None
    app_config: str | None = None
    settings: tuple[tuple[str, object], ...] = ()


CASES = {
    "kws-an386": Case("ds_cnn.tflite", "qemu_mps2_an386", AppKind.KWS, "upload",
                      "wav/replay_yes.wav",
                      settings=(("inference_every", 4), ("threshold", 0.25))),
    "kws-an500": Case("ds_cnn.tflite", "qemu_mps2_an500", AppKind.KWS, "cli",
                      "wav/replay_yes.wav", settings=(("inference_every", 5),)),
    "vww-an386": Case("mobilenet_v1.tflite", "qemu_mps2_an386", AppKind.VWW, "cli",
                      "scenes.npy", settings=(("person_class", 0),)),
    "vww-an500": Case("mobilenet_v1.tflite", "qemu_mps2_an500", AppKind.VWW, "upload",
                      "scene.ppm"),
    "sensor-an386": Case("sensor.tflite", "qemu_mps2_an386", AppKind.SENSOR, "cli",
                         app_config="sensor.yaml"),
    "kws-an547": Case("ds_cnn.tflite", "qemu_mps3_an547", AppKind.KWS, "upload",
                      "wav/replay_yes.wav", settings=(("inference_every", 5),)),
}


@dataclass(frozen=True)
class Run:
    project: Project
    out: Path
    env: str
    stdout: str
    inferences: list[Inference]


def _generate(case: Case, inputs: Path, out: Path) -> Project:
    options = GenerateOptions(
        model=inputs / case.model, board=case.board, app=case.app,
        replay=inputs / case.replay if case.replay else None,
        app_config=inputs / case.app_config if case.app_config else None,
        settings=dict(case.settings))
    return generate_project(options, out)


def _run(case: Case, project: Project, out: Path, core_dir: Path,
         monkeypatch: pytest.MonkeyPatch) -> str:
    env = project.targets.run_env
    if case.runner == "upload":
        return pio_run(out, env, target="upload", timeout=PIO_TIMEOUT_S, core_dir=core_dir).stdout
    monkeypatch.setenv("MCUFORGE_PIO_CORE_DIR", str(core_dir))
    result = CliRunner().invoke(app, ["run", str(out)])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def runs(inputs: Path, core_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    done = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, case in CASES.items():
            out = tmp_path_factory.mktemp("projects") / name
            project = _generate(case, inputs, out)
            stdout = _run(case, project, out, core_dir, monkeypatch)
            done[name] = Run(project, out, project.targets.run_env, stdout,
                             parse_inferences(stdout))
    return done


@pytest.mark.parametrize("name", CASES)
def test_firmware_scores_equal_the_host_reference(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    reference = host_reference(run.project)
    assert len(reference.scores) >= 1
    assert [i.index for i in run.inferences] == list(range(len(reference.scores))), run.stdout
    assert [i.scores for i in run.inferences] == reference.scores
    assert f"done {len(reference.scores)} inferences" in run.stdout


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.runner == "upload"])
def test_generated_sources_compile_without_warnings(runs: dict[str, Run], name: str) -> None:
    assert "Compiling" in runs[name].stdout  # pio run -t upload built it, with -Wall
    assert "warning:" not in runs[name].stdout


@pytest.mark.parametrize("name", CASES)
def test_instruction_counts_are_reported(runs: dict[str, Run], name: str) -> None:
    counts = [i.cost for i in runs[name].inferences]
    assert {i.unit for i in runs[name].inferences} == {"instructions"}
    # one tick of the SysTick (the core clock) is 10^9 / clock_hz instructions at -icount shift=0:
    # 40 at 25 MHz (every count a multiple of 40), 31.25 at the AN547's 32 MHz, where the port's
    # two floored readings put a count within one instruction of a whole number of ticks
    per_tick = 10**9 / runs[name].project.board.clock_hz
    assert all(abs(c - round(c / per_tick) * per_tick) <= 1 and c > 10_000 for c in counts), counts
    assert max(counts) - min(counts) < 0.01 * max(counts)  # the same network every time


def test_kws_detections_follow_the_smoothing_twin(runs: dict[str, Run]) -> None:
    run = runs["kws-an386"]
    scores = [i.scores for i in run.inferences]
    expected = kws_detections(run.project.plan, scores)
    printed = [(m[1], int(m[2]), int(m[3])) for m in
               re.finditer(r"^detected (\S+) average (-?\d+) inference (\d+)$", run.stdout, re.MULTILINE)]
    assert expected, "the low threshold should give at least one detection"
    assert printed == expected


def test_vww_hysteresis_follows_its_twin(runs: dict[str, Run]) -> None:
    for name in ("vww-an386", "vww-an500"):
        run = runs[name]
        expected = vww_transitions(run.project.plan, [i.scores for i in run.inferences])
        printed = [(m[1], int(m[2]), int(m[3])) for m in re.finditer(
            r"^\S+ (present|absent) score (-?\d+) inference (\d+)$", run.stdout, re.MULTILINE)]
        assert printed == expected


def test_rerun_gives_identical_output(runs: dict[str, Run]) -> None:
    run = runs["kws-an500"]
    command = upload_command(run.out, run.env, firmware_elf(run.out, run.env))
    code, stdout = run_firmware(command, echo=lambda line: None)
    assert code == 0
    assert parse_inferences(stdout) == run.inferences


@pytest.mark.parametrize("name", CASES)
def test_fit_estimate_bounds_the_linked_firmware(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    flash, ram = elf_sizes(firmware_elf(run.out, run.env))
    fit = run.project.fit
    assert flash <= fit.flash_need <= flash * 1.2 + 16 * 1024, (flash, fit.flash_items)
    assert ram <= fit.sram_need <= ram * 1.2 + 8 * 1024, (ram, fit.sram_items)
