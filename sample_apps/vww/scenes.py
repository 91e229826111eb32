"""Procedurally rendered scenes with and without a stylised person: an offline stand-in data set.

Each scene is a 160x120 RGB frame (the QQVGA camera frame of the image front-end): a background
(outdoor, indoor, street or texture), a few clutter objects (boxes, tables, trees, lamps, balls,
cars, plants) and, in the ``person`` class, one to three stick-and-blob figures: a head with hair,
a torso, two arms and two legs in a random pose, size, position, skin tone and clothing, possibly
cut by the frame edge or partly hidden behind an object. ``non_person`` scenes draw from the same
backgrounds and clutter and often contain *parts* of a figure (a skin-coloured disc, a clothed
torso, a lamp with a round top) so that no single blob decides the class. Lighting, colour cast,
blur and sensor noise vary per frame.

This is a toy task: a model trained on it learns this generator's figures, not people. It is here so
the Visual Wake Words sample can be trained, converted and run end to end without the COCO data.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

WIDTH, HEIGHT = 160, 120
LABELS = ("non_person", "person")  # the Visual Wake Words order: 1 = person
F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
Rng = np.random.Generator
Point = tuple[float, float]

_YY, _XX = (a.astype(np.float32) + 0.5 for a in np.mgrid[0:HEIGHT, 0:WIDTH])
SKIN = np.array([[255, 224, 196], [241, 194, 125], [224, 172, 105], [198, 134, 66],
                 [141, 85, 36], [92, 58, 36], [60, 40, 30]], np.float32) / 255


# ---- coverage masks (anti-aliased, 1 inside, 0 outside) -----------------------------------------


@dataclass(frozen=True)
class Mask:
    """Coverage of a shape inside its bounding box ``rows`` x ``cols`` of the frame."""

    rows: slice
    cols: slice
    cov: F32


def _window(x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice, F32, F32]:
    """The frame's pixel-centre coordinates inside a bounding box (clipped to the frame)."""
    r = slice(int(np.clip(np.floor(y0) - 1, 0, HEIGHT)), int(np.clip(np.ceil(y1) + 2, 0, HEIGHT)))
    c = slice(int(np.clip(np.floor(x0) - 1, 0, WIDTH)), int(np.clip(np.ceil(x1) + 2, 0, WIDTH)))
    return r, c, _XX[r, c], _YY[r, c]


def capsule(p0: Point, p1: Point, r: float) -> Mask:
    """A thick line segment with round ends."""
    (x0, y0), (x1, y1) = p0, p1
    rows, cols, xx, yy = _window(min(x0, x1) - r, min(y0, y1) - r, max(x0, x1) + r,
                                 max(y0, y1) + r)
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-6), 0.0, 1.0)
    d = np.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy))
    return Mask(rows, cols, np.clip(r - d + 0.5, 0.0, 1.0))


def ellipse(c: Point, rx: float, ry: float, angle: float = 0.0) -> Mask:
    big = max(rx, ry)
    rows, cols, xx, yy = _window(c[0] - big, c[1] - big, c[0] + big, c[1] + big)
    ca, sa = np.cos(angle), np.sin(angle)
    u, v = xx - c[0], yy - c[1]
    x, y = (u * ca + v * sa) / max(rx, 0.5), (-u * sa + v * ca) / max(ry, 0.5)
    d = (np.sqrt(x * x + y * y) - 1.0) * min(rx, ry)
    return Mask(rows, cols, np.clip(0.5 - d, 0.0, 1.0))


def rect(x0: float, y0: float, x1: float, y1: float) -> Mask:
    rows, cols, xx, yy = _window(x0, y0, x1, y1)
    cx = np.clip(np.minimum(xx - x0, x1 - xx) + 0.5, 0.0, 1.0)
    cy = np.clip(np.minimum(yy - y0, y1 - yy) + 0.5, 0.0, 1.0)
    return Mask(rows, cols, cx * cy)


