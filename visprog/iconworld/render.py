"""Icon-world scenes: OpenMoji glyphs pasted on simple backgrounds, with exact annotations.

    placements = sample_placements(rng, ['dog', 'dog', 'tree'])
    image, scene = render(placements, seed=7)
    scene.objects[0].box, scene.objects[0].mask, scene.objects[0].color
    save_png(image, 'scene.png')   # scene_of(Image.open('scene.png')) gives the scene back

Annotations are exact: an object's `mask` is the set of pixels where its glyph
is opaque (alpha >= 128) and no later object's glyph is; its `box` is the tight
bounding box of that mask. Objects are drawn in placement order, so later ones
occlude earlier ones. Rendering is deterministic: the same placements, size,
background and seed give the same pixels.

Speed: glyph rasters (with their opaque masks and per-pixel colour names) are
cached per (glyph, size, flip, hue shift), backgrounds are cut from cached
gradients and a cached noise tile, and pasting is Pillow's alpha compositing.

What a random scene randomises (canvas, backgrounds, object scale, glyph variants,
placement) is a style (`styles.py`); `random_scene(seed)` draws the 'classic' one.
"""

from __future__ import annotations

import base64
import colorsys
import difflib
import json
import zlib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from ..errors import DatasetError, ToolError
from .. import glyphs as _glyphs
from .catalog import CATEGORIES, CHARACTERS, all_names, glyphs_of, resolve
from .colors import ACHROMATIC, COLOR_NAMES, clear, color_counts, color_ids, dominant

__all__ = ["SceneObject", "Placement", "Scene", "sample_placements", "render", "random_scene",
           "save_png", "scene_of", "BACKGROUNDS", "KINDS", "INFO_KEY", "IconWorldError", "SIZES",
           "TARGET_HUES", "good_hues", "draw_background"]

INFO_KEY = "iconworld"
BACKGROUNDS = ("plain", "gradient", "sky_ground", "sky_water", "noise")  # the 'classic' style's
TRAIN_KINDS = BACKGROUNDS + ("texture",)  # the 'train' style's
KINDS = TRAIN_KINDS + ("shapes",)  # every background this module draws
SIZES = ("small", "medium", "large")
# centre hues (degrees, HSV) of the colour names recolouring aims at
TARGET_HUES = {"red": 0.0, "orange": 28.0, "yellow": 55.0, "green": 115.0, "blue": 215.0,
               "purple": 275.0, "pink": 330.0}
ALPHA_VISIBLE = 128        # a glyph pixel belongs to the object when its alpha is at least this
MIN_SIDE = 24              # smallest longest-side, px, sample_placements will use
DEFAULT_SIZE_RANGE = (28, 72)
_SMALL_BELOW = 0.16        # object longest side / sqrt(W*H): below -> small
_LARGE_FROM = 0.23         # at or above -> large
_JSON_VERSION = 1


class IconWorldError(ToolError):
    """A bad request to the icon world: unknown category, impossible layout, bad annotation."""


# --------------------------------------------------------------------------- scene types

@dataclass
class SceneObject:
    category: str                          # category or character name
    glyph: str
    box: tuple[int, int, int, int]         # x0, y0, x1, y1 (exclusive) of the visible pixels
    mask: np.ndarray = field(repr=False, compare=False)  # bool (H, W): the visible pixels
    color: str = ""                        # dominant colour name (catalog.COLORS)
    size: str = "medium"                   # 'small' | 'medium' | 'large'
    flipped: bool = False
    hue_shift: float = 0.0                 # degrees; 0 when not recoloured

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return ((x0 + x1) / 2, (y0 + y1) / 2)

    @property
    def position(self) -> tuple[str, ...]:
        """Where the box centre lies, in thirds of the image: ('left', 'top'), ('right',), ('middle',)."""
        h, w = self.mask.shape
        cx, cy = self.center
        words = []
        if cx < w / 3:
            words.append("left")
        elif cx > 2 * w / 3:
            words.append("right")
        if cy < h / 3:
            words.append("top")
        elif cy > 2 * h / 3:
            words.append("bottom")
        return tuple(words) or ("middle",)

    @property
    def is_character(self) -> bool:
        return self.category in CHARACTERS

    @property
    def area(self) -> int:
        """Number of visible pixels."""
        return int(self.mask.sum())

    def as_obj(self):
        """The object as a `visprog.values.Obj` (label = category, score 1, with mask)."""
        from ..values import Obj

        return Obj(box=tuple(float(v) for v in self.box), label=self.category, score=1.0,
                   mask=self.mask)


