"""The oracle backend: tools answered exactly from the icon world's scene annotations.

    visprog.execute(program, {"IMAGE": "scene.png"}, backend="oracle")

Every icon-world image carries its scene (objects, masks, colours, sizes) in the
PNG text chunk 'iconworld', and every crop made by a visprog tool carries its
frame, so the oracle knows exactly which objects an image or crop shows: those
with at least half of their visible mask inside it. Boxes are given in the
image's own pixels. Images without an annotation raise ToolUnavailable.

Vqa understands the question forms the icon-world tasks ask (see `QUESTION_FORMS`);
any other question is a ToolError naming the forms it knows.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

import numpy as np

from ..errors import ToolError
from ..tools.vision import alternatives, side_box
from ..values import Obj, Objects, Points
from . import catalog
from .tasks.common import (INSIDE, SIZE_WORDS, Phrase, Seen, View, coverage, describe, iou,
                           normalise, parse_phrase, relation_fraction, view_of)

BACKEND = "oracle"
DESCRIPTION = "exact answers from icon-world scene annotations (icon-world images only)"

QUESTION_FORMS = (
    "How many X are there? / How many X are in the image?",
    "How many X are to the left of / right of / above / below the Y?",
    "Is there a X? / Are there any X? / Does the image contain a X?",
    "Is the X to the left of / to the right of / above / below the Y?",
    "Is the X to the left or to the right of the Y? (also above or below)",
    "Is the X on the left or right side of the image? (also top or bottom) / Is the X on the left?",
    "What is to the left of / to the right of / above / below the X? (also 'What animal is ...')",
    "What color is the X? / Is the X red?",
    "Is the X small or large? / Is the X small? / What size is the X?",
    "Are there more X than Y? / fewer / as many X as Y",
    "What is this? / What is in the image?",
    "Describe the image.",
)

_SIDE_WORDS = {"left": "left", "right": "right", "above": "above", "below": "below",
               "top": "above", "bottom": "below", "over": "above", "on top of": "above",
               "under": "below", "underneath": "below", "beneath": "below"}
REL = (r"(?:(?:to|on|at) the (?:left|right)(?: side| hand side)? of|left of|right of|above|below|"
       r"over|on top of|under|underneath|beneath)")
_ART = r"(?:the |a |an |any |some )?"
_IMG = r"(?: (?:in|of|on) (?:the|this) (?:image|picture|photo|scene|crop))?"


def _side(rel: str) -> str:
    rel = rel.strip()
    for word in ("left", "right"):
        if word in rel:
            return word
    for word in ("on top of", "above", "over", "underneath", "under", "beneath", "below"):
        if word in rel:
            return _SIDE_WORDS[word]
    raise ToolError(f"unknown relation {rel!r}")


class _Unparsed(ToolError):
    """A form matched but a noun phrase in it is unknown: later forms may still read it."""


def _phrase(text: str, question: str) -> Phrase:
    phrase = parse_phrase(text)
    if phrase is None:
        raise _Unparsed(f"the oracle does not know what {text.strip()!r} is (in {question!r}); "
                        f"it knows the icon world's categories, characters and groups")
    return phrase


def _anchors(view: View, phrase: Phrase):
    """The reference objects for a relation: in view, else in the scene (a crop may cut them)."""
    seen = [s.entry for s in view.matching(phrase)]
    if seen:
        return seen
    return [e for e in view.index.entries if phrase.matches(e.obj)]


def _the(view: View, phrase: Phrase, question: str) -> Seen:
    """The object a definite phrase ('the car') refers to: the most visible, then largest."""
    found = view.matching(phrase)
    if not found:
        raise ToolError(f"the oracle sees no {phrase.text} in the image, so cannot answer "
                        f"{question!r}")
    return max(found, key=lambda s: (s.fraction, s.entry.total))


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _related_any(view: View, a: Phrase, b: Phrase, side: str) -> bool:
    anchors = _anchors(view, b)
    for s in view.matching(a):
        for anchor in anchors:
            if anchor is not s.entry and relation_fraction(s.entry, anchor, side) >= INSIDE:
                return True
    return False


def _image_side_fraction(view: View, seen: Seen, side: str) -> float:
    """Fraction of the object's mask in the `side` half of this view."""
    cx, cy = view.to_scene(view.width / 2, view.height / 2)
    e = seen.entry
    return {"left": e.frac_left_of(cx), "right": 1 - e.frac_left_of(cx),
            "above": e.frac_above(cy), "below": 1 - e.frac_above(cy)}[side]


