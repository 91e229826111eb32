"""Generators of bad inputs: hand-made TFLite flatbuffers, mutated copies of real ones, broken Keras files.

Large or binary bad files are made here at test time instead of being committed. Everything is
deterministic for a given seed.

:class:`TfliteBuilder` writes a TFLite flatbuffer field by field (indices as in TFLite's schema.fbs), so a
test can declare what no converter would write: a tensor of 2^31 elements, a stride of 0, an operator
reading a tensor nobody writes, thousands of tensors sharing one huge name.
"""

from __future__ import annotations

import random
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np

from generator.importer.flatbuf import Table, root

# ---- a TFLite flatbuffer builder --------------------------------------------------------------------

INT8, INT32, FLOAT32 = 9, 2, 0
CONV_2D, FULLY_CONNECTED, RESHAPE = 3, 9, 22


@dataclass
class TensorSpec:
    shape: Sequence[int]
    dtype: int = INT8
    data: bytes | None = None
    scale: Sequence[float] | None = (0.05,)
    zero_point: Sequence[int] | None = (0,)
    name: str | None = None
    quantized_dimension: int = 0


@dataclass
class OpSpec:
    code: int
    inputs: Sequence[int]
    outputs: Sequence[int]
    options_type: int = 0
    int_options: dict[int, int] = field(default_factory=dict)
    """Options table fields (index -> value), written as int32 (int8 for the first field of conv
    options, the padding, is written as int8 through ``byte_options``)."""
    byte_options: dict[int, int] = field(default_factory=dict)
    float_options: dict[int, float] = field(default_factory=dict)


@dataclass
class TfliteBuilder:
    """A single-subgraph TFLite model, written by :meth:`build`."""

    tensors: list[TensorSpec] = field(default_factory=list)
    ops: list[OpSpec] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    shared_name: str | None = None
    """If set, every tensor without a name of its own refers to this one string."""

    def tensor(self, spec: TensorSpec) -> int:
        self.tensors.append(spec)
        return len(self.tensors) - 1

    def build(self) -> bytes:
        b = flatbuffers.Builder(1024)
        shared = b.CreateString(self.shared_name) if self.shared_name is not None else None
        buffers = [_table(b, [])]  # buffer 0: the empty sentinel
        tensor_offsets = []
        for i, t in enumerate(self.tensors):
            buffer_index = 0
            if t.data is not None:
                buffers.append(_table(b, [(0, "offset", _bytes_vector(b, t.data))]))
                buffer_index = len(buffers) - 1
            name = shared if shared is not None and t.name is None else b.CreateString(
                t.name or f"t{i}")
            fields: list[tuple[int, str, Any]] = [
                (0, "offset", _int_vector(b, t.shape)), (1, "i8", t.dtype), (2, "u32", buffer_index),
                (3, "offset", name)]
            if t.scale is not None:
                fields.append((4, "offset", _quant(b, t.scale, t.zero_point or (0,),
                                                   t.quantized_dimension)))
            tensor_offsets.append(_table(b, fields))
        codes = sorted({op.code for op in self.ops})
        code_offsets = [_table(b, [(0, "i8", min(c, 127)), (2, "i32", 1), (3, "i32", c)])
                        for c in codes]
        self._code_index = {c: i for i, c in enumerate(codes)}
        op_offsets = [self._op(b, op) for op in self.ops]
        subgraph = _table(b, [
            (0, "offset", _offset_vector(b, tensor_offsets)),
            (1, "offset", _int_vector(b, self.inputs)), (2, "offset", _int_vector(b, self.outputs)),
            (3, "offset", _offset_vector(b, [self._op_with_code(b, o, op) for o, op in
                                              zip(op_offsets, self.ops, strict=True)])),
            (4, "offset", b.CreateString("main"))])
        model = _table(b, [
            (0, "u32", 3), (1, "offset", _offset_vector(b, code_offsets)),
            (2, "offset", _offset_vector(b, [subgraph])),
            (3, "offset", b.CreateString("made by tests/support/badgen.py")),
            (4, "offset", _offset_vector(b, buffers))])
        b.Finish(model, file_identifier=b"TFL3")
        return bytes(b.Output())

    def _op(self, b: flatbuffers.Builder, op: OpSpec) -> int | None:
        if not op.int_options and not op.byte_options and not op.float_options:
            return None
        fields: list[tuple[int, str, Any]] = [(i, "i8", v) for i, v in op.byte_options.items()]
        fields += [(i, "i32", v) for i, v in op.int_options.items()]
        fields += [(i, "f32", v) for i, v in op.float_options.items()]
        return _table(b, fields)

    def _op_with_code(self, b: flatbuffers.Builder, options: int | None, op: OpSpec) -> int:
        fields: list[tuple[int, str, Any]] = [
            (0, "u32", self._code_index[op.code]), (1, "offset", _int_vector(b, op.inputs)),
            (2, "offset", _int_vector(b, op.outputs))]
        if options is not None:
            fields += [(3, "u8", op.options_type), (4, "offset", options)]
        return _table(b, fields)


