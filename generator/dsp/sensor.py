"""Sensor front-end (IMU, ADC): a window of int16 samples x axes -> int8 model input.

Per value of axis ``k``: ``real = (x - axis_offset[k]) * axis_scale[k]`` (physical units, or a
standardised value), then ``q = round(real / out_scale) + out_zero_point`` clamped to int8. Python twin
of ``mcuf_sensor.c``.

The C does this in integers: per axis, ``acc = x * mult[k] + bias[k]`` with ``mult`` and ``bias`` in Q24
(``FRAC_BITS``) fixed point, computed here and emitted into ``mcuf_sensor_tables.h``; then
``q = floor(acc / 2^24 + 1/2)`` (round half up). The fixed-point error is below 2^-9 of one int8 step,
so it can only matter for values within that distance of a rounding boundary. The twin does the same
integer arithmetic, so C and Python agree exactly. Layout in and out: ``[n_samples][n_axes]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from generator.dsp import checks
from generator.dsp.cheader import CMacro, CTable
from generator.errors import InputError

FRAC_BITS = 24
_OWNER = "SensorConfig"
_MAX_GAIN = 127.0  # |axis_scale / out_scale| must keep mult inside int32
_MAX_BIAS = float(2**38)  # |real offset in int8 steps| keeps bias far inside int64
_ACC_LIMIT = 200 << FRAC_BITS  # beyond this the result saturates anyway


@dataclass(frozen=True)
class SensorConfig:
    """Every parameter of the sensor front-end. Default: 128 samples x 3 axes, int16 counts / 256."""

    kind: ClassVar[str] = "sensor"

    n_samples: int = 128
    n_axes: int = 3
    axis_offset: tuple[float, ...] = ()
    axis_scale: tuple[float, ...] = ()
    out_scale: float = 256.0
    out_zero_point: int = 0

    def __post_init__(self) -> None:
        self.validate()

    @property
    def offsets(self) -> tuple[float, ...]:
        """Per-axis offset; an empty ``axis_offset`` means 0 on every axis."""
        return tuple(self.axis_offset) or (0.0,) * self.n_axes

    @property
    def scales(self) -> tuple[float, ...]:
        """Per-axis scale; an empty ``axis_scale`` means 1 on every axis."""
        return tuple(self.axis_scale) or (1.0,) * self.n_axes

    @property
    def output_shape(self) -> tuple[int, int]:
        return (self.n_samples, self.n_axes)

    def validate(self) -> None:
        """Raise :class:`InputError` naming the first field that cannot work."""
        checks.int_in(_OWNER, "n_samples", self.n_samples, 1, 65536)
        checks.int_in(_OWNER, "n_axes", self.n_axes, 1, 64)
        checks.quant_scale(_OWNER, "out_scale", self.out_scale)
        checks.zero_point(_OWNER, "out_zero_point", self.out_zero_point)
        for name in ("axis_offset", "axis_scale"):
            _per_axis(name, getattr(self, name), self.n_axes)
        for k, (off, scale) in enumerate(zip(self.offsets, self.scales, strict=True)):
            gain = scale / self.out_scale
            checks.require(2.0**-FRAC_BITS <= abs(gain) <= _MAX_GAIN, _OWNER, "axis_scale",
                           f"axis {k}: axis_scale / out_scale = {gain:g}, outside "
                           f"[2^-{FRAC_BITS}, {_MAX_GAIN:g}] in magnitude",
                           "check that out_scale is the model input's scale and axis_scale the "
                           "size of one raw count in the model's units")
            checks.require(abs(off * gain) < _MAX_BIAS, _OWNER, "axis_offset",
                           f"axis {k}: offset {off:g} is {off * gain:g} int8 steps away",
                           "give the offset in raw sensor counts")

    def describe(self) -> str:
        norm = "raw counts"
        if self.axis_offset or self.axis_scale:
            norm = (f"(x - offset) * scale per axis, offset {_fmt(self.offsets)}, "
                    f"scale {_fmt(self.scales)}")
        return (f"Sensor: {self.n_samples} samples x {self.n_axes} axes int16, {norm}, "
                f"int8 scale {self.out_scale:g} zero point {self.out_zero_point}")

    def c_macros(self) -> tuple[CMacro, ...]:
        return (
            CMacro("MCUF_SENSOR_N_SAMPLES", str(self.n_samples), "samples per window"),
            CMacro("MCUF_SENSOR_N_AXES", str(self.n_axes), "values per sample"),
            CMacro("MCUF_SENSOR_FRAC_BITS", str(FRAC_BITS), "fixed point of mult and bias"),
        )

    def c_tables(self) -> tuple[CTable, ...]:
        t = sensor_tables(self)
        return (
            CTable("int32_t", "mcuf_sensor_mult", t.mult, "axis_scale / out_scale, Q24"),
            CTable("int64_t", "mcuf_sensor_bias", t.bias,
                   "zero_point - offset * axis_scale / out_scale, Q24"),
        )


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def _per_axis(name: str, values: Any, n_axes: int) -> None:
    ok = isinstance(values, tuple) and len(values) in (0, n_axes)
    ok = ok and all(checks.is_real(v) for v in values)
    checks.require(ok, _OWNER, name, f"must be a tuple of {n_axes} finite numbers or empty, got "
                   f"{values!r}", f"give one value per axis, or () for no {name.split('_')[1]}")


@dataclass(frozen=True, eq=False)
class SensorTables:
    mult: npt.NDArray[np.int32]
    bias: npt.NDArray[np.int64]


@cache
def sensor_tables(cfg: SensorConfig) -> SensorTables:
    one = float(1 << FRAC_BITS)
    gains = [s / cfg.out_scale for s in cfg.scales]
    mult = np.array([round(g * one) for g in gains], np.int32)
    bias = np.array([round(-o * g * one) + (cfg.out_zero_point << FRAC_BITS)
                     for o, g in zip(cfg.offsets, gains, strict=True)], np.int64)
    mult.setflags(write=False)
    bias.setflags(write=False)
    return SensorTables(mult=mult, bias=bias)


def _as_window(window: npt.ArrayLike, cfg: SensorConfig) -> npt.NDArray[np.int16]:
    arr = np.asarray(window)
    if arr.dtype != np.int16 or arr.ndim < 2 or arr.shape[-2:] != cfg.output_shape:
        raise InputError(
            f"sensor window must be int16 of shape (..., {cfg.n_samples}, {cfg.n_axes}), "
            f"got {arr.dtype} {arr.shape}",
            "pass raw sensor counts as np.int16, one row per sample, one column per axis")
    return arr


def sensor_features(window: npt.ArrayLike, cfg: SensorConfig | None = None) -> npt.NDArray[np.int8]:
    """int8 model input of shape (n_samples, n_axes) (or batched), equal to ``mcuf_sensor_window``."""
    cfg = cfg or SensorConfig()
    t = sensor_tables(cfg)
    acc = _as_window(window, cfg).astype(np.int64) * t.mult.astype(np.int64) + t.bias
    acc = np.clip(acc, -_ACC_LIMIT, _ACC_LIMIT)
    q = ((acc + (256 << FRAC_BITS) + (1 << (FRAC_BITS - 1))) >> FRAC_BITS) - 256
    out: npt.NDArray[np.int8] = np.clip(q, -128, 127).astype(np.int8)
    return out


def sensor_float(window: npt.ArrayLike, cfg: SensorConfig | None = None) -> npt.NDArray[np.float32]:
    """float32 ``(x - axis_offset) * axis_scale`` per axis: the real values the model input encodes."""
    cfg = cfg or SensorConfig()
    x = _as_window(window, cfg).astype(np.float64)
    real: npt.NDArray[np.float32] = ((x - np.array(cfg.offsets)) * np.array(cfg.scales)).astype(
        np.float32)
    return real