def _what_related(view: View, b: Phrase, side: str, cls: Optional[Phrase]) -> str:
    anchors = _anchors(view, b)
    candidates = [s for s in view.seen if not b.matches(s.obj)
                  and (cls is None or cls.matches(s.obj))]
    if anchors:
        candidates = [s for s in candidates
                      if any(relation_fraction(s.entry, a, side) >= INSIDE for a in anchors)]
    if not candidates:
        return "nothing"
    names = {s.name for s in candidates}
    if len(names) == 1 or not anchors:
        if len(names) == 1:
            return names.pop()
        return max(candidates, key=lambda s: s.entry.total).name

    def distance(s: Seen) -> float:
        x, y = s.entry.center
        return min((x - a.center[0]) ** 2 + (y - a.center[1]) ** 2 for a in anchors)
    return min(candidates, key=distance).name


# --------------------------------------------------------------------------- Vqa forms

Handler = Callable[[View, re.Match, str], str]
_FORMS: list[tuple[re.Pattern, Handler]] = []


def _form(pattern: str):
    def add(fn: Handler) -> Handler:
        _FORMS.append((re.compile(pattern), fn))
        return fn
    return add


@_form(r"^(?:describe (?:the|this) (?:image|picture|photo|scene)(?: in one sentence)?|"
       r"what does (?:the|this) (?:image|picture|photo) show|"
       r"(?:write )?(?:a )?caption (?:for )?(?:the|this) (?:image|picture|photo)|"
       r"what is in (?:the|this) (?:image|picture|photo|scene)|what do you see(?: in the image)?)$")
def _describe(view, m, q):
    return describe(view)


@_form(rf"^how many (?P<a>.+?) (?:are|is) (?:there )?(?P<rel>{REL}) {_ART}(?P<b>.+?){_IMG}$")
def _count_related(view, m, q):
    a, b, side = _phrase(m["a"], q), _phrase(m["b"], q), _side(m["rel"])
    anchors = _anchors(view, b)
    n = sum(1 for s in view.matching(a)
            if any(x is not s.entry and relation_fraction(s.entry, x, side) >= INSIDE for x in anchors))
    return str(n)


@_form(r"^(?:how many (?P<a>.+?)(?: (?:are|is) there| can you see| do you see| (?:are|is) "
       r"(?:visible|shown|present|pictured|depicted)| (?:are|is) (?:in|on) (?:the|this) "
       r"(?:image|picture|photo|scene|crop)| does (?:the|this) (?:image|picture) (?:contain|show|have)"
       r"| there are)?(?: in (?:the|this) (?:image|picture|photo|scene|crop))?"
       r"|what is the number of (?P<b>.+?)|count the (?P<c>.+?))$")
def _count(view, m, q):
    phrase = _phrase(m["a"] or m["b"] or m["c"], q)
    return str(len(view.matching(phrase)))


@_form(r"^(?:is|are) (?P<a>.+?) (?:on|in|at) the (?P<s1>left|right|top|bottom)(?: side| part| half)?"
       r" or (?:on |in |at )?(?:the )?(?P<s2>left|right|top|bottom)(?: side| part| half)?"
       r"(?: of (?:the|this) (?:image|picture|photo|scene))?$")
def _image_side_choice(view, m, q):
    s1 = _SIDE_WORDS[m["s1"]]
    seen = _the(view, _phrase(m["a"], q), q)
    return m["s1"] if _image_side_fraction(view, seen, s1) >= INSIDE else m["s2"]