def _table(b: flatbuffers.Builder, fields: list[tuple[int, str, Any]]) -> int:
    """A table of ``(field index, kind, value)``; every field is written, even a default value."""
    b.ForceDefaults(True)
    b.StartObject(max((i for i, _, _ in fields), default=-1) + 1)
    for index, kind, value in fields:
        if kind == "offset":
            b.PrependUOffsetTRelativeSlot(index, value, 0)
        else:
            _SLOTS[kind](b, index, value, 0)
    return int(b.EndObject())


_SLOTS: dict[str, Callable[..., None]] = {
    "i8": flatbuffers.Builder.PrependInt8Slot, "u8": flatbuffers.Builder.PrependUint8Slot,
    "u32": flatbuffers.Builder.PrependUint32Slot, "i32": flatbuffers.Builder.PrependInt32Slot,
    "f32": flatbuffers.Builder.PrependFloat32Slot,
}


def _int_vector(b: flatbuffers.Builder, values: Sequence[int]) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependInt32(v)
    return int(b.EndVector())


def _offset_vector(b: flatbuffers.Builder, offsets: Sequence[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for o in reversed(offsets):
        b.PrependUOffsetTRelative(o)
    return int(b.EndVector())


def _bytes_vector(b: flatbuffers.Builder, data: bytes) -> int:
    return int(b.CreateByteVector(data))


def _quant(b: flatbuffers.Builder, scale: Sequence[float], zero_point: Sequence[int],
           axis: int = 0) -> int:
    b.StartVector(4, len(scale), 4)
    for s in reversed(scale):
        b.PrependFloat32(s)
    scales = b.EndVector()
    b.StartVector(8, len(zero_point), 8)
    for z in reversed(zero_point):
        b.PrependInt64(z)
    zps = b.EndVector()
    return _table(b, [(2, "offset", scales), (3, "offset", zps), (6, "i32", axis)])


def fc_model(in_shape: Sequence[int] = (1, 8), units: int = 4) -> TfliteBuilder:
    """A valid one-operator int8 model: FULLY_CONNECTED with constant weights and bias."""
    depth = in_shape[-1]
    m = TfliteBuilder()
    x = m.tensor(TensorSpec(in_shape, name="input"))
    w = m.tensor(TensorSpec((units, depth), data=bytes(units * depth), scale=(0.01,), name="weights"))
    bias = m.tensor(TensorSpec((units,), INT32, data=bytes(4 * units), scale=(0.0005,), name="bias"))
    y = m.tensor(TensorSpec((1, units), scale=(0.1,), zero_point=(-3,), name="output"))
    m.ops.append(OpSpec(FULLY_CONNECTED, (x, w, bias), (y,)))
    m.inputs, m.outputs = [x], [y]
    return m


def conv_model(stride: int = 1, in_hw: int = 8, channels: int = 2, filters: int = 4) -> TfliteBuilder:
    """A one-operator CONV_2D model, 3x3 VALID, with a chosen stride (0 is a broken file).

    Tensors: 0 input, 1 filter, 2 output, 3 the int32 bias (TFLite's int8 CONV_2D needs one)."""
    m = TfliteBuilder()
    x = m.tensor(TensorSpec((1, in_hw, in_hw, channels), name="input"))
    w = m.tensor(TensorSpec((filters, 3, 3, channels), data=bytes(filters * 9 * channels),
                            scale=(0.01,), name="filter"))
    out_hw = (in_hw - 3) // max(stride, 1) + 1
    y = m.tensor(TensorSpec((1, out_hw, out_hw, filters), scale=(0.1,), name="conv_out"))
    bias = m.tensor(TensorSpec((filters,), INT32, data=bytes(4 * filters), scale=(0.0005,),
                               name="conv_bias"))
    m.ops.append(OpSpec(CONV_2D, (x, w, bias), (y,), options_type=1, byte_options={0: 1},
                        int_options={1: stride, 2: stride, 4: 1, 5: 1}))
    m.inputs, m.outputs = [x], [y]
    return m


def huge_tensor_model(shape: Sequence[int] = (1, 32768, 65536, 1)) -> bytes:
    """A model declaring an activation of 2^31 elements (no data: it would be 2 GB)."""
    m = TfliteBuilder()
    x = m.tensor(TensorSpec(shape, name="huge_input"))
    y = m.tensor(TensorSpec(shape, name="huge_output"))
    m.ops.append(OpSpec(RESHAPE, (x,), (y,)))
    m.inputs, m.outputs = [x], [y]
    return m.build()


def shared_name_bomb(tensors: int = 20000, name_bytes: int = 100_000) -> bytes:
    """Thousands of tensors whose names all point at one 100 KB string: a small file, costly to read."""
    m = fc_model()
    m.shared_name = "n" * name_bytes
    for _ in range(tensors):
        m.tensor(TensorSpec((1,), scale=None))
    return m.build()


# ---- mutations of real files ------------------------------------------------------------------------


def table_positions(data: bytes) -> tuple[list[int], list[int]]:
    """(table starts, vtable starts) of a TFLite file's model, subgraphs, tensors, operators, buffers."""
    model = root(data, "seed", b"TFL3")
    tables: list[Table] = [model]
    for sg in model.vector_tables(2):
        tables.append(sg)
        for field_index in (0, 3):
            tables += sg.vector_tables(field_index)
    tables += model.vector_tables(1) + model.vector_tables(4)
    return sorted({t.pos for t in tables}), sorted({t.vt for t in tables})


_INTERESTING32 = (0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000,
                  0xFFFFFFFF, 0xFFFFFFFE, 0x10000, 0x40000000)


class Mutator:
    """Byte flips, truncation, splices and targeted vtable / offset damage of one seed file."""

    def __init__(self, seed_file: bytes) -> None:
        self.seed = seed_file
        self.tables, self.vtables = table_positions(seed_file)

    def mutate(self, rng: random.Random) -> bytes:
        data = bytearray(self.seed)
        for _ in range(rng.choice((1, 1, 1, 2, 3, 6))):
            data = rng.choice(self._mutations)(self, data, rng)
        return bytes(data)

    def _flip_byte(self, d: bytearray, rng: random.Random) -> bytearray:
        if d:
            d[rng.randrange(len(d))] = rng.randrange(256)
        return d

    def _flip_bit(self, d: bytearray, rng: random.Random) -> bytearray:
        if d:
            d[rng.randrange(len(d))] ^= 1 << rng.randrange(8)
        return d

    def _word(self, d: bytearray, rng: random.Random) -> bytearray:
        if len(d) >= 8:
            pos = rng.randrange(0, len(d) - 4, 4)
            value = rng.choice((*_INTERESTING32, rng.randrange(len(d)), rng.randrange(2**32)))
            d[pos : pos + 4] = value.to_bytes(4, "little")
        return d

    def _truncate(self, d: bytearray, rng: random.Random) -> bytearray:
        return d[: rng.randrange(len(d) + 1)]

    def _splice(self, d: bytearray, rng: random.Random) -> bytearray:
        if len(d) < 2:
            return d
        a, b, n = rng.randrange(len(d)), rng.randrange(len(d)), rng.randrange(1, 64)
        chunk = bytes(d[b : b + n])
        if rng.random() < 0.5:
            d[a : a + len(chunk)] = chunk  # overwrite
        else:
            d[a:a] = chunk  # insert: every later offset moves
        return d

    def _delete(self, d: bytearray, rng: random.Random) -> bytearray:
        if d:
            a = rng.randrange(len(d))
            del d[a : a + rng.randrange(1, 16)]
        return d

    def _vtable_entry(self, d: bytearray, rng: random.Random) -> bytearray:
        vt = rng.choice(self.vtables)
        if vt + 4 <= len(d):
            size = int.from_bytes(d[vt : vt + 2], "little")
            pos = vt + 2 * rng.randrange(max(size // 2, 1))
            value = rng.choice((0, 2, 4, rng.randrange(64) * 2, rng.randrange(65536)))
            d[pos : pos + 2] = value.to_bytes(2, "little")[: len(d) - pos]
        return d

    def _table_soffset(self, d: bytearray, rng: random.Random) -> bytearray:
        pos = rng.choice(self.tables)
        if pos + 4 <= len(d):
            value = rng.choice((rng.randrange(-64, 64), rng.randrange(-(2**31), 2**31)))
            d[pos : pos + 4] = value.to_bytes(4, "little", signed=True)
        return d

    def _table_field(self, d: bytearray, rng: random.Random) -> bytearray:
        """Overwrite a field of a table (an offset, an index or a scalar) with a chosen value."""
        pos = rng.choice(self.tables) + 4 * rng.randrange(1, 6)
        if pos + 4 <= len(d):
            value = rng.choice((*_INTERESTING32, rng.randrange(len(d))))
            d[pos : pos + 4] = value.to_bytes(4, "little")
        return d

    _mutations: tuple[Callable[[Mutator, bytearray, random.Random], bytearray], ...] = (
        _flip_byte, _flip_bit, _word, _truncate, _splice, _delete, _vtable_entry, _vtable_entry,
        _table_soffset, _table_field, _table_field,
    )


def cut(data: bytes, at: int) -> bytes:
    """``data`` truncated at ``at`` (negative: counted from the end)."""
    return data[:at] if at >= 0 else data[: len(data) + at]


def flip(data: bytes, positions: Sequence[int], value: int = 0xFF) -> bytes:
    out = bytearray(data)
    for p in positions:
        out[p] = value
    return bytes(out)


# ---- Keras files that are not models ------------------------------------------------------------------


def junk_zip(path: Path) -> Path:
    """A .keras that is a valid zip with nothing a Keras archive holds."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "not a model")
        z.writestr("weights.bin", np.random.default_rng(0).bytes(512))
    return path


def not_hdf5(path: Path) -> Path:
    path.write_bytes(b"\x89HDF\r\n" + np.random.default_rng(1).bytes(200))
    return path


def text_file(path: Path) -> Path:
    path.write_text("this is a text file with a model's name\n")
    return path


# ---- random YAML documents for the board loader -------------------------------------------------------

_SCALARS: tuple[Callable[[random.Random], str], ...] = (
    lambda r: str(r.randrange(-(2**40), 2**40)),
    lambda r: f"{r.uniform(-1e6, 1e6):g}",
    lambda r: r.choice(("true", "no", "null", "~", ".nan", "-.inf", "0x20000000", "0o17", "1e400")),
    lambda r: r.choice(("'256KB'", "'1MB'", "'4 kb'", "'XB'", "''", "\"\\x00\"", "!!binary aGk=",
                        "2001-12-14", "'cortex-m4f'", "sp", "ram", "flash", "pdm", "rgb565")),
    lambda r: "'" + "".join(r.choice("abc_-./0x9 ") for _ in range(r.randrange(12))) + "'",
)
BOARD_KEYS = ("name", "display_name", "vendor", "mcu", "core", "fpu", "clock_hz", "memory", "sram",
              "flash", "stack_bytes", "regions", "origin", "length", "kind", "reserved", "platformio",
              "platform", "board", "framework", "local_platform", "zephyr", "peripherals",
              "microphone", "camera", "imu", "sample_rate_hz", "width", "height", "pixel_format",
              "emulator", "machine", "cpu", "extra_args", "url", "notes", "sramm", "1", "null")


def random_yaml(rng: random.Random, depth: int = 0) -> str:
    """A random YAML document in flow style, mostly built from board field names."""
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice(_SCALARS)(rng)
    if roll < 0.55:
        return "[" + ", ".join(random_yaml(rng, depth + 1) for _ in range(rng.randrange(4))) + "]"
    items = [f"{rng.choice(BOARD_KEYS)}: {random_yaml(rng, depth + 1)}" for _ in range(rng.randrange(6))]
    return "{" + ", ".join(items) + "}"


def mutate_text(text: str, rng: random.Random) -> str:
    """A board YAML with a few characters changed, lines dropped or duplicated."""
    lines = text.splitlines()
    for _ in range(rng.randrange(1, 4)):
        roll = rng.random()
        if not lines:
            break
        i = rng.randrange(len(lines))
        if roll < 0.3:
            del lines[i]
        elif roll < 0.5:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif roll < 0.8 and lines[i]:
            j = rng.randrange(len(lines[i]))
            lines[i] = lines[i][:j] + rng.choice(":-[]{}#&*!|>'\" \t0xKB\x00\u00e9") + lines[i][j + 1:]
        else:
            key, _, _ = lines[i].partition(":")
            lines[i] = f"{key}: {rng.choice(_SCALARS)(rng)}"
    return "\n".join(lines) + "\n"


# ---- the named inputs of tests/bad_inputs/expected.yaml ----------------------------------------------


def _tiny() -> bytes:
    from tests.support.tinymodel import tiny_tflite

    return tiny_tflite()


def _tiny_cut(at: int) -> Callable[[Path], object]:
    return lambda path: path.write_bytes(cut(_tiny(), at))


def _tiny_damaged(damage: Callable[[bytes], bytes]) -> Callable[[Path], object]:
    return lambda path: path.write_bytes(damage(_tiny()))


def _vtable_size(data: bytes) -> bytes:
    _, vtables = table_positions(data)
    return flip(data, [vtables[0]], 0x03)  # an odd vtable size


def _table_offset(data: bytes) -> bytes:
    tables, _ = table_positions(data)
    return flip(data, [tables[1] + 1], 0x40)  # a subgraph's vtable now lies far outside the file


def _write(build: Callable[[], bytes]) -> Callable[[Path], object]:
    return lambda path: path.write_bytes(build())


def _stride_zero() -> bytes:
    return conv_model(stride=0).build()


def _unwritten_input() -> bytes:
    m = fc_model()
    y = m.outputs[0]
    z = m.tensor(TensorSpec((1, 4), scale=(0.1,), name="reshaped"))
    m.ops.insert(0, OpSpec(RESHAPE, (y,), (z,)))  # reads the FC output before the FC runs
    m.outputs = [z]
    return m.build()


def _zero_scale() -> bytes:
    m = fc_model()
    m.tensors[m.outputs[0]].scale = (0.0,)
    return m.build()


def _fc_output_shape() -> bytes:
    m = fc_model()
    m.tensors[m.outputs[0]].shape = (1, 5)
    return m.build()


def _lstm_op() -> bytes:
    m = TfliteBuilder()
    x = m.tensor(TensorSpec((1, 10, 4), name="sequence"))
    y = m.tensor(TensorSpec((1, 10, 8), name="lstm_out"))
    m.ops.append(OpSpec(44, (x,), (y,)))  # UNIDIRECTIONAL_SEQUENCE_LSTM
    m.inputs, m.outputs = [x], [y]
    return m.build()


def _big_constants() -> bytes:
    """1.2 MB of FC weights behind a kws-shaped input: more flash than a Nano 33 BLE has."""
    return fc_model((1, 490), 2500).build()


def _image_model() -> bytes:
    m = TfliteBuilder()
    x = m.tensor(TensorSpec((1, 32, 32, 3), name="image"))
    w = m.tensor(TensorSpec((4, 3, 3, 3), data=bytes(108), scale=(0.01,), name="filter"))
    y = m.tensor(TensorSpec((1, 30, 30, 4), scale=(0.1,), name="conv_out"))
    bias = m.tensor(TensorSpec((4,), INT32, data=bytes(16), scale=(0.0005,), name="conv_bias"))
    m.ops.append(OpSpec(CONV_2D, (x, w, bias), (y,), options_type=1, byte_options={0: 1},
                        int_options={1: 1, 2: 1, 4: 1, 5: 1}))
    m.inputs, m.outputs = [x], [y]
    return m.build()


def _keras_save(build: Callable[[Any], Any]) -> Callable[[Path], object]:
    def make(path: Path) -> None:
        import keras

        keras.utils.set_random_seed(3)
        registered = set(keras.saving.get_custom_objects())
        build(keras).save(path)
        for name in set(keras.saving.get_custom_objects()) - registered:
            del keras.saving.get_custom_objects()[name]  # as in a fresh process: class unknown

    return make


def _custom_layer_model(keras: Any) -> Any:
    # registered in this process only: the CLI cannot load it
    @keras.saving.register_keras_serializable(package="badgen")
    class Doubler(keras.layers.Layer):  # type: ignore[misc]
        def call(self, x: Any) -> Any:
            return x * 2.0

    inp = keras.Input((8, 8, 2))
    return keras.Model(inp, Doubler(name="doubler")(keras.layers.Conv2D(4, 3)(inp)))


def _lstm_model(keras: Any) -> Any:
    """A stateful LSTM: its state kept across calls (mcuforge resets it every inference)."""
    inp = keras.Input(batch_shape=(1, 10, 4))
    lstm = keras.layers.LSTM(8, stateful=True, name="lstm")
    return keras.Model(inp, keras.layers.Dense(3)(lstm(inp)))


def _gru_model(keras: Any) -> Any:
    inp = keras.Input((10, 4))
    rnn = keras.layers.Bidirectional(keras.layers.GRU(8), name="bigru")(inp)
    return keras.Model(inp, keras.layers.Dense(3)(rnn))


def _elu_model(keras: Any) -> Any:
    """ELU converts to TFLite's ELU operator, which mcuforge does not compile."""
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Activation("elu", name="elu")(keras.layers.Conv2D(4, 3)(inp))
    return keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(x)))


def _small_model(keras: Any) -> Any:
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inp)
    return keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))


