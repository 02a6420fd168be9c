"""Training corpora: captions, region captions, question-answer pairs, pointing, programs.

Every item still has a gold program that the oracle reproduces, so the corpora
are checked like the tasks: captions and QA through Vqa, regions through Seg,
points through Point (Molmo's format), programs through their source task.
"""

from __future__ import annotations

from . import gqa
from .base import (CATEGORY_NAMES, CHARACTER_NAMES, GROUPS, ProgramBuilder, Retry,
                   V, fill, make_scene, noun, pick, spread)
from ...pointing import format_points
from .common import describe, region_caption


def random_names(rng, lo: int = 1, hi: int = 6) -> list[str]:
    """Objects for a random scene: mostly categories, some characters, some repeated."""
    n = int(rng.integers(lo, hi + 1))
    out: list[str] = []
    while len(out) < n:
        name = pick(rng, CATEGORY_NAMES) if rng.random() < 0.8 else pick(rng, CHARACTER_NAMES)
        out += [name] * min(n - len(out), 1 if rng.random() < 0.6 else int(rng.integers(2, 4)))
    return out


def random_scene(rng, lo: int = 1, hi: int = 6):
    return make_scene(rng, random_names(rng, lo, hi))


def _vqa_program(question: str) -> str:
    pb = ProgramBuilder()
    a = pb.add("ANSWER", "Vqa", image=V("IMAGE"), question=question)
    return pb.result(a)


DESCRIBE = ("Describe the image.", "Describe this picture.", "What does the image show?",
            "Write a caption for this image.", "Caption this image.")


def captions(rng) -> dict:
    scene = random_scene(rng)
    q = pick(rng, DESCRIBE)
    return {"instruction": q, "images": {"IMAGE": scene[0]}, "answer": describe(scene[1]),
            "program": _vqa_program(q), "form": "caption"}


def regions(rng) -> dict:
    scene = random_scene(rng)
    view = scene[1]
    answer = [{"box": list(s.entry.box), "label": s.name, "caption": region_caption(s.obj)}
              for s in view.seen]
    pb = ProgramBuilder()
    seg = pb.add("OBJ", "Seg", image=V("IMAGE"))
    return {"instruction": pick(rng, ["Describe every object in the image with its box.",
                                      "List the regions of the image with a caption each.",
                                      "Give a box and a short caption for each object."]),
            "images": {"IMAGE": scene[0]}, "answer": answer, "program": pb.result(seg),
            "form": "regions"}


def _what_is_this(rng) -> dict:
    name = pick(rng, CATEGORY_NAMES) if rng.random() < 0.8 else pick(rng, CHARACTER_NAMES)
    scene = make_scene(rng, [name])
    q = pick(rng, ["What is this?", "What object is this?", "What is shown here?",
                   "What is pictured?"])
    return {"instruction": q, "images": {"IMAGE": scene[0]}, "answer": name,
            "program": _vqa_program(q), "form": "what_is_this"}


def qa(rng) -> dict:
    """Every question form the GQA and NLVR tasks ask, answered by Vqa directly."""
    r = rng.random()
    if r < 0.08:
        item = captions(rng)
        item["form"] = "describe"
        return item
    if r < 0.13:
        return _what_is_this(rng)
    item = gqa.generate(rng)
    item["program"] = _vqa_program(item["instruction"])
    return item


def points(rng) -> dict:
    for _ in range(100):
        r = rng.random()
        if r < 0.15:
            target = pick(rng, [g for g in GROUPS if g.singular in ("animal", "vehicle", "fruit", "person")])
        elif r < 0.3:
            target = noun(pick(rng, CHARACTER_NAMES))
        else:
            target = noun(pick(rng, CATEGORY_NAMES))
        k = int(rng.integers(0, 5)) if rng.random() < 0.9 else 0
        try:
            scene = fill(rng, spread(rng, target.members, k), extra=(0, 3), avoid=[target.names])
        except Retry:
            continue
        view = scene[1]
        found = view.matching(target.phrase)
        pts = [view.point(s) for s in found]
        singular, plural_ = target.singular, target.plural
        answer = format_points(pts, view.width, view.height, singular, plural_)
        q = pick(rng, [f"Point to the {plural_}.", f"Point to all {plural_}.",
                       f"Point to every {singular}.", f"Where are the {plural_}? Point to them.",
                       f"Point at the {plural_} in the image."])
        pb = ProgramBuilder()
        p = pb.add("POINTS", "Point", image=V("IMAGE"), object=singular)
        objects = [{"box": list(s.entry.box), "label": s.name, "point": [round(x, 1), round(y, 1)]}
                   for s, (x, y) in zip(found, pts)]
        return {"instruction": q, "images": {"IMAGE": scene[0]}, "answer": answer,
                "program": pb.result(p), "objects": objects, "form": "points",
                "label": singular, "label_plural": plural_}
    raise RuntimeError("could not generate a points item")  # pragma: no cover


def programs(rng) -> dict:
    """Instruction -> program pairs drawn from the NLVR, GQA, edit and tag generators."""
    from . import edit, nlvr, tag
    source = pick(rng, ["nlvr", "gqa", "edit", "tag"])
    item = {"nlvr": nlvr.generate, "gqa": gqa.generate, "edit": edit.generate,
            "tag": tag.generate}[source](rng)
    item["source_task"] = source
    return item