def triangle(a: Point, b: Point, c: Point) -> Mask:
    xs, ys = (a[0], b[0], c[0]), (a[1], b[1], c[1])
    rows, cols, xx, yy = _window(min(xs), min(ys), max(xs), max(ys))
    cov = np.ones_like(xx)
    sign = np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) or 1.0
    for (x0, y0), (x1, y1) in ((a, b), (b, c), (c, a)):
        n = np.hypot(x1 - x0, y1 - y0) or 1.0
        side = sign * ((x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0)) / n
        cov = np.minimum(cov, np.clip(side + 0.5, 0.0, 1.0))
    return Mask(rows, cols, cov)


def paint(img: F32, mask: Mask, colour: npt.ArrayLike) -> None:
    win = img[mask.rows, mask.cols]
    win += mask.cov[..., None] * (np.asarray(colour, np.float32) - win)


def _colour(rng: Rng, lo: float = 0.0, hi: float = 1.0) -> F32:
    return rng.uniform(lo, hi, 3).astype(np.float32)


def _shade(c: F32, k: float) -> F32:
    out: F32 = np.clip(c * k, 0.0, 1.0).astype(np.float32)
    return out


# ---- backgrounds ---------------------------------------------------------------------------------


def _vertical(top: F32, bottom: F32, y0: float = 0.0, y1: float = HEIGHT) -> F32:
    t = np.clip((_YY - y0) / max(y1 - y0, 1.0), 0.0, 1.0)[..., None]
    out: F32 = (top * (1 - t) + bottom * t).astype(np.float32)
    return out


def outdoor(rng: Rng) -> F32:
    horizon = rng.uniform(0.25, 0.7) * HEIGHT
    sky = _vertical(_colour(rng, 0.4, 1.0), _colour(rng, 0.5, 1.0), 0, horizon)
    ground = _vertical(_colour(rng, 0.1, 0.6), _colour(rng, 0.1, 0.7), horizon, HEIGHT)
    img = np.where((_YY < horizon)[..., None], sky, ground).astype(np.float32)
    for _ in range(int(rng.integers(0, 3))):  # distant hills
        hill = ellipse((rng.uniform(0, WIDTH), horizon), rng.uniform(20, 70), rng.uniform(5, 25))
        above = _YY[hill.rows, hill.cols] < horizon + 1
        paint(img, Mask(hill.rows, hill.cols, hill.cov * above), _colour(rng, 0.1, 0.6))
    return img


def indoor(rng: Rng) -> F32:
    floor_y = rng.uniform(0.55, 0.85) * HEIGHT
    img = np.where((_YY < floor_y)[..., None], _vertical(_colour(rng, 0.3, 0.95),
                   _colour(rng, 0.3, 0.95), 0, floor_y),
                   _vertical(_colour(rng, 0.1, 0.6), _colour(rng, 0.1, 0.7), floor_y, HEIGHT))
    img = img.astype(np.float32)
    if rng.uniform() < 0.6:  # a window with bars
        x0, y0 = rng.uniform(0, WIDTH - 30), rng.uniform(5, floor_y * 0.5)
        w, h = rng.uniform(20, 50), rng.uniform(15, 40)
        paint(img, rect(x0, y0, x0 + w, y0 + h), _colour(rng, 0.6, 1.0))
        bar = _colour(rng, 0.0, 0.5)
        paint(img, rect(x0 + w / 2 - 1, y0, x0 + w / 2 + 1, y0 + h), bar)
        paint(img, rect(x0, y0 + h / 2 - 1, x0 + w, y0 + h / 2 + 1), bar)
    if rng.uniform() < 0.4:  # a door
        x0 = rng.uniform(0, WIDTH - 25)
        paint(img, rect(x0, floor_y - rng.uniform(40, 70), x0 + rng.uniform(18, 30), floor_y),
              _colour(rng, 0.1, 0.7))
    return img


