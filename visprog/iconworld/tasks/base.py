"""Building blocks of the task generators: nouns, scenes, programs, randomness."""

from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ... import glyphs
from .. import catalog
from ..render import IconWorldError, Placement, recolor_hue, render
from ..styles import CLASSIC, Style, draw
from ..language import number_word, plural, with_article
from .common import CLEAR, Entry, Phrase, View, parse_phrase, scene_view

WIDTH = HEIGHT = 256
MAX_OBJECTS = 8
CATEGORY_NAMES = tuple(catalog.CATEGORIES)
CHARACTER_NAMES = tuple(catalog.CHARACTERS)
ALL_NAMES = CATEGORY_NAMES + CHARACTER_NAMES


class Retry(Exception):
    """This draw cannot make the item asked for; draw again."""


# --------------------------------------------------------------------------- nouns

@dataclass(frozen=True)
class Noun:
    """Something to count or find: a category, a character or a group ('animals')."""

    singular: str
    plural: str
    members: tuple[str, ...]  # what to place to make instances of it

    @property
    def phrase(self) -> Phrase:
        p = parse_phrase(self.plural)
        assert p is not None, self.plural
        return p

    @property
    def names(self) -> frozenset:
        return self.phrase.names

    def a(self) -> str:
        """'a dog', 'an apple'; 'any people' style for nouns without a natural singular."""
        return with_article(self.singular)


def noun(name: str) -> Noun:
    return Noun(name, plural(name), (name,))


# Groups the tasks count and ask about (singular, plural, supercategory or knowledge key).
_GROUPS = [("animal", "animals", "animal"), ("vehicle", "vehicles", "vehicle"),
           ("fruit", "fruits", "fruit"), ("farm animal", "farm animals", "farm animal"),
           ("pet", "pets", "pet"), ("wild animal", "wild animals", "wild animal"),
           ("plant", "plants", "plant"), ("dessert", "desserts", "dessert"),
           ("person", "people", None)]


def group_nouns() -> list[Noun]:
    out = []
    for singular, plural_, key in _GROUPS:
        members = catalog.SUPERCATEGORIES[key] if key else catalog.KNOWLEDGE["people"]
        out.append(Noun(singular, plural_, tuple(members)))
    return out


GROUPS = group_nouns()


