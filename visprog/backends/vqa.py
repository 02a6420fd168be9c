"""Vqa and Point backends: the in-repo LLaVA-style model, and real LLaVA and Molmo2 weights.

    import visprog.backends.vqa      # registers Vqa 'iconworld' (default), Point 'iconworld'
                                     # (default), Vqa 'pretrained' and Point 'pretrained'

- Vqa 'iconworld': `visprog/models/llava.py` with `visprog/weights/llava.safetensors`.
  Count questions ('How many dogs are there?') are answered by pointing when
  COUNT_BY_POINTING is set: the answer is the number of points Point finds (below), and the
  rationale says so; 'Is there a dog?' by whether that count is above 0 (EXISTS_BY_COUNTING).
  Likewise 'Is the cat left of the tree?' is answered from where the cat and the tree are
  (RELATIONS_BY_POINTING): with DETECTOR_POINTS, the centres of the most confident boxes Loc
  finds of each (`relations_by_detector`), else the points the model gives them as it
  answers. A thing's colour and size are measured where Loc finds it (ATTRIBUTES_MEASURED:
  `measured_attribute`); where Loc finds no such thing, they are asked in the words the
  model was trained on, of the whole scene a crop was cut from (`attribute_question`).
  'What is above the bus?' is answered by the detector and CLIP (`name_beside`).
- Point 'iconworld': 'Point to the dogs.' -> (x, y) pixels of the input image. With
  DETECTOR_POINTS, the centres of the boxes the in-repo detector's Loc finds (on a crop, in
  the scene it was cut from: `found_in`); they count and point better than the LLaVA-style
  model's points on the training style and as well on the classic one (weights/llava.md).
  Else Molmo-style pointing by the model, asked on the whole image. When the things asked
  for are small (`zoomable`: the in-repo detector's Loc finds them, none over
  CROP_MAX_OBJECT of the image side, in an image of at least MIN_TILED_SIDE pixels), the
  detector's boxes check the points: unless they pair off
  one to one, each point in its box, the question is asked again on overlapping crops, as
  Molmo does, one tiling at a time (`pointing.TILINGS`: 4 crops, 4 more, and 9 more where
  the first two disagree) until the boxes confirm a tiling's points; else the tiling with
  the median count wins, unless the detector counts DETECTOR_GAP or more otherwise: then
  the boxes' centres stand.
- Vqa 'pretrained': `LlavaForConditionalGeneration` + `AutoProcessor` from a local folder
  (VISPROG_LLAVA=dir, a `save_pretrained` folder), on CUDA when present.
- Point 'pretrained': `Molmo2ForConditionalGeneration` + `AutoProcessor` from a local folder
  (VISPROG_MOLMO=dir, e.g. allenai/Molmo2-4B saved with `save_pretrained`), on CUDA when
  present: 'Point to the dogs.' -> `<points coords="1 1 946 029 ...">` -> (x, y) pixels.
  A folder that is unset, incomplete or does not load raises ToolUnavailable naming the variable.

Importing this module imports neither torch nor transformers; models load on first use,
once per process. The images of a batch go through the model together; image features
are cached per image in `ctx.cache`, so Vqa and Point on one image run the tower once (the
crops are not cached). The model's frozen tower is the detector's, so that pass also serves
Loc and the check of the points (`shares_tower`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from dataclasses import dataclass
from typing import NamedTuple, Optional

from ..errors import ToolUnavailable
from ..pointing import (TILINGS, crop_boxes, median_tiling, merge_crop_points, parse_points,
                        points_in_boxes)
from ..registry import ToolContext, image_cache
from ..values import Points, frame_in_source, region_in_source, source_of
from .device import best_device

BACKEND = "iconworld"
PRETRAINED = "pretrained"
LLAVA_ENV = "VISPROG_LLAVA"
MOLMO_ENV = "VISPROG_MOLMO"
# Molmo2 spends about 10 tokens a point (Qwen3 writes numbers digit by digit) and stops at its
# end token; a reply cut short loses its unclosed <points> tag, so leave room for ~100 points.
MOLMO_MAX_NEW_TOKENS = 1024
FEATURES_KEY = "llava.features"
COUNT_BY_POINTING = True   # answer 'How many X ...?' by pointing (see the model card)
DETECTOR_POINTS = True     # point at the centres of the boxes Loc finds (else Molmo-style pointing)
EXISTS_BY_COUNTING = True  # ... and 'Is there a X?' by whether that count is above 0
# Where no tiling's points pair off with the detector's boxes and the two counts differ by this
# much, the boxes stand: the model misses many things in scenes unlike its training (chosen on
# training-style scenes with the classic style's goal kept, weights/llava.md)
DETECTOR_GAP = 1
RELATIONS_BY_POINTING = True  # answer 'Is the A left of the B?' from the points of A and B
ATTRIBUTES_MEASURED = True  # answer 'What color / size is the X?' from the X that Loc finds
# Crops magnify 1.3-1.6x, and the model was trained on objects up to 27% of the image side:
# larger things, and smaller images, are pointed at whole. 0.2 was chosen on held-out scenes
# (300 cluttered counting scenes, 24-48 px objects; 208 NLVR count questions, 28-72 px):
# counts exact 98.3% and 90.4%; crops for all, 98.3% and 62.5%; the whole image, 83% and 90.4%.
# A count on crops costs ~3x one on the whole image (~120 ms on one core), so crops are asked
# only where the detector's boxes disagree with the whole image's points; 0 turns them off.
CROP_MAX_OBJECT = 0.2
MIN_TILED_SIDE = 128

_NUMBERS = {w: str(i) for i, w in enumerate(
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
     "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
     "nineteen", "twenty"))}
_NUMBERS["no"] = "0"
_NUMBERS["none"] = "0"
_COUNT = re.compile(r"^how many (?P<x>.+?)(?: (?:are|is) there| can you see| do you see|"
                    r" (?:are|is) (?:in|on) (?:the|this) (?:image|picture|photo|scene))?"
                    r"(?: in (?:the|this) (?:image|picture|photo|scene))?\s*\??$", re.I)
_NOT_PLAIN = re.compile(r"\b(left|right|above|below|over|under|beneath|top|bottom|of the|than|"
                        r"and|or|with|next to|behind|near)\b", re.I)


def short_answer(text: str) -> str:
    """A model's reply as a short answer: lower case, no final period, numbers as digits,
    'Yes, there is ...' -> 'yes'."""
    t = (text or "").strip()
    low = t.lower()
    m = re.match(r"^(yes|no)\b", low)
    if m and (len(low) == 2 + (m.group(1) == "yes") or low[len(m.group(1))] in ",.!;"):
        return m.group(1)
    t = t.rstrip(".!").strip()
    low = t.lower()
    if low in _NUMBERS:
        return _NUMBERS[low]
    m = re.fullmatch(r"there (?:are|is) (\w+)(?: [\w ]+)?", low)
    if m and m.group(1) in _NUMBERS:
        return _NUMBERS[m.group(1)]
    return low if len(t.split()) <= 3 else t


_RELATION = re.compile(r"^(?:is|are) the (?P<a>.+?) (?:to the |on the )?(?P<rel>left|right|above|below)"
                       r"(?: of| side of)? the (?P<b>.+?)\s*\??$", re.I)
_HOLDS = {"left": lambda a, b: a[0] < b[0], "right": lambda a, b: a[0] > b[0],
          "above": lambda a, b: a[1] < b[1], "below": lambda a, b: a[1] > b[1]}


def n_points(n: int) -> str:
    """'1 point', '3 points': how the rationale notes say how many points there were."""
    return f"{n} point{'s' if n != 1 else ''}"


def relation_by_points(question: str, refs: list) -> Optional[str]:
    """'Is the cat left of the tree?' -> 'yes'/'no' from the one point the model gave each of
    the two things it names first; None for other questions or other pointing."""
    m = _RELATION.match(" ".join(question.split()))  # single spaces: no run to rescan
    if m is None or len(refs) < 2 or len(refs[0][1]) != 1 or len(refs[1][1]) != 1:
        return None
    return "yes" if _HOLDS[m.group("rel").lower()](refs[0][1][0], refs[1][1][0]) else "no"


def relations_by_detector(asks: list[tuple[object, str]], ctx) -> list[Optional[tuple[str, str]]]:
    """For each (image, 'Is the cat left of the tree?'): ('yes'/'no', how) from the centres of
    the most confident boxes Loc finds of the two things (`found_in`); None for other
    questions, or where Loc finds either thing nowhere (the model answers those)."""
    parsed = [(image, _RELATION.match(" ".join(q.split()))) for image, q in asks]
    found = iter(found_in([(image, m.group(thing)) for image, m in parsed if m for thing in ("a", "b")], ctx))
    out = []
    for image, m in parsed:
        if m is None:
            out.append(None)
            continue
        a, b = next(found), next(found)
        if not a or not b:
            out.append(None)
            continue
        pa, pb = (max(boxes, key=lambda o: o.score).center for boxes in (a, b))
        out.append(("yes" if _HOLDS[m.group("rel").lower()](pa, pb) else "no",
                    f"the {m.group('a')} at {tuple(round(v) for v in pa)} and the {m.group('b')} at "
                    f"{tuple(round(v) for v in pb)}, the centres of the most confident boxes the "
                    f"detector's Loc finds"))
    return out


_IN_IMAGE = r"(?: in (?:the|this) (?:image|picture|photo|scene))?\s*\??$"
_EXISTS = [re.compile(r"^(?:is|are) there (?:an? |any |some )?(?P<x>.+?)" + _IN_IMAGE, re.I),
           re.compile(r"^do you see (?:an? |any |some )?(?P<x>.+?)" + _IN_IMAGE, re.I),
           re.compile(r"^does the (?:image|picture|photo|scene) (?:contain|show|have) "
                      r"(?:an? |any |some )?(?P<x>.+?)\s*\??$", re.I)]


def _plain_target(question: str, patterns) -> Optional[str]:
    q = " ".join(question.split())  # single spaces: no run to rescan
    for pattern in patterns:
        m = pattern.match(q)
        if m:
            x = m.group("x").strip()
            if _NOT_PLAIN.search(x):
                return None
            from ..iconworld import catalog
            return x if catalog.resolve(x) else None  # plain names and groups; 'red cars' asks directly
    return None


def count_target(question: str) -> Optional[str]:
    """'How many dogs are there?' -> 'dogs'; None for other questions (relations, comparisons)."""
    return _plain_target(question, [_COUNT])


def exists_target(question: str) -> Optional[str]:
    """'Is there a dog in the image?' -> 'dog'; None for other questions."""
    return _plain_target(question, _EXISTS)


def plural_phrase(text: str) -> str:
    """'dog' -> 'dogs', 'farm animal' -> 'farm animals'; other phrases unchanged."""
    from ..iconworld import catalog
    t = re.sub(r"^(?:the|a|an|all|all the|every|each)\s+", "", text.strip().lower())
    if t in catalog.CATEGORIES or t in catalog.CHARACTERS:
        return catalog.plural_of(t)
    if t in catalog.SUPERCATEGORY_PLURALS:
        return catalog.SUPERCATEGORY_PLURALS[t]
    return t


# ----------------------------------------------------------------------------- in-repo model


def model():
    """The in-repo LLaVA-style model (`visprog.models.load`)."""
    from ..models import load
    return load("llava")


def shares_tower() -> bool:
    """Is the VQA model's frozen tower the detector's (same weights, same input size)? Then an
    image's tower pass serves Loc, the count gate and Vqa alike (`iconworld.tower_maps`)."""
    from ..models import shared
    from . import iconworld
    m = model()

    def compare() -> bool:
        if not iconworld.detector_ready():
            return False
        det = iconworld._detector()
        mine, theirs = m.tower.state_dict(), det.tower.state_dict()
        return (m.config.image_size == det.config.scan_size and mine.keys() == theirs.keys()
                and m.config.letterbox == det.config.letterbox
                and all(mine[k].equal(theirs[k]) for k in mine))
    return shared(("shares_tower", id(m)), compare)  # once per loaded model


