"""The 'unseen' style's own drawing: backgrounds, layouts and glyph looks no training data uses.

The held-out style must measure how the models carry over to a renderer they never saw,
so it does not reuse the training renderer's generators with other numbers: its
backgrounds (stripes, checkers, soft blobs under a vignette, a blurred photo-like
texture), its layouts (objects in clusters or hugging the edges, partly cut off, mildly
overlapping) and its glyphs (tilted, outlined in ink or as white stickers with a drop
shadow) are chosen and drawn by this module only (a tilt turns the glyph by the renderer's
own rule, `render._raster`, which the training styles call too). Scenes still come out of `render.render`, so
their annotations are as exact as any: a mask is where the drawn glyph (outline
included) is opaque and no later one is; a shadow is never opaque.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .catalog import glyphs_of
from .render import (ALPHA_VISIBLE, MIN_SIDE, IconWorldError, Occupancy, Placement,
                     _check_category, _check_size_range, _raster, _Raster, layout, raster_of,
                     recolor_hue)

__all__ = ["BACKGROUNDS", "background", "Look", "scatter"]

BACKGROUNDS = ("stripes", "checker", "blobs", "photo")
SHADOW_ALPHA = 90     # a drop shadow's darkest alpha: below ALPHA_VISIBLE, so never part of a mask
KEEP_VISIBLE = 0.7    # with overlap, each object keeps this share of its opaque pixels ("mild")
OUTSIDE = 0.2         # an edge-hugging glyph may reach this share of its raster past the edge


# --------------------------------------------------------------------------- backgrounds

def background(kind: str, seed: int, width: int, height: int) -> Image.Image:
    """One of BACKGROUNDS, deterministic in `seed`."""
    drawers = {"stripes": _stripes, "checker": _checker, "blobs": _blobs, "photo": _photo}
    if kind not in drawers:
        raise IconWorldError(f"unknown unseen-style background {kind!r}; choose one of {', '.join(BACKGROUNDS)}")
    return drawers[kind](np.random.default_rng(seed), int(width), int(height))


def _tone(rng: np.random.Generator, light=(0.55, 0.92), sat=(0.15, 0.6)) -> np.ndarray:
    rgb = colorsys.hls_to_rgb(rng.random(), rng.uniform(*light), rng.uniform(*sat))
    return np.array(rgb) * 255


def _two_tones(rng: np.random.Generator, w: int, h: int, t: np.ndarray) -> Image.Image:
    """Blend two tones of unlike lightness by the weight map t (h, w) in [0, 1]."""
    a, b = _tone(rng, light=(0.72, 0.92)), _tone(rng, light=(0.5, 0.7))
    rgb = a * (1 - t[..., None]) + b * t[..., None]
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def _stripes(rng, w, h):
    theta, period = rng.uniform(0, np.pi), rng.uniform(10, 48)
    y, x = np.ogrid[0:h, 0:w]
    u = (x * np.cos(theta) + y * np.sin(theta)) / period + rng.random()
    # anti-aliased band edges: distance to the nearest edge, in px, through a 1.5 px ramp
    t = np.clip((np.abs(u % 1.0 - 0.5) - 0.25) * period / 1.5 + 0.5, 0, 1)
    return _two_tones(rng, w, h, t)


def _checker(rng, w, h):
    cell = rng.uniform(12, 40)
    y, x = np.ogrid[0:h, 0:w]
    t = ((np.floor((x + rng.uniform(0, cell)) / cell) + np.floor((y + rng.uniform(0, cell)) / cell)) % 2)
    return _two_tones(rng, w, h, t.astype(np.float64))


def _blobs(rng, w, h):
    """Soft colour blobs on a tone, darkened towards the corners (a vignette); drawn at a
    quarter of the size and enlarged, as blobs are smooth."""
    sw, sh = max(1, w // 4), max(1, h // 4)
    y, x = np.mgrid[0:sh, 0:sw].astype(np.float64)
    rgb = np.broadcast_to(_tone(rng), (sh, sw, 3)).copy()
    for _ in range(int(rng.integers(4, 10))):
        cx, cy, r = rng.uniform(0, sw), rng.uniform(0, sh), rng.uniform(0.1, 0.45) * min(sw, sh)
        weight = 0.85 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))[..., None]
        rgb = rgb * (1 - weight) + _tone(rng) * weight
    d2 = ((x - sw / 2) / (sw / 2)) ** 2 + ((y - sh / 2) / (sh / 2)) ** 2
    rgb *= (1 - rng.uniform(0.2, 0.45) * d2 / 2)[..., None]
    small = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    return small.resize((w, h), Image.Resampling.BILINEAR)


_NATURE = ((96, 140, 70), (130, 160, 90), (150, 120, 85), (110, 90, 70), (170, 165, 150),
           (120, 150, 180), (190, 200, 210), (200, 180, 130), (80, 100, 90))


def _photo(rng, w, h):
    """Out-of-focus 'photo': large shapes in natural colours, blurred, with film grain."""
    sw, sh = max(1, w // 4), max(1, h // 4)
    base = _NATURE[int(rng.integers(len(_NATURE)))]
    small = Image.new("RGB", (sw, sh), base)
    pen = ImageDraw.Draw(small)
    for _ in range(int(rng.integers(8, 20))):
        colour = tuple(int(np.clip(c + rng.normal(0, 18), 0, 255))
                       for c in _NATURE[int(rng.integers(len(_NATURE)))])
        x0, y0 = rng.uniform(-0.2, 1.0) * sw, rng.uniform(-0.2, 1.0) * sh
        x1, y1 = x0 + rng.uniform(0.1, 0.6) * sw, y0 + rng.uniform(0.1, 0.6) * sh
        (pen.ellipse if rng.random() < 0.5 else pen.rectangle)((x0, y0, x1, y1), fill=colour)
    small = small.filter(ImageFilter.GaussianBlur(rng.uniform(1.5, 3.5)))
    arr = np.asarray(small.resize((w, h), Image.Resampling.BILINEAR), np.float64)
    arr += rng.normal(0, rng.uniform(2, 6), size=(h, w, 1))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


# --------------------------------------------------------------------------- glyph looks

@dataclass(frozen=True)
class Look:
    """How this style draws a glyph: tilted, outlined, with a drop shadow."""

    angle: int = 0                           # degrees, counter-clockwise
    outline: int = 0                         # px of outline around the opaque glyph (0: none)
    ink: tuple[int, int, int] = (255, 255, 255)
    shadow: int = 0                          # drop-shadow offset, px (0: none)

    def raster(self, glyph: str, size: int, flipped: bool, hue: float) -> _Raster:
        return _looked(glyph, size, flipped, hue, self)


@lru_cache(maxsize=4096)
def _looked(glyph: str, size: int, flipped: bool, hue: float, look: Look) -> _Raster:
    im = _raster(glyph, size, flipped, hue, look.angle).image  # turned by the renderer's own rule
    pad = look.outline + 2 * look.shadow + 1
    glyph_layer = Image.new("RGBA", (im.width + 2 * pad, im.height + 2 * pad), (0, 0, 0, 0))
    glyph_layer.paste(im, (pad, pad))
    alpha = glyph_layer.getchannel("A")
    out = Image.new("RGBA", glyph_layer.size, (0, 0, 0, 0))
    if look.shadow:
        faint = alpha.filter(ImageFilter.GaussianBlur(look.shadow * 0.6)).point(
            [v * SHADOW_ALPHA // 255 for v in range(256)])
        shade = Image.new("RGBA", glyph_layer.size, (0, 0, 0, 0))
        shade.putalpha(faint)
        out.paste(shade, (look.shadow, look.shadow))
    if look.outline:
        ring = alpha.point([255 if v >= ALPHA_VISIBLE else 0 for v in range(256)]).filter(
            ImageFilter.MaxFilter(2 * look.outline + 1))
        layer = Image.new("RGBA", glyph_layer.size, look.ink + (0,))
        layer.putalpha(ring)
        out.alpha_composite(layer)
    out.alpha_composite(glyph_layer)
    box = out.getchannel("A").getbbox()
    if box is None:
        raise IconWorldError(f"glyph {glyph!r} at {size} px has no opaque pixels")
    own = np.asarray(alpha)[box[1]:box[3], box[0]:box[2]] < 250   # not the glyph's own colour
    return raster_of(out.crop(box), f"glyph {glyph!r} at {size} px", unnamed=own)


def _finish(rng: np.random.Generator, kind: str) -> dict:
    if kind == "ink":
        grey = int(rng.integers(15, 70))
        return {"outline": int(rng.integers(1, 3)), "ink": (grey, grey, grey)}
    if kind == "sticker":
        return {"outline": int(rng.integers(2, 4)), "ink": (255, 255, 255),
                "shadow": int(rng.integers(2, 5))}
    return {}


# --------------------------------------------------------------------------- layouts

def _pick(rng: np.random.Generator, options: Sequence):
    return options[int(rng.integers(len(options)))]


def scatter(rng: np.random.Generator, categories: Sequence[str], *, width: int, height: int,
            allow_overlap: bool, recolor_prob: float, size_range: tuple[int, int],
            flip_prob: float, variants: bool) -> list[Placement]:
    """Placements as this style lays a scene out (the arguments mean what they mean for
    `render.sample_placements`).

    A scene is clustered (objects around one or two centres), edge-hugging (objects along
    the borders, up to OUTSIDE of a glyph past the edge) or both; sizes favour the two ends
    of `size_range` (a Beta(0.6, 0.6) draw); every glyph has one finish per scene (plain,
    ink outline, or white sticker outline with a drop shadow) and a tilt of up to 0, 8 or
    15 degrees. With overlap each object keeps KEEP_VISIBLE of its opaque pixels, else
    the opaque boxes are disjoint. Raises IconWorldError when no layout is found.
    """
    cats = list(categories)
    for c in cats:
        _check_category(c)
    lo, hi = _check_size_range(size_range)
    cap = min(width, height)
    mode = _pick(rng, ("cluster", "edges", "mixed"))
    finish = _pick(rng, ("plain", "ink", "sticker"))
    tilt = int(_pick(rng, (0, 8, 15)))
    centres = [(rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height)
               for _ in range(int(rng.integers(1, 3)))]

    def choose(cat: str) -> Placement:
        glyph = _pick(rng, glyphs_of(cat, variants))
        size = min(cap, int(round(lo + (hi - lo) * rng.beta(0.6, 0.6))))
        flipped = bool(rng.random() < flip_prob)
        hue = recolor_hue(rng, cat, glyph, recolor_prob)
        look = Look(angle=int(rng.integers(-tilt, tilt + 1)), **_finish(rng, finish))
        return Placement(cat, glyph, size, None, None, flipped, hue, look)

    def position(r: _Raster) -> Optional[tuple[int, int]]:
        rw, rh = r.size
        if rw > width or rh > height:
            return None
        if (mode if mode != "mixed" else _pick(rng, ("cluster", "edges"))) == "cluster":
            cx, cy = _pick(rng, centres)
            spread = 0.2 * min(width, height)
            x = int(np.clip(round(cx + rng.normal(0, spread) - rw / 2), 0, width - rw))
            y = int(np.clip(round(cy + rng.normal(0, spread) - rh / 2), 0, height - rh))
            return x, y
        out_w, out_h = int(rw * OUTSIDE), int(rh * OUTSIDE)
        side = int(rng.integers(4))
        if side < 2:  # left or right: anywhere along it
            x = int(rng.integers(-out_w, out_w + 1))
            x = x if side == 0 else width - rw - x
            return x, int(rng.integers(0, height - rh + 1))
        y = int(rng.integers(-out_h, out_h + 1))
        y = y if side == 2 else height - rh - y
        return int(rng.integers(0, width - rw + 1)), y

    floor = max(1, min(MIN_SIDE, lo, cap))
    out = layout(cats, choose, position, lambda: Occupancy(width, height, allow_overlap, KEEP_VISIBLE),
                 floor)
    if out is None:
        raise IconWorldError(f"cannot scatter {len(cats)} objects of {lo}-{hi} px in a {width}x{height} "
                             f"image{'' if allow_overlap else ' without overlap'}; use fewer or smaller objects")
    return out
