"""The one place mcuforge opens files a user names: checked, bounded, never blocking.

Every reader here follows the same order, so a hostile file costs nothing before it is refused:

1. ``os.stat`` the path: only a regular file goes on (a FIFO, device or socket is refused before it is
   opened, so ``/dev/zero`` or a named pipe can neither block nor feed data forever); a directory only
   where one is allowed (a SavedModel, a data-set folder);
2. open with ``O_NONBLOCK`` and check again on the open descriptor (the path may have been swapped);
3. compare the size with a cap, and for containers the sizes *declared in their headers* (``.npy``
   shape x dtype, every ``.npz`` member's header and zip-declared size, WAV frames x channels x
   width, image width x height) with a cap and with what the file holds, before anything is
   allocated;
4. only then read.

YAML is parsed by :func:`parse_yaml`: anchors and aliases are refused (no expansion bombs), nesting
is bounded, and only plain data comes out (str, int, float, bool, None, list, dict; no timestamps,
binaries, sets or Python objects; duplicate keys are refused).

The caps (generous for real use; each message gives the numbers):

* text files (board YAML, app config, labels): :data:`MAX_TEXT_BYTES` (1 MiB);
* ``.tflite`` models: :data:`MAX_MODEL_BYTES` (256 MiB; flatbuffers stop at 2 GiB, MCUs at megabytes);
* one decoded array (``.npy``, an ``.npz`` member, and an ``.npz`` in total) and a whole data set
  folder: :data:`MAX_ARRAY_BYTES` (1 GiB);
* replay data compiled into firmware: :data:`MAX_REPLAY_BYTES` (16 MiB);
* WAV files: :data:`MAX_WAV_SECONDS` (10 minutes) at their own sample rate;
* images: :data:`MAX_IMAGE_PIXELS` (4096 x 4096 pixels).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import stat
import struct
import wave
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np
import numpy.typing as npt
import yaml

from generator.errors import InputError

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
MAX_TEXT_BYTES = 1 * MiB
MAX_MODEL_BYTES = 256 * MiB
MAX_ARRAY_BYTES = 1 * GiB
MAX_REPLAY_BYTES = 16 * MiB
MAX_WAV_SECONDS = 600
MAX_IMAGE_SIDE = 4096
MAX_IMAGE_PIXELS = MAX_IMAGE_SIDE * MAX_IMAGE_SIDE
MAX_YAML_DEPTH = 32
MAX_NPZ_MEMBERS = 1024
MAX_TREE_ENTRIES = 100_000
_NETPBM_HEADER_BYTES = 4 * KiB

_REGULAR_HINT = "give a regular file (mcuforge does not read pipes, devices or sockets)"


# ---- the path and the open file ------------------------------------------------------------------


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "Is a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode):
        return "a character device, not a regular file"
    if stat.S_ISBLK(mode):
        return "a block device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    return "not a regular file"


def stat_input(path: Path, what: str, *, allow_dir: bool = False) -> os.stat_result:
    """``os.stat`` of an input path; anything but a regular file (or an allowed directory) is an
    :class:`InputError` naming the path and what it is. Nothing is opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file or directory", f"check the {what} path") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc.strerror})",
                         f"check the {what} path") from None
    except ValueError:  # a NUL byte in the path
        raise InputError(f"{path!r}: cannot read the {what} (the path contains a NUL byte)",
                         f"check the {what} path") from None
    if stat.S_ISREG(st.st_mode) or (allow_dir and stat.S_ISDIR(st.st_mode)):
        return st
    hint = f"check the {what} path" if stat.S_ISDIR(st.st_mode) else _REGULAR_HINT
    raise InputError(f"{path}: cannot read the {what} ({_kind(st.st_mode)})", hint)