def _float_tflite(path: Path) -> None:
    """A batch-1 float model converted without quantisation."""
    import keras
    import tensorflow as tf

    from generator.importer.keras_import import quiet_native_output

    inp = keras.Input(batch_shape=(1, 8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    with quiet_native_output():
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def _while_tflite(path: Path) -> None:
    """A float LSTM converted as TFLite does today: a WHILE loop over extra subgraphs."""
    import keras
    import tensorflow as tf

    from generator.importer.keras_import import quiet_native_output

    inp = keras.Input(batch_shape=(1, 10, 4))
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.LSTM(8)(inp)))
    with quiet_native_output():
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def _npz(**arrays: Any) -> Callable[[Path], object]:
    return lambda path: np.savez(path, **arrays)


def _npy(array: Any) -> Callable[[Path], object]:
    return lambda path: np.save(path, array)


def _project(path: Path, manifest: str) -> None:
    path.mkdir()
    (path / "mcuforge.json").write_text(manifest)


def _deep_yaml(path: Path) -> None:
    path.write_text("name: deep\nnotes: " + "[" * 20000 + "]" * 20000 + "\n")


_RNG = np.random.default_rng(5)

MAKERS: dict[str, Callable[[Path], object]] = {
    "tiny.tflite": _tiny_cut(1 << 30),
    "cut_0.tflite": _tiny_cut(0),
    "cut_7.tflite": _tiny_cut(7),
    "cut_8.tflite": _tiny_cut(8),
    "cut_64.tflite": _tiny_cut(64),
    "cut_1000.tflite": _tiny_cut(1000),
    "cut_minus_200.tflite": _tiny_cut(-200),
    "cut_minus_1.tflite": _tiny_cut(-1),
    "wrong_identifier.tflite": _tiny_damaged(lambda d: flip(d, [4, 5, 6, 7], ord("X"))),
    "root_offset.tflite": _tiny_damaged(lambda d: flip(d, [1, 2], 0x7F)),
    "vtable_size.tflite": _tiny_damaged(_vtable_size),
    "table_offset.tflite": _tiny_damaged(_table_offset),
    "stride_zero.tflite": _write(_stride_zero),
    "huge_tensor.tflite": _write(huge_tensor_model),
    "overflow_shape.tflite": _write(lambda: huge_tensor_model((65536, 65536, 65536, 65536))),
    "name_bomb.tflite": _write(shared_name_bomb),
    "unwritten_input.tflite": _write(_unwritten_input),
    "zero_scale.tflite": _write(_zero_scale),
    "fc_output_shape.tflite": _write(_fc_output_shape),
    "lstm_op.tflite": _write(_lstm_op),
    "big_constants.tflite": _write(_big_constants),
    "image_32x32x3.tflite": _write(_image_model),
    "float.tflite": _float_tflite,
    "while.tflite": _while_tflite,
    "junk.keras": junk_zip,
    "not_hdf5.h5": not_hdf5,
    "custom_layer.keras": _keras_save(_custom_layer_model),
    "lstm.keras": _keras_save(_lstm_model),
    "bigru.keras": _keras_save(_gru_model),
    "elu.keras": _keras_save(_elu_model),
    "small.keras": _keras_save(_small_model),
    "prune_data.npz": _npz(x=_RNG.uniform(0, 1, (24, 8, 8, 3)).astype(np.float32),
                           y=np.arange(24) % 2),
    "calib_empty.npz": _npz(),
    "calib_strings.npy": _npy(np.array(["a", "b"])),
    "calib_nan.npy": _npy(np.full((4, 8, 8, 3), np.nan, np.float32)),
    "input_7_values.npy": _npy(np.zeros(7, np.int8)),
    "board_deep_nesting.yaml": _deep_yaml,
    "app_config_deep_nesting.yaml": lambda path: path.write_text(
        "app: " + "[" * 20000 + "]" * 20000 + "\n"),
    "kws_fc.tflite": _write(lambda: fc_model((1, 490), 4).build()),
    "dir.tflite": lambda path: path.mkdir(),
    "project_without_manifest": lambda path: path.mkdir(),
    "project_manifest_list": lambda path: _project(path, "[]\n"),
    "project_manifest_no_targets": lambda path: _project(path, '{"targets": {"run_env": 3}}\n'),
    "project_manifest_not_json": lambda path: _project(path, "{not json\n"),
}


