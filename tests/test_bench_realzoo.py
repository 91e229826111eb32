"""The real-model zoo bench (``bench/realzoo.py``) and its extractor (``bench/realzoo_fetch.py``), on
single-operator models written here: rows, summary, JSON, refusals and the empty-folder message."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench import realzoo, realzoo_fetch
from tests.support.single_op import T, single_op

pytestmark = [pytest.mark.tflite, pytest.mark.hostc]


def _add_model() -> bytes:
    return single_op("ADD", [T((1, 4, 4, 3), scale=0.05, zp=-3), T((1, 4, 4, 3), scale=0.03, zp=5)],
                     [T((1, 4, 4, 3), scale=0.07, zp=-1)])


def _float_model() -> bytes:
    return single_op("ADD", [T((1, 4), "float32"), T((1, 4), "float32")], [T((1, 4), "float32")])


def _floor_model() -> bytes:
    """An int8 operator mcuforge has no kind for."""
    return single_op("FLOOR_DIV", [T((1, 8), scale=0.1), T((1, 8), scale=0.1)], [T((1, 8), scale=0.1)])


def test_a_compiling_model_is_exact_with_both_references(tmp_path: Path) -> None:
    (tmp_path / "add.tflite").write_bytes(_add_model())
    row = realzoo.measure(tmp_path / "add.tflite", runs=3, seed=1, arena_search=False, known={})
    assert row is not None
    assert row.ops == ["ADD"] and row.missing_ops == []
    assert row.tflm_runs and row.compiles and row.refusal == ""
    assert row.exact_tflm is True and row.exact_tflite is True
    assert row.arena is not None and row.arena > 0


def test_refusals_and_float_models_are_reported_not_raised(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "add.tflite").write_bytes(_add_model())
    (tmp_path / "floor.tflite").write_bytes(_floor_model())
    (tmp_path / "float.tflite").write_bytes(_float_model())
    assert realzoo.main([str(tmp_path), "--runs", "2", "--no-tflm-arena", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {m["name"]: m for m in doc["models"]}
    assert set(rows) == {"add", "floor"}
    assert not rows["floor"]["compiles"] and "FLOOR_DIV" in rows["floor"]["refusal"]
    assert rows["floor"]["missing_ops"] == ["FLOOR_DIV"]
    assert any(s.startswith("float.tflite: not full int8") for s in doc["skipped"])
    runs = sum(m["tflm_runs"] for m in doc["models"])
    assert doc["summary"].startswith(f"compiles 1 of {runs} that TFLM runs; exact 1")


def test_table_has_a_row_per_model_and_the_summary(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "add.tflite").write_bytes(_add_model())
    assert realzoo.main([str(tmp_path), "--runs", "1", "--no-tflm-arena"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("add ") and line.endswith("compiles") for line in out.splitlines())
    assert "compiles 1 of 1 that TFLM runs; exact 1" in out


@pytest.mark.parametrize("make", [lambda p: p, lambda p: p / "missing"], ids=["empty", "missing"])
def test_empty_or_missing_folder_says_what_to_do(make: object, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = make(tmp_path)  # type: ignore[operator]
    assert realzoo.main([str(folder)]) == 2
    err = capsys.readouterr().err
    assert str(folder) in err and "bench.realzoo_fetch" in err


def test_abbreviate_keeps_the_reason_of_a_long_refusal() -> None:
    text = "m: operator 0 CONV_2D '" + "a/" * 80 + "bias': input 'in' is uint8, expected int8"
    short = realzoo.abbreviate(text)
    assert len(short) < 100 and short.endswith("input 'in' is uint8, expected int8")


# ----------------------------------------------------------------------------- extractor


def _mirror(tmp_path: Path, data: bytes) -> tuple[Path, str]:
    gd = tmp_path / "mirrors" / "owner+models" / "repo"
    work = tmp_path / "work"
    work.mkdir()
    (work / "m.tflite").write_bytes(data)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "--bare", str(gd)], check=True)
    env = ["--git-dir", str(gd), "--work-tree", str(work)]
    subprocess.run([*git, *env, "add", "m.tflite"], check=True)
    subprocess.run([*git, *env, "commit", "-qm", "m"], check=True)
    commit = subprocess.run(["git", "--git-dir", str(gd), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    return tmp_path / "mirrors", commit


def test_fetch_extracts_and_checks_sha256(tmp_path: Path) -> None:
    data = np.arange(64, dtype=np.uint8).tobytes()
    mirrors, commit = _mirror(tmp_path, data)
    good = realzoo_fetch.Entry("m", "owner/models", commit, "m.tflite",
                               hashlib.sha256(data).hexdigest())
    assert realzoo_fetch.extract(good, mirrors) == data
    bad = realzoo_fetch.Entry("m", "owner/models", commit, "m.tflite", "0" * 64)
    with pytest.raises(ValueError, match="differs from the manifest"):
        realzoo_fetch.extract(bad, mirrors)
    with pytest.raises(ValueError, match="no mirror"):
        realzoo_fetch.extract(good, tmp_path / "nowhere")


def test_manifest_lists_real_models_with_hashes() -> None:
    entries = realzoo_fetch.load_manifest()
    assert 25 <= len(entries) <= 35
    assert len({e.name for e in entries}) == len(entries)
    assert len({e.sha256 for e in entries}) == len(entries)
    assert all(len(e.commit) == 40 and len(e.sha256) == 64 for e in entries)