@contextlib.contextmanager
def open_input(path: Path, what: str) -> Iterator[IO[bytes]]:
    """A regular file opened for reading; checked by ``stat`` before and ``fstat`` after opening."""
    stat_input(path, what)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc.strerror})",
                         f"check the {what} path") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InputError(f"{path}: cannot read the {what} ({_kind(mode)})", _REGULAR_HINT)
    with os.fdopen(fd, "rb") as stream:
        try:
            yield stream
        except OSError as exc:
            raise InputError(f"{path}: cannot read the {what} ({exc.strerror or exc})",
                             f"check the {what} file") from None


def _too_big(path: Path, what: str, size: int, limit: int, unit: str = "bytes") -> InputError:
    return InputError(f"{path}: the {what} is {size:,} {unit}, more than the {limit:,} {unit} "
                      "mcuforge reads", f"give a smaller {what}")


def read_bytes(path: Path, what: str, limit: int) -> bytes:
    """The whole content of a regular file of at most ``limit`` bytes."""
    with open_input(path, what) as stream:
        size = os.fstat(stream.fileno()).st_size
        if size > limit:
            raise _too_big(path, what, size, limit)
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise _too_big(path, what, len(data), limit)
    return data


def read_text(path: Path, what: str, limit: int = MAX_TEXT_BYTES) -> str:
    """UTF-8 text (a leading byte-order mark is dropped); other bytes name their offset."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        raise InputError(f"{path}: byte {start} is not UTF-8 text (0x{data[start]:02x}); the "
                         f"{what} must be UTF-8 text", f"save the {what} as UTF-8") from None


def sha256_update(digest: Any, path: Path, what: str, chunk: int = MiB) -> None:
    """Feed a regular file to a hashlib digest in chunks (never the whole file in memory)."""
    with open_input(path, what) as stream:
        while block := stream.read(chunk):
            digest.update(block)


def check_tree(path: Path, what: str, limit: int = MAX_TREE_ENTRIES) -> None:
    """Every entry under a directory input is a regular file or a directory (no FIFO or device a
    library could block on), and there are at most ``limit`` of them."""
    seen = 0
    for root, dirs, files in os.walk(path, followlinks=False):
        seen += len(dirs) + len(files)
        if seen > limit:
            raise InputError(f"{path}: the {what} holds more than {limit:,} entries",
                             f"check the {what} path")
        for name in files:
            stat_input(Path(root) / name, what)
        for name in dirs:
            if os.path.islink(Path(root) / name):
                stat_input(Path(root) / name, what, allow_dir=True)


def check_model_path(path: Path) -> None:
    """A model path: a regular file, or a SavedModel directory of regular files; a ``.keras`` zip
    whose members declare more than :data:`MAX_ARRAY_BYTES` in all is refused before Keras opens it."""
    st = stat_input(path, "model", allow_dir=path.suffix != ".tflite")
    if stat.S_ISDIR(st.st_mode):
        check_tree(path, "model")
    elif path.suffix == ".keras" and is_zip(path, "model"):
        _check_archive(path, "model", MAX_ARRAY_BYTES)
        _check_archived_hdf5(path)
    elif path.suffix in (".h5", ".hdf5"):
        with open_input(path, "model") as stream:
            check_hdf5(stream, str(path))


def _check_archive(path: Path, what: str, limit: int) -> None:
    """A zip's members, as its directory declares them: at most ``limit`` bytes unpacked."""
    with open_input(path, what) as stream:
        try:
            with zipfile.ZipFile(stream) as zf:
                members = zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError,
                struct.error):
            return  # not a readable zip: the loader says what is wrong with it
    total = sum(m.file_size for m in members)
    if len(members) > MAX_TREE_ENTRIES or total > limit:
        raise InputError(f"{path}: the {what} archive declares {len(members):,} members of "
                         f"{total:,} bytes unpacked, more than the {limit:,} bytes mcuforge opens",
                         f"give a smaller {what}")


MAX_HDF5_OBJECTS = 100_000
MAX_HDF5_DEPTH = 64