@_form(r"^(?:is|are) (?:there )?(?P<a>.+?) (?:on|in|at) the (?P<s>left|right|top|bottom)(?: side| part| half)?"
       r"(?: of (?:the|this) (?:image|picture|photo|scene))?$")
def _image_side(view, m, q):
    a = _phrase(m["a"], q)
    side = _SIDE_WORDS[m["s"]]
    return _yes(any(_image_side_fraction(view, s, side) >= INSIDE for s in view.matching(a)))


@_form(rf"^(?:is|are) {_ART}(?P<a>.+?) (?:to |on )?(?:the )?(?P<s1>left|right) or (?:to |on )?"
       rf"(?:the )?(?P<s2>left|right)(?: side)? of {_ART}(?P<b>.+?){_IMG}$")
def _relation_choice_lr(view, m, q):
    return _relation_choice(view, m, q)


@_form(rf"^(?:is|are) {_ART}(?P<a>.+?) (?P<s1>above|below) or (?P<s2>above|below) {_ART}(?P<b>.+?){_IMG}$")
def _relation_choice_ab(view, m, q):
    return _relation_choice(view, m, q)


def _relation_choice(view, m, q):
    a, b = _phrase(m["a"], q), _phrase(m["b"], q)
    seen = _the(view, a, q)
    anchors = [x for x in _anchors(view, b) if x is not seen.entry]
    if not anchors:
        raise ToolError(f"the oracle sees no {b.text} in the image, so cannot answer {q!r}")
    side = m["s1"]
    return side if relation_fraction(seen.entry, anchors[0], side) >= INSIDE else m["s2"]


@_form(rf"^(?:is|are) (?:there )?{_ART}(?P<a>.+?) (?P<rel>{REL}) {_ART}(?P<b>.+?){_IMG}$")
def _relation(view, m, q):
    a, b = _phrase(m["a"], q), _phrase(m["b"], q)
    return _yes(_related_any(view, a, b, _side(m["rel"])))


@_form(rf"^(?:what|which|who)(?: kind of| type of| sort of)?(?: (?P<cls>[a-z ]+?))? (?:is|are|'s) "
       rf"(?P<rel>{REL}) {_ART}(?P<b>.+?){_IMG}$")
def _what_rel(view, m, q):
    cls = _class(m["cls"], q)
    if cls is None and q.startswith("who"):
        cls = parse_phrase("people")
    return _what_related(view, _phrase(m["b"], q), _side(m["rel"]), cls)


@_form(rf"^(?:what|which|who) (?:is|are) the (?P<cls>.+?) (?:that is |that are )?(?P<rel>{REL}) "
       rf"{_ART}(?P<b>.+?){_IMG}$")
def _what_rel2(view, m, q):
    cls = _class(m["cls"], q)
    return _what_related(view, _phrase(m["b"], q), _side(m["rel"]), cls)


def _class(text: Optional[str], q: str) -> Optional[Phrase]:
    if not text or text.strip() in ("object", "thing", "objects", "things", "one", "item"):
        return None
    return _phrase(text, q)


@_form(r"^(?:(?:what|which) colou?r (?:is|are|does) (?P<a>.+?)(?: have)?|"
       r"what is the colou?r of (?P<b>.+?))$")
def _color(view, m, q):
    seen = _the(view, _phrase(m["a"] or m["b"], q), q)
    if not seen.obj.color:
        raise ToolError(f"the oracle knows no colour for the {seen.name} in {q!r}")
    return seen.obj.color


@_form(r"^(?:is|are) (?P<a>.+?) (?P<c>red|orange|yellow|green|blue|purple|pink|brown|black|white|gray|grey)$")
def _is_color(view, m, q):
    seen = _the(view, _phrase(m["a"], q), q)
    return _yes(seen.obj.color == ("gray" if m["c"] == "grey" else m["c"]))


_SIZE = r"(?:small|large|big|little|tiny|huge|medium|medium-sized|medium sized)"


@_form(rf"^(?:is|are) (?P<a>.+?) (?P<s1>{_SIZE}) or (?P<s2>{_SIZE})$|"
       r"^(?:what size is|how big is|how large is|what is the size of) (?P<b>.+?)$")
