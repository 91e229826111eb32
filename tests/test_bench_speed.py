"""bench.speed's table building, on fake firmware output and fake baseline files (no QEMU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.speed import (
    Measured,
    baseline_per_type,
    build_rows,
    fit,
    format_rows,
    load_baseline,
    parse_output,
    per_type_table,
)

pytestmark = pytest.mark.unit

FW_OUT = """engine mcuforge
arena 16000
result 0 instructions 1000 out 1 -2 3
op 0 600
op 1 300
op 2 100
result 1 instructions 1040 out 4 5 -6
stack 388
done
"""


def _baseline(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    engines = {"tflm_cmsis_nn": {"instructions": [500, 520], "flash": 9000,
                                 "outputs": [[1, -2, 3], [4, 5, -6]]}}
    (d / "results.json").write_text(json.dumps({"kws": {"engines": engines}}))
    (d / "profile.json").write_text(json.dumps(
        {"kws": {"TFLM+CMSIS-NN": {"per_type": {"CONV_2D": 400, "SOFTMAX": 10}}}}))


def test_parse_output() -> None:
    instr, outs, ops, done = parse_output(FW_OUT)
    assert instr == [1000, 1040]
    assert outs == [[1, -2, 3], [4, 5, -6]]
    assert ops == [(0, 600), (1, 300), (2, 100)]
    assert done
    assert not parse_output("result 0 instructions 5 out 1\n")[3]


def test_rows_against_a_baseline(tmp_path: Path) -> None:
    _baseline(tmp_path / "an500")
    results, profile, note = load_baseline(tmp_path, "an500")
    assert str(tmp_path / "an500" / "results.json") in note
    got = {"Os": Measured([1000, 1040], 4000, 100, [[1, -2, 3], [4, 5, -6]], no_partial=900),
           "O2": Measured([800], 4200, 100, [[1, -2, 4]])}
    rows = build_rows("an500", "ds_cnn", got, results)
    assert [(r.flags, r.mcuforge, r.tflm, r.same_outputs) for r in rows] == [
        ("Os", 1000, 500, True), ("O2", 800, 500, False)]
    assert rows[0].ratio == pytest.approx(2.0)
    table = format_rows(rows)
    assert "| Cortex-M7 | ds_cnn | Os | 1,000 | 900 | 500 | 2.00 | 4,000 | 9,000 | yes |" in table
    assert "| NO |" in table
    assert baseline_per_type(profile, "ds_cnn") == {"CONV_2D": 400, "SOFTMAX": 10}


def test_an386_baseline_may_sit_at_the_top_of_the_harness(tmp_path: Path) -> None:
    _baseline(tmp_path)  # the shared harness' own layout: results.json beside run.sh
    assert load_baseline(tmp_path, "an386")[0]
    assert not load_baseline(tmp_path, "an500")[0]


def test_absent_baseline_is_said(tmp_path: Path) -> None:
    results, profile, note = load_baseline(tmp_path, "an386")
    assert results == {} and profile == {}
    assert "no TFLM + CMSIS-NN baseline for an386" in note and "tflm_baseline.sh" in note
    assert "--baseline bench/baseline" in note
    rows = build_rows("an386", "ds_cnn", {"Os": Measured([1000], 4000, 0, [[1]])}, results)
    assert rows[0].tflm is None and rows[0].ratio is None
    assert "| Cortex-M4F | ds_cnn | Os | 1,000 | - | - | - |" in format_rows(rows)


def test_per_type_table() -> None:
    text = per_type_table("an386", "ds_cnn", {"CONV_2D": 800, "MEAN": 50}, {"CONV_2D": 400})
    lines = text.splitlines()
    assert lines[3] == "| CONV_2D | 800 | 400 | 2.00 |"
    assert lines[4] == "| MEAN | 50 | - | - |"


def test_fit_latency_coefficients() -> None:
    dump = {"models": {
        "a": {"an386": {"Os": {"per_type": {"CONV_2D": 300, "SOFTMAX": 20, "MEAN": 10}}},
              "work": {"CONV_2D": 100, "OTHER": 15}},
        "b": {"an386": {"Os": {"per_type": {"CONV_2D": 100, "FULLY_CONNECTED": 50}}},
              "work": {"CONV_2D": 100, "FULLY_CONNECTED": 25, "OTHER": 0}},
        "c": {"an386": {"O2": {"per_type": {"CONV_2D": 1}}}, "work": {"CONV_2D": 1}},
    }}
    assert fit(dump, "an386", "Os") == {"CONV_2D": 2.0, "FULLY_CONNECTED": 2.0, "OTHER": 2.0}