def check_hdf5(source: IO[bytes], where: str) -> None:
    """Refuse an HDF5 file (a Keras ``.h5``, the weights in a ``.keras``) whose data lives outside
    it: external links, datasets stored in other files, virtual datasets. HDF5 would otherwise read
    any file of the host (or block on a pipe) as weights. A file h5py cannot open is left to the
    loader, which says what is wrong with it."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - nothing could read the model without h5py
        return
    try:
        handle = h5py.File(source, "r")
    except (OSError, ValueError, RuntimeError):
        return
    with handle:
        _walk_hdf5(h5py, handle, where, [0], 0)


def _walk_hdf5(h5py: Any, group: Any, where: str, seen: list[int], depth: int) -> None:
    if depth > MAX_HDF5_DEPTH:
        raise InputError(f"{where}: HDF5 groups nested more than {MAX_HDF5_DEPTH} deep",
                         "give a model saved by Keras")
    for name in group:
        seen[0] += 1
        if seen[0] > MAX_HDF5_OBJECTS:
            raise InputError(f"{where}: holds more than {MAX_HDF5_OBJECTS:,} HDF5 objects",
                             "give a model saved by Keras")
        link = group.get(name, getlink=True)
        here = f"{group.name.rstrip('/')}/{name}"
        if isinstance(link, h5py.SoftLink):
            continue  # a name for an object of this file, visited where it lives
        if not isinstance(link, h5py.HardLink):
            target = getattr(link, "filename", "another file")
            raise InputError(f"{where}: '{here}' links to {target}; mcuforge reads only models "
                             "that hold all their data", "save the model again with Keras")
        _check_hdf5_object(h5py, group.get(name), here, where, seen, depth)


def _check_hdf5_object(h5py: Any, obj: Any, here: str, where: str, seen: list[int],
                       depth: int) -> None:
    if isinstance(obj, h5py.Group):
        _walk_hdf5(h5py, obj, where, seen, depth + 1)
    elif isinstance(obj, h5py.Dataset) and (obj.external or obj.is_virtual):
        source = obj.external[0][0] if obj.external else "other files (a virtual dataset)"
        raise InputError(f"{where}: dataset '{here}' keeps its data in {source}; mcuforge reads "
                         "only models that hold all their data", "save the model again with Keras")


def _check_archived_hdf5(path: Path) -> None:
    """The HDF5 members of a ``.keras`` archive (its weights), checked by :func:`check_hdf5`."""
    with open_input(path, "model") as stream:
        try:
            with zipfile.ZipFile(stream) as zf:
                for member in zf.infolist():
                    if member.filename.endswith((".h5", ".hdf5")):
                        with zf.open(member) as inner:
                            data = io.BytesIO(inner.read(MAX_ARRAY_BYTES + 1))
                        check_hdf5(data, f"{path}: {member.filename}")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, RuntimeError,
                NotImplementedError, ValueError, struct.error):
            return  # not a readable archive: the loader says what is wrong with it


# ---- YAML ----------------------------------------------------------------------------------------

_DROPPED_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in
                          ("timestamp", "binary", "set", "omap", "pairs"))


class _Resolver(yaml.resolver.Resolver):  # type: ignore[misc]
    """YAML 1.1 implicit types without timestamps: ``2024-01-01`` stays a string."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, Any]]]] = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED_TAGS]
        for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    }


class _Constructor(yaml.constructor.SafeConstructor):  # type: ignore[misc]
    """Plain data only; a key given twice is an error, not a silent overwrite."""

    yaml_constructors: ClassVar[dict[str, Any]] = {tag: make for tag, make in
                         yaml.constructor.SafeConstructor.yaml_constructors.items()
                         if tag not in _DROPPED_TAGS}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                break  # the base class reports the unhashable key
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark)
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


if getattr(yaml, "__with_libyaml__", False):
    _ParserBase: Any = yaml.cyaml.CParser
    _ScanLoader: Any = yaml.CBaseLoader
else:  # pragma: no cover - PyYAML without libyaml
    _ParserBase = None
    _ScanLoader = yaml.BaseLoader


