"""GQA-style questions about one image, with VisProg-style gold programs (Loc/Count/Crop*/Vqa/Eval).

Questions that name 'the X' are asked only when exactly one X is in the image;
relation questions only when every object involved is clearly on one side (see
`common.CLEAR`); colour questions only when one colour name clearly dominates
the object; size questions only for clearly small or clearly large objects.
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np

from .. import catalog
from ..language import OPPOSITE, RELATION_PHRASE, RELATION_WORDINGS
from ..colors import color_ids
from .base import (Noun, ProgramBuilder, Retry, V, count, crop_region, fill,
                   half_box, image_half_fraction, is_clear, merge, pick, pick_nouns, spread,
                   unique)
from .common import Entry, colour_is_attribute, relation_fraction

SIDE_TEXT = RELATION_WORDINGS
CROP_TOOL = {"left": "CropLeft", "right": "CropRight", "above": "CropAbove", "below": "CropBelow"}
CANONICAL = RELATION_PHRASE
_COLOR_NAMES = tuple(catalog.COLORS)
_BLACK = _COLOR_NAMES.index("black")
SMALL_MAX = 36 / 256  # longest side / sqrt(image area) of a clearly small object (36 px at 256x256)
LARGE_MIN = 64 / 256  # ... of a clearly large one


def yes_no(rng) -> bool:
    return bool(rng.random() < 0.5)


def _scene(rng, nouns_counts, extra=(0, 3)):
    wanted: dict[str, int] = {}
    for n, k in nouns_counts:
        wanted = merge(wanted, spread(rng, n.members, k))
    return fill(rng, wanted, extra=extra, avoid=[n.names for n, _ in nouns_counts])


def _item(question, answer, program, scene, form):
    return {"instruction": question, "images": {"IMAGE": scene[0]}, "answer": str(answer).lower(),
            "program": program, "form": form}


def _loc_word(n: Noun) -> str:
    return n.singular


# --------------------------------------------------------------------------- counting and existence

def f_count(rng, *, groups: float = 0.15):
    (n_,) = pick_nouns(rng, 1, groups=groups)
    scene = _scene(rng, [(n_, int(rng.integers(0, 5)))])
    c = count(scene[1], n_)
    q = pick(rng, [f"How many {n_.plural} are there?", f"How many {n_.plural} are in the picture?",
                   f"How many {n_.plural} are in the image?", f"How many {n_.plural} can you see?",
                   f"What is the number of {n_.plural}?"])
    pb = ProgramBuilder()
    box = pb.add("BOX", "Loc", image=V("IMAGE"), object=_loc_word(n_))
    a = pb.add("ANSWER", "Count", box=box)
    return _item(q, c, pb.result(a), scene, "group_count" if n_ in _groups() else "count")


def _groups():
    from .base import GROUPS
    return GROUPS


def f_exists(rng, *, groups: float = 0.1):
    (n_,) = pick_nouns(rng, 1, groups=groups)
    want = yes_no(rng)
    scene = _scene(rng, [(n_, int(rng.integers(1, 3)) if want else 0)])
    present = count(scene[1], n_) > 0
    if n_.singular == "person":
        q = pick(rng, ["Are there any people?", "Are there people in the image?",
                       "Is there a person in the image?", "Do you see any people?"])
    else:
        q = pick(rng, [f"Is there {n_.a()}?", f"Is there {n_.a()} in the image?",
                       f"Are there any {n_.plural}?", f"Do you see any {n_.plural}?",
                       f"Does the image contain {n_.a()}?", f"Is there {n_.a()} in the picture?"])
    pb = ProgramBuilder()
    box = pb.add("BOX", "Loc", image=V("IMAGE"), object=_loc_word(n_))
    c = pb.add("ANSWER", "Count", box=box)
    e = pb.add("ANSWER", "Eval", expr=f"'yes' if {{{c}}} > 0 else 'no'")
    return _item(q, "yes" if present else "no", pb.result(e), scene, "exists")


def f_compare(rng):
    a_, b_ = pick_nouns(rng, 2, groups=0.1)
    scene = _scene(rng, [(a_, int(rng.integers(0, 4))), (b_, int(rng.integers(0, 4)))], extra=(0, 2))
    ca, cb = count(scene[1], a_), count(scene[1], b_)
    mode = pick(rng, ["more", "fewer", "same", "both"])
    pb = ProgramBuilder()
    x = pb.add("BOX", "Loc", image=V("IMAGE"), object=_loc_word(a_))
    xa = pb.add("ANSWER", "Count", box=x)
    y = pb.add("BOX", "Loc", image=V("IMAGE"), object=_loc_word(b_))
    ya = pb.add("ANSWER", "Count", box=y)
    if mode == "more":
        q, truth, expr = f"Are there more {a_.plural} than {b_.plural}?", ca > cb, f"{{{xa}}} > {{{ya}}}"
    elif mode == "fewer":
        q, truth, expr = f"Are there fewer {a_.plural} than {b_.plural}?", ca < cb, f"{{{xa}}} < {{{ya}}}"
    elif mode == "same":
        q = pick(rng, [f"Are there as many {a_.plural} as {b_.plural}?",
                       f"Are there the same number of {a_.plural} and {b_.plural}?"])
        truth, expr = ca == cb, f"{{{xa}}} == {{{ya}}}"
    else:
        q = pick(rng, [f"Are there both {a_.plural} and {b_.plural} in the image?",
                       f"Are there both {a_.plural} and {b_.plural}?"])
        truth, expr = ca > 0 and cb > 0, f"{{{xa}}} > 0 and {{{ya}}} > 0"
    e = pb.add("ANSWER", "Eval", expr=f"'yes' if {expr} else 'no'")
    return _item(q, "yes" if truth else "no", pb.result(e), scene, f"compare_{mode}")


# --------------------------------------------------------------------------- relations

def _pair_scene(rng, extra=(0, 3)):
    a_, b_ = pick_nouns(rng, 2, people=0.15)
    scene = _scene(rng, [(a_, 1), (b_, 1)], extra=extra)
    return a_, b_, scene, unique(scene[1], a_.phrase), unique(scene[1], b_.phrase)


def f_relation(rng):
    a_, b_, scene, ea, eb = _pair_scene(rng)
    side = pick(rng, list(SIDE_TEXT))
    frac = relation_fraction(ea, eb, side)
    if not is_clear(frac):
        raise Retry("unclear")
    want = yes_no(rng)
    if (frac >= 0.5) != want:
        side = OPPOSITE[side]
        frac = 1 - frac
    x, y = ea.name, eb.name
    q = f"Is the {x} {pick(rng, SIDE_TEXT[side])} the {y}?"
    pb = ProgramBuilder()
    box = pb.add("BOX", "Loc", image=V("IMAGE"), object=y)
    img = pb.add("IMAGE", CROP_TOOL[side], image=V("IMAGE"), box=box)
    box2 = pb.add("BOX", "Loc", image=img, object=x)
    c = pb.add("ANSWER", "Count", box=box2)
    e = pb.add("ANSWER", "Eval", expr=f"'yes' if {{{c}}} > 0 else 'no'")
    return _item(q, "yes" if frac >= 0.5 else "no", pb.result(e), scene, "relation")


def f_relation_choice(rng):
    a_, b_, scene, ea, eb = _pair_scene(rng)
    axis = pick(rng, [("left", "right"), ("above", "below")])
    first, second = axis if rng.random() < 0.5 else axis[::-1]
    frac = relation_fraction(ea, eb, axis[0])
    if not is_clear(frac):
        raise Retry("unclear")
    answer = axis[0] if frac >= 0.5 else axis[1]
    x, y = ea.name, eb.name
    if axis[0] == "left":
        q = pick(rng, [f"Is the {x} to the {first} or to the {second} of the {y}?",
                       f"Is the {x} on the {first} or on the {second} of the {y}?"])
    else:
        q = f"Is the {x} {first} or {second} the {y}?"
    pb = ProgramBuilder()
    box = pb.add("BOX", "Loc", image=V("IMAGE"), object=y)
    img = pb.add("IMAGE", CROP_TOOL[axis[0]], image=V("IMAGE"), box=box)
    box2 = pb.add("BOX", "Loc", image=img, object=x)
    c = pb.add("ANSWER", "Count", box=box2)
    e = pb.add("ANSWER", "Eval", expr=f"'{axis[0]}' if {{{c}}} > 0 else '{axis[1]}'")
    return _item(q, answer, pb.result(e), scene, "relation_choice")


def f_what_related(rng):
    (b_,) = pick_nouns(rng, 1)
    extras = int(rng.integers(1, 5))
    scene = fill(rng, {b_.members[0]: 1}, extra=(extras, extras), avoid=[b_.names])
    eb = unique(scene[1], b_.phrase)
    side = pick(rng, list(SIDE_TEXT))
    cls_word = None
    if rng.random() < 0.3:
        cls_word = pick(rng, ["animal", "vehicle", "person"])
    cls = None
    if cls_word:
        from .common import parse_phrase
        cls = parse_phrase(cls_word)
    others = [s.entry for s in scene[1].seen if s.entry is not eb
              and (cls is None or cls.matches(s.obj))]
    fracs = [relation_fraction(e, eb, side) for e in others]
    if not all(is_clear(f) for f in fracs):
        raise Retry("unclear")
    names = {e.name for e, f in zip(others, fracs) if f >= 0.5}
    if len(names) != 1:
        raise Retry("ambiguous or nothing")
    answer = names.pop()
    rel = pick(rng, SIDE_TEXT[side])
    y = eb.name
    if cls_word == "person":
        q = f"Who is {rel} the {y}?"
    elif cls_word:
        q = pick(rng, [f"What {cls_word} is {rel} the {y}?", f"Which {cls_word} is {rel} the {y}?",
                       f"What is the {cls_word} {rel} the {y}?"])
    else:
        q = pick(rng, [f"What is {rel} the {y}?", f"Which object is {rel} the {y}?",
                       f"What is the object {rel} the {y}?"])
    pb = ProgramBuilder()
    box = pb.add("BOX", "Loc", image=V("IMAGE"), object=y)
    img = pb.add("IMAGE", CROP_TOOL[side], image=V("IMAGE"), box=box)
    a = pb.add("ANSWER", "Vqa", image=img, question=q)
    return _item(q, answer, pb.result(a), scene, "what_related")


# --------------------------------------------------------------------------- attributes

def colour_shares(image, e: Entry) -> np.ndarray:
    """Share of each colour name among the object's non-black pixels."""
    pixels = np.asarray(image)[e.mask]
    ids = color_ids(pixels)
    counts = np.bincount(ids, minlength=len(_COLOR_NAMES))[:len(_COLOR_NAMES)].astype(float)
    counts[_BLACK] = 0
    total = counts.sum()
    return counts / total if total else counts


