"""Estimated time per inference: instructions x assumed CPI / clock, and the app-interval warning."""

from __future__ import annotations

import pytest

from generator.boards import Core, load_board
from generator.ir import DType, Graph, Op, OpKind, Tensor
from generator.project.latency import (
    CYCLES_PER_INSTRUCTION,
    INSTRUCTIONS_PER_INPUT,
    INSTRUCTIONS_PER_MAC,
    app_interval,
    estimate,
    format_seconds,
    instructions_from_macs,
    interval_warning,
    kws_interval,
    macs,
    manifest_interval,
    measured_estimate,
    measured_frontend,
    measured_instructions,
    sensor_interval,
    static_estimate,
)

pytestmark = pytest.mark.unit


def _t(*shape: int) -> Tensor:
    return Tensor("t", shape, DType.INT8)


def small_graph() -> Graph:
    """CONV 3x3x2->4 on 5x5, DEPTHWISE 3x3 on 5x5x4, FC 100->10, SOFTMAX over 10."""
    tensors = (_t(1, 5, 5, 2), _t(4, 3, 3, 2), _t(1, 5, 5, 4), _t(1, 3, 3, 4), _t(1, 5, 5, 4),
               _t(10, 100), _t(1, 10), _t(1, 10))
    ops = (Op(OpKind.CONV_2D, (0, 1), (2,)), Op(OpKind.DEPTHWISE_CONV_2D, (2, 3), (4,)),
           Op(OpKind.FULLY_CONNECTED, (4, 5), (6,)), Op(OpKind.SOFTMAX, (6,), (7,)))
    return Graph(tensors, ops, (0,), (7,))


def test_macs_by_kind() -> None:
    assert macs(small_graph()) == {OpKind.CONV_2D: 100 * 18, OpKind.DEPTHWISE_CONV_2D: 100 * 9,
                                   OpKind.FULLY_CONNECTED: 10 * 100}


def test_instructions_from_macs() -> None:
    want = (INSTRUCTIONS_PER_MAC[OpKind.CONV_2D] * 1800
            + INSTRUCTIONS_PER_MAC[OpKind.DEPTHWISE_CONV_2D] * 900
            + INSTRUCTIONS_PER_MAC[OpKind.FULLY_CONNECTED] * 1000 + INSTRUCTIONS_PER_INPUT * 10)
    assert instructions_from_macs(small_graph()) == round(want)


def test_every_core_has_an_assumption() -> None:
    assert set(CYCLES_PER_INSTRUCTION) == set(Core)


def test_time_is_instructions_times_cpi_over_clock() -> None:
    board = load_board("nucleo_f746zg")  # Cortex-M7, 216 MHz
    lat = estimate(board, 21_600_000, "(given)")
    assert lat.seconds == pytest.approx(21_600_000 * CYCLES_PER_INSTRUCTION[Core.CORTEX_M7] / 216e6)
    text = lat.describe()
    assert "estimate" in text and "21.60 M instructions" in text and "216 MHz" in text
    assert f"{CYCLES_PER_INSTRUCTION[Core.CORTEX_M7]:g} cycles per instruction assumed" in text


def test_static_estimate_says_how_to_measure() -> None:
    lat = static_estimate(load_board("qemu_mps2_an386"), small_graph(), "out/kws")
    assert "roughly from 0.00 M MACs" in lat.describe()
    assert lat.hint == "`mcuforge run out/kws` counts the instructions in QEMU"


def test_measured_estimate_names_the_emulated_core_when_it_differs() -> None:
    an386 = load_board("qemu_mps2_an386")
    same = measured_estimate(an386, 1000, an386).describe()
    assert "counted in QEMU on qemu_mps2_an386," in same
    other = measured_estimate(load_board("pico"), 1000, an386).describe()
    assert "not this board's cortex-m0plus" in other


def test_format_seconds() -> None:
    assert format_seconds(1.5) == "1.50 s"
    assert format_seconds(0.0123) == "12.3 ms"
    assert format_seconds(0.000045) == "45 us"