def street(rng: Rng) -> F32:
    road = rng.uniform(0.6, 0.85) * HEIGHT
    img = _vertical(_colour(rng, 0.5, 1.0), _colour(rng, 0.5, 1.0))
    x = rng.uniform(-20, 0)
    while x < WIDTH:  # buildings with window grids
        w, top = rng.uniform(25, 60), rng.uniform(0.05, 0.5) * HEIGHT
        wall, win = _colour(rng, 0.2, 0.9), _colour(rng, 0.0, 1.0)
        paint(img, rect(x, top, x + w, road), wall)
        for wy in np.arange(top + 4, road - 10, rng.uniform(9, 14)):
            for wx in np.arange(x + 3, x + w - 6, rng.uniform(8, 12)):
                paint(img, rect(wx, wy, wx + 5, wy + 6), win)
        x += w + rng.uniform(0, 10)
    paint(img, rect(0, road, WIDTH, HEIGHT), _colour(rng, 0.2, 0.5) * np.float32(0.9))
    return img


def texture(rng: Rng) -> F32:
    """Smooth random colour fields: bilinear upsampling of a coarse random grid."""
    gh, gw = int(rng.integers(3, 12)), int(rng.integers(3, 16))
    grid = rng.uniform(0, 1, (gh, gw, 3)).astype(np.float32)
    ys = np.clip(_YY[:, 0] / HEIGHT * (gh - 1), 0, gh - 1)
    xs = np.clip(_XX[0] / WIDTH * (gw - 1), 0, gw - 1)
    y0, x0 = np.minimum(ys.astype(int), gh - 2), np.minimum(xs.astype(int), gw - 2)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    g = grid[y0][:, x0]
    g01, g10, g11 = grid[y0][:, x0 + 1], grid[y0 + 1][:, x0], grid[y0 + 1][:, x0 + 1]
    img: F32 = ((g * (1 - fx) + g01 * fx) * (1 - fy) + (g10 * (1 - fx) + g11 * fx) * fy).astype(
        np.float32)
    return img


BACKGROUNDS: tuple[Callable[[Rng], F32], ...] = (outdoor, indoor, street, texture)


# ---- clutter ------------------------------------------------------------------------------------


def _ground_point(rng: Rng) -> Point:
    return rng.uniform(0, WIDTH), rng.uniform(0.45, 1.05) * HEIGHT


def box(img: F32, rng: Rng) -> None:
    x, y = _ground_point(rng)
    w, h = rng.uniform(10, 60), rng.uniform(8, 50)
    c = _colour(rng)
    paint(img, rect(x - w / 2, y - h, x + w / 2, y), c)
    paint(img, rect(x - w / 2, y - h, x + w / 2, y - h + 3), _shade(c, 1.2))


def table(img: F32, rng: Rng) -> None:
    x, y = _ground_point(rng)
    w, h, t = rng.uniform(20, 60), rng.uniform(15, 40), rng.uniform(1.5, 3)
    c = _colour(rng, 0.1, 0.8)
    paint(img, rect(x - w / 2, y - h, x + w / 2, y - h + 2 * t), c)
    for dx in (-w / 2 + t, w / 2 - t):
        paint(img, capsule((x + dx, y - h), (x + dx * rng.uniform(0.8, 1.1), y), t), c)


def tree(img: F32, rng: Rng) -> None:
    x, y = _ground_point(rng)
    h = rng.uniform(25, 100)
    paint(img, capsule((x, y), (x, y - 0.5 * h), rng.uniform(1.5, 4)), _colour(rng, 0.2, 0.45))
    leaves = _colour(rng, 0.05, 0.6) * np.array([0.6, 1.0, 0.6], np.float32)
    if rng.uniform() < 0.5:
        paint(img, ellipse((x, y - 0.7 * h), 0.25 * h, 0.3 * h), leaves)
    else:
        paint(img, triangle((x - 0.25 * h, y - 0.4 * h), (x + 0.25 * h, y - 0.4 * h),
                            (x, y - h)), leaves)


def lamp(img: F32, rng: Rng) -> None:
    """A post with a round top: head-on-a-stick, a classic false positive."""
    x, y = _ground_point(rng)
    h = rng.uniform(30, 100)
    c = _colour(rng, 0.0, 0.5)
    paint(img, capsule((x, y), (x, y - h), rng.uniform(1, 3)), c)
    top = SKIN[rng.integers(len(SKIN))] if rng.uniform() < 0.4 else _colour(rng, 0.5, 1.0)
    paint(img, ellipse((x, y - h), rng.uniform(3, 8), rng.uniform(3, 8)), top)


