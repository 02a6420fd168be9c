"""Knowledge tagging: 'Tag the farm animals', 'Tag the people in uniform', and `score_tag`.

The gold program finds candidates (FaceDet for people, Loc with a supercategory
that covers every member, else Seg), asks List for the knowledge group's members,
keeps and labels the candidates with Classify, and draws them with Tag. The answer
lists the expected boxes and labels; `score_tag(item, objects)` matches predicted
objects one-to-one (IoU >= 0.5, equal labels).
"""

from __future__ import annotations

from typing import Any

from .. import catalog
from .base import ALL_NAMES, ProgramBuilder, Retry, V, fill, pick, spread
from .common import iou, parse_phrase

PEOPLE = frozenset(catalog.KNOWLEDGE["people"])
KEYS = tuple(sorted(catalog.KNOWLEDGE))
PHRASING = {"people in uniform": ["people in uniform", "characters in uniform"],
            "fictional characters": ["fictional characters"],
            "workers": ["workers", "working people"]}


def detector(members) -> tuple[str, Any]:
    """('FaceDet', None), ('Loc', supercategory) or ('Seg', None): what finds every member."""
    members = set(members)
    if members <= PEOPLE:
        return "FaceDet", None
    # the smallest covering supercategory, preferring one with non-members to tell apart
    covering = [(len(names) == len(members), len(names), sup)
                for sup, names in catalog.SUPERCATEGORIES.items() if members <= set(names)]
    if covering:
        return "Loc", min(covering)[2]
    return "Seg", None


def _detectable(kind: str, sup, name: str) -> bool:
    if kind == "FaceDet":
        return name in PEOPLE
    if kind == "Loc":
        return name in catalog.SUPERCATEGORIES[sup]
    return True


def label_for(name: str, members) -> str | None:
    """The member a Classify over `members` gives an object of this name (most specific fit)."""
    fits = []
    for i, m in enumerate(members):
        p = parse_phrase(m)
        if p is not None and name in p.names:
            fits.append((len(p.names), i, m))
    return min(fits)[2] if fits else None


def generate(rng) -> dict:
    for _ in range(100):
        key = pick(rng, KEYS)
        members = catalog.KNOWLEDGE[key]
        kind, sup = detector(members)
        covered = set().union(*(parse_phrase(m).names for m in members))
        k = int(rng.integers(0, 4)) if rng.random() < 0.1 else int(rng.integers(1, 4))
        wanted = spread(rng, members, k) if k else {}
        near = [n for n in ALL_NAMES if n not in covered and _detectable(kind, sup, n)]
        far = [n for n in ALL_NAMES if n not in covered and not _detectable(kind, sup, n)]
        extra = [pick(rng, near) for _ in range(int(rng.integers(1, 3)))] if near else []
        extra += [pick(rng, far) for _ in range(int(rng.integers(0, 3)))] if far else []
        for n in extra:
            wanted[n] = wanted.get(n, 0) + 1
        try:
            image, view = fill(rng, wanted, extra=(0, 0))
        except Retry:
            continue
        expected = []
        for s in view.seen:
            if not _detectable(kind, sup, s.name):
                continue
            label = label_for(s.name, members)
            if label is not None:
                box = view.face_box(s) if kind == "FaceDet" else s.box
                expected.append({"box": [int(v) for v in box], "label": label})
        phrase = pick(rng, PHRASING.get(key, [key]))
        instruction = pick(rng, [f"Tag the {phrase}.", f"Label the {phrase} in the image.",
                                 f"Find the {phrase} and tag them.",
                                 f"Tag all {phrase} with their names.",
                                 f"Tag every one of the {phrase}."])
        pb = ProgramBuilder()
        if kind == "FaceDet":
            det = pb.add("OBJ", "FaceDet", image=V("IMAGE"))
        elif kind == "Loc":
            det = pb.add("OBJ", "Loc", image=V("IMAGE"), object=sup)
        else:
            det = pb.add("OBJ", "Seg", image=V("IMAGE"))
        limit = max(20, -(-len(members) // 10) * 10)
        lst = pb.add("LIST", "List", query=key, max=limit)
        cls = pb.add("OBJ", "Classify", image=V("IMAGE"), object=det, categories=lst)
        out = pb.add("IMAGE", "Tag", image=V("IMAGE"), object=cls)
        objects = [{"box": list(s.entry.box), "label": s.name, "color": s.obj.color,
                    "size": s.obj.size} for s in view.seen]
        return {"instruction": instruction, "images": {"IMAGE": image}, "program": pb.result(out),
                "answer": {"op": "tag", "query": key, "objects": expected}, "objects": objects,
                "form": kind.lower()}
    raise RuntimeError("could not generate a tag item")  # pragma: no cover


# --------------------------------------------------------------------------- scoring

def _pairs(objects) -> list[tuple[tuple, str]]:
    out = []
    for o in objects or []:
        if isinstance(o, dict):
            out.append((tuple(o["box"]), str(o.get("label", ""))))
        else:
            out.append((tuple(o.box), str(o.label)))
    return out


def tag_report(item: dict, objects) -> tuple[bool, str]:
    expected = _pairs((item.get("answer") or {}).get("objects", []))
    predicted = _pairs(objects)
    used = set()
    for box, label in expected:
        best, best_iou = None, 0.5
        for j, (pbox, plabel) in enumerate(predicted):
            if j in used or plabel.strip().lower() != label.strip().lower():
                continue
            v = iou(box, pbox)
            if v >= best_iou:
                best, best_iou = j, v
        if best is None:
            return False, f"no predicted object labelled {label!r} overlaps {list(box)} (IoU >= 0.5)"
        used.add(best)
    extra = [predicted[j] for j in range(len(predicted)) if j not in used]
    if extra:
        return False, f"{len(extra)} unexpected object(s), e.g. {extra[0][1]!r} at {list(extra[0][0])}"
    return True, "ok"


def score_tag(item: dict, objects) -> bool:
    """Whether `objects` (Objects or [{'box', 'label'}]) are exactly the item's expected tags."""
    return tag_report(item, objects)[0]
