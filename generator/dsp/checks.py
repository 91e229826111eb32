"""Small validation helpers shared by the front-end configurations: every failure names the field."""

from __future__ import annotations

import math
from typing import Any

from generator.errors import InputError


def require(ok: bool, owner: str, field: str, problem: str, hint: str) -> None:
    """Raise :class:`InputError` naming ``owner.field`` unless ``ok``."""
    if not ok:
        raise InputError(f"{owner}.{field}: {problem}", hint)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def int_in(owner: str, field: str, value: Any, lo: int, hi: int) -> None:
    require(is_int(value) and lo <= value <= hi, owner, field,
            f"must be a whole number in [{lo}, {hi}], got {value!r}",
            f"set {field} to an integer between {lo} and {hi}")


def positive_real(owner: str, field: str, value: Any) -> None:
    require(is_real(value) and value > 0, owner, field,
            f"must be a finite number > 0, got {value!r}", f"set {field} to a positive number")


def zero_point(owner: str, field: str, value: Any) -> None:
    require(is_int(value) and -128 <= value <= 127, owner, field,
            f"must be an int8 zero point in [-128, 127], got {value!r}",
            "copy the zero point of the model's int8 input tensor")


def quant_scale(owner: str, field: str, value: Any) -> None:
    require(is_real(value) and 1e-30 < value < 1e30, owner, field,
            f"must be a positive float32 quantisation scale, got {value!r}",
            "copy the scale of the model's int8 input tensor")