def ball(img: F32, rng: Rng) -> None:
    x, y = _ground_point(rng)
    r = rng.uniform(3, 15)
    paint(img, ellipse((x, y - r), r, r), _colour(rng))


def car(img: F32, rng: Rng) -> None:
    x, y = _ground_point(rng)
    w = rng.uniform(30, 80)
    h = w * rng.uniform(0.3, 0.45)
    c = _colour(rng)
    paint(img, rect(x - w / 2, y - 0.65 * h, x + w / 2, y - 0.2 * h), c)
    paint(img, rect(x - w / 4, y - h, x + w / 4, y - 0.6 * h), _shade(c, 0.8))
    for dx in (-w / 3, w / 3):
        paint(img, ellipse((x + dx, y - 0.2 * h), 0.13 * w, 0.13 * w), _colour(rng, 0.0, 0.2))


def plant(img: F32, rng: Rng) -> None:
    x, y = _ground_point(rng)
    s = rng.uniform(8, 25)
    paint(img, rect(x - s / 2, y - s, x + s / 2, y), _colour(rng, 0.3, 0.8))
    for _ in range(int(rng.integers(3, 7))):
        a = rng.uniform(-1.2, 1.2)
        paint(img, ellipse((x + np.sin(a) * s, y - s - np.cos(a) * s), s / 2.5, s / 6, a + 1.57),
              _colour(rng, 0.05, 0.6) * np.array([0.5, 1.0, 0.5], np.float32))


def sticks(img: F32, rng: Rng) -> None:
    for _ in range(int(rng.integers(1, 4))):
        x, y = _ground_point(rng)
        paint(img, capsule((x, y), (x + rng.uniform(-30, 30), y - rng.uniform(5, 50)),
                           rng.uniform(1, 4)), _colour(rng))


CLUTTER: tuple[Callable[[F32, Rng], None], ...] = (box, table, tree, lamp, ball, car, plant, sticks)


# ---- people and their parts -------------------------------------------------------------------


def _limb(img: F32, start: Point, angle: float, bend: float, length: float, r: float,
          colour: F32) -> Point:
    """Two segments (upper and lower) from ``start``; angle 0 points straight down."""
    mid = (start[0] + np.sin(angle) * length / 2, start[1] + np.cos(angle) * length / 2)
    end = (mid[0] + np.sin(angle + bend) * length / 2, mid[1] + np.cos(angle + bend) * length / 2)
    paint(img, capsule(start, mid, r), colour)
    paint(img, capsule(mid, end, r * 0.9), colour)
    return end


def person(img: F32, rng: Rng, feet: Point | None = None, height: float | None = None) -> None:
    """A figure of ``height`` pixels standing on ``feet``, in a random pose and clothing."""
    h = height if height is not None else rng.uniform(0.3, 0.95) * HEIGHT
    if feet is None:  # inside the front-end's centre crop, head in view, legs cut by 25 % at most
        low = max(0.6 * HEIGHT, 0.95 * h)
        feet = (rng.uniform(0.2, 0.8) * WIDTH, rng.uniform(low, max(low, HEIGHT + 0.25 * h)))
    fx, fy = feet
    lean = rng.uniform(-0.15, 0.15)
    skin, shirt = SKIN[rng.integers(len(SKIN))], _colour(rng)
    trousers, hair = _colour(rng, 0.0, 0.7), _colour(rng, 0.0, 0.5)
    hip = (fx + lean * 0.5 * h, fy - 0.48 * h)
    neck = (hip[0] + lean * 0.35 * h, fy - 0.82 * h)
    stride = rng.uniform(0.0, 0.45)
    for side in (-1, 1):  # legs
        _limb(img, (hip[0] + side * 0.05 * h, hip[1]), side * stride / 2,
              -side * rng.uniform(0, 0.4), 0.5 * h, 0.05 * h, trousers)
    paint(img, capsule(hip, neck, 0.1 * h), shirt)  # torso
    for side in (-1, 1):  # arms: down, out or raised
        angle = side * rng.choice([rng.uniform(0.1, 0.5), rng.uniform(0.8, 1.7),
                                   rng.uniform(2.2, 2.9)])
        hand = _limb(img, (neck[0] + side * 0.09 * h, neck[1] + 0.03 * h), angle,
                     side * rng.uniform(-0.6, 0.6), 0.38 * h, 0.035 * h,
                     shirt if rng.uniform() < 0.6 else skin)
        paint(img, ellipse(hand, 0.03 * h, 0.03 * h), skin)
    head = (neck[0] + lean * 0.05 * h, neck[1] - 0.09 * h)
    paint(img, ellipse(head, 0.065 * h, 0.08 * h), skin)
    paint(img, ellipse((head[0], head[1] - 0.035 * h), 0.07 * h, 0.05 * h), hair)


