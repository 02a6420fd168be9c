"""What the icon-world tasks and the oracle share: phrases, views of a scene, geometry, words.

A *view* is what one image shows of a scene: the whole scene for an icon-world
image, or part of it for a crop (its `visprog.frame` maps crop pixels back to the
scene). An object is *in* a view when at least half of its visible mask is inside
it; boxes, masks and points are given in the view's own pixel frame.

Relations are properties of the scene, measured on whole masks: A is left of B
when at least half of A's mask lies left of B's box centre (so that CropLeft at
B's centre keeps A exactly when A is left of B). Task generators ask only about
*clear* cases, where that fraction is at most `CLEAR` or at least `1 - CLEAR`, so
that a pixel of rounding in a crop can never flip an answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Sequence

import numpy as np

from ...errors import ToolUnavailable
from ...values import FRAME_KEY
from .. import catalog
from ..language import RELATIONS, number_word, plural, with_article

CLEAR = 0.2  # a relation is clear when the deciding fraction is <= CLEAR or >= 1 - CLEAR
INSIDE = 0.5  # an object is in a view when this fraction of its mask is inside

SIZE_WORDS = {"small": "small", "little": "small", "tiny": "small", "large": "large",
              "big": "large", "huge": "large", "medium": "medium", "medium-sized": "medium",
              "medium sized": "medium"}
COLOR_WORDS = {**{c: c for c in catalog.COLORS}, "grey": "gray"}
SIDES = RELATIONS


def count_phrase(n: int, name: str, *, words: bool = True) -> str:
    """'a dog', 'two dogs', '3 dogs', 'no dogs'."""
    if n == 0:
        return f"no {plural(name)}"
    if n == 1:
        return with_article(name) if words else f"1 {name}"
    return f"{number_word(n) if words else n} {plural(name)}"


def join_words(parts: Sequence[str]) -> str:
    parts = list(parts)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# --------------------------------------------------------------------------- phrases

_ARTICLES = re.compile(r"^(?:all of the|all the|each of the|any of the|the|a|an|any|some|all|every|each)\s+")
_TAIL = re.compile(r"\s+(?:(?:that (?:is|are) )?(?:in|on|of|inside) (?:the|this) "
                   r"(?:image|picture|photo|photograph|scene|crop))$")


def normalise(text: str) -> str:
    text = str(text).lower().replace("\u2019", "'").replace("colour", "color")
    return " ".join(text.strip().rstrip("?!.,;:").split())  # linear: no regex on user text


@dataclass(frozen=True)
class Phrase:
    """A noun phrase of the icon world: names it denotes, optionally a colour and a size."""

    text: str
    names: frozenset
    color: Optional[str] = None
    size: Optional[str] = None

    def matches(self, obj) -> bool:
        return (obj.category in self.names and (self.color is None or obj.color == self.color)
                and (self.size is None or obj.size == self.size))


@lru_cache(maxsize=4096)
def parse_phrase(text: str) -> Optional[Phrase]:
    """'the red cars' -> Phrase(names={'car'}, color='red'); None when it names nothing."""
    if not isinstance(text, str):
        return None
    t = normalise(text)
    for _ in range(3):
        t = _ARTICLES.sub("", t)
        t = _TAIL.sub("", t)
    color = size = None
    words = t.split()
    changed = True
    while changed and len(words) > 1:
        changed = False
        two = " ".join(words[:2])
        if two in SIZE_WORDS and len(words) > 2:
            size, words, changed = SIZE_WORDS[two], words[2:], True
        elif words[0] in SIZE_WORDS and size is None:
            size, words, changed = SIZE_WORDS[words[0]], words[1:], True
        elif words[0] in COLOR_WORDS and color is None:
            color, words, changed = COLOR_WORDS[words[0]], words[1:], True
    rest = " ".join(words)
    names = catalog.resolve(rest)
    if not names and rest.endswith("s"):
        names = catalog.resolve(rest[:-1])
    if not names:
        return None
    return Phrase(t, frozenset(names), color, size)


# --------------------------------------------------------------------------- scene index

@dataclass
class Entry:
    """One visible scene object with what geometry needs, in scene pixels."""

    index: int
    obj: object  # render.SceneObject
    mask: np.ndarray
    total: int
    colcum: np.ndarray  # colcum[x] = mask pixels in columns < x
    rowcum: np.ndarray
    box: tuple  # tight box of the visible mask (x0, y0, x1, y1), exclusive end

    @property
    def name(self) -> str:
        return self.obj.category

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return ((x0 + x1) / 2, (y0 + y1) / 2)

    def frac_left_of(self, x: float) -> float:
        """Fraction of the mask in columns < x (x may be fractional: columns < ceil(x))."""
        i = min(max(math.ceil(x), 0), len(self.colcum) - 1)
        return float(self.colcum[i]) / self.total

    def frac_above(self, y: float) -> float:
        i = min(max(math.ceil(y), 0), len(self.rowcum) - 1)
        return float(self.rowcum[i]) / self.total

    def frac_in(self, region: tuple[int, int, int, int]) -> float:
        x0, y0, x1, y1 = region
        return float(self.mask[y0:y1, x0:x1].sum()) / self.total


class SceneIndex:
    def __init__(self, scene):
        self.scene = scene
        self.width, self.height = scene.width, scene.height
        self.entries: list[Entry] = []
        W, H = self.width, self.height
        for i, obj in enumerate(scene.objects):
            mask = np.asarray(obj.mask, dtype=bool)
            if mask.shape != (H, W):
                continue
            bx0, by0, bx1, by1 = (int(v) for v in obj.box)  # the tight box of the mask
            sub = mask[by0:by1, bx0:bx1]
            cols = np.zeros(W, np.int64)
            rows = np.zeros(H, np.int64)
            cols[bx0:bx1] = sub.sum(axis=0)
            rows[by0:by1] = sub.sum(axis=1)
            total = int(cols.sum())
            if total == 0 or total != np.count_nonzero(mask):  # the box is not the mask's: recount
                cols, rows = mask.sum(axis=0), mask.sum(axis=1)
                total = int(cols.sum())
                if total == 0:
                    continue
            xs = np.flatnonzero(cols)
            ys = np.flatnonzero(rows)
            box = (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)
            self.entries.append(Entry(i, obj, mask, total,
                                      np.concatenate([[0], np.cumsum(cols)]),
                                      np.concatenate([[0], np.cumsum(rows)]), box))


def relation_fraction(a: Entry, b: Entry, side: str) -> float:
    """The fraction of A's mask on `side` ('left', 'right', 'above', 'below') of B's centre."""
    cx, cy = b.center
    if side == "left":
        return a.frac_left_of(cx)
    if side == "right":
        return 1.0 - a.frac_left_of(cx)
    if side == "above":
        return a.frac_above(cy)
    if side == "below":
        return 1.0 - a.frac_above(cy)
    raise ValueError(f"unknown side {side!r}")


def related(a: Entry, b: Entry, side: str) -> bool:
    return relation_fraction(a, b, side) >= INSIDE


def clear(fraction: float) -> bool:
    return fraction <= CLEAR or fraction >= 1 - CLEAR


# --------------------------------------------------------------------------- views

@dataclass
class Seen:
    """An object as one view shows it."""

    entry: Entry
    box: tuple[float, float, float, float]  # in the view's pixels, clipped to the view
    fraction: float  # of the object's mask inside the view

    @property
    def obj(self):
        return self.entry.obj

    @property
    def name(self) -> str:
        return self.entry.obj.category


class View:
    def __init__(self, index: SceneIndex, frame=(0.0, 0.0, 1.0), size=None):
        self.index = index
        self.scene = index.scene
        x0, y0, scale = (float(v) for v in frame)
        if scale <= 0:
            scale = 1.0
        self.x0, self.y0, self.scale = x0, y0, scale
        self.width, self.height = size or (index.width, index.height)
        W, H = index.width, index.height
        self.region = (min(max(round(x0), 0), W), min(max(round(y0), 0), H),
                       min(max(round(x0 + self.width * scale), 0), W),
                       min(max(round(y0 + self.height * scale), 0), H))
        self.whole = self.region == (0, 0, W, H)
        self.identity = ((x0, y0, scale) == (0.0, 0.0, 1.0) and (self.width, self.height) == (W, H))
        self.seen: list[Seen] = []
        rx0, ry0, rx1, ry1 = self.region
        for e in index.entries:
            if self.whole:
                self.seen.append(Seen(e, self._to_view_box(e.box), 1.0))
                continue
            inside = e.mask[ry0:ry1, rx0:rx1]
            n = int(inside.sum())
            if n == 0 or n / e.total < INSIDE:
                continue
            xs = np.flatnonzero(inside.any(axis=0))
            ys = np.flatnonzero(inside.any(axis=1))
            sx0, sy0, sx1, sy1 = rx0 + xs[0], ry0 + ys[0], rx0 + xs[-1] + 1, ry0 + ys[-1] + 1
            self.seen.append(Seen(e, self._to_view_box((sx0, sy0, sx1, sy1)), n / e.total))
        self.seen.sort(key=lambda s: (s.box[0], s.box[1]))

    # coordinates --------------------------------------------------------------
    def _to_view_box(self, box) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = box
        vx0 = min(max((x0 - self.x0) / self.scale, 0.0), self.width)
        vy0 = min(max((y0 - self.y0) / self.scale, 0.0), self.height)
        vx1 = min(max((x1 - self.x0) / self.scale, 0.0), self.width)
        vy1 = min(max((y1 - self.y0) / self.scale, 0.0), self.height)
        if self.scale == 1.0 and float(self.x0).is_integer() and float(self.y0).is_integer():
            return (float(vx0), float(vy0), float(vx1), float(vy1))
        return (round(vx0, 2), round(vy0, 2), round(vx1, 2), round(vy1, 2))

    def to_view(self, x: float, y: float) -> tuple[float, float]:
        return ((x - self.x0) / self.scale, (y - self.y0) / self.scale)

    def to_scene(self, x: float, y: float) -> tuple[float, float]:
        return (self.x0 + x * self.scale, self.y0 + y * self.scale)

    # objects ------------------------------------------------------------------
    def matching(self, phrase) -> list[Seen]:
        """The objects in view a phrase (text or Phrase) denotes; [] when it names nothing."""
        if isinstance(phrase, str):
            phrase = parse_phrase(phrase)
        if phrase is None:
            return []
        return [s for s in self.seen if phrase.matches(s.obj)]

    def mask(self, seen: Seen) -> np.ndarray:
        """The object's visible mask in the view's pixel frame (bool, height x width)."""
        m = seen.entry.mask
        if self.identity:
            return m
        xs = np.floor(self.x0 + (np.arange(self.width) + 0.5) * self.scale).astype(int)
        ys = np.floor(self.y0 + (np.arange(self.height) + 0.5) * self.scale).astype(int)
        okx = (xs >= 0) & (xs < self.index.width)
        oky = (ys >= 0) & (ys < self.index.height)
        out = m[np.ix_(np.clip(ys, 0, self.index.height - 1), np.clip(xs, 0, self.index.width - 1))]
        return out & oky[:, None] & okx[None, :]

    def point(self, seen: Seen) -> tuple[float, float]:
        """A point on the object (in view pixels): the visible-mask pixel nearest its centroid."""
        rx0, ry0, rx1, ry1 = self.region
        sub = seen.entry.mask[ry0:ry1, rx0:rx1]
        ys, xs = np.nonzero(sub)
        cx, cy = xs.mean(), ys.mean()
        k = int(np.argmin((xs - cx) ** 2 + (ys - cy) ** 2))
        return self.to_view(rx0 + xs[k] + 0.5, ry0 + ys[k] + 0.5)

    def face_box(self, seen: Seen) -> tuple[float, float, float, float]:
        """Where a person's or character's face is: the glyph is a head, so its box."""
        return seen.box

    def has_face(self, seen: Seen) -> bool:
        return seen.name in catalog.KNOWLEDGE["people"]


@lru_cache(maxsize=32)  # a scene index holds full-size masks: keep a few recent scenes
def _index_for(text: str) -> SceneIndex:
    from ..render import Scene
    return SceneIndex(Scene.from_json(text))


def index_of(scene) -> SceneIndex:
    return SceneIndex(scene)


def view_of(image, *, tool: str = "the oracle") -> View:
    """The view an icon-world image (or a crop of one) shows; ToolUnavailable otherwise."""
    text = getattr(image, "info", {}).get("iconworld")
    if not text:
        raise ToolUnavailable(f"{tool} needs icon-world images (PNG files carrying the "
                              "'iconworld' scene annotation, or crops of them); this image has none")
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    index = _index_for(text)
    frame = image.info.get(FRAME_KEY)
    if frame is None:
        if image.size == (index.width, index.height):
            frame = (0.0, 0.0, 1.0)
        else:  # a resized copy of the whole scene
            frame = (0.0, 0.0, index.width / max(image.size[0], 1))
    return View(index, frame, image.size)


def scene_view(scene) -> View:
    """The whole-scene view of a Scene (what its rendered image shows)."""
    return View(SceneIndex(scene))


# --------------------------------------------------------------------------- describing

def object_phrase(obj, *, color: bool = True, size: bool = False) -> str:
    """'red car', 'small dog': colour only for colorable categories."""
    words = []
    if size and obj.size in ("small", "large"):
        words.append(obj.size)
    if color and colour_is_attribute(obj) and obj.color:
        words.append(obj.color)
    words.append(obj.category)
    return " ".join(words)


def colour_is_attribute(obj) -> bool:
    """Whether an object's colour says something (made things, flowers...), not its kind."""
    cat = catalog.CATEGORIES.get(obj.category)
    return bool(cat and cat.colorable)


