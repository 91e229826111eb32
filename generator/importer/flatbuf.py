"""A small, bounds-checked reader of FlatBuffers tables.

Only reading is needed, and only of the TFLite schema; every access is checked against the buffer so a
truncated or corrupt file raises :class:`ModelFormatError` instead of reading garbage or crashing.

A corrupt file can also point many fields at the same large vector or string, so that reading it costs
far more than its size. Every read is therefore counted against a budget proportional to the file's
size (:data:`READ_BUDGET_FACTOR`), which a well-formed file stays far below.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TypeVar

from generator.errors import ModelFormatError

T = TypeVar("T")

_HINT = "the file is truncated or not a TFLite flatbuffer; re-export it with TFLiteConverter"

READ_BUDGET_FACTOR = 8
"""A file of n bytes may cause at most ``READ_BUDGET_FACTOR * n + READ_BUDGET_SLACK`` bytes of reads."""
READ_BUDGET_SLACK = 1 << 20


class Buf:
    """A byte buffer with checked little-endian reads."""

    def __init__(self, data: bytes, where: str) -> None:
        self.data = memoryview(data)
        self.where = where
        self.budget = READ_BUDGET_FACTOR * len(data) + READ_BUDGET_SLACK

    def _spend(self, n: int) -> None:
        self.budget -= n
        if self.budget < 0:
            raise self.fail(
                f"reading it needs far more than its {len(self.data)} bytes (fields point at the same "
                "data over and over)")

    def fail(self, what: str) -> ModelFormatError:
        return ModelFormatError(f"{self.where}: {what}", _HINT)

    def _read(self, fmt: str, pos: int) -> int | float:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise self.fail(f"read of {size} bytes at offset {pos} is outside the file")
        self._spend(size)
        value: int | float = struct.unpack_from(fmt, self.data, pos)[0]
        return value

    def u8(self, pos: int) -> int:
        return int(self._read("<B", pos))

    def i8(self, pos: int) -> int:
        return int(self._read("<b", pos))

    def u16(self, pos: int) -> int:
        return int(self._read("<H", pos))

    def i32(self, pos: int) -> int:
        return int(self._read("<i", pos))

    def u32(self, pos: int) -> int:
        return int(self._read("<I", pos))

    def i64(self, pos: int) -> int:
        return int(self._read("<q", pos))

    def u64(self, pos: int) -> int:
        return int(self._read("<Q", pos))

    def f32(self, pos: int) -> float:
        return float(self._read("<f", pos))

    def span(self, pos: int, n: int) -> memoryview:
        if pos < 0 or n < 0 or pos + n > len(self.data):
            raise self.fail(f"block of {n} bytes at offset {pos} is outside the file")
        self._spend(n)
        return self.data[pos : pos + n]


class Table:
    """One FlatBuffers table: fields are read by their index in the schema."""

    def __init__(self, buf: Buf, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        vt = pos - buf.i32(pos)
        self.vt = vt
        self.vt_size = buf.u16(vt)
        if self.vt_size < 4 or self.vt_size % 2:
            raise buf.fail(f"corrupt vtable at offset {vt}")
        buf.span(vt, self.vt_size)

    def _field(self, index: int) -> int:
        entry = 4 + 2 * index
        if entry + 2 > self.vt_size:
            return 0
        return self.buf.u16(self.vt + entry)

    def has(self, index: int) -> bool:
        return self._field(index) != 0

    def scalar(self, index: int, reader: Callable[[int], T], default: T) -> T:
        off = self._field(index)
        return reader(self.pos + off) if off else default

    def _indirect(self, index: int) -> int | None:
        off = self._field(index)
        if not off:
            return None
        p = self.pos + off
        return p + self.buf.u32(p)

    def table(self, index: int) -> Table | None:
        target = self._indirect(index)
        return Table(self.buf, target) if target is not None else None

    def string(self, index: int) -> str:
        target = self._indirect(index)
        if target is None:
            return ""
        n = self.buf.u32(target)
        return bytes(self.buf.span(target + 4, n)).decode("utf-8", errors="replace")

    def _vector(self, index: int) -> tuple[int, int]:
        target = self._indirect(index)
        if target is None:
            return 0, 0
        return target + 4, self.buf.u32(target)

    def vector_len(self, index: int) -> int:
        """The number of elements of a vector field (0 if absent), without reading them."""
        return self._vector(index)[1]

    def vector_bytes(self, index: int, itemsize: int) -> memoryview:
        start, n = self._vector(index)
        return self.buf.span(start, n * itemsize)

    def vector_scalars(self, index: int, fmt: str) -> tuple[int | float, ...]:
        size = struct.calcsize(fmt)
        raw = self.vector_bytes(index, size)
        return tuple(v[0] for v in struct.iter_unpack("<" + fmt, raw))

    def vector_tables(self, index: int) -> list[Table]:
        start, n = self._vector(index)
        self.buf.span(start, 4 * n)
        return [Table(self.buf, start + 4 * i + self.buf.u32(start + 4 * i)) for i in range(n)]


def root(data: bytes, where: str, identifier: bytes | None = None) -> Table:
    buf = Buf(data, where)
    if len(data) < 8:
        raise buf.fail(f"only {len(data)} bytes long")
    if identifier is not None and bytes(buf.span(4, 4)) != identifier:
        raise ModelFormatError(
            f"{where}: not a TFLite model (file identifier {bytes(buf.span(4, 4))!r}, "
            f"expected {identifier!r})",
            "give a .tflite produced by TFLiteConverter, or a Keras model",
        )
    return Table(buf, buf.u32(0))
