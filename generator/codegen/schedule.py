"""A schedule: the straight-line list of kernel calls the generated C executes.

A call names a C kernel, its parameter struct (type and fields) and its pointer arguments. Pointer
arguments refer either to an arena buffer (:class:`BufRef`, a byte offset inside a named buffer) or to
a constant array (:class:`ConstRef`). The planner lays out buffers; the emitter prints calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from generator.ir import DType
from generator.plan.arena import Buffer, lifetimes


@dataclass(frozen=True)
class BufRef:
    buffer: str
    offset: int = 0
    ctype: str = "int8_t"


@dataclass(frozen=True)
class ConstRef:
    name: str
    offset: int = 0


@dataclass(frozen=True)
class Literal:
    """A plain C expression argument (an integer, a float, NULL)."""

    text: str


Arg = BufRef | ConstRef | Literal
ParamValue = int | float | ConstRef


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Arg, ...]
    params_type: str | None = None
    params: tuple[tuple[str, ParamValue], ...] = ()
    comment: str = ""
    op_index: int = -1


@dataclass(frozen=True)
class BufferSpec:
    name: str
    nbytes: int
    dtype: DType
    tensor: int = -1


@dataclass(frozen=True, eq=False)
class Const:
    name: str
    data: npt.NDArray[np.generic]

    @property
    def ctype(self) -> str:
        return DType(str(self.data.dtype)).c_type


@dataclass(frozen=True)
class IOSpec:
    """A model input or output as seen by the application."""

    buffer: str
    shape: tuple[int, ...]
    dtype: DType
    scale: float
    zero_point: int
    name: str


@dataclass(frozen=True, eq=False)
class Schedule:
    calls: tuple[Call, ...]
    buffers: Mapping[str, BufferSpec]
    consts: Mapping[str, Const]
    inputs: tuple[IOSpec, ...]
    outputs: tuple[IOSpec, ...]
    tensor_buffers: Mapping[int, str] = field(default_factory=dict)

    def lifetimes(self) -> list[Buffer]:
        """Each buffer alive from the first to the last call that uses it; I/O pinned to the ends."""
        uses = [[a.buffer for a in call.args if isinstance(a, BufRef)] for call in self.calls]
        sizes = {name: spec.nbytes for name, spec in self.buffers.items()}
        return lifetimes(uses, sizes, [io.buffer for io in self.inputs],
                         [io.buffer for io in self.outputs])