def part(img: F32, rng: Rng) -> None:
    """A figure's part on its own: a head-like disc or a clothed torso, but never a whole body."""
    x, y = _ground_point(rng)
    h = rng.uniform(0.3, 0.9) * HEIGHT
    if rng.uniform() < 0.5:
        paint(img, ellipse((x, y - h / 2), 0.065 * h, 0.08 * h), SKIN[rng.integers(len(SKIN))])
    else:
        paint(img, capsule((x, y - 0.3 * h), (x, y - 0.65 * h), 0.1 * h), _colour(rng))


# ---- whole frames --------------------------------------------------------------------------------


def finish(img: F32, rng: Rng) -> U8:
    """Lighting, colour cast, optics blur and sensor noise, then 8-bit."""
    img = img * np.float32(rng.uniform(0.55, 1.25)) * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    if rng.uniform() < 0.5:  # 3x3 box blur
        pad = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
        acc = np.zeros_like(img)
        for dy in range(3):
            for dx in range(3):
                acc += pad[dy : dy + HEIGHT, dx : dx + WIDTH]
        img = acc / np.float32(9)
    noisy = img + rng.normal(0, rng.uniform(0, 0.04), img.shape)
    out: U8 = np.clip(np.round(noisy * 255), 0, 255).astype(np.uint8)
    return out


def scene(has_person: bool, rng: Rng) -> U8:
    """One 120x160x3 RGB frame."""
    img = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))](rng)
    front = []
    for _ in range(int(rng.integers(0, 5))):
        draw = CLUTTER[int(rng.integers(len(CLUTTER)))]
        if rng.uniform() < 0.2:
            front.append(draw)
        else:
            draw(img, rng)
    if has_person:
        for _ in range(int(rng.choice([1, 1, 1, 2, 3]))):
            person(img, rng)
    elif rng.uniform() < 0.6:
        for _ in range(int(rng.integers(1, 3))):
            part(img, rng)
    for draw in front:  # objects in front of the figures
        draw(img, rng)
    return finish(img, rng)


def scenes(n: int, seed: int) -> tuple[U8, npt.NDArray[np.int64]]:
    """``n`` frames, half with people, in random order: (n, 120, 160, 3) uint8 and labels."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    return np.stack([scene(bool(y), rng) for y in labels]), labels


def write_ppm(path: Path, rgb: U8) -> None:
    """Binary PPM (P6), the simplest image format every viewer reads."""
    h, w, _ = rgb.shape
    path.write_bytes(f"P6\n{w} {h}\n255\n".encode() + np.ascontiguousarray(rgb).tobytes())


def read_ppm(path: Path) -> U8:
    data = path.read_bytes()
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:  # magic, width, height, maxval; '#' comments allowed
        while data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError(f"{path}: only 8-bit binary PPM (P6) is supported")
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data[pos + 1 : pos + 1 + w * h * 3], np.uint8).reshape(h, w, 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write a few rendered scenes as PPM files to look at.")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("-n", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    frames, labels = scenes(args.n, args.seed)
    for i, (frame, y) in enumerate(zip(frames, labels, strict=True)):
        write_ppm(args.out / f"{i:03d}_{LABELS[y]}.ppm", frame)
    print(f"wrote {args.n} scenes to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