def features(images, ctx):
    """(feats (U, N, D), image_of): merged patch tokens of the distinct images among `images`
    (cached per image in ctx.cache, the rest computed in one batch) and, per image, its row.
    Questions about one image then share its tokens in the model (`LLaVA.generate`)."""
    import torch
    from . import iconworld
    from ..models.llava import merge_tokens
    m = model()

    def compute(ims):
        if shares_tower():
            return list(merge_tokens(torch.stack(iconworld.tower_maps(ims, ctx)), m.config.merge))
        with torch.no_grad():
            return list(m.image_features(ims, bf16=True))
    feats = image_cache(ctx).get_batch(images, FEATURES_KEY, compute)
    rows: dict[int, int] = {}  # one row per distinct image, in order
    for f in feats:
        rows.setdefault(id(f), len(rows))
    return torch.stack(list({id(f): f for f in feats}.values())), [rows[id(f)] for f in feats]


# A thing's colour or size, in the phrasings the model was not trained on -> the ones it was
# (llava_data: "What color is the X?", "What size is the X?", "Is the X small or large?",
# "Is the X large?"); 'big' stands for 'large' in a question and again in its answer. Each
# with what it asks (Attribute.colour, Attribute.size; 'asked': the size the question names).
_ATTRIBUTE = [
    (re.compile(r"^(?:which colou?r is|what is the colou?r of|what colou?r is) the (?P<x>.+?)\s*\??$", re.I),
     "What color is the {x}?", "what", None),
    (re.compile(r"^(?:how (?:big|large|small) is|what size is) the (?P<x>.+?)\s*\??$", re.I),
     "What size is the {x}?", None, "what"),
    (re.compile(r"^is the (?P<x>.+?) (?:big|large|small) or (?:big|large|small)\s*\??$", re.I),
     "Is the {x} small or large?", None, "choice"),
    (re.compile(r"^is the (?P<x>.+?) (?P<size>big|large|small|medium)\s*\??$", re.I),
     "Is the {x} {size}?", None, "asked"),
]


