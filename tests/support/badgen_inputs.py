"""Makers of hostile input files for tests/bad_inputs/expected_inputs.yaml: pipes where files should be,
headers declaring far more data than the file holds, YAML alias bombs, labels YAML reads as booleans.

Every file is small on disk (the sparse WAV is sparse); what it *declares* is huge.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

GIB = 1 << 30


def fifo(path: Path) -> None:
    """A named pipe: opening it for reading blocks until a writer comes (none ever does)."""
    os.mkfifo(path)


def npy_header(shape: tuple[int, ...], descr: str = "<i2") -> bytes:
    """The bytes of an ``.npy`` header (version 1.0) declaring ``shape`` of ``descr``, no data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def huge_npy(shape: tuple[int, ...], descr: str = "<i2") -> Callable[[Path], object]:
    """An ``.npy`` of 128 bytes or so whose header declares ``shape`` (petabytes, say)."""
    return lambda path: path.write_bytes(npy_header(shape, descr))


def npz_with_huge_member(path: Path) -> None:
    """An ``.npz`` whose ``x.npy`` header declares 40 GB (the member itself is a few bytes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", npy_header((50_000, 100_000), "<f8"))
        zf.writestr("y.npy", npy_header((50_000,), "<i8"))


def forged_zip(member: str, content: bytes, declared: int) -> Callable[[Path], object]:
    """A one-member zip whose size fields say ``member`` unpacks to ``declared`` bytes."""
    def make(path: Path) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(member, content)
        data = bytearray(buf.getvalue())
        size = struct.pack("<I", declared)
        data[22:26] = size  # local header: uncompressed size
        central = data.rfind(b"PK\x01\x02")
        data[central + 24 : central + 28] = size  # central directory: uncompressed size
        path.write_bytes(bytes(data))

    return make


npz_declaring_3gb = forged_zip("x.npy", npy_header((4,), "<f4") + bytes(16), 3 * GIB)
"""An ``.npz`` whose zip directory says ``x.npy`` unpacks to 3 GB."""


def wav_header(frames: int, rate: int = 16000, channels: int = 1, width: int = 2) -> bytes:
    """A PCM WAV header whose data chunk declares ``frames`` frames."""
    data_bytes = frames * channels * width
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * width, channels * width,
                      8 * width)
    riff = 4 + (8 + len(fmt)) + 8 + data_bytes
    return (b"RIFF" + struct.pack("<I", min(riff, 0xFFFFFFFF)) + b"WAVE" + b"fmt "
            + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_bytes))


def wav_declaring_hours(path: Path) -> None:
    """A 1 KB WAV whose header declares 0x7FFFFFF0 bytes of samples (about 18 hours at 16 kHz)."""
    path.write_bytes(wav_header(0x3FFFFFF8) + bytes(1000))


def sparse_3gb_wav(path: Path) -> None:
    """A WAV of 3 GB that takes no disk space: a header, then a hole."""
    frames = 3 * GIB // 2
    with path.open("wb") as f:
        f.write(wav_header(frames))
        f.truncate(len(wav_header(frames)) + 2 * frames)


def wav_rate_zero(path: Path) -> None:
    path.write_bytes(wav_header(100, rate=0) + bytes(200))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, idat: bytes, extra: bytes = b"") -> bytes:
    """A PNG with the given IHDR size (8-bit RGB), IDAT payload and extra chunks before it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + extra + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def png_144_mpixel(path: Path) -> None:
    """12000 x 12000 pixels declared, a zlib stream of a few bytes (a decompression bomb)."""
    path.write_bytes(png(12000, 12000, zlib.compress(bytes(12000 * 3 + 1) * 4, 9)))


def png_text_bomb(path: Path) -> None:
    """A valid 2 x 2 PNG carrying a zTXt chunk that inflates to 64 MB."""
    ztxt = b"Comment\x00\x00" + zlib.compress(b"a" * (64 << 20), 9)
    pixels = zlib.compress(b"".join(b"\x00" + bytes(6) for _ in range(2)))
    path.write_bytes(png(2, 2, pixels, _chunk(b"zTXt", ztxt)))


def ppm(header: bytes, body: bytes = bytes(12)) -> Callable[[Path], object]:
    return lambda path: path.write_bytes(header + body)


