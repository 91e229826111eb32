"""Render the generated C headers of the app front-ends from their configurations.

Each front-end configuration contributes a block of ``#define`` lines to the one
``mcuf_frontend_config.h`` and its constant tables to its own ``mcuf_<kind>_tables.h``. The fixed
``mcuf_<kind>.c`` checks that both headers carry the same fingerprint, so a project can never compile
tables from one configuration against the macros of another.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Protocol

import jinja2
import numpy as np
import numpy.typing as npt

from generator.templating import EncoderFilters

# Bump when the layout of a generated header changes, so stale headers fail the fingerprint check.
HEADER_FORMAT = 1
_PER_LINE = 8


class FrontendConfig(Protocol):
    """What every front-end configuration offers to the header writers."""

    kind: ClassVar[str]

    def validate(self) -> None: ...

    def describe(self) -> str: ...

    def c_macros(self) -> tuple[CMacro, ...]: ...

    def c_tables(self) -> tuple[CTable, ...]: ...


@dataclass(frozen=True)
class CMacro:
    name: str
    value: str
    comment: str = ""


@dataclass(frozen=True, eq=False)
class CTable:
    """A ``static const`` array: its C element type, name, values (any shape, emitted flat)."""

    c_type: str
    name: str
    values: npt.NDArray[Any]
    comment: str

    def literals(self) -> list[str]:
        flat = self.values.ravel()
        if self.c_type == "float":
            return [c_float(v) for v in flat]
        if self.c_type == "int64_t":
            return [f"INT64_C({int(v)})" for v in flat]
        return [str(int(v)) for v in flat]

    def rows(self) -> list[str]:
        lits = self.literals()
        return [", ".join(lits[i : i + _PER_LINE]) for i in range(0, len(lits), _PER_LINE)]


def c_float(value: float | np.floating[Any]) -> str:
    """The shortest decimal literal that a C compiler reads back as exactly this float32."""
    v = np.float32(value)
    if not np.isfinite(v):
        raise ValueError(f"cannot emit non-finite float {value!r}")
    return str(v) + "f"


def fingerprint(cfg: FrontendConfig) -> str:
    """A CRC-32 of the configuration's fields and the header format, as a C ``unsigned`` literal."""
    payload = json.dumps([HEADER_FORMAT, cfg.kind, asdict(cfg)], sort_keys=True)  # type: ignore[call-overload]
    return f"0x{zlib.crc32(payload.encode()):08X}u"


def prefix(cfg: FrontendConfig) -> str:
    return f"MCUF_{cfg.kind.upper()}"


def tables_header_name(cfg: FrontendConfig) -> str:
    return f"mcuf_{cfg.kind}_tables.h"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        extensions=[EncoderFilters],
    )


def render_config_header(configs: Sequence[FrontendConfig]) -> str:
    blocks = [
        {
            "prefix": prefix(cfg),
            "describe": cfg.describe(),
            "fingerprint": fingerprint(cfg),
            "macros": cfg.c_macros(),
        }
        for cfg in configs
    ]
    return _environment().get_template("mcuf_frontend_config.h.j2").render(blocks=blocks)


def render_tables_header(cfg: FrontendConfig) -> str:
    return _environment().get_template("mcuf_tables.h.j2").render(
        guard=f"{prefix(cfg)}_TABLES_H",
        prefix=prefix(cfg),
        describe=cfg.describe(),
        fingerprint=fingerprint(cfg),
        tables=cfg.c_tables(),
    )