class Attribute(NamedTuple):
    thing: str               # 'bus'
    trained: str             # the question as the model was trained to read it
    colour: Optional[str]    # 'what' for 'What color is the bus?', 'red' for 'Is the bus red?'
    size: Optional[str]      # 'what', 'choice' ('... small or large?'), or the size asked about


def _attribute(question: str) -> Optional[Attribute]:
    """A question about one thing's colour or size, read; None for other questions."""
    from ..iconworld import catalog
    q = " ".join(question.split())
    for pattern, trained, colour, size in _ATTRIBUTE:
        m = pattern.match(q)
        if m:
            asked = (m.groupdict().get("size") or "").lower().replace("big", "large")
            return Attribute(m.group("x"), trained.format(x=m.group("x"), size=asked), colour,
                             asked if size == "asked" else size)
    m = re.match(r"^is the (?P<x>.+?) (?P<colour>\w+)\s*\??$", q, re.I)
    if m and m.group("colour").lower() in catalog.COLORS:
        colour = m.group("colour").lower()
        return Attribute(m.group("x"), f"Is the {m.group('x')} {colour}?", colour, None)
    return None


def askers_word(answer: str, question: str) -> str:
    """'big' for 'large' when the question offered 'big' as a choice ('Is the dog small or big?')."""
    if answer == "large" and re.search(r"\bbig\b.*\bor\b|\bor\b.*\bbig\b", question, re.I):
        return "big"
    return answer