def _track_makers() -> None:
    """Makers of the per-track corpus files (``tests/support/badgen_*.py``, each with a ``MAKERS``
    dict and optionally a ``MADE_WITH_TENSORFLOW`` set) join the shared table."""
    import importlib
    import pkgutil

    import tests.support as support

    for info in sorted(pkgutil.iter_modules(support.__path__), key=lambda i: i.name):
        if info.name.startswith("badgen_"):
            module = importlib.import_module(f"tests.support.{info.name}")
            for name, make in module.MAKERS.items():
                if name in MAKERS:
                    raise ValueError(f"tests/support/{info.name}.py: maker {name} defined twice")
                MAKERS[name] = make
            _TRACK_TF.update(getattr(module, "MADE_WITH_TENSORFLOW", ()))


def attack_markers() -> list[Path]:
    """The files the corpus's injected commands would create (each maker module's ``MARKER``)."""
    import importlib
    import pkgutil

    import tests.support as support

    found = []
    for info in pkgutil.iter_modules(support.__path__):
        if info.name.startswith("badgen_"):
            marker = getattr(importlib.import_module(f"tests.support.{info.name}"), "MARKER", None)
            if marker:
                found.append(Path(marker))
    return found


_TRACK_TF: set[str] = set()
_track_makers()

MADE_WITH_TENSORFLOW = frozenset(
    name for name, make in MAKERS.items()
    if name.startswith("cut_") or name.endswith(".keras") or make in (_float_tflite, _while_tflite)
) | {"tiny.tflite", "wrong_identifier.tflite", "root_offset.tflite", "vtable_size.tflite",
     "table_offset.tflite"} | frozenset(_TRACK_TF)