def _size(view, m, q):
    seen = _the(view, _phrase(m["a"] or m["b"], q), q)
    for option in (m["s1"], m["s2"]):  # answer with the question's own word ('big')
        if option and SIZE_WORDS[option] == seen.obj.size:
            return option
    return seen.obj.size


@_form(rf"^(?:is|are) (?P<a>.+?) (?P<s>{_SIZE})$")
def _is_size(view, m, q):
    seen = _the(view, _phrase(m["a"], q), q)
    return _yes(seen.obj.size == SIZE_WORDS[m["s"]])


@_form(r"^(?:(?:is|are) there (?:a |an |any |some )?(?P<a>.+?)(?: (?:in|on) (?:the|this) "
       r"(?:image|picture|photo|scene|crop))?|(?:does|do) (?:the|this) (?:image|picture|photo|scene) "
       r"(?:contain|show|have|include) (?:a |an |any |some )?(?P<b>.+?)|(?:can|do) you see "
       r"(?:a |an |any |some )?(?P<c>.+?)(?: in (?:the|this) (?:image|picture|photo))?)$")
def _exists(view, m, q):
    phrase = _phrase(m["a"] or m["b"] or m["c"], q)
    return _yes(bool(view.matching(phrase)))


@_form(r"^(?:are there|does (?:the|this) image (?:contain|show|have)) both (?P<a>.+?) and (?P<b>.+?)"
       r"(?: in (?:the|this) (?:image|picture|photo))?$")
def _both(view, m, q):
    return _yes(bool(view.matching(_phrase(m["a"], q))) and bool(view.matching(_phrase(m["b"], q))))


@_form(r"^are there (?P<cmp>more|fewer|less) (?P<a>.+?) than (?P<b>.+?)$")
def _compare(view, m, q):
    a, b = len(view.matching(_phrase(m["a"], q))), len(view.matching(_phrase(m["b"], q)))
    return _yes(a > b if m["cmp"] == "more" else a < b)


@_form(r"^(?:are there as many (?P<a>.+?) as (?P<b>.+?)|"
       r"are there the same number of (?P<c>.+?) and (?P<d>.+?))$")
def _same_count(view, m, q):
    a = len(view.matching(_phrase(m["a"] or m["c"], q)))
    b = len(view.matching(_phrase(m["b"] or m["d"], q)))
    return _yes(a == b)


@_form(r"^(?:what|which|who) (?:(?:kind of |type of )?(?P<cls>[a-z ]+?) )?(?:is|are) "
       r"(?:this|that|it|shown|pictured|visible|here|shown here|pictured here|visible here|"
       r"in (?:the|this) (?:image|picture|photo|crop))$|"
       r"^what (?:is|are) (?:the )?(?:object|thing)s?(?: in (?:the|this) (?:image|picture|photo|crop))?$")
def _what_is_this(view, m, q):
    cls = _class(m["cls"], q) if m["cls"] else None
    found = [s for s in view.seen if cls is None or cls.matches(s.obj)]
    if not found:
        return "nothing"
    return max(found, key=lambda s: s.fraction * s.entry.total).name


def answer(view: View, question: str) -> str:
    """The oracle's answer to one question about one view (lower case; numbers as digits)."""
    if not isinstance(question, str) or not question.strip():
        raise ToolError("Vqa needs a non-empty question")
    q = normalise(question)
    unparsed: Optional[_Unparsed] = None
    for pattern, handler in _FORMS:
        m = pattern.match(q)
        if m:
            try:
                out = handler(view, m, q)
            except _Unparsed as exc:
                unparsed = unparsed or exc
                continue
            return out if handler is _describe else out.lower()
    if unparsed is not None:
        raise ToolError(str(unparsed))
    forms = "\n  ".join(QUESTION_FORMS)
    raise ToolError(f"the oracle cannot answer {question!r}: it only answers these forms:\n  {forms}")


# --------------------------------------------------------------------------- object tools