def pick(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


def pick_nouns(rng, k: int, *, groups: float = 0.0, pool: Sequence[str] = CATEGORY_NAMES,
               people: float = 0.1) -> list[Noun]:
    """k nouns whose phrases denote disjoint sets of names."""
    out: list[Noun] = []
    taken: set[str] = set()
    for _ in range(50):
        if len(out) == k:
            break
        r = rng.random()
        if r < groups:
            cand = pick(rng, GROUPS)
        elif r < groups + people:
            cand = Noun("person", "people", tuple(catalog.KNOWLEDGE["people"]))
        else:
            cand = noun(pick(rng, pool))
        if cand.names & taken:
            continue
        out.append(cand)
        taken |= cand.names
    if len(out) < k:
        raise Retry("no disjoint nouns")
    return out


def distractor_pool(avoid: Sequence[frozenset]) -> list[str]:
    """Names that none of the `avoid` name sets contains (and that do not resolve into them)."""
    banned = set().union(*avoid) if avoid else set()
    return [n for n in ALL_NAMES if n not in banned]


# --------------------------------------------------------------------------- scenes

SIZE_STEP = 4  # glyph sizes are drawn on a 4 px grid, so rendered glyphs are reused from caches
CLASSIC_SIZES = (28, 72)  # px, the glyph sizes of 'classic' task scenes
CLASSIC_RECOLOR = 0.35    # the share of colourable objects 'classic' task scenes recolour

# The style task scenes are drawn in. generate_item sets it for the whole item, so that the
# task forms (dozens, each building its scenes through make_scene) need not pass it along.
STYLE: ContextVar[Style] = ContextVar("iconworld_task_style", default=CLASSIC)


def layout(rng, categories: Sequence[str]) -> list[Placement]:
    """Placements with disjoint glyph boxes (1 px apart), sizes on a grid of SIZE_STEP px:
    the 'classic' task layout on a WIDTH x HEIGHT image.

    Like `render.sample_placements` without overlap, but with quantised sizes: the
    glyph rasters the renderer caches are then reused across scenes, which makes
    generating datasets several times faster. Raises Retry when nothing fits.
    """
    lo, hi = CLASSIC_SIZES
    sizes = list(range(lo, hi + 1, SIZE_STEP))
    for _restart in range(20):
        boxes: list[tuple[int, int, int, int]] = []
        out: list[Placement] = []
        for cat in categories:
            glyph = pick(rng, catalog.glyphs_of(cat))
            flipped = bool(rng.random() < 0.5)
            hue = float(recolor_hue(rng, cat, glyph, CLASSIC_RECOLOR))
            k = int(rng.integers(len(sizes)))
            placed = None
            while placed is None and k >= 0:
                w, h = glyphs.cached_glyph(glyph, sizes[k]).size
                for _try in range(40):
                    x = int(rng.integers(0, WIDTH - w + 1))
                    y = int(rng.integers(0, HEIGHT - h + 1))
                    if not any(x < b[2] + 1 and b[0] < x + w + 1 and y < b[3] + 1 and b[1] < y + h + 1
                               for b in boxes):
                        placed = (x, y, w, h)
                        break
                else:
                    k -= 1
            if placed is None:
                break
            x, y, w, h = placed
            boxes.append((x, y, x + w, y + h))
            out.append(Placement(cat, glyph, sizes[k], x, y, flipped, hue))
        if len(out) == len(categories):
            return out
    raise Retry("layout")


def make_scene(rng, categories: Sequence[str]):
    """Render the categories (one object each) in the STYLE of the item; returns (image, view).
    'classic' scenes are `layout`s (no overlap); other styles lay scenes out their own way."""
    cats = list(categories)
    order = rng.permutation(len(cats))
    cats = [cats[i] for i in order]
    style = STYLE.get()
    try:
        if style == CLASSIC:
            image, scene = render(layout(rng, cats), width=WIDTH, height=HEIGHT,
                                  seed=int(rng.integers(0, 2**31 - 1)))
        else:
            image, scene = draw(rng, cats, style)
    except IconWorldError:
        raise Retry("render") from None
    if len(scene.objects) != len(cats):
        raise Retry("an object is not visible")
    return image, scene_view(scene)


def fill(rng, wanted: dict[str, int], *, extra=(0, 3), avoid: Sequence[frozenset] = (),
         pool: Optional[Sequence[str]] = None):
    """A scene with `wanted` counts of categories plus distractors from outside `avoid`."""
    cats = [c for c, n in wanted.items() for _ in range(n)]
    room = max(0, MAX_OBJECTS - len(cats))
    lo, hi = extra
    n_extra = min(room, int(rng.integers(lo, hi + 1)))
    if n_extra:
        choices = list(pool) if pool is not None else distractor_pool(avoid)
        choices = [c for c in choices if not any(c in a for a in avoid)]
        if choices:
            cats += [pick(rng, choices) for _ in range(n_extra)]
    if not cats:
        cats = [pick(rng, distractor_pool(avoid))]
    return make_scene(rng, cats)


def spread(rng, members: Sequence[str], n: int) -> dict[str, int]:
    """n instances spread over member categories."""
    out: dict[str, int] = {}
    for _ in range(n):
        m = pick(rng, members)
        out[m] = out.get(m, 0) + 1
    return out


def merge(*dicts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def count(view: View, noun_: Noun) -> int:
    return len(view.matching(noun_.phrase))


def unique(view: View, phrase: Phrase) -> Entry:
    found = view.matching(phrase)
    if len(found) != 1:
        raise Retry("not unique")
    return found[0].entry


def is_clear(fraction: float) -> bool:
    return fraction <= CLEAR or fraction >= 1 - CLEAR


# --------------------------------------------------------------------------- crops (as the tools cut them)

def crop_region(box, width: int, height: int) -> tuple[int, int, int, int]:
    """The region visprog's Crop keeps for a box (enlarged around its centre)."""
    from ...tools.crops import ENLARGE
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = (x1 - x0) * ENLARGE / 2, (y1 - y0) * ENLARGE / 2
    return (max(0, math.floor(cx - hw)), max(0, math.floor(cy - hh)),
            min(width, math.ceil(cx + hw)), min(height, math.ceil(cy + hh)))


def half_box(side: str, width: int, height: int):
    """The box Loc returns for 'LEFT', 'RIGHT', 'TOP', 'BOTTOM'."""
    return {"left": (0.0, 0.0, width / 2, float(height)), "right": (width / 2, 0.0, float(width), float(height)),
            "top": (0.0, 0.0, float(width), height / 2), "bottom": (0.0, height / 2, float(width), float(height))}[side]


def image_half_fraction(e: Entry, side: str, width: int, height: int) -> float:
    return {"left": e.frac_left_of(width / 2), "right": 1 - e.frac_left_of(width / 2),
            "top": e.frac_above(height / 2), "bottom": 1 - e.frac_above(height / 2)}[side]


# --------------------------------------------------------------------------- programs

class V(str):
    """A variable reference in a program (printed bare)."""


def literal(value) -> str:
    if isinstance(value, V):
        return str(value)
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, str):
        if "'" not in value:
            return f"'{value}'"
        if '"' not in value:
            return f'"{value}"'
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise TypeError(f"cannot write {value!r} in a program")


class ProgramBuilder:
    def __init__(self):
        self.lines: list[str] = []
        self.counters: dict[str, int] = {}

    def add(self, prefix: str, module: str, **args) -> V:
        n = self.counters.get(prefix, 0)
        self.counters[prefix] = n + 1
        name = f"{prefix}{n}"
        text = ", ".join(f"{k}={literal(v)}" for k, v in args.items())
        self.lines.append(f"{name}={module}({text})")
        return V(name)

    def result(self, var: V, name: str = "FINAL_RESULT") -> str:
        self.lines.append(f"{name}=Result(var={var})")
        return self.text()

    def text(self) -> str:
        return "\n".join(self.lines)


def number_text(rng, n: int) -> str:
    return number_word(n) if n <= 12 and rng.random() < 0.6 else str(n)


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]