"""Inputs that need TensorFlow to be made (the tiny converter output and its damaged copies)."""


# ---- random consistent graphs (then, optionally, one thing broken) -------------------------------------

_SAME, _VALID = 0, 1
PROB_SCALE, PROB_ZERO_POINT = 1 / 256, -128


def _window_out(size: int, k: int, stride: int, dilation: int, padding: int) -> int:
    if padding == _SAME:
        return (size + stride - 1) // stride
    return (size + stride - ((k - 1) * dilation + 1)) // stride


class _GraphMaker:
    """Grows a chain of supported operators with consistent shapes from a random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.m = TfliteBuilder()
        shape = (1, rng.randint(1, 9), rng.randint(1, 9), rng.randint(1, 5))
        self.x = self.act(shape)
        self.m.inputs = [self.x]

    def act(self, shape: Sequence[int], scale: float | None = None, zp: int | None = None) -> int:
        r = self.rng
        return self.m.tensor(TensorSpec(tuple(shape), scale=(scale or r.choice((0.02, 0.1, 0.5)),),
                                        zero_point=(r.randint(-128, 127) if zp is None else zp,)))

    def const(self, shape: Sequence[int], dtype: int = INT8, per_channel: int = 0,
              axis_values: Sequence[int] | None = None,
              quant: tuple[float, int] | None = None) -> int:
        n = int(np.prod(shape)) if shape else 1
        if axis_values is not None:
            data = np.asarray(axis_values, dtype=np.int32).tobytes()
        elif dtype == INT32:
            data = np.asarray([self.rng.randint(-5000, 5000) for _ in range(n)], np.int32).tobytes()
        else:
            data = bytes(self.rng.randrange(256) for _ in range(n))
        scale = tuple(self.rng.uniform(0.001, 0.05) for _ in range(per_channel or 1))
        if quant is not None:
            return self.m.tensor(TensorSpec(tuple(shape), dtype, data, (quant[0],), (quant[1],)))
        return self.m.tensor(TensorSpec(tuple(shape), dtype, data, scale, (0,) * len(scale)))

    def shape(self, t: int) -> tuple[int, ...]:
        return tuple(self.m.tensors[t].shape)

    def op(self, code: int, inputs: Sequence[int], out_shape: Sequence[int], options_type: int = 0,
           ints: dict[int, int] | None = None, bytes_: dict[int, int] | None = None,
           scale: float | None = None, zp: int | None = None) -> None:
        y = self.act(out_shape, scale, zp)
        self.m.ops.append(OpSpec(code, tuple(inputs), (y,), options_type, ints or {}, bytes_ or {}))
        self.x = y

    def step(self) -> None:
        rank4 = len(self.shape(self.x)) == 4
        choices = [self.eltwise, self.quantize, self.fc, self.prob]
        if rank4:
            choices += [self.conv, self.conv, self.dwconv, self.pool, self.pad, self.concat, self.mean,
                        self.flatten]
        self.rng.choice(choices)()

    def conv(self, depthwise: bool = False) -> None:
        r = self.rng
        _, h, w, c = self.shape(self.x)
        k, stride, dil, pad = r.randint(1, 3), r.randint(1, 2), r.choice((1, 1, 2)), r.choice((0, 1))
        oh, ow = (_window_out(s, k, stride, dil, pad) for s in (h, w))
        if min(oh, ow) < 1:
            return
        dm = r.choice((1, 1, 2)) if depthwise else 1
        f = c * dm if depthwise else r.randint(1, 8)
        per_channel = f if r.random() < 0.7 else 0
        wshape = (1, k, k, f) if depthwise else (f, k, k, c)
        weights = self.const(wshape, per_channel=per_channel)
        if per_channel and depthwise:
            self.m.tensors[weights].quantized_dimension = 3
        bias = self.const((f,), INT32)  # TFLite's int8 convolutions need a bias
        act = r.choice((0, 1, 3, 1, 2))
        if depthwise:
            self.op(4, (self.x, weights, bias), (1, oh, ow, f), 2,
                    {1: stride, 2: stride, 3: dm, 5: dil, 6: dil}, {0: pad, 4: act})
        else:
            self.op(3, (self.x, weights, bias), (1, oh, ow, f), 1, {1: stride, 2: stride, 4: dil,
                                                                     5: dil}, {0: pad, 3: act})

    def dwconv(self) -> None:
        self.conv(depthwise=True)

    def pool(self) -> None:
        r = self.rng
        _, h, w, c = self.shape(self.x)
        k, stride, pad = r.randint(1, 3), r.randint(1, 2), r.choice((0, 1))
        oh, ow = (_window_out(s, k, stride, 1, pad) for s in (h, w))
        if min(oh, ow) < 1:
            return
        q = self.m.tensors[self.x]
        self.op(r.choice((1, 17)), (self.x,), (1, oh, ow, c), 5, {1: stride, 2: stride, 3: k, 4: k},
                {0: pad, 5: r.choice((0, 1))}, q.scale[0] if q.scale else None,
                q.zero_point[0] if q.zero_point else None)

    def pad(self) -> None:
        r = self.rng
        pads = [(0, 0)] + [(r.randint(0, 2), r.randint(0, 2)) for _ in range(3)]
        paddings = self.const((4, 2), INT32, axis_values=[v for p in pads for v in p])
        shape = tuple(d + a + b for d, (a, b) in zip(self.shape(self.x), pads, strict=True))
        q = self.m.tensors[self.x]
        self.op(34, (self.x, paddings), shape, 0, None, None, q.scale[0] if q.scale else None,
                q.zero_point[0] if q.zero_point else None)

    def concat(self) -> None:
        q = self.m.tensors[self.x]  # TFLite's int8 CONCATENATION keeps the quantisation
        scale, zp = (q.scale or (0.1,))[0], (q.zero_point or (0,))[0]
        other = self.const(self.shape(self.x), quant=(scale, zp)) if self.rng.random() < 0.3 \
            else self.x
        shape = list(self.shape(self.x))
        axis = self.rng.choice((3, -1, 1))
        shape[axis] *= 2
        self.op(2, (self.x, other), shape, 10, {0: axis}, {1: 0}, scale, zp)

    def mean(self) -> None:
        axes = self.const((2,), INT32, axis_values=[1, 2])
        keep = self.rng.choice((0, 1))
        c = self.shape(self.x)[3]
        self.op(40, (self.x, axes), (1, 1, 1, c) if keep else (1, c), 27, None, {0: keep})

    def flatten(self) -> None:
        shape_t = self.const((2,), INT32, axis_values=[1, -1])
        q = self.m.tensors[self.x]
        self.op(22, (self.x, shape_t), (1, int(np.prod(self.shape(self.x)))), 0, None, None,
                q.scale[0] if q.scale else None, q.zero_point[0] if q.zero_point else None)

    def fc(self) -> None:
        depth = self.shape(self.x)[-1]
        units = self.rng.randint(1, 8)
        per_channel = units if self.rng.random() < 0.5 else 0
        w = self.const((units, depth), per_channel=per_channel)
        bias = self.const((units,), INT32) if self.rng.random() < 0.8 else -1
        x_scale, w_scale = self.m.tensors[self.x].scale, self.m.tensors[w].scale
        if bias >= 0 and x_scale and w_scale and len(w_scale) == 1:  # TFLite checks the bias scale
            self.m.tensors[bias].scale = (x_scale[0] * w_scale[0],)
        out = (*self.shape(self.x)[:-1], units)
        if len(out) > 2:
            self.op(9, (self.x, w, bias), out, 8, None, {0: self.rng.choice((0, 1)), 2: 1})
        else:
            self.op(9, (self.x, w, bias), out, 8, None, {0: self.rng.choice((0, 1))})

    def eltwise(self) -> None:
        shape = self.shape(self.x)
        other_shape = self.rng.choice((shape, shape[-1:], (), shape))
        other = self.x if self.rng.random() < 0.3 else self.const(other_shape)
        code = self.rng.choice((0, 18))
        self.op(code, (self.x, other), shape, 11 if code == 0 else 21, None,  # AddOptions, MulOptions
                {0: self.rng.choice((0, 1, 3))})

    def quantize(self) -> None:
        self.op(114, (self.x,), self.shape(self.x))

    def prob(self) -> None:
        code = self.rng.choice((25, 14))
        self.op(code, (self.x,), self.shape(self.x), 9 if code == 25 else 0, None, None,
                PROB_SCALE, PROB_ZERO_POINT)
        if code == 25:  # SOFTMAX: SoftmaxOptions.beta
            self.m.ops[-1].float_options = {0: 1.0}

    def build(self, n_ops: int) -> TfliteBuilder:
        for _ in range(n_ops * 3):
            if len(self.m.ops) >= n_ops:
                break
            self.step()
        if not self.m.ops:
            self.quantize()
        self.m.outputs = [self.x]
        return self.m


def random_graph(rng: random.Random, n_ops: int = 4) -> TfliteBuilder:
    """A random chain of supported int8 operators with consistent shapes and quantisation."""
    return _GraphMaker(rng).build(n_ops)


def break_one_thing(m: TfliteBuilder, rng: random.Random) -> None:
    """Change one field of a consistent graph: a shape, a scale, a zero point, a dtype, an option,
    an operand index."""
    t = rng.choice(m.tensors)
    op = rng.choice(m.ops)
    what = rng.randrange(7)
    if what == 0 and t.shape:
        shape = list(t.shape)
        shape[rng.randrange(len(shape))] = rng.choice((0, 1, 2, 3, 7, 65536))
        t.shape = tuple(shape)
    elif what == 1:
        t.scale = (rng.choice((0.0, -1.0, 1e-30, 1e30, float("inf"), 0.5)),) * rng.choice((1, 2))
    elif what == 2:
        t.zero_point = (rng.choice((-129, 128, 0, 1000)),)
    elif what == 3:
        t.dtype = rng.choice((INT32, FLOAT32, 7, 3, 10, 1))
    elif what == 4 and op.int_options:
        op.int_options[rng.choice(list(op.int_options))] = rng.choice((-1, 0, 5, 2**31 - 1))
    elif what == 5:
        items = list(op.inputs)
        items[rng.randrange(len(items))] = rng.randrange(-1, len(m.tensors))
        op.inputs = tuple(items)
    elif op.byte_options:
        op.byte_options[rng.choice(list(op.byte_options))] = rng.choice((2, 4, 5, 127))