def found_in(asks: list[tuple[object, str]], ctx) -> list[list]:
    """For each (image, thing): the things Loc finds, as Obj boxes in the scene's pixels. On a
    crop a program cut, Loc looks in the scene it was cut from (as it did to cut it) and keeps
    what lies in the crop, by its centre: the detector reads whole scenes, not slivers."""
    from . import iconworld
    scenes = [source_of(image) for image, _ in asks]
    found = iconworld.loc([{"image": scene, "object": thing} for scene, (_, thing) in zip(scenes, asks)],
                          ToolContext(ctx.cache))
    out = []
    for (image, _), scene, boxes in zip(asks, scenes, found):
        if scene is not image:
            x0, y0, x1, y1 = region_in_source(image)
            boxes = [o for o in boxes if x0 <= o.center[0] <= x1 and y0 <= o.center[1] <= y1]
        out.append(list(boxes))
    return out


def measured_attribute(image, question: str, ctx) -> Optional[tuple[str, str]]:
    """(answer, how) for a question about one thing's colour or size, measured on the thing
    where Loc finds it: its colour on its mask (`mask_color`), its size by the icon world's
    own words for its box's longest side (`render.size_word`), in the scene a crop was cut
    from (`found_in`: a crop hides how big a thing is). None when the question is not one, or
    Loc finds no such thing."""
    from ..iconworld.render import size_word
    from . import iconworld
    found = _attribute(question)
    if not (ATTRIBUTES_MEASURED and found) or _NOT_PLAIN.search(found.thing) or not iconworld.detector_ready():
        return None
    scene = source_of(image)
    boxes = found_in([(image, found.thing)], ctx)[0]
    if not boxes:
        return None
    box = max(boxes, key=lambda o: o.score).box
    where = f"the {found.thing} Loc finds at {tuple(round(v) for v in box)}"
    if found.colour:
        colour = iconworld.mask_color(scene, box)
        if colour is None:
            return None
        answer = colour if found.colour == "what" else ("yes" if colour == found.colour else "no")
        return answer, f"{where} is mostly {colour} on its mask"
    longest = max(box[2] - box[0], box[3] - box[1])
    size = size_word(longest, *scene.size, medium=found.size != "choice")
    answer = size if found.size in ("what", "choice") else ("yes" if size == found.size else "no")
    return answer, f"{where} is {size}: its longest side is {longest:.0f} px in a {scene.size[0]}x{scene.size[1]} image"


def attribute_question(question: str) -> Optional[str]:
    """A question about one thing's colour or size, as the model was trained to read it
    ('Which color is the bus?' -> 'What color is the bus?'); None for other questions."""
    found = _attribute(question)
    return found and found.trained


def asked_about(question: str) -> Optional[str]:
    """The thing a counting, existence, colour or size question asks about ('How many
    teapots are there?' -> 'teapots'); None for other questions."""
    q = " ".join(question.split())
    for pattern in [_COUNT, *_EXISTS]:
        m = pattern.match(q)
        if m and not _NOT_PLAIN.search(m.group("x")):
            return m.group("x")
    found = _attribute(q)
    return found.thing if found and not _NOT_PLAIN.search(found.thing) else None


_REL = r"(?P<rel>(?:to the |on the )?(?:left|right) of|above|below)"
_WHAT_RELATED = [re.compile(p + _REL + r" the (?P<y>.+?)\s*\??$", re.I) for p in (
    r"^(?P<who>who) is ", r"^(?:what|which) (?!is\b)(?P<kind>\w+) is ", r"^what is the (?P<kind>\w+) ",
    r"^what is ")]
_ANY_KIND = ("object", "thing")


def what_related(question: str) -> Optional[tuple[Optional[str], str, str]]:
    """'Which animal is left of the cat?' -> ('animal', 'left', 'cat'): the kind of thing asked
    for (None: anything), the side and the thing it is beside; None for other questions."""
    q = " ".join(question.split())
    for pattern in _WHAT_RELATED:
        m = pattern.match(q)
        if m:
            d = m.groupdict()
            kind = "person" if d.get("who") else d.get("kind")
            side = m.group("rel").split()[-2] if m.group("rel").endswith(" of") else m.group("rel")
            return (None if kind in _ANY_KIND else kind), side.lower(), m.group("y")
    return None