def clear_colour(image, e: Entry) -> bool:
    if e.obj.category in catalog.KNOWLEDGE["people"] or not e.obj.color or e.obj.color == "black":
        return False
    shares = colour_shares(image, e)
    i = _COLOR_NAMES.index(e.obj.color)
    second = np.sort(np.delete(shares, i))[-1] if len(shares) > 1 else 0.0
    threshold = 0.55 if colour_is_attribute(e.obj) else 0.7
    return shares[i] >= threshold and second <= 0.25


def _single_scene(rng, pool=None):
    (n_,) = pick_nouns(rng, 1, pool=pool or tuple(catalog.CATEGORIES))
    scene = _scene(rng, [(n_, 1)], extra=(0, 4))
    return n_, scene, unique(scene[1], n_.phrase)


def f_colour(rng):
    colourful = [c.name for c in catalog.CATEGORIES.values() if c.colorable] + \
        ["banana", "carrot", "tree", "pizza", "pig", "elephant", "bear", "cow", "monkey"]
    n_, scene, e = _single_scene(rng, pool=colourful)
    if not clear_colour(scene[0], e):
        raise Retry("colour not clear")
    x = e.name
    if rng.random() < 0.6:
        q = pick(rng, [f"What color is the {x}?", f"What is the color of the {x}?",
                       f"Which color is the {x}?"])
        answer = e.obj.color
        form = "colour"
    else:
        shares = colour_shares(scene[0], e)
        if yes_no(rng):
            c, answer = e.obj.color, "yes"
        else:
            others = [name for i, name in enumerate(_COLOR_NAMES)
                      if name != e.obj.color and shares[i] < 0.05 and name != "black"]
            c, answer = pick(rng, others), "no"
        q = f"Is the {x} {c}?"
        form = "colour_yes_no"
    pb = ProgramBuilder()
    box = pb.add("BOX", "Loc", image=V("IMAGE"), object=x)
    img = pb.add("IMAGE", "Crop", image=V("IMAGE"), box=box)
    a = pb.add("ANSWER", "Vqa", image=img, question=q)
    return _item(q, answer, pb.result(a), scene, form)