def locate(view: View, text: str) -> Objects:
    half = side_box((view.width, view.height), text)
    if half is not None:
        return half
    out = []
    for part in str(text).split(","):
        phrase = parse_phrase(part)
        if phrase is None:
            continue
        label = part.strip()
        out.extend(Obj(s.box, label, 1.0) for s in view.matching(phrase))
    out.sort(key=lambda o: (o.box[0], o.box[1]))
    return Objects(out)


def match(view: View, obj: Obj) -> Optional[Seen]:
    """The object in view that a detected box stands for (it lies mostly inside its box)."""
    best, key = None, None
    for s in view.seen:
        c = coverage(obj.box, s.box)
        if c < 0.5:
            continue
        k = (round(c, 3), iou(obj.box, s.box))
        if key is None or k > key:
            best, key = s, k
    return best


def classify(view: View, objects: Objects, categories) -> Objects:
    options = []
    for c in alternatives(categories):
        phrase = parse_phrase(c)
        if phrase is not None:
            options.append((c, phrase))
    out = []
    for obj in objects:
        seen = match(view, obj)
        if seen is None:
            continue
        fits = [(len(p.names), i, c) for i, (c, p) in enumerate(options) if p.matches(seen.obj)]
        if fits:
            out.append(obj.relabel(min(fits)[2], 1.0))
    return Objects(out)


def select(view: View, objects: Objects, query, category=None) -> Objects:
    wanted = [(q, parse_phrase(q)) for q in alternatives(query)]
    within = parse_phrase(category) if isinstance(category, str) and category.strip() else None
    out = []
    for obj in objects:
        seen = match(view, obj)
        if seen is None:
            continue
        if category and isinstance(category, str) and category.strip():
            if within is not None and not within.matches(seen.obj):
                continue
            if within is None and obj.label != category.strip():
                continue
        for q, phrase in wanted:
            if phrase is not None and phrase.matches(seen.obj):
                out.append(obj.relabel(q, 1.0))
                break
    return Objects(out)