def name_beside(image, kind: Optional[str], side: str, anchor: str, ctx) -> Optional[tuple[str, tuple]]:
    """What the detector and CLIP find on `side` of the `anchor` (of `kind`, if given): on a
    crop a program cut beside it, what lies in the crop, read on the whole scene the crop came
    from (as Loc sees it); else what lies on that side of the first `anchor` Loc finds.
    (name, box in the scene) of the most confident such proposal, or None."""
    from ..tools.crops import side_region
    from . import iconworld
    # what a name denotes is read from CLIP's name prototypes: weights without them ask the model
    if not iconworld.detector_ready() or iconworld._clip().name_prototypes is None:
        return None
    scene, clip = source_of(image), iconworld._clip()
    if scene is not image:
        region = region_in_source(image)
    else:
        found = iconworld.loc([{"image": image, "object": anchor}], ToolContext(ctx.cache))[0]
        if not found:
            return None
        region = side_region(*image.size, found[0].box, side)  # as CropLeft etc. would cut
    cands = iconworld.candidates([scene], ctx)[0]
    idx, prob = iconworld.candidate_names(clip, [scene], [cands], ctx)[0]
    names = clip.prototype_names
    beside = iconworld.denotation(clip, iconworld.split_color(anchor)[1])
    wanted = iconworld.denotation(clip, kind) if kind else None
    best = None
    for k, box in enumerate(cands["boxes"].tolist()):
        name, cx, cy = names[int(idx[k])], (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        inside = region[0] <= cx <= region[2] and region[1] <= cy <= region[3]
        score = float(cands["objectness"][k] * prob[k])
        if inside and name not in beside and (wanted is None or name in wanted) \
                and (best is None or score > best[0]):
            best = (score, name, tuple(round(v) for v in box))
    return best and best[1:]


def ask(images, prompts: list[str], ctx=None) -> list[tuple[str, list]]:
    """The model's replies to one prompt per image (batched): (answer, what it pointed at
    first: [(label, [(x%, y%), ...]), ...]) each."""
    if not prompts:
        return []
    feats, image_of = features(images, ctx)
    return model().answer_grounded(None, prompts, feats=feats, image_of=image_of,
                                   sizes=[im.size for im in images])


def vqa(calls: list[dict], ctx) -> list[str]:
    from . import advice, iconworld
    images = [c["image"] for c in calls]
    questions = [str(c["question"]).strip() for c in calls]
    exists = [EXISTS_BY_COUNTING and exists_target(q) for q in questions]
    targets = [(count_target(q) or exists[i]) if COUNT_BY_POINTING else None for i, q in enumerate(questions)]
    counted = dict(zip([i for i, t in enumerate(targets) if t], points_of(
        [(im, plural_phrase(t)) for im, t in zip(images, targets) if t], ctx)))
    beside = {}  # 'What is above the bus?': the detector and CLIP name what is there
    for i, q in enumerate(questions):
        if not targets[i] and (related := what_related(q)) and (found := name_beside(images[i], *related, ctx)):
            beside[i] = related, found
    measured = {i: found for i, q in enumerate(questions)
                if not targets[i] and i not in beside and (found := measured_attribute(images[i], q, ctx))}
    rest = [i for i, t in enumerate(targets) if not t and i not in beside and i not in measured]
    related = {}
    if RELATIONS_BY_POINTING and DETECTOR_POINTS and iconworld.detector_ready():
        related = {i: r for i, r in zip(rest, relations_by_detector([(images[i], questions[i]) for i in rest], ctx))
                   if r is not None}
    asked = [i for i in rest if i not in related]
    # A thing's colour or size is asked in the words the model knows, and of the whole scene
    # a crop was cut from: the model saw whole scenes only, and a crop hides how big a thing is.
    attribute = {i: a for i in asked if (a := attribute_question(questions[i]))}
    views = [source_of(images[i]) if i in attribute else images[i] for i in asked]
    replies = dict(zip(asked, ask(views, [attribute.get(i, questions[i]) for i in asked], ctx)))
    for i, q in enumerate(questions):
        relation = _RELATION.match(" ".join(q.split()))
        things = [relation.group("a"), relation.group("b")] if relation else [asked_about(q) or ""]
        words = [w for thing in things for w in iconworld.unseen_words(thing)]
        if words:
            ctx.warn(i, f"{' '.join(words)!r} never named an object in the in-repo models' training, so "
                        f"this answer may be a guess; for an open vocabulary use {advice('Vqa')}")
    out = []
    for i in range(len(calls)):
        if i in beside:
            (kind, side, anchor), (name, box) = beside[i]
            ctx.note(i, f"named by the detector and CLIP: the most confident {kind or 'thing'} "
                        f"{side} of the {anchor} is a {name} at {box}")
            out.append(name)
            continue
        if i in measured:
            answer, how = measured[i]
            ctx.note(i, f"measured: {how}")
            out.append(askers_word(answer, questions[i]))
            continue
        if i in related:
            answer, how = related[i]
            ctx.note(i, f"relation by pointing: {how}")
            out.append(answer)
            continue
        if i in counted:
            pts, how = counted[i]
            ctx.note(i, f"counted by pointing: {how}")
            out.append(("yes" if pts else "no") if exists[i] else str(len(pts)))
            continue
        reply, refs = replies[i]
        relation = relation_by_points(questions[i], refs) if RELATIONS_BY_POINTING else None
        if relation is not None:
            (a, (pa,)), (b, (pb,)) = refs[:2]
            ctx.note(i, f"relation by pointing: {a} at {pa}, {b} at {pb} (% of width, height) "
                        f"-> {relation} (the model itself wrote {reply!r})")
            out.append(relation)
            continue
        looked = "; ".join(f"{label} ({n_points(len(pts))})"
                           for label, pts in refs if label)
        if i in attribute:
            whole = "" if source_of(images[i]) is images[i] else " of the image it was cut from"
            ctx.note(i, f"asked as {attribute[i]!r}{whole}")
        ctx.note(i, f"in-repo LLaVA-style model: {reply!r}" +
                 (f", after pointing at {looked}" if looked else ""))
        answer = short_answer(reply)
        out.append(askers_word(answer, questions[i]) if i in attribute else answer)
    return out


def point(calls: list[dict], ctx) -> list[Points]:
    from . import iconworld
    found = points_of([(c["image"], plural_phrase(str(c["object"]))) for c in calls], ctx)
    out = []
    for i, ((pts, how), c) in enumerate(zip(found, calls)):
        iconworld.warn_unseen(ctx, i, "Point", str(c["object"]))
        ctx.note(i, how)
        out.append(Points(pts, label=str(c["object"])))
    return out


def points_of(asks: list[tuple[object, str]], ctx) -> list[tuple[list, str]]:
    """Point's answer for each (image, plural phrase), which Vqa counts: (x, y) pixels of the
    image and how they were found. With DETECTOR_POINTS (and the detector's weights), the
    centres of the boxes Loc finds (`found_in`), else Molmo-style pointing (`point_on_crops`)."""
    from . import iconworld
    if not (DETECTOR_POINTS and iconworld.detector_ready()):
        return [(pts, f"{n_points(len(pts))}, {how}") for pts, how in point_on_crops(asks, ctx)]
    out = []
    for (image, phrase), boxes in zip(asks, found_in(asks, ctx)):
        x0, y0, k = frame_in_source(image)
        pts = [((cx - x0) / k, (cy - y0) / k) for cx, cy in (o.center for o in boxes)]
        where = "" if source_of(image) is image else " in the scene the crop was cut from"
        boxes_found = "the centre of the 1 box" if len(boxes) == 1 else f"the centres of the {len(boxes)} boxes"
        out.append((pts, f"{n_points(len(pts))}, {boxes_found} of {phrase} the detector's Loc finds{where}"))
    return out


def zoomable(asks: list[tuple[object, str]], ctx) -> list[Optional[list]]:
    """For each (image, phrase): the boxes of the things, when they are small enough to point
    at on crops, else None. The in-repo detector (Loc's iconworld backend) must find some,
    none over CROP_MAX_OBJECT of the side, in an image at least MIN_TILED_SIDE pixels."""
    from . import iconworld
    if CROP_MAX_OBJECT <= 0 or not iconworld.detector_ready():
        return [None] * len(asks)
    found = iconworld.loc([{"image": im, "object": phrase} for im, phrase in asks],
                          ToolContext(ctx.cache))  # its notes are not this step's
    out = []
    for (im, _), objs in zip(asks, found):
        boxes = [o.box for o in objs]
        small = all(max(x1 - x0, y1 - y0) <= CROP_MAX_OBJECT * min(im.size) for x0, y0, x1, y1 in boxes)
        out.append(boxes if boxes and small and min(im.size) >= MIN_TILED_SIDE else None)
    return out


WHOLE = (1, 1.0)  # the tiling that is the whole image


def point_on_crops(asks: list[tuple[object, str]], ctx) -> list[tuple[list, str]]:
    """Molmo-style pointing, on overlapping crops where the whole image may miss things (see
    visprog/pointing.py): for each (image, plural phrase), 'Point to the <phrase>.' on the
    whole image, then, while the detector's boxes do not pair off one to one with the points
    (each point in its box) and the things are small (`zoomable`), on the crops of each
    tiling in turn; the third tiling only where the first two disagree (where they agree, it
    cannot move the median). Points the boxes confirm stand; else the median tiling's, or
    the boxes' centres where the two counts differ by DETECTOR_GAP or more. Each round's
    crops go in one batch. Returns (points in pixels of the image, how
    they were found) per ask."""
    sets: list[list] = [[] for _ in asks]  # per ask: whole image's points, then each tiling's
    boxes = zoomable(asks, ctx)
    confirmed: list[Optional[int]] = [None] * len(asks)  # the round whose points the boxes confirm
    for r, tiling in enumerate((WHOLE,) + TILINGS):
        todo = [a for a in range(len(asks)) if confirmed[a] is None and (r == 0 or boxes[a] is not None)
                and (tiling != TILINGS[2] or len(sets[a][1]) != len(sets[a][2]))]
        _point_tilings(asks, sets, [(a, tiling) for a in todo], ctx)
        for a in todo:
            if boxes[a] is None or points_in_boxes(sets[a][r], boxes[a]):
                confirmed[a] = r
    out = []
    for s, b, r in zip(sets, boxes, confirmed):
        tilings = s[1:]
        n_crops = sum(n * n for n, _ in TILINGS[:len(tilings)])
        found = (f"on {n_crops} overlapping crops in {len(tilings)} tiling{'s' * (len(tilings) != 1)}, "
                 f"which found {', '.join(str(len(p)) for p in tilings)}")
        if b is None:
            out.append((s[0], "on the whole image (crops are for small things the detector finds)"))
        elif r == 0:
            out.append((s[0], f"on the whole image, one in each of the {len(b)} boxes the detector "
                              f"found (so no crops)"))
        elif r is not None:
            out.append((s[r], f"{found}: the last put one in each of the {len(b)} boxes the detector "
                              f"found (the whole image gave {len(s[0])})"))
        else:  # no tiling confirmed: the model's median tiling, unless the detector counts
            # DETECTOR_GAP or more otherwise (then the boxes' centres; weights/llava.md)
            median = tilings[median_tiling(tilings)]
            if abs(len(median) - len(b)) < DETECTOR_GAP:
                out.append((median, f"{found}: the median tiling's points (the whole image gave "
                                    f"{len(s[0])}, the detector {len(b)})"))
            else:
                out.append(([((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in b],
                            f"{found}: the centres of the {len(b)} boxes the detector found, not "
                            f"the median tiling's {len(median)} points (the whole image gave {len(s[0])})"))
    return out


def _point_tilings(asks, sets, todo: list[tuple[int, tuple[int, float]]], ctx) -> None:
    """Point on the crops of each (ask index, tiling) in one batch; append each tiling's merged
    points to sets[ask index]. A whole-image view is asked with ctx, so its tower features are
    shared with Vqa's other questions about the image; crops are not cached."""
    views, prompts, whole, plans = [], [], [], []
    for a, (n, frac) in todo:
        image, phrase = asks[a]
        boxes = crop_boxes(image.width, image.height, n, frac)
        plans.append((a, boxes))
        for b in boxes:
            whole.append(b == (0, 0, image.width, image.height))
            views.append(image if whole[-1] else image.crop(b))
            prompts.append(f"Point to the {phrase}.")
    replies: list = [None] * len(views)
    for cached in (True, False):
        idx = [k for k, w in enumerate(whole) if w == cached]
        for k, r in zip(idx, ask([views[k] for k in idx], [prompts[k] for k in idx],
                                 ctx if cached else None)):
            replies[k] = r
    pending = iter(replies)
    for a, boxes in plans:
        image = asks[a][0]
        found = []
        for x0, y0, x1, y1 in boxes:
            reply, _ = next(pending)
            found.append([(x0 + x, y0 + y) for x, y in parse_points(reply, x1 - x0, y1 - y0)])
        sets[a].append(merge_crop_points(image.width, image.height, boxes, found))


# --------------------------------------------------------------- pretrained LLaVA and Molmo2


@dataclass(frozen=True)
class Checkpoint:
    """A kind of transformers checkpoint that a `pretrained` backend loads from a local folder."""

    env: str          # the variable naming the folder
    name: str         # for messages: 'LLaVA'
    model_type: str   # config.json's model_type, also the transformers.models module
    model_class: str  # the transformers class that loads it
    example: str      # a checkpoint to suggest
    cuda_dtype: str   # the torch dtype on CUDA (float32 on CPU)


LLAVA = Checkpoint(LLAVA_ENV, "LLaVA", "llava", "LlavaForConditionalGeneration",
                   "llava-hf/llava-1.5-7b-hf", "float16")
# bfloat16 on CUDA, the dtype transformers' own Molmo2-8B / O-7B integration tests run it in
MOLMO = Checkpoint(MOLMO_ENV, "Molmo2", "molmo2", "Molmo2ForConditionalGeneration",
                   "allenai/Molmo2-4B", "bfloat16")
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
            "pytorch_model.bin.index.json")


def checkpoint_missing(ck: Checkpoint) -> Optional[str]:
    """What keeps the folder named by `ck.env` from loading, else None. Cheap: reads
    config.json, imports neither torch nor the model's code."""
    path = os.environ.get(ck.env, "").strip()
    if not path:
        return (f"set {ck.env}=<folder> to a {ck.name} checkpoint saved with save_pretrained "
                f"({ck.model_class} + AutoProcessor), e.g. {ck.example}")
    if not os.path.isdir(path):
        return f"{ck.env} names {path!r}, which is not a folder"
    config = os.path.join(path, "config.json")
    if not os.path.exists(config):
        return f"{ck.env} folder {path!r} has no config.json"
    if not any(os.path.exists(os.path.join(path, w)) for w in _WEIGHTS):
        return f"{ck.env} folder {path!r} has no weights ({' or '.join(_WEIGHTS)})"
    try:
        with open(config, encoding="utf-8") as f:
            found = json.load(f).get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        return f"{ck.env} folder {path!r} has an unreadable config.json ({exc})"
    if found != ck.model_type:
        return (f"{ck.env} folder {path!r} holds a {found!r} model, not {ck.name} "
                f"(model_type {ck.model_type!r}), e.g. {ck.example}")
    if importlib.util.find_spec("transformers") is None:
        return "the transformers package is not installed (pip install 'visprog[pretrained]')"
    if importlib.util.find_spec(f"transformers.models.{ck.model_type}") is None:
        return f"this transformers has no {ck.name} ({ck.model_class}); upgrade transformers"
    return None


class PretrainedVLM:
    """A transformers image-text-to-text model + AutoProcessor from a local folder; greedy replies."""

    checkpoint: Checkpoint

    def __init__(self, path: str, device: Optional[str] = None):
        import torch
        import transformers
        self.device = device or best_device()
        dtype = getattr(torch, self.checkpoint.cuda_dtype) if self.device == "cuda" else torch.float32
        self.processor = transformers.AutoProcessor.from_pretrained(path)
        model_class = getattr(transformers, self.checkpoint.model_class)
        self.model = model_class.from_pretrained(path, torch_dtype=dtype).to(self.device).eval()
        tok = self.processor.tokenizer
        tok.padding_side = "left"  # the batch's replies all start where its prompts end
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token

    def plain_prompt(self, text: str) -> str:
        """The prompt for a folder without a chat template."""
        raise NotImplementedError

    def prompt(self, text: str) -> str:
        """One user turn, the image then `text`, as the checkpoint's chat template writes it."""
        if getattr(self.processor, "chat_template", None):
            conv = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
            return self.processor.apply_chat_template(conv, add_generation_prompt=True)
        return self.plain_prompt(text)

    def generate(self, images, texts: list[str], max_new_tokens: int) -> list[str]:
        """The model's reply to each (image, text), in one batch."""
        import torch
        inputs = self.processor(images=[im.convert("RGB") for im in images],
                                text=[self.prompt(t) for t in texts], return_tensors="pt", padding=True)
        # pixels in the model's dtype; token ids, masks and Molmo2's pooling indices stay integers
        inputs = {k: v.to(self.device, self.model.dtype) if v.is_floating_point() else v.to(self.device)
                  for k, v in inputs.items()}
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        new = out[:, inputs["input_ids"].shape[1]:]
        return [t.strip() for t in self.processor.batch_decode(new, skip_special_tokens=True)]


class PretrainedLlava(PretrainedVLM):
    """LlavaForConditionalGeneration: short answers to questions."""

    checkpoint = LLAVA

    def plain_prompt(self, text: str) -> str:
        return f"USER: <image>\n{text} ASSISTANT:"

    def answer(self, images, questions: list[str], max_new_tokens: int = 12) -> list[str]:
        return self.generate(images, [f"{q.strip()}\nAnswer the question using a single word or phrase."
                                      for q in questions], max_new_tokens)


class PretrainedMolmo(PretrainedVLM):
    """Molmo2ForConditionalGeneration: points, in Molmo2's `<points coords=...>` replies."""

    checkpoint = MOLMO

    def plain_prompt(self, text: str) -> str:
        return f"{self.processor.image_token}{text}"  # released Molmo2 folders ship a chat template

    def point(self, images, objects: list[str], max_new_tokens: Optional[int] = None) -> list[str]:
        return self.generate(images, [f"Point to the {o}." for o in objects],
                             max_new_tokens or MOLMO_MAX_NEW_TOKENS)


def pretrained(cls: type[PretrainedVLM]) -> PretrainedVLM:
    """The model in the folder `cls.checkpoint.env` names, loaded once per process and folder.
    A folder that passed `checkpoint_missing` but does not load raises ToolUnavailable."""
    from ..models import shared
    ck = cls.checkpoint
    path = os.environ[ck.env].strip()

    def make() -> PretrainedVLM:
        try:
            return cls(path)
        except Exception as exc:  # a broken or partial folder: say which variable to fix
            raise ToolUnavailable(f"{ck.env}={path!r} does not load as a {ck.name} checkpoint "
                                  f"({ck.model_class} + AutoProcessor, e.g. {ck.example}): "
                                  f"{type(exc).__name__}: {exc}") from exc
    return shared(("pretrained", ck.model_type, path), make)


def pretrained_llava() -> PretrainedLlava:
    return pretrained(PretrainedLlava)


def pretrained_molmo() -> PretrainedMolmo:
    return pretrained(PretrainedMolmo)


def llava_missing() -> Optional[str]:
    return checkpoint_missing(LLAVA)


def molmo_missing() -> Optional[str]:
    return checkpoint_missing(MOLMO)


def _folder(ck: Checkpoint) -> str:
    return os.path.basename(os.environ.get(ck.env, "").rstrip("/"))


def vqa_pretrained(calls: list[dict], ctx) -> list[str]:
    m = pretrained_llava()
    replies = m.answer([c["image"] for c in calls], [str(c["question"]) for c in calls])
    out = []
    for i, reply in enumerate(replies):
        ctx.note(i, f"LLaVA ({_folder(LLAVA)}): {reply!r}")
        out.append(short_answer(reply))
    return out


def point_pretrained(calls: list[dict], ctx) -> list[Points]:
    images = [c["image"] for c in calls]
    replies = pretrained_molmo().point(images, [plural_phrase(str(c["object"])) for c in calls])
    out = []
    for i, (reply, im, c) in enumerate(zip(replies, images, calls)):
        pts = parse_points(reply, im.width, im.height)  # pixels of the image Point was given
        ctx.note(i, f"Molmo2 ({_folder(MOLMO)}): {n_points(len(pts))}: "
                    f"{reply[:300]!r}")
        out.append(Points(pts, label=str(c["object"])))
    return out