@dataclass
class Placement:
    """What to draw: a category and, optionally, how (unset fields are drawn from the seed)."""

    category: str
    glyph: Optional[str] = None
    size: Optional[int] = None         # px, longest side of the glyph
    x: Optional[int] = None            # top-left of the glyph raster
    y: Optional[int] = None
    flipped: bool = False
    hue_shift: float = 0.0
    look: Optional[Any] = None         # draws the glyph otherwise: an object with .raster(glyph, size,
                                       # flipped, hue) -> _Raster (unseen.Look); not annotated
    angle: int = 0                     # degrees counter-clockwise, when there is no look; not annotated

    def raster(self) -> "_Raster":
        """What is pasted for this placement (its glyph and size must be set)."""
        glyph = _glyphs.canonical(self.glyph)
        if self.look is None:
            return _raster(glyph, int(self.size), bool(self.flipped), float(self.hue_shift), int(self.angle))
        return self.look.raster(glyph, int(self.size), bool(self.flipped), float(self.hue_shift))


@dataclass
class Scene:
    width: int
    height: int
    background: str
    background_seed: int
    objects: list[SceneObject]

    def objects_of(self, word: str) -> list[SceneObject]:
        """The objects `word` denotes (a name, plural, supercategory, knowledge phrase, synonym)."""
        names = resolve(word)
        return [o for o in self.objects if o.category in names]

    def to_json(self) -> str:
        objs = []
        for o in self.objects:
            x0, y0, x1, y1 = o.box
            local = np.ascontiguousarray(o.mask[y0:y1, x0:x1])
            packed = zlib.compress(np.packbits(local, axis=None).tobytes(), 6)
            objs.append({"category": o.category, "glyph": o.glyph, "box": [int(v) for v in o.box],
                         "mask": base64.b64encode(packed).decode("ascii"), "color": o.color,
                         "size": o.size, "flipped": bool(o.flipped),
                         "hue_shift": float(o.hue_shift)})
        return json.dumps({"v": _JSON_VERSION, "width": self.width, "height": self.height,
                           "background": self.background, "background_seed": self.background_seed,
                           "objects": objs}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "Scene":
        try:
            data = json.loads(text)
            width, height = int(data["width"]), int(data["height"])
            objects = []
            for o in data["objects"]:
                x0, y0, x1, y1 = (int(v) for v in o["box"])
                if not (0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height):
                    raise ValueError(f"box {o['box']} outside the {width}x{height} image")
                n = (x1 - x0) * (y1 - y0)
                bits = np.frombuffer(zlib.decompress(base64.b64decode(o["mask"])), np.uint8)
                local = np.unpackbits(bits, count=n).astype(bool).reshape(y1 - y0, x1 - x0)
                mask = np.zeros((height, width), bool)
                mask[y0:y1, x0:x1] = local
                objects.append(SceneObject(category=o["category"], glyph=o["glyph"],
                                           box=(x0, y0, x1, y1), mask=mask, color=o["color"],
                                           size=o["size"], flipped=bool(o["flipped"]),
                                           hue_shift=float(o["hue_shift"])))
            return cls(width=width, height=height, background=data["background"],
                       background_seed=int(data["background_seed"]), objects=objects)
        except (ValueError, KeyError, TypeError, zlib.error) as exc:
            raise DatasetError(f"malformed icon-world annotation: {exc}") from None


# glyphs whose main colour is scenery (the water under the boats), not the thing itself
_NO_RECOLOR = frozenset({"⛵", "🚤", "\U0001F6E5", "\u26F4", "🚢"})  # as canonical() spells them
_HUE_NAMES = ("red", "orange", "yellow", "green", "blue", "purple", "pink")


@lru_cache(maxsize=256)
def good_hues(glyph: str) -> tuple[float, ...]:
    """Hue shifts (degrees) that give `glyph` a clearly named colour other than its own.

    The glyph's main colour (the most frequent chromatic one) is turned to the centre hue
    of each colour name in TARGET_HUES; a shift is kept when the result is clearly that
    colour. () for glyphs a hue shift cannot recolour (white, gray or black ones).
    """
    if _glyphs.canonical(glyph) in _NO_RECOLOR:
        return ()
    base = _raster(glyph, 64, False, 0.0)
    own = dominant(color_counts(base.colors), True)
    if own not in _HUE_NAMES + ("brown",):
        return ()
    arr = np.asarray(base.image.convert("RGB").convert("HSV"))
    sel = base.colors == COLOR_NAMES.index(own)
    angles = arr[..., 0][sel].astype(np.float64) * (2 * np.pi / 256)
    main = float(np.degrees(np.arctan2(np.sin(angles).mean(), np.cos(angles).mean()))) % 360
    out = []
    for name, target in TARGET_HUES.items():
        if name == own:
            continue
        shift = float(round((target - main) % 360))
        if shift == 0:
            continue
        counts = color_counts(_raster(glyph, 64, False, shift).colors)
        got = dominant(counts, True)
        chroma = counts.copy()
        chroma[list(ACHROMATIC)] = 0
        if got == name and clear(chroma, name):
            out.append(shift)
    return tuple(out)


# --------------------------------------------------------------------------- glyph rasters

@dataclass(frozen=True)
class _Raster:
    image: Image.Image            # RGBA, to paste
    solid: np.ndarray             # bool (h, w): alpha >= ALPHA_VISIBLE
    colors: np.ndarray            # uint8 (h, w): colour id of opaque pixels, 255 elsewhere
    solid_box: tuple[int, int, int, int]  # tight box of `solid` in raster coordinates
    n_solid: int

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def _hue_shifted(im: Image.Image, degrees: float) -> Image.Image:
    alpha = im.getchannel("A")
    h, s, v = im.convert("RGB").convert("HSV").split()
    offset = int(round(degrees / 360.0 * 256)) % 256
    h = h.point([(i + offset) % 256 for i in range(256)])
    out = Image.merge("HSV", (h, s, v)).convert("RGB")
    out.putalpha(alpha)
    return out


@lru_cache(maxsize=8192)
def _raster(glyph: str, size: int, flipped: bool, hue: float, angle: int = 0) -> _Raster:
    if angle:  # turned about its centre, premultiplied so that the edges do not darken
        im = _raster(glyph, size, flipped, hue).image
        return raster_of(im.convert("RGBa").rotate(angle, Image.Resampling.BICUBIC, expand=True).convert("RGBA"),
                         f"glyph {glyph!r} at {size} px turned {angle} degrees")
    if flipped:  # a mirror of the unflipped raster; its arrays are views
        base = _raster(glyph, size, False, hue)
        x0, y0, x1, y1 = base.solid_box
        w = base.image.width
        return _Raster(base.image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), base.solid[:, ::-1],
                       base.colors[:, ::-1], (w - x1, y0, w - x0, y1), base.n_solid)
    im = _glyphs.cached_glyph(glyph, size)
    if hue % 360:
        im = _hue_shifted(im, hue)
    return raster_of(im, f"glyph {glyph!r} at {size} px")