def clear_size(e: Entry) -> bool:
    x0, y0, x1, y1 = e.box
    height, width = e.mask.shape
    longest = max(x1 - x0, y1 - y0) / np.sqrt(width * height)
    return (e.obj.size == "small" and longest <= SMALL_MAX) or (e.obj.size == "large" and longest >= LARGE_MIN)


def f_size(rng):
    n_, scene, e = _single_scene(rng)
    if not clear_size(e):
        raise Retry("size not clear")
    x = e.name
    if rng.random() < 0.5:
        first, second = pick(rng, [("small", "large"), ("large", "small"), ("small", "big"), ("big", "small")])
        q = pick(rng, [f"Is the {x} {first} or {second}?", f"How big is the {x}?",
                       f"What size is the {x}?"])
        answer = e.obj.size
        if answer == "large" and {"big", "or"} <= set(re.findall(r"[a-z]+", q.lower())):
            answer = "big"  # the asker's word for the choice ('Is the dog small or big?')
        form = "size"
    else:
        word = pick(rng, ["small", "large", "big"])
        answer = "yes" if (e.obj.size == ("large" if word == "big" else word)) else "no"
        q = f"Is the {x} {word}?"
        form = "size_yes_no"
    pb = ProgramBuilder()
    box = pb.add("BOX", "Loc", image=V("IMAGE"), object=x)
    img = pb.add("IMAGE", "Crop", image=V("IMAGE"), box=box)
    a = pb.add("ANSWER", "Vqa", image=img, question=q)
    return _item(q, answer, pb.result(a), scene, form)


