"""Visual wake words: camera frame -> crop, resize, colour convert, int8 -> model -> person or not.

The firmware (``templates/projects/vww``) captures a frame into its frame buffer, lets the image
front-end write the model input straight into the arena, runs the model and tracks the ``person``
class with hysteresis: present when its score reaches ``on_threshold``, absent again at or below
``off_threshold``.

Camera frame size and pixel format come from the board's camera: the smallest standard size (QQVGA
160x120, QVGA 320x240, VGA 640x480) that covers the model input and that the camera reaches (its
YAML width and height are its largest frame); on a board without a camera, the replay image's size
(or 160x120 RGB565). The pixel normalisation defaults to what the model's input
quantisation suggests: inputs reaching below -0.5 are taken as ``[-1, 1]`` (mean 127.5, std 127.5),
others as ``[0, 1]`` (mean 0, std 255); set ``frontend: {pixel_mean, pixel_std}`` to override.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from generator.boards import Board, PixelFormat
from generator.codegen.schedule import IOSpec
from generator.dsp import ImageConfig, image_features, pack_frame
from generator.errors import InputError
from generator.project.apps.common import (
    AppPlan,
    AppRequest,
    check_dims,
    check_int8,
    feature_dims,
    n_classes,
    prob_to_q,
    resolve_labels,
)
from generator.project.options import MODEL_QUANT_FIELDS, AppKind, VwwSettings, apply_overrides
from generator.project.replay import Replay, read_images

PERIPHERAL = "camera"
DEFAULT_REPLAY = ("3 frames: a red/green gradient, an 8-pixel checkerboard with a red square, "
                  "8 vertical colour bars")
_CAMERA_FORMATS = {PixelFormat.RGB565: "rgb565", PixelFormat.GRAYSCALE: "gray8"}


def plan(model_in: IOSpec, model_out: IOSpec, board: Board, request: AppRequest) -> AppPlan:
    check_int8(model_in, "input")
    check_int8(model_out, "output")
    settings = apply_overrides(VwwSettings(), request.settings, "app")
    settings.validate()
    classes = n_classes(model_out)
    if settings.person_class >= classes:
        raise InputError(f"app.person_class: {settings.person_class} but the model has {classes} "
                         "classes", f"choose a class index below {classes}")
    images = read_images(request.replay) if request.replay is not None else None
    frame = _frame_defaults(board, images, request.frontend, feature_dims(model_in.shape))
    mean, std = _pixel_defaults(model_in)
    base = ImageConfig(**frame, pixel_mean=mean, pixel_std=std, out_scale=model_in.scale,
                       out_zero_point=model_in.zero_point)
    cfg: ImageConfig = apply_overrides(base, request.frontend, "frontend", MODEL_QUANT_FIELDS)
    check_dims(model_in, cfg.output_shape, "vww",
               f"frontend out_width {cfg.out_width}, out_height {cfg.out_height}, "
               f"out_format {cfg.out_format}",
               "set frontend: {out_width, out_height, out_format: rgb|gray} in --app-config to the "
               "model's input size")
    labels = resolve_labels(request.labels, classes)
    replay = _replay(request, cfg, images)
    return AppPlan(
        kind=AppKind.VWW, peripheral=PERIPHERAL, frontend=cfg, settings=settings, labels=labels,
        replay=replay, buffers=(("camera frame", cfg.frame_bytes),),
        config=_config(cfg, settings, labels, model_out),
    )


STANDARD_FRAMES = ((160, 120), (320, 240), (640, 480))


def _frame_defaults(board: Board, images: npt.NDArray[np.uint8] | None, overrides: Any,
                    model_dims: tuple[int, ...]) -> dict[str, Any]:
    camera = board.peripherals.camera
    if camera is not None:
        fmt = _CAMERA_FORMATS.get(camera.pixel_format)
        if fmt is None and "in_format" not in overrides:
            raise InputError(
                f"boards/{board.name}.yaml: peripherals.camera.pixel_format is "
                f"{camera.pixel_format.value}, which the image front-end cannot read",
                "configure the camera for RGB565 or grey and set frontend: {in_format: rgb565} "
                "in --app-config")
        if fmt == "rgb565" and camera.model.upper().startswith("OV767"):
            fmt = "rgb565_be"  # OV767x sensors send the high byte of each pixel first
        width, height = _frame_size(camera.width, camera.height, model_dims)
        return {"in_width": width, "in_height": height, "in_format": fmt or "rgb565"}
    if images is not None:
        return {"in_width": int(images.shape[2]), "in_height": int(images.shape[1])}
    return {}


def _frame_size(max_width: int, max_height: int, model_dims: tuple[int, ...]) -> tuple[int, int]:
    need_h, need_w = model_dims[:2] if len(model_dims) >= 2 else (0, 0)
    for width, height in STANDARD_FRAMES:
        if need_w <= width <= max_width and need_h <= height <= max_height:
            return width, height
    return max_width, max_height


def _pixel_defaults(model_in: IOSpec) -> tuple[float, float]:
    """(pixel_mean, pixel_std): [-1, 1] inputs if the int8 range reaches below -0.5, else [0, 1]."""
    lowest = (-128 - model_in.zero_point) * model_in.scale
    return (127.5, 127.5) if lowest < -0.5 else (0.0, 255.0)


def _replay(request: AppRequest, cfg: ImageConfig, images: npt.NDArray[np.uint8] | None) -> Replay:
    source, what = "default", DEFAULT_REPLAY
    if images is None:
        images = default_frames(cfg.in_width, cfg.in_height)
    else:
        assert request.replay is not None
        source, what = request.replay.name, f"{images.shape[0]} frame(s)"
    if images.shape[1:3] != (cfg.in_height, cfg.in_width):
        raise InputError(
            f"{source}: frames are {images.shape[2]}x{images.shape[1]} but the camera frame is "
            f"{cfg.in_width}x{cfg.in_height}",
            "resize the replay image to the camera's frame size, or set frontend: {in_width, "
            "in_height} in --app-config")
    data = np.stack([pack_frame(img, cfg.in_format).reshape(-1) for img in images])
    return Replay("frames", data, source,
                  f"{what}, {cfg.in_width}x{cfg.in_height} {cfg.in_format}")


def default_frames(width: int, height: int) -> npt.NDArray[np.uint8]:
    """The default replay: a gradient, a checkerboard with a red square, and colour bars (RGB)."""
    yy, xx = np.mgrid[0:height, 0:width]
    gradient = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1),
                         np.full_like(xx, 128)], axis=-1)
    board = ((xx // 8 + yy // 8) % 2 * 255)[..., None].repeat(3, axis=-1)
    square = (abs(xx - width // 2) < width // 6) & (abs(yy - height // 2) < height // 6)
    board[square] = (220, 30, 30)
    colours = np.array([(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0),
                        (255, 0, 255), (255, 0, 0), (0, 0, 255), (0, 0, 0)])
    bars = colours[np.minimum(xx * 8 // width, 7)]
    return np.stack([gradient, board, bars]).astype(np.uint8)


def _config(cfg: ImageConfig, settings: VwwSettings, labels: tuple[str, ...],
            model_out: IOSpec) -> dict[str, object]:
    return {
        "person_class": settings.person_class,
        "on_threshold": settings.on_threshold,
        "off_threshold": settings.off_threshold,
        "on_q": prob_to_q(settings.on_threshold, model_out),
        "off_q": prob_to_q(settings.off_threshold, model_out),
        "num_classes": len(labels),
        "labels": list(labels),
        "frame_bytes": cfg.frame_bytes,
        "width": cfg.in_width,
        "height": cfg.in_height,
        "in_format": cfg.in_format,
        "describe": cfg.describe(),
    }


def expected_inputs(plan: AppPlan) -> list[npt.NDArray[np.int8]]:
    """The twin of the vww main loop: one model input per replayed frame."""
    assert isinstance(plan.frontend, ImageConfig)
    return [image_features(frame, plan.frontend) for frame in plan.replay.data]
