"""generator.inputs: every user file is a regular file, read within caps checked from its headers.

Besides the bad-input corpus (tests/bad_inputs/expected_inputs.yaml, through the CLI): each reader
against NumPy's, Pillow's and the wave module's own results on valid files, the refusals one by one,
YAML without aliases as a round trip of plain data, labels as a property, the kws inference count
against a transcription of the firmware loop, and the worst attacks under an address-space limit
that an unchecked read could not live within.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import wave
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import inputs
from generator.errors import InputError
from tests.support import badgen_inputs as bad

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hang_guard() -> Iterator[None]:
    """Fail (rather than hang the suite) if a read blocks: a guard, not a timing assertion."""
    def _alarm(signum: int, frame: object) -> None:
        raise AssertionError("the read blocked")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# ---- what a path is --------------------------------------------------------------------------------


def test_pipes_devices_sockets_and_folders_are_refused_before_opening(tmp_path: Path,
                                                                      hang_guard: None) -> None:
    bad.fifo(tmp_path / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    cases = {tmp_path / "pipe": "a named pipe (FIFO), not a regular file",
             Path("/dev/zero"): "a character device, not a regular file",
             tmp_path / "sock": "a socket, not a regular file",
             tmp_path: "Is a directory"}
    try:
        for path, what in cases.items():
            with pytest.raises(InputError) as caught:
                inputs.read_text(path, "app config")
            assert caught.value.message == f"{path}: cannot read the app config ({what})"
    finally:
        sock.close()
    assert inputs.stat_input(tmp_path, "data set", allow_dir=True).st_size >= 0


def test_a_path_swapped_for_a_pipe_after_the_check_is_caught_on_the_open_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hang_guard: None) -> None:
    bad.fifo(tmp_path / "pipe")
    monkeypatch.setattr(inputs, "stat_input", lambda *a, **k: None)  # the check "passed"
    with pytest.raises(InputError, match=r"a named pipe \(FIFO\)"), \
            inputs.open_input(tmp_path / "pipe", "model"):
        pass


def test_missing_and_unnamable_paths(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no_such: no such file or directory"):
        inputs.read_bytes(tmp_path / "no_such", "model", 10)
    with pytest.raises(InputError, match="File name too long"):
        inputs.read_bytes(tmp_path / ("a" * 300), "model", 10)
    with pytest.raises(InputError, match="NUL byte"):
        inputs.read_bytes(Path("a\0b"), "model", 10)


def test_a_saved_model_folder_holding_a_pipe_is_refused(tmp_path: Path, hang_guard: None) -> None:
    (tmp_path / "sm" / "variables").mkdir(parents=True)
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"x")
    inputs.check_model_path(tmp_path / "sm")
    bad.fifo(tmp_path / "sm" / "variables" / "variables.index")
    with pytest.raises(InputError, match=r"variables.index: cannot read the model \(a named pipe"):
        inputs.check_model_path(tmp_path / "sm")
    (tmp_path / "dir.tflite").mkdir()
    with pytest.raises(InputError, match=r"cannot read the model \(Is a directory\)"):
        inputs.check_model_path(tmp_path / "dir.tflite")


def test_keras_files_whose_data_lives_elsewhere_are_refused(tmp_path: Path) -> None:
    import h5py

    bad.h5_reading_a_host_file(tmp_path / "e.h5")
    with pytest.raises(InputError, match="keeps its data in /etc/passwd"):
        inputs.check_model_path(tmp_path / "e.h5")
    bad.keras_linking_a_pipe(tmp_path / "l.keras")
    with pytest.raises(InputError, match="links to /tmp/mcuforge-pipe"):
        inputs.check_model_path(tmp_path / "l.keras")
    with h5py.File(tmp_path / "v.h5", "w") as f:
        layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
        layout[:] = h5py.VirtualSource("/etc/passwd", "x", shape=(4,))
        f.create_virtual_dataset("w", layout)
    with pytest.raises(InputError, match="a virtual dataset"):
        inputs.check_model_path(tmp_path / "v.h5")
    with h5py.File(tmp_path / "ok.h5", "w") as f:
        f.create_group("a").create_dataset("w", data=np.arange(3))
        f["alias"] = h5py.SoftLink("/a")
    inputs.check_model_path(tmp_path / "ok.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    inputs.check_model_path(tmp_path / "text.h5")  # left to the loader, which names the problem
    for app in ("kws", "vww"):
        inputs.check_model_path(ROOT / "sample_apps" / app / "model.keras")


def test_sizes_are_capped_and_text_must_be_utf8(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 11)
    with pytest.raises(InputError, match="is 11 bytes, more than the 10 bytes mcuforge reads"):
        inputs.read_bytes(path, "model", 10)
    assert inputs.read_bytes(path, "model", 11) == b"x" * 11
    path.write_bytes("\ufeffab\n".encode())
    assert inputs.read_text(path, "labels file") == "ab\n"
    path.write_bytes(b"\xef\xbb\xbfab\xff")
    with pytest.raises(InputError, match=r"byte 5 is not UTF-8 text \(0xff\)"):
        inputs.read_text(path, "labels file")


# ---- YAML ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("a: &x [1]\nb: *x\n", "line 1: uses a YAML anchor or alias"),
    ("a: [1]\nb: *x\n", "line 2: uses a YAML anchor or alias"),  # refused before it dangles
    (bad.alias_bomb(), "line 1: uses a YAML anchor or alias"),
    ("a: " + "[" * 33 + "]" * 33, "YAML nested too deeply to read (more than 32 levels)"),
    ("a: 1\nb: 2\na: 3\n", "line 3: not valid YAML (the key 'a' is given twice)"),
    ("a: !!python/object/apply:os.system [touch x]\n", "could not determine a constructor"),
    ("a: !!binary aGVsbG8=\n", "could not determine a constructor"),
    ("a: !!set {x: null}\n", "could not determine a constructor"),
    ("a: " + "1" * 5000 + "\n", "cannot read a value"),
    ("a: [1\n", "line 2: not valid YAML"),
], ids=["alias", "dangling-alias", "alias-bomb", "deep", "duplicate", "python", "binary", "set",
        "huge-int", "syntax"])
def test_yaml_refusals(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        inputs.parse_yaml(text, "x.yaml")
    assert caught.value.message.startswith("x.yaml: ") and message in caught.value.message


def test_yaml_gives_plain_data_only() -> None:
    data = inputs.parse_yaml("a: [yes, no, ~, 2024-01-31, 0x10, 1.5, '3']\nb: {c: d}\n", "x")
    assert data == {"a": [True, False, None, "2024-01-31", 16, 1.5, "3"], "b": {"c": "d"}}


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20)
_SCALARS = st.none() | st.booleans() | st.integers(-10**12, 10**12) | _TEXT | \
    st.floats(allow_nan=False, allow_infinity=False)
_DATA = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) |
                     st.dictionaries(_TEXT, inner, max_size=4), max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(_DATA)
def test_yaml_round_trips_plain_data(data: Any) -> None:
    text = yaml.safe_dump({"v": data}, allow_unicode=True)
    assert inputs.parse_yaml(text, "x") == yaml.safe_load(text) == {"v": data}


# ---- .npy and .npz ---------------------------------------------------------------------------------


@pytest.mark.parametrize("array", [
    np.arange(24, dtype=np.int16).reshape(2, 3, 4),
    np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
    np.array(3.5, np.float32),
    np.zeros((0, 5), np.int8),
    np.array(["ab", "c"]),
    np.array([1 + 2j]),
], ids=["int16", "fortran", "0-d", "empty", "str", "complex"])
def test_npy_reader_equals_numpy(tmp_path: Path, array: np.ndarray) -> None:
    np.save(tmp_path / "a.npy", array)
    got = inputs.load_npy(tmp_path / "a.npy", "sample")
    np.testing.assert_array_equal(got, np.load(tmp_path / "a.npy"))
    assert got.dtype == array.dtype and got.shape == array.shape and got.flags.writeable


def test_npy_headers_are_checked_before_the_data(tmp_path: Path) -> None:
    bad.huge_npy((1 << 48, 3))(tmp_path / "p.npy")
    with pytest.raises(InputError, match=r"declares shape \(281474976710656, 3\) of int16 = "
                       r"1,688,849,860,263,936 bytes, more than the 1,073,741,824 bytes"):
        inputs.load_npy(tmp_path / "p.npy", "sample")
    (tmp_path / "t.npy").write_bytes(bad.npy_header((100,), "<f4") + bytes(10))
    with pytest.raises(InputError, match="declares 400 bytes of data, the file holds 10"):
        inputs.load_npy(tmp_path / "t.npy", "sample")
    neg = bad.npy_header((5, 3)).replace(b"(5, 3)", b"(-5,3)")
    (tmp_path / "n.npy").write_bytes(neg + bytes(100))
    with pytest.raises(InputError, match=r"negative shape \(-5, 3\)"):
        inputs.load_npy(tmp_path / "n.npy", "sample")
    (tmp_path / "o.npy").write_bytes(bad.npy_header((1,), "|O"))
    with pytest.raises(InputError, match="holds Python objects"):
        inputs.load_npy(tmp_path / "o.npy", "sample")
    (tmp_path / "j.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': 12345}")
    with pytest.raises(InputError, match=r"not an \.npy array"):
        inputs.load_npy(tmp_path / "j.npy", "sample")
    np.save(tmp_path / "ok.npy", np.zeros(100, np.float32))
    with pytest.raises(InputError, match="more than the 399 bytes"):
        inputs.load_npy(tmp_path / "ok.npy", "sample", limit=399)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["stored", "deflated"])
def test_npz_reader_equals_numpy(tmp_path: Path, save: Any) -> None:
    x, y = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32), np.arange(5)
    save(tmp_path / "d.npz", x=x, y=y)
    got = inputs.load_npz(tmp_path / "d.npz", "data set")
    with np.load(tmp_path / "d.npz") as ref:
        assert list(got) == ref.files == ["x", "y"]
        for name in ref.files:
            np.testing.assert_array_equal(got[name], ref[name])
    assert list(inputs.load_npz(tmp_path / "d.npz", "data set", ("y",))) == ["y"]
    np.testing.assert_array_equal(inputs.load_array(tmp_path / "d.npz", "calibration data"), x)
    np.savez(tmp_path / "e.npz")
    assert inputs.load_array(tmp_path / "e.npz", "calibration data") is None


def test_npz_sizes_are_checked_from_the_zip_directory_and_the_member_headers(tmp_path: Path) -> None:
    bad.npz_declaring_3gb(tmp_path / "z.npz")
    with pytest.raises(InputError, match=r"member 'x\.npy' declares 3,221,225,472 bytes"):
        inputs.load_npz(tmp_path / "z.npz", "data set")
    bad.npz_with_huge_member(tmp_path / "h.npz")
    with pytest.raises(InputError, match=r"h.npz: x.npy: the array header declares shape "
                       r"\(50000, 100000\) of float64 = 40,000,000,000 bytes"):
        inputs.load_npz(tmp_path / "h.npz", "data set")
    with zipfile.ZipFile(tmp_path / "many.npz", "w") as zf:
        for i in range(inputs.MAX_NPZ_MEMBERS + 1):
            zf.writestr(f"a{i}.npy", b"")
    with pytest.raises(InputError, match="1,025 members, more than 1,024"):
        inputs.load_npz(tmp_path / "many.npz", "data set")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(InputError, match=r"not a readable \.npz archive"):
        inputs.load_npz(tmp_path / "junk.npz", "data set")


# ---- WAV -------------------------------------------------------------------------------------------


def _write_wav(path: Path, pcm: np.ndarray, rate: int = 16000, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(pcm.dtype.itemsize)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def test_wav_reader_equals_the_wave_module(tmp_path: Path) -> None:
    pcm = np.random.default_rng(1).integers(-3000, 3000, 2000).astype(np.int16)
    path = _write_wav(tmp_path / "a.wav", pcm, rate=8000, channels=2)
    wav = inputs.read_wav(path, "replay")
    assert (wav.channels, wav.sampwidth, wav.rate) == (2, 2, 8000)
    assert wav.frames == pcm.tobytes()


def test_wav_headers_are_checked_before_the_samples(tmp_path: Path) -> None:
    bad.sparse_3gb_wav(tmp_path / "s.wav")
    assert os.stat(tmp_path / "s.wav").st_size > 3 * bad.GIB  # really that large, yet sparse
    with pytest.raises(InputError, match=r"declares 1,610,612,736 frames x 1 channel\(s\) x 2 "
                       r"byte\(s\) = 3,221,225,472 bytes \(100,663.3 s at 16000 Hz\); mcuforge "
                       r"reads at most 600 s"):
        inputs.read_wav(tmp_path / "s.wav", "replay")
    (tmp_path / "short.wav").write_bytes(bad.wav_header(16000) + bytes(100))
    with pytest.raises(InputError, match="declares 32,000 bytes of samples, the file holds 144"):
        inputs.read_wav(tmp_path / "short.wav", "replay")
    bad.wav_rate_zero(tmp_path / "r.wav")
    with pytest.raises(InputError, match="sample rate of 0 Hz"):
        inputs.read_wav(tmp_path / "r.wav", "replay")
    (tmp_path / "cut.wav").write_bytes(bad.wav_header(10)[:30])
    with pytest.raises(InputError, match="cannot read as a WAV file"):
        inputs.read_wav(tmp_path / "cut.wav", "replay")
    pcm = np.zeros(16000 * 3, np.int16)
    with pytest.raises(InputError, match="at most 2 s"):
        inputs.read_wav(_write_wav(tmp_path / "3s.wav", pcm), "replay", max_seconds=2)


# ---- images ----------------------------------------------------------------------------------------


def test_image_reader_equals_pillow(tmp_path: Path) -> None:
    from PIL import Image

    rgb = np.random.default_rng(2).integers(0, 256, (7, 5, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    np.testing.assert_array_equal(inputs.read_image(tmp_path / "a.png", "replay"), rgb)
    assert inputs.read_image(tmp_path / "g.png", "replay").shape == (7, 5, 3)
    assert inputs.png_size((tmp_path / "a.png").read_bytes()[:24]) == (5, 7)
    assert inputs.png_size(b"GIF89a" + bytes(30)) is None


def test_a_png_bomb_is_refused_from_its_ihdr_before_pillow_sees_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("Pillow was asked to open the bomb")

    bad.png_144_mpixel(tmp_path / "b.png")
    assert (tmp_path / "b.png").stat().st_size < 1000
    monkeypatch.setattr(Image, "open", never)
    with pytest.raises(InputError, match="12000x12000 = 144,000,000 pixels, more than the "
                       r"16,777,216 \(4096x4096\)"):
        inputs.read_image(tmp_path / "b.png", "replay")


def test_other_image_bombs_and_broken_images(tmp_path: Path) -> None:
    from PIL import Image

    bad.png_text_bomb(tmp_path / "t.png")
    with pytest.raises(InputError, match=r"not a readable image \(ValueError"):
        inputs.read_image(tmp_path / "t.png", "replay")
    Image.new("L", (5000, 4000)).save(tmp_path / "big.gif")  # not a PNG: Pillow's header
    with pytest.raises(InputError, match="5000x4000 = 20,000,000 pixels"):
        inputs.read_image(tmp_path / "big.gif", "replay")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    with pytest.raises(InputError, match="not a readable image"):
        inputs.read_image(tmp_path / "junk.png", "replay")


def test_the_decoder_is_chosen_by_the_suffix_not_guessed_from_the_content(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "eps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
                                       b"(x) print\n%%EOF\n")  # Pillow would hand EPS to Ghostscript
    with pytest.raises(InputError, match=r"eps.png: not a readable image \(UnidentifiedImageError"):
        inputs.read_image(tmp_path / "eps.png", "replay")
    Image.new("RGB", (4, 4)).save(tmp_path / "gif.png", format="GIF")
    with pytest.raises(InputError, match=r"gif\.png: not a readable image"):
        inputs.read_image(tmp_path / "gif.png", "replay")
    Image.new("RGB", (4, 4)).save(tmp_path / "a.tiff")
    with pytest.raises(InputError, match=r"unknown image format '\.tiff'"):
        inputs.read_image(tmp_path / "a.tiff", "image")


def test_netpbm_reader(tmp_path: Path) -> None:
    px = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    (tmp_path / "a.ppm").write_bytes(b"P6\n# a comment\n3 2\n# another\n255\n" + px.tobytes())
    got, maxval = inputs.read_netpbm(tmp_path / "a.ppm", "image")
    np.testing.assert_array_equal(got, px)
    assert maxval == 255
    for name, header, message in [
        ("neg.ppm", b"P6 -5 4 255\n", "not a binary PGM/PPM file"),
        ("junk.ppm", b"P6 1x 1 255\n", "not a binary PGM/PPM file"),
        ("long.ppm", b"P6 1234567890 1 255\n", "not a binary PGM/PPM file"),
        ("zero.ppm", b"P6 0 4 255\n", "gives 0x4 pixels"),
        ("side.ppm", b"P5 70000 1 255\n", "70000x1 = 70,000 pixels, more than"),
        ("deep.pgm", b"P5 1 1 65535\n", "maxval 65535: only 8-bit"),
        ("cut.ppm", b"P6 10 10 255\n", "truncated image: the header declares 10x10x3 = 300 bytes, "
                                       "the file holds 12"),
        ("p3.ppm", b"P3 1 1 255\n", "not a binary PGM/PPM file"),
    ]:
        (tmp_path / name).write_bytes(header + bytes(12))
        with pytest.raises(InputError, match=message):
            inputs.read_netpbm(tmp_path / name, "image")


# ---- labels ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "message"), [
    (["yes\n", "no"], r"label 1 'yes\\n' contains the control character U\+000A"),
    (["a\u2028b", "no"], r"U\+2028"),
    (["a\u200bb", "no"], r"U\+200B"),  # zero-width space (Cf)
    (["a\x7fb", "no"], r"U\+007F"),
    (["a\rb", "no"], r"U\+000D"),
    ([True, False], r"label 1 is the YAML boolean true .*not text"),
    ([None, "no"], r"label 1 is an empty value \(YAML null"),
    (["a", 3], r"label 2 is the number 3, not text"),
    (["a", 1.5], r"label 2 is the number 1.5"),
    (["a", ["b"]], r"label 2 is list"),
    (["a", ""], r"label 2 is empty"),
    (["a", "b" * 33], r"is not allowed"),
    (["a", "b/c"], r"'b/c' is not allowed"),
    (["a", "a"], r"labels repeat"),
    ({"a": 1}, r"expected a list of labels, got dict"),
    (True, r"expected a list of labels, got the YAML boolean true"),
], ids=["newline", "line-separator", "zero-width", "del", "cr", "booleans", "null", "int", "float",
        "list", "empty", "long", "slash", "repeat", "mapping", "bool"])
def test_labels_are_checked_after_parsing(value: object, message: str) -> None:
    from generator.project.options import parse_labels

    with pytest.raises(InputError, match=message):
        parse_labels(value, "x.yaml: labels")


def test_unquoted_yes_no_get_a_hint_to_quote_them(tmp_path: Path) -> None:
    from generator.project.options import load_app_config

    (tmp_path / "c.yaml").write_text("labels: [silence, unknown, yes, no]\n")
    with pytest.raises(InputError) as caught:
        load_app_config(tmp_path / "c.yaml")
    assert "label 3 is the YAML boolean true" in caught.value.message
    assert caught.value.hint.startswith('quote it in the YAML: write "yes" and "no"')
    (tmp_path / "c.yaml").write_text('labels: [silence, unknown, "yes", "no"]\n')
    assert load_app_config(tmp_path / "c.yaml").labels == ("silence", "unknown", "yes", "no")


def test_labels_files(tmp_path: Path, hang_guard: None) -> None:
    from generator.project.options import parse_labels

    (tmp_path / "l.txt").write_text("\ufeffsilence\r\nunknown\n\nyes\n")
    assert parse_labels(str(tmp_path / "l.txt")) == ("silence", "unknown", "yes")
    bad.fifo(tmp_path / "pipe.txt")
    with pytest.raises(InputError, match=r"pipe.txt: cannot read the labels file \(a named pipe"):
        parse_labels(str(tmp_path / "pipe.txt"))
    (tmp_path / "l1.txt").write_bytes("a\nb\u00e9\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"l1.txt: byte 3 is not UTF-8 text \(0xe9\)"):
        parse_labels(str(tmp_path / "l1.txt"))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab_ .:+-\n\r\t\0\x7f\u2028\u200b/\"'", max_size=40)
       | st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x3000), max_size=40))
def test_a_label_is_accepted_only_as_plain_single_line_text(text: str) -> None:
    import unicodedata

    from generator.project.options import check_label

    try:
        label = check_label(text, "--labels", 0)
    except InputError as exc:
        assert "--labels" in exc.message
        return
    assert label == text and 1 <= len(label) <= 32 and label.isascii() and label.isprintable()
    assert not any(unicodedata.category(c).startswith(("C", "Z")) and c != " " for c in label)


# ---- options ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["model", "kws_model", "_x", "A1", "m" * 32])
def test_c_prefix_accepts_identifiers(good: str) -> None:
    assert inputs.c_prefix(good) == good


@pytest.mark.parametrize(("value", "message"), [
    ("../../x", "is not a C identifier"), ("", "is not a C identifier"),
    ("1x", "is not a C identifier"), ("m" * 33, "is not a C identifier"),
    ("a b", "is not a C identifier"), ("x\n", "is not a C identifier"),
    ("caf\u00e9", "is not a C identifier"), ("int", "is a C keyword"),
    ("_Bool", "is a C keyword"), ("__x", "is reserved"), ("_X", "is reserved"),
    ("mcuf_run", "starts with mcuf"), ("MCUF", "starts with mcuf"),
])
def test_c_prefix_refuses_everything_else(value: str, message: str) -> None:
    with pytest.raises(InputError, match=f"--prefix: .* {message}"):
        inputs.c_prefix(value)


def test_the_engine_api_refuses_a_bad_prefix_too() -> None:
    from generator.compiler import compile_graph
    from tests.support.badgen import fc_model

    data = fc_model().build()
    from generator.importer.tflite_reader import read_tflite

    with pytest.raises(InputError, match="--prefix"):
        compile_graph(read_tflite(data), data, prefix="../x")


def test_seeds() -> None:
    assert inputs.check_seed(0) == 0 and inputs.check_seed(2**32 - 1) == 2**32 - 1
    for value in (-1, 2**32, True):
        with pytest.raises(InputError, match="--seed: must be a whole number from 0 to "
                           "4,294,967,295"):
            inputs.check_seed(value)  # type: ignore[arg-type]


def test_debug_input_is_checked_from_its_header_and_its_range(tmp_path: Path) -> None:
    from generator.cli import _load_debug_input

    np.save(tmp_path / "ok.npy", np.arange(-3, 3, dtype=np.int64))
    np.testing.assert_array_equal(_load_debug_input(tmp_path / "ok.npy", (1, 6), "int8"),
                                  np.arange(-3, 3, dtype=np.int8).reshape(1, 6))
    for name, array, message in [("wide.npy", np.array([0, 300]), r"whole numbers in -128..127"),
                                 ("frac.npy", np.array([0.5, 1.0]), "whole numbers"),
                                 ("nan.npy", np.array([np.nan, 1.0]), "whole numbers"),
                                 ("str.npy", np.array(["a", "b"]), "not numbers"),
                                 ("size.npy", np.zeros(3, np.int8), "has 3 values")]:
        np.save(tmp_path / name, array)
        with pytest.raises(InputError, match=message):
            _load_debug_input(tmp_path / name, (1, 2), "int8")
    np.savez(tmp_path / "two.npz", a=np.zeros(2), b=np.zeros(2))
    with pytest.raises(InputError, match="holds several arrays"):
        _load_debug_input(tmp_path / "two.npz", (1, 2), "int8")


# ---- data sets -------------------------------------------------------------------------------------


def test_data_sets(tmp_path: Path, hang_guard: None) -> None:
    from generator.data import load_dataset

    bad.fifo(tmp_path / "pipe")
    with pytest.raises(InputError, match=r"pipe: cannot read the data set \(a named pipe"):
        load_dataset(tmp_path / "pipe", (2,))
    np.savez(tmp_path / "s.npz", x=np.array([["a", "b"]] * 4), y=np.array([0, 1, 0, 1]))
    with pytest.raises(InputError, match=r"s.npz: x: samples are of type <U1, not real numbers"):
        load_dataset(tmp_path / "s.npz", (2,))
    for k in ("a", "b"):
        (tmp_path / "f" / k).mkdir(parents=True)
        np.save(tmp_path / "f" / k / "1.npy", np.zeros(2, np.float32))
    assert load_dataset(tmp_path / "f", (2,)).x.shape == (2, 2)
    bad.huge_npy((1 << 40,), "<f4")(tmp_path / "f" / "b" / "2.npy")
    with pytest.raises(InputError, match=r"2.npy: the array header declares shape \(1099511627776,\)"
                       r" of float32 = 4,398,046,511,104 bytes, more than the 16 bytes"):
        load_dataset(tmp_path / "f", (2,))
    bad.fifo(tmp_path / "f" / "a" / "3.npy")  # not a file: not a sample (skipped, never opened)
    (tmp_path / "f" / "b" / "2.npy").unlink()
    assert load_dataset(tmp_path / "f", (2,)).x.shape == (2, 2)


def test_split_seed_is_checked() -> None:
    from generator.data import Dataset, split_dataset

    ds = Dataset(np.zeros((4, 1), np.float32), np.array([0, 0, 1, 1]), ("a", "b"), "d", "npz")
    with pytest.raises(InputError, match="--seed: must be a whole number"):
        split_dataset(ds, 0.5, seed=-1)


# ---- the kws schedule ------------------------------------------------------------------------------


def _firmware_inferences(samples: int, window: int, stride: int, n_frames: int, every: int,
                         chunk: int) -> int:
    """A transcription of the kws app_main loop (templates/projects/kws/.../main.c)."""
    received, next_end, frames, count = 0, window, 0, 0
    while True:
        got = min(chunk, samples - received)
        if got <= 0:
            return count
        received += got
        while received >= next_end:
            frames += 1
            next_end += stride
            if frames >= n_frames and (frames - n_frames) % every == 0:
                count += 1


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 4000), st.integers(2, 64), st.integers(1, 64), st.integers(1, 20),
       st.integers(1, 9))
def test_kws_inference_count_is_the_twin_of_the_firmware_loop(samples: int, window: int,
                                                              stride: int, n_frames: int,
                                                              every: int) -> None:
    from dataclasses import dataclass

    from generator.project.apps.kws import inference_count
    from generator.project.options import KwsSettings

    @dataclass
    class Cfg:  # the three MfccConfig properties the count reads
        window_len: int
        stride: int
        n_frames: int

    got = inference_count(Cfg(window, stride, n_frames), KwsSettings(inference_every=every),  # type: ignore[arg-type]
                          samples)
    assert got == _firmware_inferences(samples, window, stride, n_frames, every, stride)


def test_a_stride_of_zero_samples_is_refused() -> None:
    from generator.dsp import MfccConfig

    with pytest.raises(InputError, match=r"MfccConfig.stride_ms: 1e-08 ms is 0 samples"):
        MfccConfig(stride_ms=1e-8)
    assert MfccConfig(stride_ms=0.0625).stride == 1


# ---- a custom emulated board given by path ---------------------------------------------------------


def test_a_custom_emulated_board_given_by_path_generates(tmp_path: Path) -> None:
    from generator.project.generate import build_project
    from generator.project.options import AppKind, GenerateOptions
    from tests.support.badgen import fc_model

    board = tmp_path / "my_qemu.yaml"
    board.write_text((ROOT / "boards" / "qemu_mps2_an386.yaml").read_text()
                     .replace("name: qemu_mps2_an386", "name: my_qemu")
                     .replace("clock_hz: 25000000", "clock_hz: 50000000"))
    (tmp_path / "m.tflite").write_bytes(fc_model((1, 490), 4).build())
    project = build_project(GenerateOptions(model=tmp_path / "m.tflite", board=str(board),
                                            app=AppKind.KWS))
    assert project.targets.run_env == "my_qemu"
    ini = str(project.files["platformio.ini"])
    assert "[env:my_qemu]" in ini and "board = qemu_mps2_an386" in ini
    assert project.manifest["targets"]["run_env"] == "my_qemu"


# ---- the worst attacks under an address-space limit ------------------------------------------------

_AS_LIMIT = 512 << 20
_ATTACKS = {
    "sparse-wav": ("kws_fc.tflite", "--app kws --replay sparse_3gb.wav", "sparse_3gb.wav: the WAV "
                   "header declares 1,610,612,736 frames"),
    "petabyte-npy": ("imu_128x3.tflite", "--app sensor --replay petabyte_imu.npy",
                     "petabyte_imu.npy: the array header declares shape (281474976710656, 3)"),
    "png-144mpx": ("image_32x32x3.tflite", "--app vww --replay bomb_144mpx.png",
                   "bomb_144mpx.png: the image is 12000x12000"),
    "alias-bomb": ("kws_fc.tflite", "--app kws --app-config alias_bomb_app_config.yaml",
                   "uses a YAML anchor or alias"),
}


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_AS_LIMIT, _AS_LIMIT))


def _run_limited(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "300"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, preexec_fn=_limited, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_address_space_limit_would_stop_a_whole_read() -> None:
    res = _run_limited(["-c", "import numpy; numpy.ones(3 << 30, numpy.uint8)"])
    assert res.returncode != 0 and "MemoryError" in res.stderr


@pytest.mark.parametrize("attack", list(_ATTACKS), ids=list(_ATTACKS))
def test_attacks_are_refused_within_512_mib_of_address_space(attack: str, tmp_path: Path) -> None:
    from tests.support import badgen

    model, options, message = _ATTACKS[attack]
    names = [model, *(w for w in options.split() if "." in w)]
    for name in names:
        badgen.MAKERS[name](tmp_path / name)
    args = [str(tmp_path / w) if w in names else w for w in options.split()]
    res = _run_limited(["-m", "generator.cli", "generate", str(tmp_path / model), "--board",
                        "qemu_mps2_an386", *args, "-o", str(tmp_path / "out")])
    text = " ".join((res.stdout + res.stderr).split())
    assert res.returncode == 2, text
    assert message in text and "internal error" not in text and "Traceback" not in text
    assert not (tmp_path / "out").exists()


@pytest.mark.emulator
@pytest.mark.slow
def test_a_custom_emulated_board_given_by_path_builds_and_runs(tmp_path: Path) -> None:
    from tests.support.badgen import fc_model

    board = tmp_path / "my_qemu.yaml"
    board.write_text((ROOT / "boards" / "qemu_mps2_an386.yaml").read_text()
                     .replace("name: qemu_mps2_an386", "name: my_qemu"))
    (tmp_path / "m.tflite").write_bytes(fc_model((1, 384), 4).build())
    cli = [sys.executable, "-m", "generator.cli"]
    gen = subprocess.run([*cli, "generate", str(tmp_path / "m.tflite"), "--board", str(board),
                          "--app", "sensor", "-o", str(tmp_path / "out")], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert gen.returncode == 0, gen.stdout + gen.stderr
    run = subprocess.run([*cli, "run", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "done 4 inferences" in run.stdout  # 2.5 windows of 128 samples, a hop of 64