def raster_of(im: Image.Image, what: str, unnamed: Optional[np.ndarray] = None) -> _Raster:
    """The raster of an RGBA image: opaque where alpha >= ALPHA_VISIBLE, colours named where
    alpha >= 250 outside `unnamed` (bool, e.g. an outline that is not the thing's colour)."""
    arr = np.asarray(im)
    alpha = arr[..., 3]
    solid = alpha >= ALPHA_VISIBLE
    colors = color_ids(arr[..., :3])
    colors[alpha < 250] = 255
    if unnamed is not None:
        colors[unnamed] = 255
    rows, cols = np.flatnonzero(solid.any(1)), np.flatnonzero(solid.any(0))
    if len(rows) == 0:
        raise IconWorldError(f"{what} has no opaque pixels")
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    solid.setflags(write=False)
    colors.setflags(write=False)
    return _Raster(im, solid, colors, box, int(solid.sum()))


# --------------------------------------------------------------------------- backgrounds

def _pastel(rng: np.random.Generator, sat=(0.12, 0.35), val=(0.88, 1.0)) -> tuple[int, int, int]:
    h = rng.random()
    s = rng.uniform(*sat)
    v = rng.uniform(*val)
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h, s, v))  # type: ignore


@lru_cache(maxsize=1)
def _noise_tile() -> Image.Image:
    """A fixed 512x512 grey texture (several octaves of smooth noise) to cut backgrounds from."""
    rng = np.random.default_rng(20240601)
    acc = np.zeros((512, 512), np.float64)
    for cells, weight in ((8, 0.45), (32, 0.3), (128, 0.15), (512, 0.1)):
        small = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
        acc += weight * np.asarray(small.resize((512, 512), Image.Resampling.BICUBIC), np.float64)
    acc = (acc - acc.mean()) / (acc.std() + 1e-9)
    return Image.fromarray(np.clip(128 + 60 * acc, 0, 255).astype(np.uint8))