def describe(view: View) -> str:
    """The caption of what a view shows: 'Two dogs, a red car and a tree.' (deterministic)."""
    if not view.seen:
        return "An empty scene."
    groups: dict[str, list[Seen]] = {}
    for s in view.seen:  # left to right
        groups.setdefault(s.name, []).append(s)
    parts = []
    for name, members in groups.items():
        if len(members) == 1:
            parts.append(with_article(object_phrase(members[0].obj)))
        else:
            colours = {m.obj.color for m in members}
            adjective = (f"{colours.pop()} " if len(colours) == 1 and
                         colour_is_attribute(members[0].obj) and members[0].obj.color else "")
            parts.append(f"{number_word(len(members))} {adjective}{plural(name)}")
    text = join_words(parts)
    return text[0].upper() + text[1:] + "."


def region_caption(obj) -> str:
    return with_article(object_phrase(obj, size=True))


# --------------------------------------------------------------------------- boxes

def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def coverage(query, box) -> float:
    """How much of `query` lies inside `box`."""
    ix = max(0.0, min(query[2], box[2]) - max(query[0], box[0]))
    iy = max(0.0, min(query[3], box[3]) - max(query[1], box[1]))
    area = (query[2] - query[0]) * (query[3] - query[1])
    return ix * iy / area if area > 0 else 0.0


def int_box(box) -> list[int]:
    return [int(round(v)) for v in box]