if _ParserBase is not None:
    class _CLoader(_ParserBase, _Constructor, _Resolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            _ParserBase.__init__(self, stream)
            _Constructor.__init__(self)
            _Resolver.__init__(self)

    _LOADER: Any = _CLoader
else:  # pragma: no cover
    class _PyLoader(yaml.reader.Reader, yaml.scanner.Scanner,  # type: ignore[misc]
                    yaml.parser.Parser, yaml.composer.Composer, _Constructor,  # type: ignore[misc]
                    _Resolver):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _Constructor.__init__(self)
            _Resolver.__init__(self)

    _LOADER = _PyLoader


def _yaml_error(source: str, exc: yaml.YAMLError) -> InputError:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return InputError(f"{source}: {where}not valid YAML ({problem})",
                      "fix the YAML syntax (indentation, colons, quotes)")


def _scan_events(text: str, source: str, max_depth: int) -> None:
    """Refuse anchors, aliases and deep nesting from the event stream, before anything is built."""
    depth = 0
    for event in yaml.parse(text, Loader=_ScanLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = event.start_mark
            raise InputError(f"{source}: line {mark.line + 1}: uses a YAML anchor or alias "
                             "(&name / *name), which mcuforge does not expand",
                             "write the values out in full")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > max_depth:
                raise InputError(f"{source}: YAML nested too deeply to read (more than "
                                 f"{max_depth} levels)", "flatten the file: mcuforge's YAML "
                                 "files are a few levels of mappings and lists")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def parse_yaml(text: str, source: str, max_depth: int = MAX_YAML_DEPTH) -> object:
    """Plain data from one YAML document: no anchors or aliases, at most ``max_depth`` levels."""
    try:
        _scan_events(text, source, max_depth)
        return yaml.load(text, Loader=_LOADER)  # plain data only: see _Constructor
    except yaml.YAMLError as exc:
        raise _yaml_error(source, exc) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        raise InputError(f"{source}: cannot read a value ({exc})",
                         "quote long or unusual values") from None


def load_yaml(path: Path, what: str, limit: int = MAX_TEXT_BYTES) -> object:
    """Plain data from a YAML file (see :func:`parse_yaml`), read with :func:`read_text`."""
    return parse_yaml(read_text(path, what, limit), str(path))


# ---- .npy and .npz -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    fortran: bool
    offset: int
    """Bytes of magic and header before the data."""

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.count * self.dtype.itemsize


def read_npy_header(stream: IO[bytes], where: str) -> NpyHeader:
    """The header of an ``.npy`` stream (left positioned at the data); object arrays are refused."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, EOFError, struct.error, SyntaxError, TypeError) as exc:
        raise InputError(f"{where}: not an .npy array ({exc})",
                         "save it with numpy.save") from None
    if any(d < 0 for d in shape):
        raise InputError(f"{where}: the array header gives a negative shape {tuple(shape)}",
                         "save it again with numpy.save")
    if dtype.hasobject:
        raise InputError(f"{where}: holds Python objects (dtype {dtype}), which mcuforge does not "
                         "load", "save numbers, e.g. x.astype(np.float32)")
    return NpyHeader(tuple(int(d) for d in shape), dtype, bool(fortran), stream.tell())


def _check_declared(header: NpyHeader, where: str, limit: int, available: int) -> None:
    if header.nbytes > limit:
        raise InputError(f"{where}: the array header declares shape {header.shape} of "
                         f"{header.dtype} = {header.nbytes:,} bytes, more than the {limit:,} bytes "
                         "mcuforge loads", "give a smaller array")
    if header.nbytes > available:
        raise InputError(f"{where}: the array header declares {header.nbytes:,} bytes of data, "
                         f"the file holds {available:,}", "the file is truncated: save it again")


def _read_npy(stream: IO[bytes], where: str, limit: int, size: int) -> npt.NDArray[Any]:
    header = read_npy_header(stream, where)
    _check_declared(header, where, limit, size - header.offset)
    arr: npt.NDArray[Any] = np.empty(header.count, dtype=header.dtype)
    view = arr.view(np.uint8).data if header.nbytes else memoryview(b"")
    got = 0
    while got < header.nbytes:  # straight into the (writable) array: no second copy
        n = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise InputError(f"{where}: the array data is truncated", "save it again")
        got += n
    return arr.reshape(header.shape, order="F" if header.fortran else "C")


def load_npy(path: Path, what: str, limit: int = MAX_ARRAY_BYTES) -> npt.NDArray[Any]:
    """One array from an ``.npy`` file, its header checked against ``limit`` and the file size."""
    with open_input(path, what) as stream:
        return _read_npy(stream, str(path), limit, os.fstat(stream.fileno()).st_size)


def _npz_members(zf: zipfile.ZipFile, path: Path, limit: int) -> list[zipfile.ZipInfo]:
    members = zf.infolist()
    if len(members) > MAX_NPZ_MEMBERS:
        raise InputError(f"{path}: the .npz holds {len(members):,} members, more than "
                         f"{MAX_NPZ_MEMBERS:,}", "save only the arrays needed")
    total = sum(m.file_size for m in members)
    for m in members:
        if m.file_size > limit or total > limit:
            raise InputError(f"{path}: member '{m.filename}' declares {m.file_size:,} bytes "
                             f"({total:,} in all), more than the {limit:,} bytes mcuforge loads",
                             "give a smaller data set")
    return members


def _read_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, where: str,
                 limit: int) -> npt.NDArray[Any]:
    with zf.open(member) as stream:
        if not member.filename.endswith(".npy"):
            return np.asarray(stream.read(limit + 1))  # as numpy.load: the raw bytes
        return _read_npy(stream, where, limit, member.file_size)


def load_npz(path: Path, what: str, names: tuple[str, ...] | None = None,
             limit: int = MAX_ARRAY_BYTES) -> dict[str, npt.NDArray[Any]]:
    """Arrays of an ``.npz`` by name (``x`` for ``x.npy``), in the archive's order: every member's
    zip-declared size is checked before any is decompressed, and each array's header before its data
    is read. ``names`` picks the members to load (others are not decompressed)."""
    with open_input(path, what) as stream:
        try:
            with zipfile.ZipFile(stream) as zf:
                members = _npz_members(zf, path, limit)
                return {m.filename.removesuffix(".npy"):
                        _read_member(zf, m, f"{path}: {m.filename}", limit)
                        for m in members
                        if names is None or m.filename.removesuffix(".npy") in names}
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, RuntimeError,
                NotImplementedError, ValueError, struct.error) as exc:
            raise InputError(f"{path}: not a readable .npz archive ({exc})",
                             "save it with numpy.savez") from None


def npz_names(path: Path, what: str) -> list[str]:
    """The array names of an ``.npz`` (nothing is decompressed)."""
    with open_input(path, what) as stream:
        try:
            with zipfile.ZipFile(stream) as zf:
                return [m.filename.removesuffix(".npy") for m in zf.infolist()]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError,
                struct.error) as exc:
            raise InputError(f"{path}: not a readable .npz archive ({exc})",
                             "save it with numpy.savez") from None


def is_zip(path: Path, what: str) -> bool:
    """Whether a regular file starts like a zip archive (an ``.npz``), by its first bytes."""
    with open_input(path, what) as stream:
        return stream.read(4) in (b"PK\x03\x04", b"PK\x05\x06")  # a member, or an empty zip


def load_array(path: Path, what: str, member: str = "x",
               limit: int = MAX_ARRAY_BYTES) -> npt.NDArray[Any] | None:
    """An ``.npy`` array, or from an ``.npz`` the array ``member`` (else the first; ``None`` when
    there is none), as :func:`numpy.load` would pick it."""
    if not is_zip(path, what):
        return load_npy(path, what, limit)
    names = npz_names(path, what)
    if not names:
        return None
    pick = member if member in names else names[0]
    return load_npz(path, what, (pick,), limit)[pick]


# ---- WAV -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Wav:
    channels: int
    sampwidth: int
    """Bytes per sample."""
    rate: int
    frames: bytes


def read_wav(path: Path, what: str, limit: int = MAX_ARRAY_BYTES,
             max_seconds: int = MAX_WAV_SECONDS) -> Wav:
    """A PCM WAV file, its frame count (from the header) checked against ``max_seconds`` at its own
    rate, ``limit`` bytes and the file size before the samples are read."""
    with open_input(path, what) as stream:
        size = os.fstat(stream.fileno()).st_size
        try:
            with wave.open(stream, "rb") as w:
                channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
                frames = w.getnframes()
                _check_wav_size(path, what, (channels, width, rate, frames), size, limit,
                                max_seconds)
                raw = w.readframes(frames)
        except (EOFError, wave.Error, struct.error, ValueError) as exc:
            raise InputError(f"{path}: cannot read as a WAV file ({exc or type(exc).__name__})",
                             "give a 16-bit PCM WAV file") from None
    return Wav(channels, width, rate, raw)


def _check_wav_size(path: Path, what: str, fmt: tuple[int, int, int, int], size: int, limit: int,
                    max_seconds: int) -> None:
    channels, width, rate, frames = fmt
    if rate <= 0:
        raise InputError(f"{path}: the WAV header gives a sample rate of {rate} Hz",
                         "give a WAV file with a real sample rate, e.g. 16000 Hz")
    nbytes = frames * channels * width
    if frames > max_seconds * rate or nbytes > limit:
        raise InputError(f"{path}: the WAV header declares {frames:,} frames x {channels} "
                         f"channel(s) x {width} byte(s) = {nbytes:,} bytes ({frames / rate:,.1f} s "
                         f"at {rate} Hz); mcuforge reads at most {max_seconds} s and "
                         f"{limit:,} bytes", f"cut the {what} to the part that is needed")
    if nbytes > size:
        raise InputError(f"{path}: the WAV header declares {nbytes:,} bytes of samples, the file "
                         f"holds {size:,} bytes", "the file is truncated: export it again")


# ---- images --------------------------------------------------------------------------------------


def check_pixels(width: int, height: int, where: str) -> None:
    """Image dimensions from a header: at least 1 x 1, at most :data:`MAX_IMAGE_PIXELS`."""
    if width < 1 or height < 1:
        raise InputError(f"{where}: the image header gives {width}x{height} pixels",
                         "give a real image")
    if width * height > MAX_IMAGE_PIXELS or max(width, height) > 4 * MAX_IMAGE_SIDE:
        raise InputError(f"{where}: the image is {width}x{height} = {width * height:,} pixels, "
                         f"more than the {MAX_IMAGE_PIXELS:,} ({MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}) "
                         "mcuforge decodes", "resize it to the camera frame or model input")


def png_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or ``None`` if ``head`` is not a PNG start."""
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


PIL_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".gif": "GIF"}
"""The one Pillow decoder each image suffix may use (never guessed from the content: Pillow's EPS
plugin, for one, would run Ghostscript on the file)."""


def read_image(path: Path, what: str) -> npt.NDArray[np.uint8]:
    """An image decoded by Pillow to (H, W, 3) RGB with the decoder its suffix names
    (:data:`PIL_FORMATS`), its size checked from the header first."""
    fmt = PIL_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unknown image format '{path.suffix}'",
                         f"give {', '.join(sorted(PIL_FORMATS))} or .ppm/.pgm images")
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        raise InputError(f"{path}: reading {path.suffix} needs Pillow",
                         "pip install pillow, or give .ppm/.pgm/.npy images") from None
    with open_input(path, what) as stream:
        size = png_size(stream.read(24))
        if size is not None:
            check_pixels(*size, str(path))
        stream.seek(0)
        try:
            with Image.open(stream, formats=[fmt]) as img:
                check_pixels(*img.size, str(path))
                return np.asarray(img.convert("RGB"), dtype=np.uint8)
        except InputError:
            raise
        except Exception as exc:  # Pillow's decoders raise many unrelated types
            raise InputError(f"{path}: not a readable image ({type(exc).__name__}: "
                             f"{str(exc)[:200]})", "re-export the image") from None