def _noise(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    tile = _noise_tile()
    tw, th = tile.size
    if w > tw or h > th:
        return tile.resize((w, h), Image.Resampling.BILINEAR)
    x, y = int(rng.integers(0, tw - w + 1)), int(rng.integers(0, th - h + 1))
    return tile.crop((x, y, x + w, y + h))


@lru_cache(maxsize=64)
def _ramp(w: int, h: int, vertical: bool) -> Image.Image:
    g = Image.linear_gradient("L")  # 256x256, dark at the top
    if not vertical:
        g = g.transpose(Image.Transpose.ROTATE_90)
    return g.resize((w, h), Image.Resampling.BILINEAR)


def _gradient(w: int, h: int, top, bottom, vertical: bool = True) -> Image.Image:
    return Image.composite(Image.new("RGB", (w, h), bottom), Image.new("RGB", (w, h), top),
                           _ramp(w, h, vertical))


def _colorize(grey: Image.Image, dark, light) -> Image.Image:
    """Like ImageOps.colorize(grey, dark, light): a linear blend, with grey as the weight."""
    return Image.composite(Image.new("RGB", grey.size, tuple(light)),
                           Image.new("RGB", grey.size, tuple(dark)), grey)


def _shade(rgb, k: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, round(c * k)))) for c in rgb)  # type: ignore


