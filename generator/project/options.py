"""What a firmware project is generated from: model, board, app, and the app's settings.

Settings come from three layers, later ones winning: the app's defaults (the dataclasses below and the
front-end configurations in :mod:`generator.dsp`), an ``--app-config`` YAML file, and
command-line options. An app-config file looks like this (every key optional)::

    labels: [silence, unknown, "yes", "no"]   # or a comma list: "silence,unknown,yes,no"
    app:                                      # fields of KwsSettings / VwwSettings / SensorSettings
      smoothing: 4
      threshold: 0.7
    frontend:                                 # fields of MfccConfig / ImageConfig / SensorConfig
      window_ms: 25
      stride_ms: 10

The front-end's ``out_scale`` and ``out_zero_point`` always come from the model's input tensor and
cannot be set here.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import re
import types
import typing
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator import inputs
from generator.errors import InputError
from generator.numerics import Numerics
from generator.plan.cost import DEFAULT_BUDGET


class AppKind(enum.StrEnum):
    KWS = "kws"
    VWW = "vww"
    SENSOR = "sensor"


@dataclass(frozen=True)
class KwsSettings:
    """Keyword spotting: how often to infer, and how detections are decided."""

    inference_every: int = 1
    """MFCC frames (one per stride) between inferences once the feature window is full."""
    smoothing: int = 3
    """Inferences whose scores are averaged before the threshold is applied."""
    threshold: float = 0.8
    """A class is detected when its averaged score (a probability) reaches this."""
    suppression: int = 25
    """Inferences after a detection during which no new detection is reported."""

    def validate(self) -> None:
        _int_in("app.inference_every", self.inference_every, 1, 10_000)
        _int_in("app.smoothing", self.smoothing, 1, 1_000)
        _int_in("app.suppression", self.suppression, 0, 1_000_000)
        _probability("app.threshold", self.threshold)


@dataclass(frozen=True)
class VwwSettings:
    """Visual wake words: which class is 'person' and the hysteresis around it."""

    person_class: int = 1
    on_threshold: float = 0.6
    """'person' becomes present when its score reaches this ..."""
    off_threshold: float = 0.4
    """... and absent again when it falls to this or below."""

    def validate(self) -> None:
        _int_in("app.person_class", self.person_class, 0, 10_000)
        _probability("app.on_threshold", self.on_threshold)
        _probability("app.off_threshold", self.off_threshold)
        if self.off_threshold >= self.on_threshold:
            raise InputError(
                f"app.off_threshold ({self.off_threshold:g}) must be below app.on_threshold "
                f"({self.on_threshold:g})", "hysteresis needs off < on, e.g. 0.4 and 0.6")


@dataclass(frozen=True)
class SensorSettings:
    """Sensor (IMU) classification: window hop and the reporting threshold."""

    hop: int = 0
    """Samples between the starts of two windows; 0 means half a window."""
    threshold: float = 0.5
    """A class is reported when its score reaches this."""

    def validate(self) -> None:
        _int_in("app.hop", self.hop, 0, 65_536)
        _probability("app.threshold", self.threshold)


AppSettings = KwsSettings | VwwSettings | SensorSettings

SETTINGS_CLASS: Mapping[AppKind, type[KwsSettings | VwwSettings | SensorSettings]] = {
    AppKind.KWS: KwsSettings,
    AppKind.VWW: VwwSettings,
    AppKind.SENSOR: SensorSettings,
}


@dataclass(frozen=True)
class GenerateOptions:
    """Everything ``mcuforge generate`` was given. Paths are as the user wrote them."""

    model: Path
    board: str
    app: AppKind
    calibration: Path | None = None
    labels: str | None = None
    """A comma-separated list, or the path of a file with one label per line."""
    app_config: Path | None = None
    replay: Path | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Command-line overrides of the app settings (fields of the app's settings class)."""
    frontend: Mapping[str, Any] = field(default_factory=dict)
    """Command-line overrides of the front-end configuration."""
    fit_data: Path | None = None
    """Labelled data for ``--fit``: prune the (Keras) model until it fits the board's SRAM."""
    numerics: Numerics = Numerics.TFLM
    """Which runtime the engine is bit-exact with (:mod:`generator.numerics`)."""
    split_overhead: float = DEFAULT_BUDGET
    """The most extra instructions partial execution may cost, a fraction of the whole model's."""


@dataclass(frozen=True)
class AppConfigFile:
    """The parsed ``--app-config`` file: labels, settings and front-end overrides."""

    labels: tuple[str, ...] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    frontend: Mapping[str, Any] = field(default_factory=dict)


_TOP_KEYS = ("labels", "app", "frontend")
_LABEL_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .:+-]{0,31}$")
MODEL_QUANT_FIELDS = ("out_scale", "out_zero_point")


def load_app_config(path: Path | None) -> AppConfigFile:
    """Read and check the shape of an ``--app-config`` YAML file (values are checked later).

    The file is read by :func:`generator.inputs.load_yaml`: a regular file of at most 1 MiB of UTF-8,
    no YAML anchors or aliases, bounded nesting, plain data only."""
    if path is None:
        return AppConfigFile()
    data = inputs.load_yaml(path, "app config")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping with keys {', '.join(_TOP_KEYS)}",
                         "see `mcuforge generate --help` for the app-config format")
    unknown = sorted(set(map(str, data)) - set(_TOP_KEYS))
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(unknown)}",
                         f"the top-level keys are {', '.join(_TOP_KEYS)}")
    for key in ("app", "frontend"):
        if not isinstance(data.get(key, {}), dict):
            raise InputError(f"{path}: {key}: expected a mapping of field: value",
                             f"write e.g. `{key}: {{field: value}}`")
    labels = data.get("labels")
    return AppConfigFile(
        labels=None if labels is None else parse_labels(labels, f"{path}: labels"),
        settings=dict(data.get("app", {})),
        frontend=dict(data.get("frontend", {})),
    )


