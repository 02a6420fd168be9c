"""Model-backed tools, declared here once. Their backends (in-repo models, real pretrained
weights, the icon-world oracle) are listed in `visprog.backends` and implemented beside
the models that serve them; which one runs a step is chosen by `visprog.resolver`.
"""

from __future__ import annotations

from typing import Optional, Union

from ..registry import Batch, Image, ToolContext, declare
from ..values import Obj, Objects, Points

SIDES = ("TOP", "BOTTOM", "LEFT", "RIGHT")  # Loc words VisProg answers with half the image


def alternatives(text) -> list[str]:
    """A query or categories argument as its alternatives: 'dog, cat' -> ['dog', 'cat'];
    lists pass through."""
    if isinstance(text, (list, tuple)):
        return [str(t).strip() for t in text if str(t).strip()]
    return [t.strip() for t in str(text or "").split(",") if t.strip()]


def side_box(size: tuple[int, int], word) -> Optional[Objects]:
    """The half-image box Loc gives for 'TOP', 'BOTTOM', 'LEFT' or 'RIGHT' (any case); else None."""
    key = word.strip().upper() if isinstance(word, str) else ""
    if key not in SIDES:
        return None
    w, h = size
    box = {"TOP": (0.0, 0.0, float(w), h / 2), "BOTTOM": (0.0, h / 2, float(w), float(h)),
           "LEFT": (0.0, 0.0, w / 2, float(h)), "RIGHT": (w / 2, 0.0, float(w), float(h))}[key]
    return Objects([Obj(box, key.lower(), 1.0)])


def with_side_boxes(run: Batch) -> Batch:
    """Wrap a Loc backend so that every backend answers the half-image words the same way;
    the backend sees only the other calls (its notes are moved back to their call's index)."""
    def wrapped(calls: list[dict], ctx: ToolContext) -> list:
        out = [side_box(call["image"].size, call["object"]) for call in calls]
        todo = [i for i, value in enumerate(out) if value is None]
        if todo:
            inner = ToolContext(ctx.cache)
            for i, value in zip(todo, run([calls[i] for i in todo], inner)):
                out[i] = value
            for j, notes in inner.notes.items():
                ctx.notes.setdefault(todo[j], []).extend(notes)
            for j, warnings in inner.warnings.items():
                for text in warnings:
                    ctx.warn(todo[j], text)
        return out
    wrapped.__doc__ = run.__doc__
    return wrapped


@declare(example="BOX0=Loc(image=IMAGE, object='dog')", aliases=("LOC",))
def Loc(image: Image, object: str) -> Objects:
    """Find every instance of `object` (open vocabulary: 'dog', 'animal', 'red car') and return
    their boxes. 'TOP', 'BOTTOM', 'LEFT' and 'RIGHT' return the matching half of the image."""


@declare(example="OBJ0=FaceDet(image=IMAGE)", aliases=("FACEDET",))
def FaceDet(image: Image) -> Objects:
    """Find the faces (people and characters) in the image."""


@declare(example="OBJ0=Seg(image=IMAGE)", aliases=("SEG",))
def Seg(image: Image, object: Union[Objects, Points, None] = None) -> Objects:
    """Segment the image into objects, each with a mask, a box and a label. Given `object`
    (boxes from Loc, FaceDet or Select, or points from Point), make a mask of each instead."""


@declare(example="OBJ1=Select(image=IMAGE, object=OBJ0, query='dog', category=None)",
                  aliases=("SELECT",))
def Select(image: Image, object: Objects, query: str, category: Optional[str] = None) -> Objects:
    """Keep the objects that best match `query` (comma-separated alternatives allowed),
    optionally only among those of `category`."""


@declare(example="OBJ1=Classify(image=IMAGE, object=OBJ0, categories=LIST0)",
                  aliases=("CLASSIFY",))
def Classify(image: Image, object: Objects, categories: Union[list[str], str]) -> Objects:
    """Label each object with the category it matches best; objects matching none are dropped."""


@declare(example="ANSWER0=Vqa(image=IMAGE, question='How many dogs are there?')",
                  aliases=("VQA",))
def Vqa(image: Image, question: str) -> str:
    """Answer a question about the image in a word or number ('yes', 'no', '3', 'red')."""


@declare(example="IMAGE0=Replace(image=IMAGE, object=OBJ0, prompt='a red bus')",
                  aliases=("REPLACE",))
def Replace(image: Image, object: Objects, prompt: str) -> Image:
    """Repaint the objects' regions to show `prompt` instead."""


@declare(example="LIST0=List(query='farm animals', max=20)", aliases=("LIST",))
def List(query: str, max: int = 20) -> list[str]:
    """List up to `max` names answering `query` ('farm animals', 'people in uniform')."""


@declare(example="POINTS0=Point(image=IMAGE, object='dog')", aliases=("POINT",))
def Point(image: Image, object: str) -> Points:
    """Point at every instance of `object`; returns (x, y) pixel coordinates."""


TOOLS = (Loc, FaceDet, Seg, Select, Classify, Vqa, Replace, List, Point)
