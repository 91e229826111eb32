"""Data sets for pruning and calibration: .npz, class folders of WAVs, images and .npy; the split."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from generator.data import (
    DataOptions,
    Dataset,
    load_dataset,
    read_netpbm,
    resize_bilinear,
    split_dataset,
)
from generator.dsp.audio import MfccConfig, mfcc_float
from generator.errors import InputError

pytestmark = pytest.mark.unit


def write_wav(path: Path, pcm: np.ndarray, rate: int = 16000, width: int = 2,
              channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def tone(freq: float, seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def write_ppm(path: Path, px: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    magic = b"P6" if px.shape[2] == 3 else b"P5"
    header = magic + b"\n# made by a test\n%d %d\n255\n" % (px.shape[1], px.shape[0])
    path.write_bytes(header + px.astype(np.uint8).tobytes())
    return path


# ---- .npz ------------------------------------------------------------------------------------------


def test_npz_with_labels_and_missing_channel_axis(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(10, 5, 4)).astype(np.float32)
    y = np.array([0, 1] * 5)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(tmp_path / "d.npz", (5, 4, 1))
    assert ds.x.shape == (10, 5, 4, 1) and ds.classes == ("0", "1")
    np.testing.assert_array_equal(ds.x[..., 0], x)
    np.testing.assert_array_equal(ds.y, y)


def test_npz_one_hot_labels(tmp_path: Path) -> None:
    y = np.eye(3)[[0, 1, 2, 2]]
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2), np.float32), y=y)
    np.testing.assert_array_equal(load_dataset(tmp_path / "d.npz", (2,)).y, [0, 1, 2, 2])


@pytest.mark.parametrize(("arrays", "message"), [
    ({"x": np.zeros((4, 2))}, "no array named y"),
    ({"x": np.zeros((4, 3)), "y": np.array([0, 1, 0, 1])}, r"shape \(3,\), the model input is \(2,\)"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 1, 0])}, r"y has shape \(3,\)"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 0, 0, 0])}, "only one class"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 2, 0, 2])}, "class.* 1 have no samples"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, -1, 0, 1])}, "non-negative integers"),
    ({"x": np.zeros((4, 2)), "y": np.array([0.5, 1, 0, 1])}, "non-negative integers"),
    ({"x": np.full((4, 2), np.nan), "y": np.array([0, 1, 0, 1])}, "NaN"),
    ({"x": np.zeros((0, 2)), "y": np.zeros(0, np.int64)}, "empty"),
], ids=["no-y", "shape", "length", "one-class", "gap", "negative", "fractional", "nan", "empty"])
def test_npz_errors(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(InputError, match=message):
        load_dataset(tmp_path / "d.npz", (2,))


def test_missing_path_and_wrong_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_dataset(tmp_path / "nope", (2,))
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(InputError, match="not a data set"):
        load_dataset(tmp_path / "x.csv", (2,))


# ---- WAV class folders -----------------------------------------------------------------------------


def test_wav_folders_become_mfccs_of_the_model_input(tmp_path: Path) -> None:
    low, high = tone(300), tone(2500)
    write_wav(tmp_path / "low" / "a.wav", low)
    write_wav(tmp_path / "low" / "b.wav", tone(350))
    write_wav(tmp_path / "high" / "a.wav", high)
    ds = load_dataset(tmp_path, (49, 10, 1))
    assert ds.classes == ("high", "low") and ds.kind == "audio"
    assert ds.x.shape == (3, 49, 10, 1)
    np.testing.assert_array_equal(ds.y, [0, 1, 1])
    np.testing.assert_array_equal(ds.x[0, ..., 0], mfcc_float(high, MfccConfig()))
    # another input shape: the frames and coefficients follow the model
    ds2 = load_dataset(tmp_path, (20, 13))
    cfg = MfccConfig(n_frames=20, n_coeffs=13)
    np.testing.assert_array_equal(ds2.x[2], mfcc_float(tone(350), cfg))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"width": 1}, "8-bit samples"),
    ({"channels": 2}, "2 channels"),
    ({"rate": 8000}, "8000 Hz"),
], ids=["8bit", "stereo", "rate"])
def test_wav_format_errors(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    pcm = tone(440) if kwargs.get("width", 2) == 2 else np.zeros(16000, np.uint8)
    write_wav(tmp_path / "a" / "x.wav", pcm, **kwargs)
    write_wav(tmp_path / "b" / "x.wav", tone(880))
    with pytest.raises(InputError, match=message):
        load_dataset(tmp_path, (49, 10, 1))


def test_wav_needs_an_audio_shaped_model(tmp_path: Path) -> None:
    write_wav(tmp_path / "a" / "x.wav", tone(440))
    write_wav(tmp_path / "b" / "x.wav", tone(880))
    with pytest.raises(InputError, match="frames, coeffs"):
        load_dataset(tmp_path, (32, 32, 3))


# ---- images ----------------------------------------------------------------------------------------


def test_netpbm_reader_round_trip(tmp_path: Path) -> None:
    px = np.random.default_rng(1).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    np.testing.assert_array_equal(read_netpbm(write_ppm(tmp_path / "a.ppm", px)), px)
    grey = px[..., :1]
    np.testing.assert_array_equal(read_netpbm(write_ppm(tmp_path / "a.pgm", grey)), grey)
    (tmp_path / "bad.ppm").write_bytes(b"P3\n1 1\n255\n0 0 0\n")
    with pytest.raises(InputError, match="binary PGM/PPM"):
        read_netpbm(tmp_path / "bad.ppm")


def test_bilinear_resize_identity_and_halving() -> None:
    img = np.random.default_rng(2).uniform(0, 255, (8, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(resize_bilinear(img, 8, 6), img)
    half = resize_bilinear(img, 4, 3)
    blocks = img.reshape(4, 2, 3, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(half, blocks, rtol=1e-5)


def test_image_folders_resized_scaled_and_converted(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    write_ppm(tmp_path / "red" / "a.ppm", red)
    write_ppm(tmp_path / "noise" / "a.ppm", rng.integers(0, 256, (10, 12, 3)))
    ds = load_dataset(tmp_path, (8, 8, 3))
    assert ds.x.shape == (2, 8, 8, 3) and ds.classes == ("noise", "red")
    np.testing.assert_allclose(ds.x[1, ..., 0], 1.0)
    np.testing.assert_allclose(ds.x[1, ..., 1:], 0.0)
    sym = load_dataset(tmp_path, (8, 8, 3), DataOptions(image_scale="symmetric"))
    np.testing.assert_allclose(sym.x[1, ..., 0], 1.0)
    np.testing.assert_allclose(sym.x[1, ..., 1], -1.0)
    grey = load_dataset(tmp_path, (8, 8, 1), DataOptions(image_scale="raw"))
    np.testing.assert_allclose(grey.x[1], (77 * 255 + 128) >> 8)   # BT.601 luma of pure red


def test_png_images_through_pillow(tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    for name, value in (("dark", 10), ("light", 240)):
        (tmp_path / name).mkdir()
        image.fromarray(np.full((6, 6), value, np.uint8)).save(tmp_path / name / "a.png")
    ds = load_dataset(tmp_path, (3, 3, 3), DataOptions(image_scale="raw"))
    np.testing.assert_allclose(ds.x[0], 10.0)
    np.testing.assert_allclose(ds.x[1], 240.0)


# ---- .npy folders and folder errors ----------------------------------------------------------------


def test_npy_folders_and_a_mismatched_sample(tmp_path: Path) -> None:
    for k in ("a", "b"):
        (tmp_path / k).mkdir()
        np.save(tmp_path / k / "0.npy", np.ones((4, 3), np.float32))
    ds = load_dataset(tmp_path, (4, 3))
    assert ds.x.shape == (2, 4, 3) and ds.kind == "array"
    np.save(tmp_path / "b" / "1.npy", np.ones((4, 4), np.float32))
    with pytest.raises(InputError, match=r"1\.npy: samples have shape \(4, 4\)"):
        load_dataset(tmp_path, (4, 3))


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no class subfolders"):
        load_dataset(tmp_path, (2,))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(InputError, match=r"no \.wav, image or \.npy files"):
        load_dataset(tmp_path, (2,))
    np.save(tmp_path / "a" / "0.npy", np.zeros(2, np.float32))
    with pytest.raises(InputError, match="no array files in this class folder"):
        load_dataset(tmp_path, (2,))
    write_wav(tmp_path / "b" / "0.wav", tone(440))
    with pytest.raises(InputError, match="mixes array and audio"):
        load_dataset(tmp_path, (2,))


def test_class_order_from_labels(tmp_path: Path) -> None:
    for k, name in enumerate(("yes", "no", "silence")):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "0.npy", np.full(2, k, np.float32))
    ds = load_dataset(tmp_path, (2,), DataOptions(classes=("silence", "yes", "no")))
    assert ds.classes == ("silence", "yes", "no")
    np.testing.assert_array_equal(ds.x[:, 0], [2, 0, 1])
    np.testing.assert_array_equal(ds.y, [0, 1, 2])
    with pytest.raises(InputError, match="folders not among the labels: silence; labels without "
                                         "a folder: up"):
        load_dataset(tmp_path, (2,), DataOptions(classes=("yes", "no", "up")))


def test_one_class_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "only").mkdir()
    np.save(tmp_path / "only" / "0.npy", np.zeros(2, np.float32))
    with pytest.raises(InputError, match="only one class"):
        load_dataset(tmp_path, (2,))


# ---- split -----------------------------------------------------------------------------------------


def _dataset(tmp_path: Path, counts: tuple[int, ...]) -> Dataset:
    y = np.concatenate([np.full(n, k) for k, n in enumerate(counts)])
    x = np.arange(len(y), dtype=np.float32)[:, None]
    np.savez(tmp_path / "d.npz", x=x, y=y)
    return load_dataset(tmp_path / "d.npz", (1,))


def test_split_is_stratified_deterministic_and_disjoint(tmp_path: Path) -> None:
    ds = _dataset(tmp_path, (50, 30, 3))
    a = split_dataset(ds, 0.2, seed=4)
    b = split_dataset(ds, 0.2, seed=4)
    c = split_dataset(ds, 0.2, seed=5)
    np.testing.assert_array_equal(a.val_x, b.val_x)
    np.testing.assert_array_equal(a.train_x, b.train_x)
    assert not np.array_equal(a.val_x, c.val_x)
    assert a.val_counts == (10, 6, 1) and a.train_counts == (40, 24, 2)
    ids = np.concatenate([a.train_x[:, 0], a.val_x[:, 0]])
    assert sorted(ids.tolist()) == list(range(83))
    assert "66 train / 17 validation" in a.describe()


def test_split_errors(tmp_path: Path) -> None:
    ds = _dataset(tmp_path, (5, 1))
    with pytest.raises(InputError, match="class '1' has 1 sample"):
        split_dataset(ds, 0.2)
    with pytest.raises(InputError, match="between 0 and 1"):
        split_dataset(ds, 1.0)