def segment(view: View, prompts=None) -> Objects:
    """Every object with its mask; given Objects or Points, the mask each box or point is on
    (within the box: a face box gives the face). Prompts on no object are dropped."""
    if prompts is None:
        return Objects(Obj(s.box, s.name, 1.0, view.mask(s)) for s in view.seen)
    masks = [(s, view.mask(s)) for s in view.seen]
    out = []
    for prompt in prompts:
        if isinstance(prompts, Points):
            x, y = (min(max(int(v), 0), n - 1) for v, n in zip(prompt, (view.width, view.height)))
            hits = [(s, m) for s, m in masks if m[y, x]]
            label, score = None, 1.0
        else:
            region = np.zeros((view.height, view.width), bool)
            x0, y0, x1, y1 = (int(round(v)) for v in prompt.box)
            region[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
            hits = sorted(((s, m & region) for s, m in masks), key=lambda sm: -int(sm[1].sum()))[:1]
            label, score = prompt.label, prompt.score
        if hits and hits[0][1].any():
            seen, mask = hits[0]
            ys, xs = np.nonzero(mask)
            box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
            out.append(Obj(box, label or seen.name, score, mask))
    return Objects(out)


def faces(view: View) -> Objects:
    return Objects(Obj(view.face_box(s), "face", 1.0) for s in view.seen if view.has_face(s))


def point(view: View, text: str) -> Points:
    phrase = parse_phrase(text) if isinstance(text, str) else None
    found = view.matching(phrase) if phrase else []
    return Points(sorted(view.point(s) for s in found), label=str(text))


def knowledge(query: str, limit: Optional[int] = 20) -> list[str]:
    """The names that answer a knowledge query ('farm animals', 'people in uniform')."""
    if not isinstance(query, str) or not query.strip():
        raise ToolError("List needs a non-empty query")
    key = normalise(query)
    key = re.sub(r"^(?:all |the |some |a list of |list of |list the )+", "", key)
    members = catalog.KNOWLEDGE.get(key)
    if members is None:
        names = catalog.resolve(key)
        if not names and key.endswith("s"):
            names = catalog.resolve(key[:-1])
        if not names:
            raise ToolError(f"the oracle knows no list of {query!r}; it knows: "
                            + ", ".join(sorted(catalog.KNOWLEDGE)))
        order = catalog.all_names()
        members = tuple(sorted(names, key=order.index))
    try:
        limit = 20 if limit is None else int(limit)
    except (TypeError, ValueError):
        raise ToolError(f"List's max must be a number, got {limit!r}") from None
    return list(members)[:limit] if limit > 0 else []


def _background_patch(view: View) -> Optional[np.ndarray]:
    """The scene's background behind this view (re-rendered from its seed), or None."""
    from .render import IconWorldError, draw_background
    scene = view.scene
    if view.scale != 1.0:
        return None
    try:
        full = np.asarray(draw_background(scene.background, scene.background_seed, scene.width, scene.height))
    except (IconWorldError, ValueError):  # an unknown kind or a bad seed: use the surroundings
        return None
    x0, y0 = int(round(view.x0)), int(round(view.y0))
    patch = np.zeros((view.height, view.width, 3), np.uint8)
    rx0, ry0, rx1, ry1 = view.region
    patch[ry0 - y0:ry1 - y0, rx0 - x0:rx1 - x0] = full[ry0:ry1, rx0:rx1]
    return patch


def replace(view: View, image, objects: Objects, prompt: str):
    """Paint each object out (background re-rendered from the scene) and draw `prompt`'s glyph there."""
    from PIL import Image as PILImage
    from .. import glyphs
    from ..drawing import object_mask
    phrase = parse_phrase(prompt) if isinstance(prompt, str) else None
    if phrase is None:
        raise ToolError(f"the oracle cannot draw {prompt!r}: name an icon-world category or "
                        "character (e.g. 'a cat', 'an astronaut')")
    order = catalog.all_names()
    name = min(phrase.names, key=order.index)
    glyph = catalog.glyphs_of(name)[0]
    rgb = image.convert("RGB")
    arr = np.asarray(rgb).copy()
    background = _background_patch(view)
    h, w = arr.shape[:2]
    for obj in objects:
        mask = object_mask(obj, (w, h))
        grown = mask.copy()
        for _ in range(2):  # take the anti-aliased outline too
            g = grown.copy()
            g[1:, :] |= grown[:-1, :]
            g[:-1, :] |= grown[1:, :]
            g[:, 1:] |= grown[:, :-1]
            g[:, :-1] |= grown[:, 1:]
            grown = g
        if background is not None:
            arr[grown] = background[grown]
        else:
            ring = _ring(grown)
            arr[grown] = np.median(arr[ring], axis=0) if ring.any() else arr[grown]
    out = PILImage.fromarray(arr)
    pasted = []  # (replaced object, solid mask of the new glyph)
    for obj in objects:
        x0, y0, x1, y1 = obj.box
        side = int(round(max(x1 - x0, y1 - y0)))
        if side < 2:
            continue
        g = glyphs.glyph(glyph, side)
        gx = int(round((x0 + x1) / 2 - g.width / 2))
        gy = int(round((y0 + y1) / 2 - g.height / 2))
        out.paste(g, (gx, gy), g)
        solid = np.zeros((h, w), bool)
        alpha = np.asarray(g.getchannel("A")) >= 128
        cx0, cy0, cx1, cy1 = max(gx, 0), max(gy, 0), min(gx + g.width, w), min(gy + g.height, h)
        if cx0 < cx1 and cy0 < cy1:
            solid[cy0:cy1, cx0:cx1] = alpha[cy0 - gy:cy1 - gy, cx0 - gx:cx1 - gx]
        pasted.append((obj, solid))
    out.info.update({k: v for k, v in image.info.items()})
    out.info.pop("iconworld", None)  # the old annotation no longer describes these pixels
    if view.identity:
        try:
            out.info["iconworld"] = _replaced_scene(view, out, pasted, name, glyph).to_json()
        except Exception:  # pragma: no cover - keep the picture even if annotating fails
            pass
    return out


def _replaced_scene(view: View, out, pasted, name: str, glyph: str):
    """The scene after Replace: replaced objects become `name`, masks follow the pixels."""
    import dataclasses
    from .colors import color_ids
    from .render import Scene, SceneObject
    scene = view.scene
    objects = list(scene.objects)
    gone = set()
    new = []
    for obj, solid in pasted:
        seen = match(view, obj)
        if seen is not None:
            gone.add(seen.entry.index)
        new.append((seen.obj.size if seen is not None else "medium", solid))
    union = np.zeros((scene.height, scene.width), bool)
    for _, solid in new:
        union |= solid
    kept = []
    for i, o in enumerate(objects):
        if i in gone:
            continue
        mask = o.mask & ~union
        if mask.any():
            ys, xs = np.nonzero(mask)
            kept.append(dataclasses.replace(o, mask=mask, box=(int(xs.min()), int(ys.min()),
                                                                int(xs.max()) + 1, int(ys.max()) + 1)))
    pixels = np.asarray(out.convert("RGB"))
    names = tuple(catalog.COLORS)
    for size, solid in new:
        if not solid.any():
            continue
        ids = color_ids(pixels[solid])
        counts = np.bincount(ids, minlength=len(names))[:len(names)]
        black = names.index("black")
        rest = counts.copy()
        rest[black] = 0
        color = names[int(rest.argmax())] if rest.sum() >= 0.15 * counts.sum() else "black"
        ys, xs = np.nonzero(solid)
        kept.append(SceneObject(category=name, glyph=glyph, mask=solid, color=color, size=size,
                                box=(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)))
    return Scene(scene.width, scene.height, scene.background, scene.background_seed, kept)


def _ring(mask):
    grown = mask.copy()
    for _ in range(3):
        g = grown.copy()
        g[1:, :] |= grown[:-1, :]
        g[:-1, :] |= grown[1:, :]
        g[:, 1:] |= grown[:, :-1]
        g[:, :-1] |= grown[:, 1:]
        grown = g
    return grown & ~mask


# --------------------------------------------------------------------------- backends
# One batch function a tool, `batch_<tool>`, listed in `visprog.backends`.

def _batch(tool_name: str, fn: Callable):
    def run(calls: list[dict], ctx) -> list:
        return [fn(call, ctx, i) for i, call in enumerate(calls)]
    run.__doc__ = f"{tool_name}: {DESCRIPTION}"
    return run


def _view(call: dict, tool: str) -> View:
    return view_of(call.get("image"), tool=f"{tool} (backend 'oracle')")


def _loc(call, ctx, i):
    view = _view(call, "Loc")
    found = locate(view, call["object"])
    if not found and side_box((view.width, view.height), call["object"]) is None:
        if all(parse_phrase(p) is None for p in str(call["object"]).split(",")):
            ctx.note(i, f"oracle: {call['object']!r} names nothing in the icon world")
    return found


batch_loc = _batch("Loc", _loc)
batch_vqa = _batch("Vqa", lambda call, ctx, i: answer(_view(call, "Vqa"), call["question"]))
batch_classify = _batch("Classify", lambda call, ctx, i: classify(
    _view(call, "Classify"), call["object"] or Objects(), call["categories"]))
batch_select = _batch("Select", lambda call, ctx, i: select(
    _view(call, "Select"), call["object"] or Objects(), call["query"], call.get("category")))
batch_seg = _batch("Seg", lambda call, ctx, i: segment(_view(call, "Seg"), call.get("object")))
batch_facedet = _batch("FaceDet", lambda call, ctx, i: faces(_view(call, "FaceDet")))
batch_point = _batch("Point", lambda call, ctx, i: point(_view(call, "Point"), call["object"]))
batch_list = _batch("List", lambda call, ctx, i: knowledge(call["query"], call.get("max", 20)))
batch_replace = _batch("Replace", lambda call, ctx, i: replace(
    _view(call, "Replace"), call["image"], call["object"] or Objects(), call["prompt"]))