def text(content: str, encoding: str = "utf-8") -> Callable[[Path], object]:
    return lambda path: path.write_bytes(content.encode(encoding))


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """About 500 bytes of YAML that expands to ``width ** levels`` (387 million) strings."""
    lines = [f'a0: &a0 [{", ".join(["lol"] * width)}]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + f"\nlabels: *a{levels - 1}\n"


def app_config_alias_bomb(path: Path) -> None:
    """The alias bomb under ``labels`` as an app config (its extra keys are never reached)."""
    path.write_text(alias_bomb())


def imu_model(path: Path) -> None:
    """A one-layer int8 classifier of 128 samples x 3 axes (flat), for the sensor app."""
    from tests.support.badgen import fc_model

    path.write_bytes(fc_model((1, 384), 4).build())


def h5_reading_a_host_file(path: Path) -> None:
    """A Keras-like ``.h5`` whose kernel's bytes are stored in /etc/passwd (HDF5 external storage):
    loaded as is, the host file would become weights, and then C constants."""
    import h5py

    with h5py.File(path, "w") as f:
        f.create_group("model_weights/dense/dense").create_dataset(
            "kernel:0", shape=(64,), dtype="u1", external=[("/etc/passwd", 0, 64)])


def keras_linking_a_pipe(path: Path) -> None:
    """A ``.keras`` archive whose weights file has an external link to a named pipe."""
    import h5py

    weights = io.BytesIO()
    with h5py.File(weights, "w") as f:
        f.create_group("layers/dense/vars")["0"] = h5py.ExternalLink("/tmp/mcuforge-pipe", "/x")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("model.weights.h5", weights.getvalue())


MAKERS: dict[str, Callable[[Path], object]] = {
    "imu_128x3.tflite": imu_model,
    # pipes where a file should be: each would block a reader forever
    "fifo.tflite": fifo,
    "fifo.keras": fifo,
    "fifo_board.yaml": fifo,
    "fifo_app_config.yaml": fifo,
    "fifo_labels.txt": fifo,
    "fifo_replay.wav": fifo,
    "fifo_calib.npy": fifo,
    "fifo_input.npy": fifo,
    # headers that declare far more than the file holds, or than mcuforge reads
    "petabyte.npy": huge_npy((1 << 48, 3)),
    "petabyte_imu.npy": huge_npy((1 << 48, 3)),
    "truncated_imu.npy": lambda path: path.write_bytes(npy_header((1000, 3)) + bytes(60)),
    "object_input.npy": lambda path: path.write_bytes(npy_header((490,), "|O")),
    "huge_member.npz": npz_with_huge_member,
    "declares_3gb.npz": npz_declaring_3gb,
    "zip_bomb.keras": forged_zip("model.weights.h5", bytes(100), 3 * GIB),
    "external_storage.h5": h5_reading_a_host_file,
    "external_link.keras": keras_linking_a_pipe,
    "hours.wav": wav_declaring_hours,
    "sparse_3gb.wav": sparse_3gb_wav,
    "rate_zero.wav": wav_rate_zero,
    "bomb_144mpx.png": png_144_mpixel,
    "text_bomb.png": png_text_bomb,
    "zero_size.png": lambda path: path.write_bytes(png(0, 0, zlib.compress(b""))),
    "negative_width.ppm": ppm(b"P6 -5 4 255\n"),
    "huge_side.ppm": ppm(b"P6 100000 100000 255\n"),
    "sixteen_bit.pgm": ppm(b"P5 2 2 65535\n", bytes(8)),
    "junk_size.ppm": ppm(b"P6 12abc 4 255\n"),
    # YAML and labels
    "alias_bomb_app_config.yaml": app_config_alias_bomb,
    "alias_board.yaml": text("name: &n alias_board\ndisplay_name: *n\n"),
    "duplicate_key_app_config.yaml": text("app:\n  smoothing: 2\n  smoothing: 3\n"),
    "huge_int_app_config.yaml": text("app:\n  smoothing: " + "9" * 5000 + "\n"),
    "label_newline.yaml": text('labels: ["yes\\n", "no", "up", "down"]\n'),
    "label_booleans.yaml": text("labels: [silence, unknown, yes, no]\n"),
    "label_null.yaml": text("labels: [silence, ~, up, down]\n"),
    "label_number.yaml": text("labels: [silence, 3, up, down]\n"),
    "label_line_separator.yaml": text('labels: ["a\\u2028b", "no", "up", "down"]\n'),
    "labels_latin1.txt": text("silence\nunknown\nja\nn\u00e4in\n", "latin-1"),
    "labels_nul.txt": text("silence\nunk\x00nown\nyes\nno\n"),
    "app_config_bad_inference_every.yaml": text("app:\n  inference_every: 100000000000\n"),
}
