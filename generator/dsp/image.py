"""Visual-wake-words front-end: camera frame -> int8 model input. Python twin of ``mcuf_image.c``.

1. decode each source pixel to 8-bit channels: RGB565 expands 5/6-bit fields by bit replication
   (``r8 = r5 << 3 | r5 >> 2``); ``rgb565`` is little-endian (the uint16 as stored by the CPU),
   ``rgb565_be`` has the high byte first (as many camera interfaces deliver it);
2. centre crop to the model's aspect ratio (``crop="center"``) or use the whole frame (``"none"``,
   which stretches);
3. resize to the model's height x width with half-pixel centres (as TensorFlow's
   ``half_pixel_centers=True``): ``bilinear`` in 8.8 fixed point, or ``nearest`` (the centre sample);
4. convert colour: grey to RGB replicates; RGB to grey is BT.601 luma ``(77 R + 150 G + 29 B + 128) >> 8``;
5. quantise through a 256-entry lookup table: ``q = round((pixel - pixel_mean) / pixel_std / out_scale)
   + out_zero_point``, rounded half away from zero and clamped to int8.

Everything after the table generation is integer arithmetic, so the C and the twin agree exactly. The
source coordinates and weights of each output row and column are computed here and emitted into
``mcuf_image_tables.h`` together with the lookup table. Output layout: ``[H][W][C]``, RGB order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from generator.dsp import checks
from generator.dsp.cheader import CMacro, CTable
from generator.errors import InputError

PixelFormat = Literal["rgb565", "rgb565_be", "rgb888", "gray8"]
U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]

_OWNER = "ImageConfig"
# Codes of MCUF_IMAGE_IN_FORMAT, matching the MCUF_PIXEL_* names in mcuf_image.h.
PIXEL_CODES: dict[str, int] = {"gray8": 0, "rgb565": 1, "rgb565_be": 2, "rgb888": 3}
_BYTES_PER_PIXEL = {"gray8": 1, "rgb565": 2, "rgb565_be": 2, "rgb888": 3}
_LUMA = (np.uint32(77), np.uint32(150), np.uint32(29))


@dataclass(frozen=True)
class ImageConfig:
    """Every parameter of the image front-end. Default: QQVGA RGB565 camera -> 96x96x3 int8 input."""

    kind: ClassVar[str] = "image"

    in_width: int = 160
    in_height: int = 120
    in_format: PixelFormat = "rgb565"
    crop: Literal["center", "none"] = "center"
    resize: Literal["bilinear", "nearest"] = "bilinear"
    out_width: int = 96
    out_height: int = 96
    out_format: Literal["rgb", "gray"] = "rgb"
    pixel_mean: float = 0.0
    pixel_std: float = 255.0
    out_scale: float = 1.0 / 255.0
    out_zero_point: int = -128

    def __post_init__(self) -> None:
        self.validate()

    @property
    def in_channels(self) -> int:
        return 1 if self.in_format == "gray8" else 3

    @property
    def bytes_per_pixel(self) -> int:
        return _BYTES_PER_PIXEL[self.in_format]

    @property
    def frame_bytes(self) -> int:
        return self.in_width * self.in_height * self.bytes_per_pixel

    @property
    def out_channels(self) -> int:
        return 1 if self.out_format == "gray" else 3

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return (self.out_height, self.out_width, self.out_channels)

    @property
    def crop_box(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the part of the frame that is resized."""
        w, h = self.in_width, self.in_height
        if self.crop == "none":
            return (0, 0, w, h)
        if w * self.out_height > h * self.out_width:  # frame wider than the model input
            cw = max(1, h * self.out_width // self.out_height)
            return ((w - cw) // 2, 0, cw, h)
        ch = max(1, w * self.out_height // self.out_width)
        return (0, (h - ch) // 2, w, ch)

    def validate(self) -> None:
        """Raise :class:`InputError` naming the first field that cannot work."""
        for name in ("in_width", "in_height", "out_width", "out_height"):
            checks.int_in(_OWNER, name, getattr(self, name), 1, 4096)
        _choice("in_format", self.in_format, tuple(PIXEL_CODES))
        _choice("crop", self.crop, ("center", "none"))
        _choice("resize", self.resize, ("bilinear", "nearest"))
        _choice("out_format", self.out_format, ("rgb", "gray"))
        checks.require(checks.is_real(self.pixel_mean), _OWNER, "pixel_mean",
                       f"must be a finite number, got {self.pixel_mean!r}",
                       "use 0 for inputs in [0, 1] or 127.5 for inputs in [-1, 1]")
        checks.require(checks.is_real(self.pixel_std) and self.pixel_std != 0, _OWNER, "pixel_std",
                       f"must be a finite non-zero number, got {self.pixel_std!r}",
                       "use 255 for inputs in [0, 1] or 127.5 for inputs in [-1, 1]")
        checks.quant_scale(_OWNER, "out_scale", self.out_scale)
        checks.zero_point(_OWNER, "out_zero_point", self.out_zero_point)

    def describe(self) -> str:
        x, y, w, h = self.crop_box
        return (
            f"Image: {self.in_width}x{self.in_height} {self.in_format} frame, {self.crop} crop "
            f"{w}x{h} at ({x}, {y}), {self.resize} resize to {self.out_width}x{self.out_height} "
            f"{self.out_format}, real = (pixel - {self.pixel_mean:g}) / {self.pixel_std:g}, "
            f"int8 scale {self.out_scale:g} zero point {self.out_zero_point}"
        )

    def c_macros(self) -> tuple[CMacro, ...]:
        x, y, w, h = self.crop_box
        return (
            CMacro("MCUF_IMAGE_IN_WIDTH", str(self.in_width), "camera frame, pixels"),
            CMacro("MCUF_IMAGE_IN_HEIGHT", str(self.in_height)),
            CMacro("MCUF_IMAGE_IN_FORMAT", str(PIXEL_CODES[self.in_format]),
                   f"MCUF_PIXEL_{self.in_format.upper()}"),
            CMacro("MCUF_IMAGE_IN_CHANNELS", str(self.in_channels)),
            CMacro("MCUF_IMAGE_IN_BYTES_PER_PIXEL", str(self.bytes_per_pixel)),
            CMacro("MCUF_IMAGE_FRAME_BYTES", str(self.frame_bytes), "bytes per camera frame"),
            CMacro("MCUF_IMAGE_CROP", f"{x}, {y}, {w}, {h}", "x, y, width, height (informative)"),
            CMacro("MCUF_IMAGE_RESIZE_BILINEAR", "1" if self.resize == "bilinear" else "0",
                   "0: nearest"),
            CMacro("MCUF_IMAGE_OUT_WIDTH", str(self.out_width), "model input"),
            CMacro("MCUF_IMAGE_OUT_HEIGHT", str(self.out_height)),
            CMacro("MCUF_IMAGE_OUT_CHANNELS", str(self.out_channels), "1: grey, 3: RGB"),
        )

    def c_tables(self) -> tuple[CTable, ...]:
        t = image_tables(self)
        tables = [
            CTable("uint16_t", "mcuf_image_x0", t.x0, "source column of each output column"),
            CTable("uint16_t", "mcuf_image_y0", t.y0, "source row of each output row"),
        ]
        if self.resize == "bilinear":
            tables += [
                CTable("uint16_t", "mcuf_image_x1", t.x1, "right neighbour column"),
                CTable("uint8_t", "mcuf_image_fx", t.fx, "weight of x1, in 1/256"),
                CTable("uint16_t", "mcuf_image_y1", t.y1, "lower neighbour row"),
                CTable("uint8_t", "mcuf_image_fy", t.fy, "weight of y1, in 1/256"),
            ]
        tables.append(CTable("int8_t", "mcuf_image_lut", t.lut, "8-bit pixel -> int8 input"))
        return tuple(tables)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    checks.require(value in allowed, _OWNER, name, f"must be one of {', '.join(allowed)}, "
                   f"got {value!r}", f"set {name} to one of {', '.join(allowed)}")


@dataclass(frozen=True, eq=False)
class ImageTables:
    x0: npt.NDArray[np.uint16]
    x1: npt.NDArray[np.uint16]
    fx: npt.NDArray[np.uint8]
    y0: npt.NDArray[np.uint16]
    y1: npt.NDArray[np.uint16]
    fy: npt.NDArray[np.uint8]
    lut: npt.NDArray[np.int8]


def _axis_map(out_n: int, start: int, length: int, bilinear: bool) -> tuple[
        npt.NDArray[np.uint16], npt.NDArray[np.uint16], npt.NDArray[np.uint8]]:
    """Source index, neighbour and 8-bit weight per output index, half-pixel centres."""
    d = np.arange(out_n, dtype=np.int64)
    if bilinear:
        # (d + 1/2) * length / out_n - 1/2 in 1/256 pixel, rounded to nearest
        s = ((2 * d + 1) * length * 256 + out_n) // (2 * out_n) - 128
        s = np.clip(s, 0, (length - 1) * 256)
        i0, f = s >> 8, s & 255
        i1 = np.minimum(i0 + 1, length - 1)
    else:
        i0 = (2 * d + 1) * length // (2 * out_n)
        i1, f = i0, np.zeros_like(i0)
    return ((i0 + start).astype(np.uint16), (i1 + start).astype(np.uint16), f.astype(np.uint8))


def _lut(cfg: ImageConfig) -> npt.NDArray[np.int8]:
    v = (np.arange(256, dtype=np.float64) - cfg.pixel_mean) / cfg.pixel_std / cfg.out_scale
    q = np.sign(v) * np.floor(np.abs(v) + 0.5) + cfg.out_zero_point
    lut: npt.NDArray[np.int8] = np.clip(q, -128, 127).astype(np.int8)
    return lut


@cache
def image_tables(cfg: ImageConfig) -> ImageTables:
    x, y, w, h = cfg.crop_box
    bilinear = cfg.resize == "bilinear"
    x0, x1, fx = _axis_map(cfg.out_width, x, w, bilinear)
    y0, y1, fy = _axis_map(cfg.out_height, y, h, bilinear)
    tables = ImageTables(x0=x0, x1=x1, fx=fx, y0=y0, y1=y1, fy=fy, lut=_lut(cfg))
    for arr in vars(tables).values():
        arr.setflags(write=False)
    return tables


# ---- the twin of mcuf_image.c ---------------------------------------------------------------------


def _decode(frame: npt.ArrayLike, cfg: ImageConfig) -> U32:
    """(in_height, in_width, in_channels) 8-bit channel values as uint32."""
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.size != cfg.frame_bytes:
        raise InputError(
            f"image frame must be {cfg.frame_bytes} uint8 bytes ({cfg.in_width}x{cfg.in_height} "
            f"{cfg.in_format}), got {arr.dtype} {arr.shape}",
            "pass the raw camera bytes, or make them from an RGB image with pack_frame()")
    raw = arr.reshape(cfg.in_height, cfg.in_width, cfg.bytes_per_pixel).astype(np.uint32)
    if cfg.in_format in ("gray8", "rgb888"):
        return raw
    lo, hi = (raw[..., 0], raw[..., 1]) if cfg.in_format == "rgb565" else (raw[..., 1], raw[..., 0])
    v = lo | (hi << 8)
    r, g, b = v >> 11, (v >> 5) & 0x3F, v & 0x1F
    return np.stack([(r << 3) | (r >> 2), (g << 2) | (g >> 4), (b << 3) | (b >> 2)], axis=-1)


def _resize(img: U32, t: ImageTables, bilinear: bool) -> U32:
    p00 = img[t.y0][:, t.x0]
    if not bilinear:
        return p00
    p01, p10, p11 = img[t.y0][:, t.x1], img[t.y1][:, t.x0], img[t.y1][:, t.x1]
    one = np.uint32(256)
    fx = t.fx.astype(np.uint32)[None, :, None]
    fy = t.fy.astype(np.uint32)[:, None, None]
    top = p00 * (one - fx) + p01 * fx
    bottom = p10 * (one - fx) + p11 * fx
    out: U32 = (top * (one - fy) + bottom * fy + np.uint32(32768)) >> np.uint32(16)
    return out


def _convert(px: U32, out_channels: int) -> U32:
    if px.shape[-1] == out_channels:
        return px
    if out_channels == 3:
        return np.repeat(px, 3, axis=-1)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    luma: U32 = (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b + np.uint32(128)) >> np.uint32(8)
    return luma[..., None]


def image_pixels(frame: npt.ArrayLike, cfg: ImageConfig | None = None) -> U8:
    """The 8-bit pixels after crop, resize and colour conversion: (out_height, out_width, C)."""
    cfg = cfg or ImageConfig()
    resized = _resize(_decode(frame, cfg), image_tables(cfg), cfg.resize == "bilinear")
    return _convert(resized, cfg.out_channels).astype(np.uint8)


def image_features(frame: npt.ArrayLike, cfg: ImageConfig | None = None) -> npt.NDArray[np.int8]:
    """int8 model input (out_height, out_width, C), equal to ``mcuf_image_preprocess``."""
    cfg = cfg or ImageConfig()
    return image_tables(cfg).lut[image_pixels(frame, cfg)]


def image_float(frame: npt.ArrayLike, cfg: ImageConfig | None = None) -> npt.NDArray[np.float32]:
    """float32 model input before quantisation, ``(pixel - pixel_mean) / pixel_std``, for training."""
    cfg = cfg or ImageConfig()
    px = image_pixels(frame, cfg).astype(np.float64)
    return ((px - cfg.pixel_mean) / cfg.pixel_std).astype(np.float32)


def pack_frame(rgb: npt.ArrayLike, in_format: PixelFormat) -> U8:
    """Camera bytes of an (H, W, 3) uint8 RGB image in ``in_format``, as (H, W, bytes per pixel).

    RGB565 keeps the top 5/6/5 bits of each channel; grey is the BT.601 luma used by the front-end.
    """
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3:
        raise InputError(f"pack_frame needs an (H, W, 3) uint8 RGB image, got {arr.dtype} "
                         f"{arr.shape}", "convert the image with np.asarray(img, np.uint8)")
    if in_format not in PIXEL_CODES:
        raise InputError(f"unknown pixel format {in_format!r}",
                         f"use one of {', '.join(PIXEL_CODES)}")
    if in_format == "rgb888":
        return arr.copy()
    px = arr.astype(np.uint32)
    if in_format == "gray8":
        return _convert(px, 1).astype(np.uint8)
    v = ((px[..., 0] >> 3) << 11) | ((px[..., 1] >> 2) << 5) | (px[..., 2] >> 3)
    lo, hi = (v & 0xFF).astype(np.uint8), (v >> 8).astype(np.uint8)
    return np.stack([lo, hi] if in_format == "rgb565" else [hi, lo], axis=-1)