def _half_clear(e: Entry, side: str) -> bool | None:
    """True/False when the object is clearly in/out of that half, as Loc+Crop sees it; None if not clear."""
    height, width = e.mask.shape
    region = crop_region(half_box(side, width, height), width, height)
    inside = e.frac_in(region)
    half = image_half_fraction(e, side, width, height)
    if inside >= 0.7 and half >= 0.8:
        return True
    if inside <= 0.3 and half <= 0.2:
        return False
    return None


def f_image_side(rng):
    n_, scene, e = _single_scene(rng, pool=tuple(catalog.CATEGORIES) + tuple(catalog.CHARACTERS))
    axis = pick(rng, [("left", "right"), ("top", "bottom")])
    probe = axis[0] if rng.random() < 0.5 else axis[1]
    other = axis[1] if probe == axis[0] else axis[0]
    inside = _half_clear(e, probe)
    if inside is None:
        raise Retry("not clear")
    x = e.name
    pb = ProgramBuilder()
    box = pb.add("BOX", "Loc", image=V("IMAGE"), object=probe.upper())
    img = pb.add("IMAGE", "Crop", image=V("IMAGE"), box=box)
    box2 = pb.add("BOX", "Loc", image=img, object=x)
    c = pb.add("ANSWER", "Count", box=box2)
    if rng.random() < 0.5:
        first, second = axis if rng.random() < 0.5 else axis[::-1]
        part = "side" if axis[0] == "left" else pick(rng, ["part", "half"])
        prep = "on" if axis[0] == "left" else "in"
        q = f"Is the {x} {prep} the {first} or the {second} {part} of the image?"
        e_ = pb.add("ANSWER", "Eval", expr=f"'{probe}' if {{{c}}} > 0 else '{other}'")
        return _item(q, probe if inside else other, pb.result(e_), scene, "image_side")
    prep = "on" if axis[0] == "left" else "in"
    part = pick(rng, [" side", ""]) if axis[0] == "left" else pick(rng, [" part", ""])
    q = f"Is the {x} {prep} the {probe}{part} of the image?"
    e_ = pb.add("ANSWER", "Eval", expr=f"'yes' if {{{c}}} > 0 else 'no'")
    return _item(q, "yes" if inside else "no", pb.result(e_), scene, "image_side_yes_no")


def f_exists_in_half(rng):
    """VisProg's 'Is the vehicle in the top of the image?': any instance in that part."""
    (n_,) = pick_nouns(rng, 1, groups=0.3)
    scene = _scene(rng, [(n_, int(rng.integers(1, 3)))])
    side = pick(rng, ["top", "bottom", "left", "right"])
    found = [s.entry for s in scene[1].matching(n_.phrase)]
    states = [_half_clear(e, side) for e in found]
    if not found or any(s is None for s in states):
        raise Retry("not clear")
    answer = "yes" if any(states) else "no"
    prep = "on" if side in ("left", "right") else "in"
    part = " side" if side in ("left", "right") else pick(rng, ["", " part"])
    thing = "people" if n_.singular == "person" else n_.a()
    verb = "Are there" if thing == "people" else "Is there"
    q = f"{verb} {thing} {prep} the {side}{part} of the image?"
    pb = ProgramBuilder()
    box = pb.add("BOX", "Loc", image=V("IMAGE"), object=side.upper())
    img = pb.add("IMAGE", "Crop", image=V("IMAGE"), box=box)
    box2 = pb.add("BOX", "Loc", image=img, object=_loc_word(n_))
    c = pb.add("ANSWER", "Count", box=box2)
    e_ = pb.add("ANSWER", "Eval", expr=f"'yes' if {{{c}}} > 0 else 'no'")
    return _item(q, answer, pb.result(e_), scene, "exists_in_half")


FORMS: dict[str, tuple[float, Callable]] = {
    "count": (1.2, f_count), "exists": (1.0, f_exists), "compare": (0.8, f_compare),
    "relation": (1.2, f_relation), "relation_choice": (0.8, f_relation_choice),
    "what_related": (1.0, f_what_related), "colour": (1.0, f_colour), "size": (0.7, f_size),
    "image_side": (0.8, f_image_side), "exists_in_half": (0.6, f_exists_in_half),
}


def generate(rng: np.random.Generator) -> dict:
    names = list(FORMS)
    weights = np.array([FORMS[n][0] for n in names])
    for _ in range(500):
        form = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        try:
            return FORMS[form][1](rng)
        except Retry:
            continue
    raise RuntimeError("could not generate a GQA item")  # pragma: no cover