MAX_LABELS = 1000
_LABEL_HINT = ("use up to 32 letters, digits, spaces and _ . : + -, starting with a letter, digit "
               "or _")
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def parse_labels(value: object, where: str = "--labels") -> tuple[str, ...]:
    """A comma list, a YAML list, or (given a string naming a file) one label per line.

    Each label is checked after parsing (:func:`check_label`): YAML's unquoted ``yes``/``no`` (booleans),
    ``~`` (null) and numbers are refused with the quoting that fixes them."""
    if isinstance(value, str) and "," not in value and _names_a_file(value):
        text = inputs.read_text(Path(value), "labels file")
        items: list[object] = [ln.strip() for ln in text.splitlines() if ln.strip()]
        where = f"{where}: {value}"
    elif isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list):
        items = list(value)
    else:
        raise InputError(f"{where}: expected a list of labels, got {_yaml_kind(value)}",
                         "give labels as a comma list or one per line in a file")
    if len(items) > MAX_LABELS:
        raise InputError(f"{where}: {len(items):,} labels, more than {MAX_LABELS:,}",
                         "give one label per model output")
    labels = tuple(check_label(item, where, i) for i, item in enumerate(items))
    if len(set(labels)) != len(labels):
        raise InputError(f"{where}: labels repeat ({', '.join(labels)})", "give each class once")
    return labels


def _yaml_kind(value: object) -> str:
    if isinstance(value, bool):
        return f"the YAML boolean {str(value).lower()} (an unquoted yes/no/on/off/true/false)"
    if value is None:
        return "an empty value (YAML null: ~, null or nothing)"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return type(value).__name__


def check_label(item: object, where: str, index: int) -> str:
    """One label: a non-empty string of at most 32 characters from a small ASCII set, with no
    control, format or line-separator characters."""
    what = f"{where}: label {index + 1}"
    if isinstance(item, bool):
        raise InputError(f"{what} is {_yaml_kind(item)}, not text",
                         'quote it in the YAML: write "yes" and "no" (with the quotes); unquoted, '
                         "yes, no, on, off, true and false are booleans")
    if not isinstance(item, str):
        raise InputError(f"{what} is {_yaml_kind(item)}, not text",
                         f'quote it in the YAML: "{item}"' if item is not None
                         else "give the label a name, in quotes")
    bad = next((ch for ch in item if unicodedata.category(ch) in _CONTROL_CATEGORIES), None)
    if bad is not None:
        raise InputError(f"{what} {item!r} contains the control character U+{ord(bad):04X}",
                         "labels are single-line text: " + _LABEL_HINT)
    if not item:
        raise InputError(f"{what} is empty", "give every class a name")
    if not _LABEL_RE.fullmatch(item):
        raise InputError(f"{where}: label {item!r} is not allowed", _LABEL_HINT)
    return item


def _names_a_file(value: str) -> bool:
    """Whether a --labels value names something on disk (a file, or a FIFO to be refused)."""
    try:
        return os.path.lexists(value) and not os.path.isdir(value)
    except (OSError, ValueError):  # a name too long for the file system, or with a NUL byte
        return False


def apply_overrides(base: Any, overrides: Mapping[str, Any], where: str,
                    frozen_fields: tuple[str, ...] = ()) -> Any:
    """``dataclasses.replace(base, **overrides)`` with each value checked against the field type."""
    fields = {f.name: f for f in dataclasses.fields(base)}
    hints = typing.get_type_hints(type(base))
    changes: dict[str, Any] = {}
    for name, value in overrides.items():
        if name not in fields or name in frozen_fields:
            allowed = ", ".join(n for n in fields if n not in frozen_fields)
            why = ("is taken from the model's input tensor" if name in frozen_fields
                   else "is not a field")
            raise InputError(f"{where}.{name}: {why}", f"the fields are: {allowed}")
        changes[name] = _coerce(value, hints[name], f"{where}.{name}")
    return dataclasses.replace(base, **changes)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            choices = ", ".join(map(str, typing.get_args(hint)))
            raise InputError(f"{where}: {value!r} is not one of {choices}", f"use one of {choices}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise InputError(f"{where}: expected a list, got {value!r}", "write a YAML list")
        return tuple(_coerce(v, float, where) for v in value)
    if origin in (typing.Union, types.UnionType):
        raise InputError(f"{where}: cannot be set", "leave it out")
    if hint is bool or (hint is int and (isinstance(value, bool) or not isinstance(value, int))):
        raise InputError(f"{where}: expected a whole number, got {value!r}", "write e.g. 3")
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{where}: expected a number, got {value!r}", "write e.g. 0.5")
        return float(value)
    if hint is str and not isinstance(value, str):
        raise InputError(f"{where}: expected text, got {value!r}", "quote the value")
    return value


def _int_in(where: str, value: int, low: int, high: int) -> None:
    """A whole number in ``[low, high]`` (the C side holds it in 32 bits)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{where}: must be a whole number from {low} to {high:,}, got {value!r}",
                         f"set {where.split('.')[-1]} to a value from {low} to {high:,}")


def _probability(where: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InputError(f"{where}: must be a probability in [0, 1], got {value!r}",
                         "thresholds apply to the model's output as a probability")
