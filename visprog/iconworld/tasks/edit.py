"""Image-editing instructions with machine-checkable targets, and `score_edit`.

Ops: replace X with Y, colour-pop X, blur the background except X, put an emoji
on the faces. The answer is a JSON target naming the op and the boxes it
concerns; `score_edit(item, output_image)` checks the output's pixels against
the source image and the scene annotation:

- colorpop: inside the kept objects' masks the pixels are unchanged, elsewhere grey;
- bgblur: inside the kept masks unchanged, outside smoother than before (blurred);
- emoji: every face box changed, nothing changed away from the faces;
- replace: every replaced object's region changed, nothing changed away from them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ...errors import DatasetError
from .. import catalog
from .base import (CATEGORY_NAMES, CHARACTER_NAMES, Noun, ProgramBuilder, Retry, V,
                   fill, merge, noun, pick, spread)
from ..language import plural, with_article
from .common import iou, view_of

EMOJIS = ("smiling_face_with_sunglasses", "winking_face", "grinning_face", "face_with_tongue",
          "star_struck", "smiling_face_with_heart_eyes", "nerd_face", "zany_face",
          "face_with_monocle", "slightly_smiling_face", "partying_face", "cowboy_hat_face")
EMOJI_WORDS = {"smiling_face_with_sunglasses": "a smiling face with sunglasses",
               "winking_face": "a winking face", "grinning_face": "a grinning face",
               "face_with_tongue": "a face with tongue", "star_struck": "a star-struck",
               "smiling_face_with_heart_eyes": "a heart-eyes", "nerd_face": "a nerd face",
               "zany_face": "a zany face", "face_with_monocle": "a face with monocle",
               "slightly_smiling_face": "a slightly smiling face", "partying_face": "a partying face",
               "cowboy_hat_face": "a cowboy hat face"}
PEOPLE = tuple(catalog.KNOWLEDGE["people"])


def _boxes(entries) -> list[list[int]]:
    return [list(e.box) for e in sorted(entries, key=lambda e: (e.box[0], e.box[1]))]


def _objects(view) -> list[dict]:
    return [{"box": list(s.entry.box), "label": s.name, "color": s.obj.color, "size": s.obj.size}
            for s in view.seen]


def _target_noun(rng) -> Noun:
    r = rng.random()
    if r < 0.15:
        from .base import GROUPS
        return pick(rng, [g for g in GROUPS if g.singular in ("animal", "vehicle", "fruit", "person")])
    if r < 0.3:
        return noun(pick(rng, CHARACTER_NAMES))
    return noun(pick(rng, CATEGORY_NAMES))


def _keep_scene(rng, target: Noun, k: int):
    scene = fill(rng, spread(rng, target.members, k), extra=(1, 4), avoid=[target.names])
    found = [s.entry for s in scene[1].matching(target.phrase)]
    others = [s.entry for s in scene[1].seen if s.entry not in found]
    if not found or not others:
        raise Retry("need the target and something else")
    return scene, found


def _the_things(target: Noun, k: int) -> str:
    return f"the {target.plural}" if k > 1 or target.singular == "person" else f"the {target.singular}"


def _keep_edit(rng, op: str, module: str, phrasings: list[str]) -> dict:
    """An edit that keeps the target as it is and changes the rest: Seg, Select, then `module`."""
    target = _target_noun(rng)
    scene, found = _keep_scene(rng, target, int(rng.integers(1, 3)))
    things = _the_things(target, len(found))
    instruction = pick(rng, [p.format(things=things) for p in phrasings])
    pb = ProgramBuilder()
    seg = pb.add("OBJ", "Seg", image=V("IMAGE"))
    sel = pb.add("OBJ", "Select", image=V("IMAGE"), object=seg, query=target.singular, category=None)
    out = pb.add("IMAGE", module, image=V("IMAGE"), object=sel)
    return {"instruction": instruction, "images": {"IMAGE": scene[0]}, "program": pb.result(out),
            "answer": {"op": op, "keep": _boxes(found)}, "objects": _objects(scene[1]),
            "form": op}


def f_colorpop(rng):
    return _keep_edit(rng, "colorpop", "ColorPop",
                      ["Create a color pop of {things}.",
                       "Keep {things} in color and make everything else black and white.",
                       "Make everything except {things} grayscale.",
                       "Color-pop {things}.",
                       "Turn the background gray but keep {things} in color."])


def f_bgblur(rng):
    return _keep_edit(rng, "bgblur", "BgBlur",
                      ["Blur the background behind {things}.",
                       "Keep {things} sharp and blur everything else.",
                       "Blur everything except {things}.",
                       "Blur the background but not {things}."])


def f_replace(rng):
    target = noun(pick(rng, CATEGORY_NAMES + CHARACTER_NAMES))
    new = pick(rng, [c for c in CATEGORY_NAMES if c not in target.names])
    scene, found = _keep_scene(rng, target, int(rng.integers(1, 3)))
    things = _the_things(target, len(found))
    prompt = with_article(new)
    instruction = pick(rng, [f"Replace {things} with {prompt}.",
                             f"Turn {things} into {plural(new) if len(found) > 1 else prompt}.",
                             f"Change {things} to {plural(new) if len(found) > 1 else prompt}.",
                             f"Swap {things} for {prompt}."])
    pb = ProgramBuilder()
    seg = pb.add("OBJ", "Seg", image=V("IMAGE"))
    sel = pb.add("OBJ", "Select", image=V("IMAGE"), object=seg, query=target.singular, category=None)
    out = pb.add("IMAGE", "Replace", image=V("IMAGE"), object=sel, prompt=prompt)
    return {"instruction": instruction, "images": {"IMAGE": scene[0]}, "program": pb.result(out),
            "answer": {"op": "replace", "boxes": _boxes(found), "prompt": prompt, "with": new},
            "objects": _objects(scene[1]), "form": "replace"}


def f_emoji(rng):
    k = int(rng.integers(1, 4))
    one = rng.random() < 0.35
    people = spread(rng, PEOPLE, k)
    if one:
        who = pick(rng, CHARACTER_NAMES)
        people = merge(people, {who: 1})
    scene = fill(rng, people, extra=(0, 3), avoid=[frozenset(PEOPLE)])
    view = scene[1]
    faces = [s.entry for s in view.seen if s.name in PEOPLE]
    emoji = pick(rng, EMOJIS)
    words = EMOJI_WORDS[emoji]
    pb = ProgramBuilder()
    det = pb.add("OBJ", "FaceDet", image=V("IMAGE"))
    if one:
        chosen = [e for e in faces if e.name == who]
        things = f"the {who}" if len(chosen) == 1 else f"the {plural(who)}"
        instruction = pick(rng, [f"Put {words} emoji on the face of {things}.",
                                 f"Hide the face of {things} with {words} emoji.",
                                 f"Cover {things}'s face with {words} emoji." if len(chosen) == 1 else
                                 f"Cover the faces of {things} with {words} emoji."])
        sel = pb.add("OBJ", "Select", image=V("IMAGE"), object=det, query=who, category=None)
        out = pb.add("IMAGE", "Emoji", image=V("IMAGE"), object=sel, emoji=emoji)
        faces = chosen
    else:
        instruction = pick(rng, [f"Put {words} emoji on everyone's face.",
                                 f"Hide all faces with {words} emoji.",
                                 f"Cover the faces of the people with {words} emoji.",
                                 f"Replace every face with {words} emoji."])
        out = pb.add("IMAGE", "Emoji", image=V("IMAGE"), object=det, emoji=emoji)
    if not faces:
        raise Retry("no faces")
    return {"instruction": instruction, "images": {"IMAGE": scene[0]}, "program": pb.result(out),
            "answer": {"op": "emoji", "faces": _boxes(faces), "emoji": emoji},
            "objects": _objects(view), "form": "emoji"}


FORMS: dict[str, tuple[float, Callable]] = {"colorpop": (1.0, f_colorpop), "bgblur": (1.0, f_bgblur),
                                            "replace": (1.0, f_replace), "emoji": (1.0, f_emoji)}


def generate(rng) -> dict:
    names = list(FORMS)
    weights = np.array([FORMS[n][0] for n in names])
    for _ in range(200):
        form = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        try:
            return FORMS[form][1](rng)
        except Retry:
            continue
    raise RuntimeError("could not generate an edit item")  # pragma: no cover


# --------------------------------------------------------------------------- scoring

TOLERANCE = 3  # per-channel difference still counted as 'unchanged'
CHANGED = 12  # per-channel difference counted as 'changed'


def _source(item: dict):
    from ...images import load_image
    images = item.get("images") or {}
    src = images.get("IMAGE")
    if src is None:
        raise DatasetError(f"item {item.get('id', '?')}: no IMAGE to score the edit against")
    return load_image(src, "IMAGE")


def _masks_for(view, boxes) -> list[np.ndarray]:
    out = []
    for box in boxes:
        best = max(view.seen, key=lambda s: iou(s.box, box), default=None)
        if best is None or iou(best.box, box) < 0.9:
            raise DatasetError(f"target box {box} matches no object of the source scene")
        out.append(view.mask(best))
    return out


def _square(box, scale: float, shape) -> np.ndarray:
    """A filled square of side scale * longest side, centred on the box (paste extent)."""
    h, w = shape
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * scale
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    m = np.zeros((h, w), bool)
    m[max(0, int(np.floor(cy - side / 2)) - 2):max(0, int(np.ceil(cy + side / 2)) + 2),
      max(0, int(np.floor(cx - side / 2)) - 2):max(0, int(np.ceil(cx + side / 2)) + 2)] = True
    return m


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(r):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def _energy(arr: np.ndarray, region: np.ndarray) -> float:
    """Gradient energy (sum of squared neighbour differences) inside the region: blurring
    spreads each edge over several pixels, which lowers it several times over."""
    a = arr.astype(np.int64)
    dx = ((a[:, 1:] - a[:, :-1]) ** 2).sum(-1)
    dy = ((a[1:, :] - a[:-1, :]) ** 2).sum(-1)
    return float(dx[region[:, 1:] & region[:, :-1]].sum() + dy[region[1:, :] & region[:-1, :]].sum())


def edit_report(item: dict, output) -> tuple[bool, str]:
    """(passed, reason) for an edit item's output image."""
    from PIL import Image
    if not isinstance(output, Image.Image):
        return False, f"the program returned {type(output).__name__}, not an image"
    target = item.get("answer") or {}
    op = target.get("op")
    source = _source(item)
    if output.size != source.size:
        return False, f"output is {output.size[0]}x{output.size[1]}, source {source.size[0]}x{source.size[1]}"
    src = np.asarray(source.convert("RGB")).astype(np.int32)
    out = np.asarray(output.convert("RGB")).astype(np.int32)
    diff = np.abs(out - src).max(-1)
    view = view_of(source, tool="score_edit")
    shape = src.shape[:2]
    if op in ("colorpop", "bgblur"):
        masks = _masks_for(view, target.get("keep", []))
        keep = np.zeros(shape, bool)
        for m in masks:
            keep |= m
        if keep.any():
            same = (diff[keep] <= TOLERANCE).mean()
            if same < 0.98:
                return False, f"only {same:.0%} of the kept objects' pixels are unchanged"
        outside = ~keep
        if op == "colorpop":
            chroma = (out.max(-1) - out.min(-1))[outside]
            grey = (chroma <= TOLERANCE).mean() if chroma.size else 1.0
            if grey < 0.98:
                return False, f"only {grey:.0%} of the pixels outside the kept objects are grey"
            return True, "ok"
        region = outside & ~_dilate(keep, 3)
        before, after = _energy(src, region), _energy(out, region)
        if before <= 0:
            return False, "the source has no texture outside the kept objects to blur"
        if after > 0.7 * before:
            return False, f"the background is not blurred (sharpness {after / before:.0%} of the source)"
        return True, "ok"
    if op in ("emoji", "replace"):
        boxes = target.get("faces" if op == "emoji" else "boxes", [])
        near = np.zeros(shape, bool)
        for box in boxes:
            x0, y0, x1, y1 = (int(v) for v in box)
            if op == "emoji":
                region = np.zeros(shape, bool)
                region[y0:y1, x0:x1] = True
            else:
                region = _masks_for(view, [box])[0]
            changed = (diff[region] > CHANGED).mean() if region.any() else 0.0
            if changed < 0.3:
                return False, f"the region of box {box} barely changed ({changed:.0%} of its pixels)"
            near |= _square(box, 1.0 if op == "emoji" else 1.25, shape)
        far = ~near
        same = (diff[far] <= TOLERANCE).mean() if far.any() else 1.0
        if same < 0.99:
            return False, f"{1 - same:.1%} of the pixels away from the edited objects changed"
        return True, "ok"
    raise DatasetError(f"item {item.get('id', '?')}: unknown edit op {op!r}")


def score_edit(item: dict, output_image) -> bool:
    """Whether `output_image` carries out the item's edit (see the module docstring)."""
    return edit_report(item, output_image)[0]
