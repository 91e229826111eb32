"""Sensor classification: IMU samples -> window of int8 features -> model -> class.

The firmware (``templates/projects/sensor``) quantises each IMU sample as it arrives into a ring of
``n_samples`` rows and, every ``hop`` samples once the ring is full, runs the model on the rows in
time order. The class with the highest score is reported when its score reaches ``threshold``.

All ports deliver acceleration as int16 counts of 1/8192 g (:data:`COUNTS_PER_G`, the LSM9DS1's
resolution at +-4 g), so the default ``axis_scale`` of 1/8192 makes the model see g.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from generator.boards import Board
from generator.codegen.schedule import IOSpec
from generator.dsp import SensorConfig, sensor_features
from generator.errors import InputError
from generator.project.apps.common import (
    AppPlan,
    AppRequest,
    check_dims,
    check_int8,
    feature_dims,
    n_classes,
    prob_to_q,
    resolve_labels,
)
from generator.project.options import (
    MODEL_QUANT_FIELDS,
    AppKind,
    SensorSettings,
    apply_overrides,
)
from generator.project.replay import Replay, read_imu

PERIPHERAL = "imu"
COUNTS_PER_G = 8192
DEFAULT_RATE_HZ = 100.0
DEFAULT_REPLAY = ("2.5 windows of synthetic motion: per axis k, 0.5 g x sin(2 pi (0.7 + 0.6 k) t + k) "
                  "at the IMU rate, plus 1 g on the third axis")


def plan(model_in: IOSpec, model_out: IOSpec, board: Board, request: AppRequest) -> AppPlan:
    check_int8(model_in, "input")
    check_int8(model_out, "output")
    settings = apply_overrides(SensorSettings(), request.settings, "app")
    settings.validate()
    cfg = _frontend(model_in, request.frontend)
    check_dims(model_in, cfg.output_shape, "sensor",
               f"{cfg.n_samples} samples x {cfg.n_axes} axes", _shape_fix(model_in))
    labels = resolve_labels(request.labels, n_classes(model_out))
    rate = board.peripherals.imu.rate_hz if board.peripherals.imu else DEFAULT_RATE_HZ
    replay = _replay(request, cfg, rate)
    hop = hop_samples(cfg, settings)
    buffers = (("IMU feature window", cfg.n_samples * cfg.n_axes), ("IMU sample", cfg.n_axes * 2))
    return AppPlan(
        kind=AppKind.SENSOR, peripheral=PERIPHERAL, frontend=cfg, settings=settings,
        labels=labels, replay=replay, buffers=buffers,
        config={
            "hop": hop,
            "n_axes": cfg.n_axes,
            "threshold": settings.threshold,
            "threshold_q": prob_to_q(settings.threshold, model_out),
            "num_classes": len(labels),
            "labels": list(labels),
            "counts_per_g": COUNTS_PER_G,
            "rate_hz": rate,
            "describe": cfg.describe(),
        },
    )


def _frontend(model_in: IOSpec, overrides: Any) -> SensorConfig:
    n_axes = overrides.get("n_axes", 3)
    axes = n_axes if isinstance(n_axes, int) and not isinstance(n_axes, bool) and n_axes > 0 else 3
    base = SensorConfig(n_axes=axes, axis_scale=(1.0 / COUNTS_PER_G,) * axes,
                        out_scale=model_in.scale, out_zero_point=model_in.zero_point)
    cfg: SensorConfig = apply_overrides(base, overrides, "frontend", MODEL_QUANT_FIELDS)
    return cfg


def _shape_fix(model_in: IOSpec) -> str:
    dims = feature_dims(model_in.shape)
    if len(dims) == 2:
        return f"set frontend: {{n_samples: {dims[0]}, n_axes: {dims[1]}}} in --app-config"
    return "give a model whose input is samples x axes (e.g. 1x128x3x1)"


def hop_samples(cfg: SensorConfig, settings: SensorSettings) -> int:
    return settings.hop or max(1, cfg.n_samples // 2)


def _replay(request: AppRequest, cfg: SensorConfig, rate: float) -> Replay:
    if request.replay is None:
        data = default_imu(cfg.n_samples * 5 // 2, cfg.n_axes, rate)
        source, what = "default", DEFAULT_REPLAY
    else:
        data, source = read_imu(request.replay, cfg.n_axes), request.replay.name
        what = f"{data.shape[0]} samples x {cfg.n_axes} axes"
    if data.shape[0] < cfg.n_samples:
        raise InputError(f"{source}: {data.shape[0]} samples is shorter than one window "
                         f"({cfg.n_samples})", f"replay at least {cfg.n_samples} samples")
    return Replay("imu", data, source, what)


def default_imu(n: int, n_axes: int, rate_hz: float) -> npt.NDArray[np.int16]:
    """The default replay: per-axis sinusoids in g (1 g of gravity on the third axis), as counts."""
    t = np.arange(n, dtype=np.float64)[:, None] / rate_hz
    k = np.arange(n_axes, dtype=np.float64)[None, :]
    g = 0.5 * np.sin(2 * np.pi * (0.7 + 0.6 * k) * t + k) + (k == 2)
    counts: npt.NDArray[np.int16] = np.clip(np.round(g * COUNTS_PER_G), -32768, 32767).astype(
        np.int16)
    return counts


def expected_inputs(plan: AppPlan) -> list[npt.NDArray[np.int8]]:
    """The twin of the sensor main loop: one feature window per hop once the window is full."""
    cfg = plan.frontend
    assert isinstance(cfg, SensorConfig) and isinstance(plan.settings, SensorSettings)
    data = plan.replay.data
    hop = hop_samples(cfg, plan.settings)
    return [sensor_features(data[end - cfg.n_samples : end], cfg)
            for end in range(cfg.n_samples, data.shape[0] + 1)
            if (end - cfg.n_samples) % hop == 0]
