"""What every app shares: the plan it produces, the request it reads, and model-tensor checks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.codegen.schedule import IOSpec
from generator.dsp import ImageConfig, MfccConfig, SensorConfig
from generator.errors import InputError
from generator.ir import DType
from generator.project.options import AppKind, AppSettings
from generator.project.replay import Replay

FrontendConfig = MfccConfig | ImageConfig | SensorConfig


@dataclass(frozen=True)
class AppRequest:
    """The user's wishes for the app, before they meet the model and the board."""

    settings: Mapping[str, Any] = field(default_factory=dict)
    frontend: Mapping[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] | None = None
    replay: Path | None = None


@dataclass(frozen=True, eq=False)
class AppPlan:
    """Everything the generator needs to know about one app in one project."""

    kind: AppKind
    peripheral: str
    """The board peripheral a live port captures from: microphone, camera or imu."""
    frontend: FrontendConfig
    settings: AppSettings
    labels: tuple[str, ...]
    replay: Replay
    buffers: tuple[tuple[str, int], ...]
    """SRAM the app adds beside the model's arena, by name, in bytes."""
    config: Mapping[str, Any]
    """Values for the app's ``app_config.h`` template."""

    @property
    def buffer_bytes(self) -> int:
        return sum(size for _, size in self.buffers)


def feature_dims(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape without a leading batch of 1 and trailing axes of size 1: (1, 49, 10, 1) -> (49, 10)."""
    dims = list(shape[1:] if shape and shape[0] == 1 else shape)
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    return tuple(dims)


def check_int8(spec: IOSpec, what: str) -> None:
    if spec.dtype is not DType.INT8:
        raise InputError(
            f"the model's {what} '{spec.name}' is {spec.dtype.value}; the app needs int8",
            "convert the model with int8 inputs and outputs (do not pass --float-io)")


def check_dims(spec: IOSpec, want: tuple[int, ...], app: str, options: str, fix: str) -> None:
    """The model input must hold exactly the front-end's output (flat or shaped)."""
    got = feature_dims(spec.shape)
    flat = (math.prod(want),)
    if got in (want, flat) or (want[-1] == 1 and got == want[:-1]):
        return
    shape = "x".join(map(str, spec.shape))
    raise InputError(
        f"the model input '{spec.name}' is {shape} but the {app} front-end produces "
        f"{'x'.join(map(str, want))} ({options})", fix)


def n_classes(spec: IOSpec) -> int:
    return math.prod(spec.shape)


def resolve_labels(labels: tuple[str, ...] | None, count: int) -> tuple[str, ...]:
    if labels is None:
        return tuple(f"class{i}" for i in range(count))
    if len(labels) != count:
        raise InputError(f"--labels: {len(labels)} label(s) given but the model has {count} "
                         f"output classes", f"give exactly {count} labels")
    return labels


def prob_to_q(p: float, spec: IOSpec) -> int:
    """The int8 output value that stands for probability ``p`` (rounded, clamped)."""
    return max(-128, min(127, round(p / spec.scale) + spec.zero_point))