def _background(kind: str, seed: int, w: int, h: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if kind == "plain":
        return Image.new("RGB", (w, h), _pastel(rng))
    if kind == "gradient":
        return _gradient(w, h, _pastel(rng), _pastel(rng), vertical=bool(rng.random() < 0.6))
    if kind == "noise":
        base = _pastel(rng, sat=(0.1, 0.3), val=(0.85, 0.97))
        return _colorize(_noise(rng, w, h), _shade(base, 0.86), _shade(base, 1.12))
    if kind in ("sky_ground", "sky_water"):
        horizon = max(1, min(h - 1, int(h * rng.uniform(0.38, 0.62))))
        sky_top = (int(rng.integers(90, 140)), int(rng.integers(160, 200)), int(rng.integers(225, 250)))
        sky_low = (int(rng.integers(195, 225)), int(rng.integers(225, 242)), 250)
        out = Image.new("RGB", (w, h))
        out.paste(_gradient(w, horizon, sky_top, sky_low), (0, 0))
        lower = h - horizon
        if kind == "sky_ground":
            palette = [(150, 200, 110), (125, 185, 95), (200, 190, 140), (175, 150, 110), (185, 210, 140)]
            base = palette[int(rng.integers(len(palette)))]
            ground = _colorize(_noise(rng, w, lower), _shade(base, 0.88), _shade(base, 1.1))
            out.paste(ground, (0, horizon))
        else:
            near = (int(rng.integers(40, 80)), int(rng.integers(110, 150)), int(rng.integers(170, 210)))
            far = (int(rng.integers(110, 150)), int(rng.integers(180, 210)), int(rng.integers(220, 240)))
            water = _gradient(w, lower, far, near)
            # waves: the noise tile squashed vertically gives horizontal streaks
            streak = _noise(rng, w, max(1, lower // 4) if lower >= 4 else lower).resize(
                (w, lower), Image.Resampling.BILINEAR)
            light = _colorize(streak, _shade(far, 0.9), (235, 245, 250))
            out.paste(Image.blend(water, light, 0.22), (0, horizon))
        return out
    if kind == "texture":
        # marbled: the noise tile with its contrast raised, between two unrelated pastels
        gain = rng.uniform(1.6, 2.6)
        grey = _noise(rng, w, h).point([int(max(0, min(255, 128 + (v - 128) * gain))) for v in range(256)])
        return _colorize(grey, _pastel(rng, sat=(0.2, 0.45), val=(0.7, 0.85)), _pastel(rng))
    if kind == "shapes":
        return _shapes(rng, w, h)
    raise IconWorldError(f"unknown background {kind!r}; choose one of {', '.join(KINDS)} or 'random'")


def _shapes(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Clutter: 6-40 rectangles, ellipses, triangles and strokes in muted colours over a
    pastel gradient, the distractor backgrounds of domain randomisation."""
    out = _gradient(w, h, _pastel(rng), _pastel(rng), vertical=bool(rng.random() < 0.5))
    pen = ImageDraw.Draw(out)
    scale = min(w, h)
    for _ in range(int(rng.integers(6, 41))):
        colour = _pastel(rng, sat=(0.1, 0.6), val=(0.45, 0.95))
        x, y = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        rx, ry = rng.uniform(0.02, 0.3, size=2) * scale
        shape = int(rng.integers(4))
        if shape == 0:
            pen.rectangle((x - rx, y - ry, x + rx, y + ry), fill=colour)
        elif shape == 1:
            pen.ellipse((x - rx, y - ry, x + rx, y + ry), fill=colour)
        elif shape == 2:
            corners = rng.uniform(-1, 1, size=(3, 2)) * (rx, ry) + (x, y)
            pen.polygon([tuple(c) for c in corners.tolist()], fill=colour)
        else:
            pen.line((x - rx, y - ry, x + rx, y + ry), fill=colour, width=int(rng.integers(1, 6)))
    return out


def draw_background(kind: str, seed: int, width: int, height: int) -> Image.Image:
    """The background `kind` for `seed` at this size, of any style (Scene.background and
    .background_seed redraw a scene's). Raises IconWorldError naming the known kinds."""
    if kind in KINDS:
        return _background(kind, seed, width, height)
    from . import unseen  # the held-out style draws its own kinds
    if kind in unseen.BACKGROUNDS:
        return unseen.background(kind, seed, width, height)
    raise IconWorldError(f"unknown background {kind!r}; choose one of "
                         f"{', '.join(KINDS + unseen.BACKGROUNDS)} or 'random'")


# --------------------------------------------------------------------------- placement

def _check_category(name: str) -> None:
    if name not in CATEGORIES and name not in CHARACTERS:
        close = difflib.get_close_matches(name, all_names(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise IconWorldError(f"unknown icon-world category {name!r}{hint}")


def _glyph_choices(name: str, variants: bool = False) -> tuple[str, ...]:
    _check_category(name)
    return glyphs_of(name, variants)


def _colorable(name: str) -> bool:
    return name in CATEGORIES and CATEGORIES[name].colorable


def sample_placements(rng: np.random.Generator, categories: Sequence[str], *, width: int = 256,
                      height: int = 256, allow_overlap: bool = False, recolor_prob: float = 0.0,
                      size_range: tuple[int, int] = DEFAULT_SIZE_RANGE, flip_prob: float = 0.5,
                      variants: bool = False, tilt: int = 0) -> list[Placement]:
    """Random placements for `categories` (repeats allowed), in drawing order.

    Sizes (longest side, px) are drawn from `size_range`; a glyph that does not fit is
    shrunk, never below MIN_SIDE (or size_range[0] when that is smaller). Without overlap
    the glyphs' opaque boxes are disjoint (1 px apart); with overlap every object keeps at
    least half of its opaque pixels visible. Recolouring (probability `recolor_prob`, only
    for colourable categories) shifts the hue so that the glyph's main colour becomes
    another clearly named colour (`good_hues`); glyphs no shift can recolour stay as they are.
    Glyphs are mirrored with probability `flip_prob` and drawn from the category's glyphs
    (with `variants`, its other OpenMoji glyphs too: `catalog.glyphs_of`), and turned by up
    to `tilt` degrees either way. Raises IconWorldError when no layout is found.
    """
    cats = list(categories)
    for c in cats:
        _check_category(c)
    lo, hi = _check_size_range(size_range)
    cap = min(width, height)
    floor = max(1, min(MIN_SIDE, lo, cap))

    def choose(cat: str) -> Placement:
        choices = _glyph_choices(cat, variants)
        glyph = choices[int(rng.integers(len(choices)))]
        size = min(int(rng.integers(lo, hi + 1)), cap)
        flipped = bool(rng.random() < flip_prob)
        hue = recolor_hue(rng, cat, glyph, recolor_prob)
        angle = int(rng.integers(-tilt, tilt + 1)) if tilt else 0
        return Placement(cat, glyph, size, None, None, flipped, hue, angle=angle)

    def position(r: "_Raster") -> Optional[tuple[int, int]]:
        rw, rh = r.size
        if rw > width or rh > height:
            return None
        return int(rng.integers(0, width - rw + 1)), int(rng.integers(0, height - rh + 1))

    out = layout(cats, choose, position, lambda: Occupancy(width, height, allow_overlap), floor)
    if out is None:
        raise IconWorldError(f"cannot place {len(cats)} objects of {lo}-{hi} px in a {width}x{height} "
                             f"image{'' if allow_overlap else ' without overlap'}; use fewer or smaller objects")
    return out


def _check_size_range(size_range) -> tuple[int, int]:
    lo, hi = int(size_range[0]), int(size_range[1])
    if lo < 1 or hi < lo:
        raise IconWorldError(f"size_range must be (min, max) with 1 <= min <= max, got {size_range}")
    return lo, hi


def recolor_hue(rng: np.random.Generator, category: str, glyph: str, prob: float) -> float:
    """A hue shift that gives `glyph` another clear colour, with probability `prob` (0: none;
    draws nothing when prob is 0 or the category is not colourable)."""
    if prob > 0 and _colorable(category) and rng.random() < prob:
        hues = good_hues(glyph)
        if hues:
            return hues[int(rng.integers(len(hues)))]
    return 0.0


class Occupancy:
    """What a layout has placed so far, to test a new object against.

    Without overlap the opaque boxes of objects stay disjoint (1 px apart); with overlap
    each placed object keeps at least `keep` of its opaque pixels (those inside the image)
    visible. Rasters may reach past the image edge: only the part inside counts.
    """

    def __init__(self, width: int, height: int, allow_overlap: bool, keep: float = 0.5):
        self.width, self.height, self.keep = width, height, keep
        self.boxes: list[tuple[int, int, int, int]] = []     # opaque boxes, clipped to the image
        self.owner = np.full((height, width), -1, np.int16) if allow_overlap else None
        self.visible: list[int] = []    # visible opaque pixels of each placed object
        self.n_solid: list[int] = []

    def take(self, r: "_Raster", x: int, y: int) -> bool:
        """Place raster `r` at (x, y) when it fits; whether it did."""
        sx0, sy0, sx1, sy1 = r.solid_box
        box = (max(x + sx0, 0), max(y + sy0, 0), min(x + sx1, self.width), min(y + sy1, self.height))
        if box[0] >= box[2] or box[1] >= box[3]:
            return False
        if self.owner is None:
            if any(box[0] < b[2] + 1 and b[0] < box[2] + 1 and box[1] < b[3] + 1 and b[1] < box[3] + 1
                   for b in self.boxes):
                return False
        else:
            # overwriting pixels hides them from their owners: each earlier object must keep
            # at least `keep` of its opaque pixels
            rw, rh = r.size
            cx0, cy0 = max(x, 0), max(y, 0)
            region = self.owner[cy0:min(y + rh, self.height), cx0:min(x + rw, self.width)]
            solid = r.solid[cy0 - y:cy0 - y + region.shape[0], cx0 - x:cx0 - x + region.shape[1]]
            under = region[solid]
            i = len(self.visible)
            visible = np.asarray(self.visible, np.int64)
            hidden = np.bincount(under[under >= 0], minlength=i)[:i]
            if i and np.any(visible - hidden < self.keep * np.asarray(self.n_solid, np.int64)):
                return False
            region[solid] = i
            self.visible = list(visible - hidden) + [int(solid.sum())]
            self.n_solid.append(int(solid.sum()))
        self.boxes.append(box)
        return True


def layout(categories: Sequence[str], choose: Callable[[str], Placement],
           position: Callable[["_Raster"], Optional[tuple[int, int]]],
           occupancy: Callable[[], Occupancy], floor: int) -> Optional[list[Placement]]:
    """Place `categories` one by one: `choose(category)` draws how (a Placement without x, y),
    `position(raster)` proposes where (None: nowhere), up to 40 times; an object that finds
    no place is shrunk by 15%, down to `floor` px, and when it still finds none the layout
    starts again, 30 times at most. None when no layout is found."""
    for _restart in range(30):
        occ, out = occupancy(), []
        for cat in categories:
            p = _place(choose(cat), position, occ, floor)
            if p is None:
                break
            out.append(p)
        else:
            return out
    return None


def _place(p: Placement, position, occ: Occupancy, floor: int) -> Optional[Placement]:
    while True:
        r = p.raster()
        for _try in range(40):
            xy = position(r)
            if xy is None:
                break
            if occ.take(r, *xy):
                return replace(p, x=xy[0], y=xy[1])
        if p.size <= floor:
            return None
        p = replace(p, size=max(floor, int(p.size * 0.85)))


# --------------------------------------------------------------------------- rendering

def size_word(longest: float, width: int, height: int, medium: bool = True) -> str:
    """What the icon world calls a thing whose longest side is `longest` px in a width x
    height image: 'small', 'medium' or 'large' (by its share of the image's mean side); with
    medium=False, the nearer of 'small' and 'large'."""
    rel = longest / float(np.sqrt(width * height))
    if not medium:
        return "small" if rel < (_SMALL_BELOW + _LARGE_FROM) / 2 else "large"
    if rel < _SMALL_BELOW:
        return "small"
    if rel >= _LARGE_FROM:
        return "large"
    return "medium"


def render(placements: Sequence[Placement], *, width: int = 256, height: int = 256,
           background: str = "random", seed: int = 0, style="classic") -> tuple[Image.Image, Scene]:
    """Draw `placements` in order (later ones on top) and annotate the result.

    Unset placement fields (glyph, size, x, y) are drawn from `seed`, as is the background
    when `background='random'` (one of `style`'s kinds; a style name or `styles.Style`);
    any kind `draw_background` knows may be named. Glyphs may extend past the image edge; they are clipped.
    Objects left with no visible pixel (fully occluded or off the image) are not annotated.
    Returns an RGB image with `image.info['iconworld'] = scene.to_json()`, and the scene.
    """
    width, height = int(width), int(height)
    if width < 1 or height < 1:
        raise IconWorldError(f"image size must be positive, got {width}x{height}")
    from .styles import get_style
    kinds = get_style(style).backgrounds
    rng = np.random.default_rng(seed)
    if background == "random":
        background = kinds[int(rng.integers(len(kinds)))]
    bg_seed = int(rng.integers(0, 2**31 - 1))
    canvas = draw_background(background, bg_seed, width, height)
    owner = np.full((height, width), -1, np.int16)
    drawn: list[tuple[Placement, _Raster]] = []
    scale = min(width, height) / 256.0
    for i, p in enumerate(placements):
        choices = _glyph_choices(p.category)
        glyph = p.glyph if p.glyph is not None else choices[int(rng.integers(len(choices)))]
        size = p.size if p.size is not None else int(rng.integers(
            max(1, round(DEFAULT_SIZE_RANGE[0] * scale)), max(2, round(DEFAULT_SIZE_RANGE[1] * scale)) + 1))
        if int(size) < 1:
            raise IconWorldError(f"placement {i} ({p.category}): size must be at least 1 px, got {size}")
        d = Placement(p.category, glyph, int(size), None, None, bool(p.flipped), float(p.hue_shift),
                      p.look, int(p.angle))
        try:
            r = d.raster()
        except _glyphs.GlyphError as exc:
            raise IconWorldError(f"placement {i} ({p.category}): {exc}") from None
        rw, rh = r.size
        x = p.x if p.x is not None else int(rng.integers(0, max(0, width - rw) + 1))
        y = p.y if p.y is not None else int(rng.integers(0, max(0, height - rh) + 1))
        x, y = int(x), int(y)
        canvas.paste(r.image, (x, y), r.image)
        cx0, cy0, cx1, cy1 = max(x, 0), max(y, 0), min(x + rw, width), min(y + rh, height)
        if cx0 < cx1 and cy0 < cy1:
            sub = r.solid[cy0 - y:cy1 - y, cx0 - x:cx1 - x]
            owner[cy0:cy1, cx0:cx1][sub] = i
        drawn.append((replace(d, x=x, y=y), r))

    objects: list[SceneObject] = []
    n_colors = len(COLOR_NAMES)
    for i, (p, r) in enumerate(drawn):
        rw, rh = r.size
        cx0, cy0 = max(p.x, 0), max(p.y, 0)
        cx1, cy1 = min(p.x + rw, width), min(p.y + rh, height)
        if cx0 >= cx1 or cy0 >= cy1:
            continue
        local = owner[cy0:cy1, cx0:cx1] == i
        rows = np.flatnonzero(local.any(1))
        if len(rows) == 0:
            continue
        cols = np.flatnonzero(local.any(0))
        bx0, by0 = cx0 + int(cols[0]), cy0 + int(rows[0])
        bx1, by1 = cx0 + int(cols[-1]) + 1, cy0 + int(rows[-1]) + 1
        mask = np.zeros((height, width), bool)
        mask[cy0:cy1, cx0:cx1] = local
        col = r.colors[cy0 - p.y:cy1 - p.y, cx0 - p.x:cx1 - p.x][local]
        counts = np.bincount(col[col != 255], minlength=n_colors)[:n_colors]
        color = dominant(counts, _colorable(p.category))
        # size: the whole glyph's opaque extent (before occlusion), clipped to the image
        sx0, sy0, sx1, sy1 = r.solid_box
        ux0, uy0 = max(p.x + sx0, 0), max(p.y + sy0, 0)
        ux1, uy1 = min(p.x + sx1, width), min(p.y + sy1, height)
        objects.append(SceneObject(category=p.category, glyph=p.glyph, box=(bx0, by0, bx1, by1),
                                   mask=mask, color=color,
                                   size=size_word(max(ux1 - ux0, uy1 - uy0), width, height),
                                   flipped=p.flipped, hue_shift=p.hue_shift))
    scene = Scene(width=width, height=height, background=background, background_seed=bg_seed,
                  objects=objects)
    canvas.info[INFO_KEY] = scene.to_json()
    return canvas, scene


def random_scene(seed: int, *, n_objects: Union[int, tuple[int, int]] = (1, 8),
                 categories: Optional[Sequence[str]] = None, width: Optional[int] = None,
                 height: Optional[int] = None, style="classic", **kw) -> tuple[Image.Image, Scene]:
    """A random scene: `n_objects` (an int or an inclusive (min, max)) objects drawn with
    replacement from `categories` (default: every category and character), in `style`
    (a name in `styles.STYLES` or a `styles.Style`; 'classic' by default).

    Width and height default to the style's canvas ('classic': 256x256). Keyword arguments
    go to `styles.draw`: allow_overlap, recolor_prob and size_range (px; default: the style's
    object scale times the short side: (28, 72) at 256 px for 'classic') override the style's,
    and background names a kind.
    """
    from .styles import draw
    rng = np.random.default_rng(seed)
    if isinstance(n_objects, (int, np.integer)):
        lo = hi = int(n_objects)
    else:
        lo, hi = (int(v) for v in n_objects)
    if lo < 0 or hi < lo:
        raise IconWorldError(f"n_objects must be an int or (min, max) with 0 <= min <= max, got {n_objects}")
    pool = list(categories) if categories is not None else all_names()
    if not pool:
        raise IconWorldError("random_scene needs at least one category")
    n = int(rng.integers(lo, hi + 1))
    cats = [pool[int(k)] for k in rng.integers(0, len(pool), size=n)]
    unknown = set(kw) - {"allow_overlap", "recolor_prob", "size_range", "background"}
    if unknown:
        raise TypeError(f"random_scene() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    return draw(rng, cats, style, width=width, height=height, **kw)


def save_png(image: Image.Image, path) -> None:
    """Write `image` as PNG, keeping its icon-world annotation in the 'iconworld' text chunk."""
    info = PngInfo()
    text = image.info.get(INFO_KEY)
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if isinstance(text, str):
        info.add_text(INFO_KEY, text, zip=True)
    image.save(path, format="PNG", pnginfo=info)


def scene_of(image: Image.Image) -> Optional[Scene]:
    """The scene recorded in `image.info['iconworld']`, or None when there is none.

    A crop keeps its parent's scene (coordinates of the parent image); `visprog.values`
    records the crop's frame in `image.info['visprog.frame']`.
    """
    text = getattr(image, "info", {}).get(INFO_KEY)
    if not text:
        return None
    return Scene.from_json(text)