_NETPBM_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n?)*([^\s#]+)")


def _netpbm_header(head: bytes, where: str) -> tuple[bytes, int, int, int, int]:
    """(magic, width, height, maxval, data offset) of a binary netpbm header."""
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:
        m = _NETPBM_TOKEN.match(head, pos)
        if m is None:
            break
        tokens.append(m.group(1))
        pos = m.end()
    if (len(tokens) < 4 or tokens[0] not in (b"P5", b"P6") or pos >= len(head)
            or not head[pos : pos + 1].isspace()
            or not all(t.isdigit() and len(t) <= 9 for t in tokens[1:])):
        raise InputError(f"{where}: not a binary PGM/PPM file (P5/P6 with decimal width, height "
                         "and maxval)", "save images as binary P5/P6 netpbm or PNG")
    width, height, maxval = (int(t) for t in tokens[1:])
    return tokens[0], width, height, maxval, pos + 1


def read_netpbm(path: Path, what: str) -> tuple[npt.NDArray[np.uint8], int]:
    """A binary PGM (P5) or PPM (P6) with 8-bit samples as ((H, W, 1 or 3), maxval)."""
    with open_input(path, what) as stream:
        size = os.fstat(stream.fileno()).st_size
        head = stream.read(_NETPBM_HEADER_BYTES)
        magic, width, height, maxval, offset = _netpbm_header(head, str(path))
        check_pixels(width, height, str(path))
        if not 1 <= maxval <= 255:
            raise InputError(f"{path}: maxval {maxval}: only 8-bit netpbm images (maxval 1..255) "
                             "are read", "save 8-bit images")
        channels = 3 if magic == b"P6" else 1
        need = width * height * channels
        if size - offset < need:
            raise InputError(f"{path}: truncated image: the header declares {width}x{height}x"
                             f"{channels} = {need:,} bytes, the file holds {max(0, size - offset):,}",
                             "re-export the image")
        stream.seek(offset)
        body = stream.read(need)
    if len(body) != need:
        raise InputError(f"{path}: truncated image data", "re-export the image")
    return np.frombuffer(body, np.uint8).reshape(height, width, channels), maxval


# ---- options that name things in generated code --------------------------------------------------

C_KEYWORDS = frozenset("""
    auto break case char const continue default do double else enum extern float for goto if inline
    int long register restrict return short signed sizeof static struct switch typedef union
    unsigned void volatile while _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary
    _Noreturn _Static_assert _Thread_local asm bool true false alignas alignof static_assert
    thread_local typeof NULL main
""".split())
_C_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")


def c_prefix(value: str, option: str = "--prefix") -> str:
    """A C name prefix for the engine's files and functions: an identifier of at most 32 characters,
    not a C keyword, not reserved (``_X``, ``__``) and not mcuforge's own ``mcuf``."""
    problem = ""
    if not _C_PREFIX.fullmatch(value):
        problem = "is not a C identifier of 1 to 32 letters, digits and _ (not starting with a digit)"
    elif value in C_KEYWORDS:
        problem = "is a C keyword"
    elif re.match(r"_[A-Z_]", value):
        problem = "is reserved in C (it starts with _ and a capital letter or a second _)"
    elif value.lower().startswith("mcuf"):
        problem = "starts with mcuf, the prefix of mcuforge's runtime"
    if problem:
        raise InputError(f"{option}: {value!r} {problem}", f"use e.g. {option} kws_model")
    return value


def check_seed(value: int, option: str = "--seed", limit: int = 1 << 32) -> int:
    """A random seed in ``[0, limit)``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise InputError(f"{option}: must be a whole number from 0 to {limit - 1:,}, got {value!r}",
                         f"pass e.g. {option} 0")
    return value
