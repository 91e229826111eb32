"""Sensor front-end: the C, built with the host gcc and called through ctypes, equals its Python twin.

Both do the same Q24 fixed-point arithmetic, so the int8 outputs must be exactly equal, including at
the int16 extremes and for negative scales. The fixed-point result itself is checked against the
float64 formula: it may differ only for values within 2^-9 of an int8 rounding boundary.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.dsp import SensorConfig, emit_config_header, sensor_features, sensor_float
from generator.dsp.host import build_host_library, cross_compile
from generator.dsp.sensor import FRAC_BITS
from generator.errors import InputError

I16 = npt.NDArray[np.int16]

CONFIGS = {
    "default_raw_counts": SensorConfig(),
    # accelerometer +-4 g at 8192 LSB/g, gyro 16.4 LSB/(deg/s) scaled to rad/s; input scale 1/32
    "imu_6_axis": SensorConfig(
        n_samples=50, n_axes=6,
        axis_offset=(12.0, -40.0, 8192.0, 3.0, -7.5, 0.0),
        axis_scale=(1 / 8192, 1 / 8192, 1 / 8192, 0.00106, 0.00106, 0.00106),
        out_scale=1 / 32, out_zero_point=-3),
    "adc_single_axis_flipped": SensorConfig(n_samples=256, n_axes=1, axis_offset=(2048.0,),
                                            axis_scale=(-1.0,), out_scale=16.0,
                                            out_zero_point=100),
    "fine_scale": SensorConfig(n_samples=8, n_axes=2, axis_scale=(0.75, 100.0), out_scale=1.0,
                               out_zero_point=0),
}


def windows(cfg: SensorConfig) -> dict[str, I16]:
    rng = np.random.default_rng(3)
    shape = cfg.output_shape
    t = np.arange(cfg.n_samples)[:, None] / cfg.n_samples
    return {
        "zeros": np.zeros(shape, np.int16),
        "int16_max": np.full(shape, 32767, np.int16),
        "int16_min": np.full(shape, -32768, np.int16),
        "uniform": rng.integers(-32768, 32768, shape).astype(np.int16),
        "small": rng.integers(-300, 300, shape).astype(np.int16),
        "sine": np.round(9000 * np.sin(2 * np.pi * 3 * t + np.arange(cfg.n_axes))).astype(np.int16),
        "ramp": ((np.arange(np.prod(shape)) * 97) % 65536 - 32768).astype(np.int16).reshape(shape),
    }


# ---- C harness -----------------------------------------------------------------------------------


@dataclass
class CSensor:
    lib: ctypes.CDLL
    cfg: SensorConfig

    def window(self, x: I16) -> npt.NDArray[np.int8]:
        out = np.zeros(self.cfg.output_shape, np.int8)
        src = np.ascontiguousarray(x, np.int16)
        self.lib.mcuf_sensor_window(src.ctypes.data_as(ctypes.c_void_p),
                                    out.ctypes.data_as(ctypes.c_void_p))
        return out

    def sample(self, axes: I16) -> npt.NDArray[np.int8]:
        out = np.zeros(self.cfg.n_axes, np.int8)
        src = np.ascontiguousarray(axes, np.int16)
        self.lib.mcuf_sensor_sample(src.ctypes.data_as(ctypes.c_void_p),
                                    out.ctypes.data_as(ctypes.c_void_p))
        return out


@pytest.fixture(scope="session")
def c_sensor(tmp_path_factory: pytest.TempPathFactory) -> Callable[[SensorConfig], CSensor]:
    built: dict[SensorConfig, CSensor] = {}

    def get(cfg: SensorConfig) -> CSensor:
        if cfg not in built:
            lib = build_host_library(tmp_path_factory.mktemp("sensor_c"), cfg)
            built[cfg] = CSensor(ctypes.CDLL(str(lib)), cfg)
        return built[cfg]

    return get


# ---- configuration -------------------------------------------------------------------------------


@pytest.mark.unit
def test_defaults() -> None:
    cfg = SensorConfig()
    assert cfg.output_shape == (128, 3)
    assert cfg.offsets == (0.0, 0.0, 0.0) and cfg.scales == (1.0, 1.0, 1.0)
    assert "raw counts" in cfg.describe()


@pytest.mark.unit
@pytest.mark.parametrize(("kwargs", "field"), [
    ({"n_samples": 0}, "n_samples"), ({"n_axes": 65}, "n_axes"),
    ({"axis_offset": (1.0, 2.0)}, "axis_offset"), ({"axis_scale": [1.0, 1.0, 1.0]}, "axis_scale"),
    ({"axis_scale": (1.0, float("nan"), 1.0)}, "axis_scale"),
    ({"axis_scale": (1.0, 0.0, 1.0)}, "axis_scale"),
    ({"axis_scale": (1.0, 1.0, 1.0), "out_scale": 1 / 1024}, "axis_scale"),
    ({"axis_offset": (1e40, 0.0, 0.0)}, "axis_offset"),
    ({"out_scale": 0.0}, "out_scale"), ({"out_zero_point": 300}, "out_zero_point"),
])
def test_invalid_field_is_named(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as info:
        SensorConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.message.startswith(f"SensorConfig.{field}:")
    assert info.value.hint


@pytest.mark.unit
def test_describe_and_header_give_the_numbers() -> None:
    cfg = CONFIGS["imu_6_axis"]
    text = cfg.describe()
    for part in ("50 samples x 6 axes", "offset (12, -40, 8192", "scale 0.03125", "zero point -3"):
        assert part in text
    macros = dict(re.findall(r"#define (\w+) +(\S+)", emit_config_header(cfg)))
    assert (macros["MCUF_SENSOR_N_SAMPLES"], macros["MCUF_SENSOR_N_AXES"]) == ("50", "6")
    assert macros["MCUF_SENSOR_FRAC_BITS"] == str(FRAC_BITS)


# ---- the twin ------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("name", list(CONFIGS))
def test_fixed_point_matches_float_formula(name: str) -> None:
    cfg = CONFIGS[name]
    for label, x in windows(cfg).items():
        real = (x.astype(np.float64) - np.array(cfg.offsets)) * np.array(cfg.scales)
        v = real / cfg.out_scale
        expect = np.clip(np.floor(v + 0.5) + cfg.out_zero_point, -128, 127)
        got = sensor_features(x, cfg).astype(np.float64)
        # Q24 constants are exact to 2^-25 of a step per count: only values this close to a
        # rounding boundary may land on its other side.
        near_tie = np.abs(v - np.floor(v) - 0.5) < 2.0**-9
        assert np.all((got == expect) | near_tie), label
        assert np.all(np.abs(got - expect) <= 1), label


@pytest.mark.unit
def test_float_path_is_the_normalised_value() -> None:
    cfg = CONFIGS["imu_6_axis"]
    x = windows(cfg)["sine"]
    real = sensor_float(x, cfg)
    assert real.dtype == np.float32 and real.shape == (50, 6)
    np.testing.assert_allclose(real[:, 2], (x[:, 2] - 8192.0) / 8192, rtol=1e-6)


@pytest.mark.unit
def test_window_must_be_int16_of_the_configured_shape() -> None:
    with pytest.raises(InputError, match="int16"):
        sensor_features(np.zeros((128, 3), np.int32))
    with pytest.raises(InputError, match=r"\(\.\.\., 128, 3\)"):
        sensor_features(np.zeros((128, 2), np.int16))
    batch = np.zeros((4, 128, 3), np.int16)
    assert sensor_features(batch).shape == (4, 128, 3)


# ---- C against the twin --------------------------------------------------------------------------


@pytest.mark.hostc
@pytest.mark.parametrize("name", list(CONFIGS))
def test_c_equals_twin_exactly(name: str, c_sensor: Callable[[SensorConfig], CSensor]) -> None:
    cfg = CONFIGS[name]
    c = c_sensor(cfg)
    for label, x in windows(cfg).items():
        want = sensor_features(x, cfg)
        np.testing.assert_array_equal(c.window(x), want, err_msg=label)
        np.testing.assert_array_equal(c.sample(x[-1]), want[-1], err_msg=label)


@pytest.mark.hostc
@settings(max_examples=25, deadline=None)
@given(n_axes=st.integers(1, 8), data=st.data())
def test_c_equals_twin_exactly_for_random_configurations(
        n_axes: int, data: st.DataObject, c_sensor: Callable[[SensorConfig], CSensor]) -> None:
    out_scale = data.draw(st.sampled_from([1 / 64, 0.1, 1.0, 37.0, 256.0]))
    scales = tuple(data.draw(st.floats(0.01, 100.0)) * data.draw(st.sampled_from([1, -1])) * out_scale
                   for _ in range(n_axes))
    offsets = tuple(data.draw(st.floats(-40000.0, 40000.0)) for _ in range(n_axes))
    cfg = SensorConfig(n_samples=data.draw(st.integers(1, 64)), n_axes=n_axes,
                       axis_offset=offsets, axis_scale=scales, out_scale=out_scale,
                       out_zero_point=data.draw(st.integers(-128, 127)))
    x = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).integers(
        -32768, 32768, cfg.output_shape).astype(np.int16)
    np.testing.assert_array_equal(c_sensor(cfg).window(x), sensor_features(x, cfg))


# ---- cross build ---------------------------------------------------------------------------------


@pytest.mark.cross
@pytest.mark.parametrize("name", list(CONFIGS))
def test_cross_compiles_for_cortex_m4f_integer_only(name: str, tmp_path: Path) -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc not found: apt-get install gcc-arm-none-eabi")
    (obj,) = cross_compile(tmp_path, CONFIGS[name])
    undefined = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], check=True,
                               capture_output=True, text=True).stdout.split()
    assert set(undefined) - {"U"} <= {"memcpy", "memset"}  # no 64-bit division helpers either
    asm = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], check=True,
                         capture_output=True, text=True).stdout
    assert ".f32" not in asm and ".f64" not in asm
