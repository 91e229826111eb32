"""Emit the C engine (``<prefix>.h``, ``<prefix>.c``) from a schedule and its arena layout.

Names from the model (tensor and operator names, the source file name) reach the C only through the
templates' ``c_comment`` filter; the prefix and constant names through ``c_identifier``
(:mod:`generator.encoders`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from generator import __version__
from generator.codegen.schedule import Arg, BufRef, Call, Const, ConstRef, IOSpec, Literal, Schedule
from generator.plan.arena import Layout

VALUES_PER_LINE = 24


@dataclass(frozen=True)
class EngineSources:
    header: str
    source: str
    prefix: str

    def files(self) -> dict[str, str]:
        return {f"{self.prefix}.h": self.header, f"{self.prefix}.c": self.source}


def _arg(a: Arg, layout: Layout) -> str:
    if isinstance(a, BufRef):
        where = f"ARENA({layout.offsets[a.buffer] + a.offset})"
        return where if a.ctype == "int8_t" else f"({a.ctype} *)(void *){where}"
    if isinstance(a, ConstRef):
        return f"({a.name} + {a.offset})" if a.offset else a.name
    assert isinstance(a, Literal)
    return a.text


def _traces(schedule: Schedule, layout: Layout, outputs: dict[int, int]) -> dict[int, str]:
    """Call index -> MCUF_TRACE arguments, after the last call of each operator whose output is a
    whole tensor in the arena."""
    last: dict[int, int] = {}
    for i, call in enumerate(schedule.calls):
        if call.op_index >= 0:
            last[call.op_index] = i
    out: dict[int, str] = {}
    for op, i in last.items():
        tid = outputs.get(op)
        buf = schedule.tensor_buffers.get(tid) if tid is not None else None
        if buf is not None and buf in layout.offsets:
            out[i] = f"{op}, ARENA({layout.offsets[buf]}), {schedule.buffers[buf].nbytes}L"
    return out


def _call_view(i: int, call: Call, layout: Layout) -> dict[str, Any]:
    pname = f"p{i}"
    args = [_arg(a, layout) for a in call.args]
    if call.params_type:
        args.insert(0, f"&{pname}")
    return {
        "pname": pname,
        "params_type": call.params_type,
        "params": [(k, _arg(v, layout) if isinstance(v, ConstRef) else v) for k, v in call.params],
        "comment": call.comment,
        "text": f"{call.func}({', '.join(args)})",
        "trace": "",
    }


def _const_view(c: Const) -> dict[str, Any]:
    flat = c.data.reshape(-1)
    if flat.dtype == np.float32:
        values = [f"{v:.9g}f" for v in flat.tolist()]
    elif flat.dtype == np.float64:
        values = [float(v).hex() for v in flat.tolist()]  # C99 hex floats: exact
    else:
        values = [str(v) for v in flat.tolist()]
    lines = [
        "    " + ", ".join(values[i : i + VALUES_PER_LINE]) + ","
        for i in range(0, len(values), VALUES_PER_LINE)
    ]
    return {"name": c.name, "ctype": c.ctype, "count": max(len(values), 1),
            "body": "\n".join(lines) if lines else "    0,"}


def _io_view(io: IOSpec, layout: Layout) -> dict[str, Any]:
    elements = int(np.prod(io.shape, dtype=np.int64)) if io.shape else 1
    return {
        "name": io.name,
        "shape": "x".join(map(str, io.shape)),
        "dtype": io.dtype.value,
        "nbytes": elements * io.dtype.itemsize,
        "elements": elements,
        "scale": f"{np.float32(io.scale).item():.9g}f",
        "zero_point": io.zero_point,
        "offset": layout.offsets[io.buffer],
    }


def const_bytes(schedule: Schedule) -> int:
    return sum(int(c.data.nbytes) for c in schedule.consts.values())


def emit_engine(schedule: Schedule, layout: Layout, prefix: str = "model",
                source: str = "model", op_outputs: dict[int, int] | None = None) -> EngineSources:
    from generator.templating import render

    calls = [_call_view(i, c, layout) for i, c in enumerate(schedule.calls)]
    for i, trace in _traces(schedule, layout, op_outputs or {}).items():
        calls[i]["trace"] = trace
    ctx: dict[str, Any] = {
        "version": __version__,
        "source": source,
        "prefix": prefix,
        "P": prefix.upper(),
        "guard": f"{prefix.upper()}_H",
        "arena_bytes": layout.size,
        "arena_alloc": max(layout.size, 4),
        "const_bytes": const_bytes(schedule),
        "inputs": [_io_view(io, layout) for io in schedule.inputs],
        "outputs": [_io_view(io, layout) for io in schedule.outputs],
        "consts": [_const_view(c) for c in schedule.consts.values()],
        "calls": calls,
    }
    return EngineSources(
        header=render("engine/model.h.j2", **ctx),
        source=render("engine/model.c.j2", **ctx),
        prefix=prefix,
    )