def test_kws_interval_is_stride_times_inference_every() -> None:
    assert kws_interval(20.0, 1).seconds == pytest.approx(0.020)
    assert kws_interval(20.0, 3).seconds == pytest.approx(0.060)
    assert "inference_every 3" in kws_interval(20.0, 3).what


def test_app_interval() -> None:
    kws = app_interval("kws", {"inference_every": 2}, {"stride_ms": 10.0})
    assert kws is not None and kws.seconds == pytest.approx(0.020)
    sensor = app_interval("sensor", {"hop": 0}, {"n_samples": 64}, 100.0)  # hop 0: half a window
    assert sensor is not None and sensor.seconds == pytest.approx(0.32)
    assert sensor_interval(16, 50.0).seconds == pytest.approx(0.32)
    assert app_interval("vww", {}, {}) is None


def test_manifest_interval_tolerates_foreign_manifests() -> None:
    good = {"app": "kws", "options": {"settings": {"inference_every": 1},
                                      "frontend": {"stride_ms": 20.0}}}
    got = manifest_interval(good, None)
    assert got is not None and got.seconds == pytest.approx(0.020)
    assert manifest_interval({"app": "kws"}, None) is None
    assert manifest_interval({"app": "kws", "options": {"settings": {}, "frontend": {}}},
                             None) is None


def test_warning_only_when_inference_is_longer_than_the_interval() -> None:
    board = load_board("qemu_mps2_an386")  # 25 MHz
    interval = kws_interval(20.0, 1)
    cpi = CYCLES_PER_INSTRUCTION[board.core]
    fast = estimate(board, int(0.019 * 25e6 / cpi), "(given)")
    slow = estimate(board, int(0.021 * 25e6 / cpi), "(given)")
    assert interval_warning(fast, interval) is None
    assert interval_warning(slow, None) is None
    assert interval_warning(slow, interval, emulated=True) is None
    text = interval_warning(slow, interval)
    assert text is not None and "may not keep its inference interval" in text
    assert "--inference-every" in text


def test_measured_instructions_takes_the_largest_count() -> None:
    assert measured_instructions([("instructions", 10), ("instructions", 12)]) == 12
    assert measured_instructions([("cycles", 10)]) is None
    assert measured_instructions([]) is None


def test_counted_front_end_work_counts_against_the_interval() -> None:
    board = load_board("qemu_mps2_an386")
    cpi = CYCLES_PER_INSTRUCTION[board.core]
    interval = kws_interval(20.0, 2)  # 40 ms, two MFCC frames per interval
    lat = estimate(board, int(0.030 * 25e6 / cpi), "(given)")
    assert interval_warning(lat, interval) is None
    frame = int(0.006 * 25e6 / cpi)  # 2 x 6 ms of MFCC: 42 ms in all
    text = interval_warning(lat, interval, frontend_instructions=frame)
    assert text is not None and "of front-end work" in text


def test_measured_frontend() -> None:
    out = "inference 0 instructions 9 scores 1\nfrontend 0 instructions 107920\nfrontend 1 " \
          "instructions 107960\ndone 2 inferences\n"
    assert measured_frontend(out) == 107960
    assert measured_frontend("done 0 inferences\n") is None


def test_helium_board_estimates_with_its_own_coefficients() -> None:
    """A board whose YAML says mve gets the Helium kernels' (smaller) instructions per MAC."""
    from generator.project.latency import HELIUM_INSTRUCTIONS_PER_MAC, instructions_from_macs

    g = small_graph()
    assert instructions_from_macs(g, mve=True) < instructions_from_macs(g)
    m55 = static_estimate(load_board("qemu_mps3_an547"), g)
    assert m55.instructions == instructions_from_macs(g, mve=True)
    assert all(HELIUM_INSTRUCTIONS_PER_MAC[k] <= INSTRUCTIONS_PER_MAC[k]
               for k in INSTRUCTIONS_PER_MAC)
