"""Image front-end: the C, built with the host gcc and called through ctypes, equals its Python twin.

The pipeline is integer arithmetic from end to end (the float maths happens once, in Python, when the
tables are generated), so the int8 outputs must be exactly equal: for every pixel format, both resize
modes, both colour conversions, crop and stretch, down- and up-scaling, and random configurations.
The twin's resize is checked against a float64 bilinear reference, within one 8-bit level.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.dsp import (
    ImageConfig,
    emit_config_header,
    image_features,
    image_float,
    image_pixels,
    pack_frame,
)
from generator.dsp.host import build_host_library, cross_compile
from generator.dsp.image import PIXEL_CODES, image_tables
from generator.errors import InputError

U8 = npt.NDArray[np.uint8]

CONFIGS = {
    "default_rgb565_bilinear": ImageConfig(),
    "rgb565_be_nearest_to_gray": ImageConfig(in_format="rgb565_be", resize="nearest",
                                             out_format="gray", out_width=64, out_height=48,
                                             pixel_mean=127.5, pixel_std=127.5,
                                             out_scale=1 / 128, out_zero_point=0),
    "rgb888_tall_upscale": ImageConfig(in_width=40, in_height=64, in_format="rgb888",
                                       out_width=96, out_height=96),
    "gray8_same_size_to_rgb": ImageConfig(in_width=96, in_height=96, in_format="gray8"),
    "gray8_stretch_to_gray": ImageConfig(in_width=320, in_height=240, in_format="gray8",
                                         crop="none", out_format="gray", out_width=100,
                                         out_height=30, out_scale=0.05, out_zero_point=10),
    "rgb888_to_gray_bilinear": ImageConfig(in_width=176, in_height=144, in_format="rgb888",
                                           out_format="gray", out_width=80, out_height=80,
                                           pixel_mean=100.0, pixel_std=-50.0, out_scale=0.02,
                                           out_zero_point=-5),
}


def rgb_scenes(h: int, w: int, seed: int = 0) -> Iterator[tuple[str, U8]]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    yield "black", np.zeros((h, w, 3), np.uint8)
    yield "white", np.full((h, w, 3), 255, np.uint8)
    yield "gradient", np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1),
                                (xx + yy) * 255 // max(w + h - 2, 1)], -1).astype(np.uint8)
    yield "checker", (((xx // 3 + yy // 3) % 2) * 255)[..., None].repeat(3, -1).astype(np.uint8)
    yield "noise", rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def frames(cfg: ImageConfig) -> Iterator[tuple[str, U8]]:
    """Camera frames for ``cfg``: packed scenes, plus raw random bytes (valid in every format)."""
    for name, rgb in rgb_scenes(cfg.in_height, cfg.in_width):
        yield name, pack_frame(rgb, cfg.in_format)
    yield "random_bytes", np.random.default_rng(7).integers(0, 256, cfg.frame_bytes, np.uint8)


# ---- C harness -----------------------------------------------------------------------------------


@dataclass
class CImage:
    lib: ctypes.CDLL
    cfg: ImageConfig

    def __call__(self, frame: U8) -> npt.NDArray[np.int8]:
        out = np.zeros(self.cfg.output_shape, np.int8)
        src = np.ascontiguousarray(frame, np.uint8)
        self.lib.mcuf_image_preprocess(src.ctypes.data_as(ctypes.c_void_p),
                                       out.ctypes.data_as(ctypes.c_void_p))
        return out


@pytest.fixture(scope="session")
def c_image(tmp_path_factory: pytest.TempPathFactory) -> Callable[[ImageConfig], CImage]:
    built: dict[ImageConfig, CImage] = {}

    def get(cfg: ImageConfig) -> CImage:
        if cfg not in built:
            lib = build_host_library(tmp_path_factory.mktemp("image_c"), cfg)
            built[cfg] = CImage(ctypes.CDLL(str(lib)), cfg)
        return built[cfg]

    return get


# ---- configuration -------------------------------------------------------------------------------


@pytest.mark.unit
def test_defaults_are_qqvga_to_96x96_rgb() -> None:
    cfg = ImageConfig()
    assert cfg.frame_bytes == 160 * 120 * 2
    assert cfg.crop_box == (20, 0, 120, 120)
    assert cfg.output_shape == (96, 96, 3)


@pytest.mark.unit
@pytest.mark.parametrize(("kwargs", "box"), [
    ({"in_width": 40, "in_height": 64, "out_width": 96, "out_height": 96}, (0, 12, 40, 40)),
    ({"in_width": 160, "in_height": 120, "out_width": 64, "out_height": 48}, (0, 0, 160, 120)),
    ({"in_width": 160, "in_height": 120, "out_width": 100, "out_height": 30}, (0, 36, 160, 48)),
    ({"in_width": 160, "in_height": 120, "crop": "none"}, (0, 0, 160, 120)),
])
def test_centre_crop_keeps_the_model_aspect(kwargs: dict[str, object],
                                             box: tuple[int, int, int, int]) -> None:
    assert ImageConfig(**kwargs).crop_box == box  # type: ignore[arg-type]


@pytest.mark.unit
@pytest.mark.parametrize(("field", "value"), [
    ("in_width", 0), ("in_height", 5000), ("out_width", 1.5), ("in_format", "yuv422"),
    ("crop", "left"), ("resize", "bicubic"), ("out_format", "bgr"), ("pixel_std", 0.0),
    ("pixel_mean", float("inf")), ("out_scale", -1.0), ("out_zero_point", -129),
])
def test_invalid_field_is_named(field: str, value: object) -> None:
    with pytest.raises(InputError) as info:
        ImageConfig(**{field: value})  # type: ignore[arg-type]
    assert info.value.message.startswith(f"ImageConfig.{field}:")
    assert info.value.hint


@pytest.mark.unit
def test_describe_gives_the_numbers() -> None:
    text = ImageConfig().describe()
    for part in ("160x120 rgb565", "120x120 at (20, 0)", "bilinear", "96x96 rgb", "/ 255",
                 "zero point -128"):
        assert part in text


@pytest.mark.unit
def test_config_header_block() -> None:
    macros = dict(re.findall(r"#define (\w+) +(\S+)", emit_config_header(ImageConfig())))
    assert macros["MCUF_IMAGE_IN_FORMAT"] == str(PIXEL_CODES["rgb565"])
    assert macros["MCUF_IMAGE_FRAME_BYTES"] == "38400"
    assert macros["MCUF_IMAGE_RESIZE_BILINEAR"] == "1"
    assert macros["MCUF_IMAGE_OUT_CHANNELS"] == "3"


# ---- the twin ------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("fmt", list(PIXEL_CODES))
@pytest.mark.parametrize("resize", ["nearest", "bilinear"])
def test_same_size_is_identity(fmt: str, resize: str) -> None:
    rgb = next(s for n, s in rgb_scenes(24, 32) if n == "noise")
    if fmt.startswith("rgb565"):  # keep only what 5/6/5 bits can carry, widened as decoded
        r, g, b = rgb[..., 0] >> 3, rgb[..., 1] >> 2, rgb[..., 2] >> 3
        rgb = np.stack([r << 3 | r >> 2, g << 2 | g >> 4, b << 3 | b >> 2], -1).astype(np.uint8)
    cfg = ImageConfig(in_width=32, in_height=24, in_format=fmt, resize=resize,  # type: ignore[arg-type]
                      out_width=32, out_height=24, out_format="gray" if fmt == "gray8" else "rgb")
    expect = pack_frame(rgb, "gray8") if fmt == "gray8" else rgb
    np.testing.assert_array_equal(image_pixels(pack_frame(rgb, fmt), cfg), expect)  # type: ignore[arg-type]


@pytest.mark.unit
def test_rgb565_byte_orders_decode_alike() -> None:
    rgb = next(s for n, s in rgb_scenes(120, 160) if n == "gradient")
    le, be = ImageConfig(in_format="rgb565"), ImageConfig(in_format="rgb565_be")
    np.testing.assert_array_equal(image_pixels(pack_frame(rgb, "rgb565"), le),
                                  image_pixels(pack_frame(rgb, "rgb565_be"), be))
    assert pack_frame(np.full((1, 1, 3), 255, np.uint8), "rgb565").ravel().tolist() == [255, 255]
    red = pack_frame(np.array([[[255, 0, 0]]], np.uint8), "rgb565_be").ravel().tolist()
    assert red == [0xF8, 0x00]


def reference_bilinear(img: npt.NDArray[np.float64], cfg: ImageConfig) -> npt.NDArray[np.float64]:
    """Float64 bilinear resize of the crop with half-pixel centres, edges clamped."""
    x, y, w, h = cfg.crop_box
    crop = img[y : y + h, x : x + w]

    def axis(n_out: int, n_in: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp],
                                             npt.NDArray[np.float64]]:
        s = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        i0 = np.floor(s).astype(np.intp)
        return i0, np.minimum(i0 + 1, n_in - 1), s - i0

    x0, x1, fx = axis(cfg.out_width, w)
    y0, y1, fy = axis(cfg.out_height, h)
    fx3, fy3 = fx[None, :, None], fy[:, None, None]
    top = crop[y0][:, x0] * (1 - fx3) + crop[y0][:, x1] * fx3
    bottom = crop[y1][:, x0] * (1 - fx3) + crop[y1][:, x1] * fx3
    out: npt.NDArray[np.float64] = top * (1 - fy3) + bottom * fy3
    return out


@pytest.mark.unit
@pytest.mark.parametrize("name", list(CONFIGS))
def test_bilinear_is_within_one_level_of_float_reference(name: str) -> None:
    cfg = replace(CONFIGS[name], in_format="rgb888", out_format="rgb", resize="bilinear")
    for scene, rgb in rgb_scenes(cfg.in_height, cfg.in_width):
        ref = reference_bilinear(rgb.astype(np.float64), cfg)
        got = image_pixels(pack_frame(rgb, "rgb888"), cfg).astype(np.float64)
        # Positions are rounded to 1/256 pixel on each axis and the value to an integer, so a hard
        # edge can be off by up to 1.5 levels in theory; on these scenes the worst is 0.97.
        assert np.abs(got - ref).max() <= 1.0, scene


@pytest.mark.unit
def test_luma_of_grey_levels_is_exact() -> None:
    grey = np.arange(256, dtype=np.uint8)[None, :, None].repeat(3, -1)
    np.testing.assert_array_equal(pack_frame(grey, "gray8")[0, :, 0], np.arange(256))


@pytest.mark.unit
def test_lookup_table_quantises_as_documented() -> None:
    assert image_tables(ImageConfig()).lut.tolist() == list(range(-128, 128))
    mobilenet = ImageConfig(pixel_mean=127.5, pixel_std=127.5, out_scale=1 / 128, out_zero_point=0)
    lut = image_tables(mobilenet).lut.astype(int)
    assert lut[0] == -128 and lut[255] == 127 and np.all(np.diff(lut) >= 0)


@pytest.mark.unit
@pytest.mark.parametrize("name", list(CONFIGS))
def test_float_path_quantises_to_the_int8_path(name: str) -> None:
    cfg = CONFIGS[name]
    for _, frame in frames(cfg):
        v = image_float(frame, cfg).astype(np.float64) / cfg.out_scale
        q = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + cfg.out_zero_point, -128, 127)
        np.testing.assert_array_equal(image_features(frame, cfg), q.astype(np.int8))


@pytest.mark.unit
def test_frame_must_be_the_right_bytes() -> None:
    with pytest.raises(InputError, match="pack_frame"):
        image_features(np.zeros((120, 160, 3), np.uint8))  # rgb888-sized, config wants rgb565
    with pytest.raises(InputError, match="uint8"):
        image_features(np.zeros(38400, np.float32))
    with pytest.raises(InputError, match="RGB"):
        pack_frame(np.zeros((4, 4), np.uint8), "rgb565")


# ---- C against the twin --------------------------------------------------------------------------


@pytest.mark.hostc
@pytest.mark.parametrize("name", list(CONFIGS))
def test_c_equals_twin_exactly(name: str, c_image: Callable[[ImageConfig], CImage]) -> None:
    cfg = CONFIGS[name]
    for scene, frame in frames(cfg):
        np.testing.assert_array_equal(c_image(cfg)(frame), image_features(frame, cfg),
                                      err_msg=f"{name}/{scene}")


@st.composite
def image_configs(draw: st.DrawFn) -> ImageConfig:
    return ImageConfig(
        in_width=draw(st.integers(1, 200)), in_height=draw(st.integers(1, 150)),
        in_format=draw(st.sampled_from(list(PIXEL_CODES))),
        crop=draw(st.sampled_from(["center", "none"])),
        resize=draw(st.sampled_from(["bilinear", "nearest"])),
        out_width=draw(st.integers(1, 120)), out_height=draw(st.integers(1, 120)),
        out_format=draw(st.sampled_from(["rgb", "gray"])),
        pixel_mean=draw(st.sampled_from([0.0, 127.5, 128.0])),
        pixel_std=draw(st.sampled_from([255.0, 127.5, 1.0, -64.0])),
        out_scale=draw(st.sampled_from([1 / 255, 1 / 128, 0.02, 1.0])),
        out_zero_point=draw(st.integers(-128, 127)),
    )


@pytest.mark.hostc
@settings(max_examples=25, deadline=None)
@given(cfg=image_configs(), seed=st.integers(0, 2**32 - 1))
def test_c_equals_twin_exactly_for_random_configurations(
        cfg: ImageConfig, seed: int, c_image: Callable[[ImageConfig], CImage]) -> None:
    frame = np.random.default_rng(seed).integers(0, 256, cfg.frame_bytes, np.uint8)
    np.testing.assert_array_equal(c_image(cfg)(frame), image_features(frame, cfg))


# ---- cross build ---------------------------------------------------------------------------------


@pytest.mark.cross
@pytest.mark.parametrize("name", list(CONFIGS))
def test_cross_compiles_for_cortex_m4f_integer_only(name: str, tmp_path: Path) -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc not found: apt-get install gcc-arm-none-eabi")
    (obj,) = cross_compile(tmp_path, CONFIGS[name])
    undefined = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], check=True,
                               capture_output=True, text=True).stdout.split()
    assert set(undefined) - {"U"} <= {"memcpy", "memset"}
    asm = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], check=True,
                         capture_output=True, text=True).stdout
    assert ".f32" not in asm and ".f64" not in asm  # integer arithmetic only
