"""Render styles: what a random icon-world scene randomises, by name.

    image, scene = random_scene(7, style="train")        # a domain-randomised scene
    image, scene = draw(rng, ["dog", "dog", "tree"], "unseen")
    region = frame(rng, obj.box, image.width, image.height, "unseen")   # a crop, framed

| style | what it is |
| --- | --- |
| `classic` | the renderer the shipped models were trained on: 256x256, the five classic backgrounds, glyphs 28-72 px, one glyph per category (two for person and three for boat); its scenes are exactly those drawn before styles existed |
| `train` | domain randomisation for training: 192-384 px at any aspect from 3:4 to 4:3, six background kinds (flat, gradient, two horizons, noise, texture), objects 12-35% of the short side, flips, recolouring, every OpenMoji glyph variant, sometimes overlapping; crops framed tightly to loosely |
| `broad` | `train` widened (issue #20, session 16): a seventh background kind of clutter (`shapes`: rectangles, ellipses, triangles, strokes), objects from 8% of the short side, glyphs turned up to 20 degrees, overlaps in a third of the scenes, crops framed up to 50% loose |
| `unseen` | kept out of training altogether: it draws through code of its own (`unseen.py`: stripes, checkers, soft blobs with a vignette, blurred photo-like texture; clustered and edge-hugging layouts with mild overlaps; glyphs tilted, outlined or shadowed), 240-320 px in exactly 3:4, 1:1 or 4:3, and crops framed off-centre |

Annotations are the same in every style: `Scene`/`SceneObject`, with exact masks and boxes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence, Union

import numpy as np
from PIL import Image

from . import unseen
from .render import (BACKGROUNDS, DEFAULT_SIZE_RANGE, KINDS, MIN_SIDE, TRAIN_KINDS, IconWorldError,
                     Scene, render, sample_placements)

__all__ = ["Style", "STYLES", "CLASSIC", "TRAIN", "BROAD", "UNSEEN", "get_style", "draw", "frame"]

PLACEMENTS = ("uniform", "scatter")


@dataclass(frozen=True)
class Style:
    """What the renderer randomises. A choice with one option draws nothing from the random
    stream, so that the 'classic' style reproduces the scenes drawn before styles existed."""

    name: str
    sides: tuple[int, int]             # every side of the image lies in this range, px
    aspects: tuple[float, ...]         # width / height ratios to choose from...
    aspect_between: bool               # ...or, when set, any ratio from the first to the last
    backgrounds: tuple[str, ...]       # kinds drawn with equal odds (render.KINDS, unseen.BACKGROUNDS)
    object_scale: tuple[float, float]  # a glyph's longest side / the image's short side
    flip_prob: float                   # chance a glyph is mirrored
    recolor_prob: float                # chance a colourable object gets another clear colour
    variants: bool                     # draw every OpenMoji glyph of a category (catalog.glyphs_of)
    overlap_prob: float                # chance a scene lets its objects overlap
    placement: str                     # 'uniform': render.sample_placements (each object keeps
                                       # >= 1/2 visible); 'scatter': unseen.scatter (clusters, edges,
                                       # >= 70% visible, tilted/outlined/shadowed glyphs)
    crop_margin: tuple[float, float]   # a crop's margin around an object's box, / the box side
    crop_sides: bool                   # draw each side's margin apart (off-centre framing)
    tilt: int = 0                      # glyphs turn by up to this many degrees either way ('uniform')

    def __post_init__(self):
        lo, hi = self.sides
        known = KINDS + unseen.BACKGROUNDS
        problems = [
            (not 1 <= lo <= hi, f"sides {self.sides}"),
            (not self.aspects or min(self.aspects) <= 0, f"aspects {self.aspects}"),
            (not self.backgrounds or not set(self.backgrounds) <= set(known),
             f"backgrounds {self.backgrounds} (known: {', '.join(known)})"),
            (not 0 < self.object_scale[0] <= self.object_scale[1], f"object_scale {self.object_scale}"),
            (self.placement not in PLACEMENTS, f"placement {self.placement!r} (known: {', '.join(PLACEMENTS)})"),
            (not 0 <= self.crop_margin[0] <= self.crop_margin[1], f"crop_margin {self.crop_margin}"),
            (not 0 <= self.tilt <= 180 or (self.tilt and self.placement != "uniform"),
             f"tilt {self.tilt} (0-180 degrees, with 'uniform' placement; 'scatter' tilts its own way)"),
        ]
        bad = [what for wrong, what in problems if wrong]
        if bad:
            raise IconWorldError(f"style {self.name!r}: bad {'; '.join(bad)}")

    def canvas(self, rng: np.random.Generator) -> tuple[int, int]:
        """(width, height): an aspect, then the long side, so that both sides stay in `sides`."""
        lo, hi = self.sides
        if self.aspect_between:
            aspect = float(rng.uniform(self.aspects[0], self.aspects[-1]))
        else:
            aspect = _pick(rng, self.aspects)
        stretch = max(aspect, 1 / aspect)
        shortest_long = min(hi, int(np.ceil(lo * stretch - 1e-9)))
        long = hi if shortest_long >= hi else int(rng.integers(shortest_long, hi + 1))
        short = max(lo, int(round(long / stretch)))
        return (long, short) if aspect >= 1 else (short, long)

    def place(self, rng: np.random.Generator, categories: Sequence[str], **kw) -> list:
        """Placements for `categories` as this style lays them out (`kw`: the sampler's
        width, height, allow_overlap, recolor_prob, size_range, flip_prob, variants)."""
        if self.placement == "scatter":
            return unseen.scatter(rng, categories, **kw)
        return sample_placements(rng, categories, tilt=self.tilt, **kw)

    def size_range(self, width: int, height: int) -> tuple[int, int]:
        """Glyph sizes (longest side, px) for this canvas."""
        short = min(width, height)
        return (max(MIN_SIDE, round(self.object_scale[0] * short)),
                max(MIN_SIDE, round(self.object_scale[1] * short)))


def _pick(rng: np.random.Generator, options: Sequence):
    return options[0] if len(options) == 1 else options[int(rng.integers(len(options)))]


def _chance(rng: np.random.Generator, p: float) -> bool:
    return p >= 1 or (p > 0 and bool(rng.random() < p))


CLASSIC = Style("classic", sides=(256, 256), aspects=(1.0,), aspect_between=False,
                backgrounds=BACKGROUNDS,
                object_scale=(DEFAULT_SIZE_RANGE[0] / 256, DEFAULT_SIZE_RANGE[1] / 256),
                flip_prob=0.5, recolor_prob=0.0, variants=False, overlap_prob=0.0,
                placement="uniform", crop_margin=(0.1, 0.1), crop_sides=False)  # as Classify cuts
TRAIN = Style("train", sides=(192, 384), aspects=(3 / 4, 4 / 3), aspect_between=True,
              backgrounds=TRAIN_KINDS, object_scale=(0.12, 0.35), flip_prob=0.5, recolor_prob=0.4,
              variants=True, overlap_prob=0.25, placement="uniform", crop_margin=(0.0, 0.4),
              crop_sides=False)
BROAD = replace(TRAIN, name="broad", backgrounds=KINDS, object_scale=(0.08, 0.35), overlap_prob=0.35,
                crop_margin=(0.0, 0.5), tilt=20)
UNSEEN = Style("unseen", sides=(240, 320), aspects=(3 / 4, 1.0, 4 / 3), aspect_between=False,
               backgrounds=unseen.BACKGROUNDS, object_scale=(0.1, 0.4), flip_prob=0.5,
               recolor_prob=0.4, variants=True, overlap_prob=0.5, placement="scatter",
               crop_margin=(0.02, 0.5), crop_sides=True)
STYLES: dict[str, Style] = {s.name: s for s in (CLASSIC, TRAIN, BROAD, UNSEEN)}


def get_style(style: Union[str, Style]) -> Style:
    """The Style a name (or a Style) stands for; IconWorldError naming the known ones."""
    if isinstance(style, Style):
        return style
    if isinstance(style, str) and style in STYLES:
        return STYLES[style]
    raise IconWorldError(f"unknown icon-world style {style!r}; known styles: {', '.join(STYLES)}")


def draw(rng: np.random.Generator, categories: Sequence[str], style: Union[str, Style] = "classic", *,
         width: Optional[int] = None, height: Optional[int] = None,
         allow_overlap: Optional[bool] = None, recolor_prob: Optional[float] = None,
         size_range: Optional[tuple[int, int]] = None,
         background: str = "random") -> tuple[Image.Image, Scene]:
    """Lay out and render `categories` (one object each, in drawing order) in `style`.

    The canvas, overlap, recolouring and glyph sizes are the style's unless given; `background`
    names a kind or 'random' (one of the style's). Raises IconWorldError when nothing fits.
    """
    style = get_style(style)
    if width is None or height is None:
        w, h = style.canvas(rng)
        width, height = w if width is None else width, h if height is None else height
    if allow_overlap is None:
        allow_overlap = _chance(rng, style.overlap_prob)
    kw = dict(width=width, height=height, allow_overlap=allow_overlap,
              recolor_prob=style.recolor_prob if recolor_prob is None else recolor_prob,
              size_range=size_range or style.size_range(width, height),
              flip_prob=style.flip_prob, variants=style.variants)
    placements = style.place(rng, categories, **kw)
    return render(placements, width=width, height=height, background=background,
                  seed=int(rng.integers(0, 2**31 - 1)), style=style)


def frame(rng: np.random.Generator, box: Sequence[float], width: int, height: int,
          style: Union[str, Style] = "classic") -> tuple[int, int, int, int]:
    """The region a crop dataset cuts around an object's `box` in `style`: margins drawn
    from style.crop_margin (one for every side, or each side apart with crop_sides), as a
    fraction of the box's width and height, clipped to the image. 'classic' gives what
    `Classify` cuts (a 10% margin)."""
    style = get_style(style)
    x0, y0, x1, y1 = box
    lo, hi = style.crop_margin
    k = 4 if style.crop_sides else 1
    m = [lo] * k if lo == hi else [float(v) for v in rng.uniform(lo, hi, size=k)]
    left, top, right, bottom = m * (4 // k)
    bw, bh = x1 - x0, y1 - y0
    region = (int(max(0, x0 - bw * left)), int(max(0, y0 - bh * top)),
              int(min(width, x1 + bw * right + 1)), int(min(height, y1 + bh * bottom + 1)))
    if region[2] <= region[0] or region[3] <= region[1]:
        return (0, 0, width, height)
    return region
