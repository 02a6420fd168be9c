"""Model-backed tools: declared here once; backends live beside the models that serve them.

The `iconworld` backends (in-repo models), the `oracle` backend (icon-world
annotations) and the `pretrained` backends (real weights from a local folder)
attach themselves with `@Tool.backend(...)` when their modules are imported;
see `visprog.backends`.
"""

from __future__ import annotations

from typing import Optional, Union

from ..registry import Image
from ..values import Objects, Points
from . import registry


@registry.declare(example="BOX0=Loc(image=IMAGE, object='dog')", aliases=("LOC",))
def Loc(image: Image, object: str) -> Objects:
    """Find every instance of `object` (open vocabulary: 'dog', 'animal', 'red car') and return
    their boxes. 'TOP', 'BOTTOM', 'LEFT' and 'RIGHT' return the matching half of the image."""


@registry.declare(example="OBJ0=FaceDet(image=IMAGE)", aliases=("FACEDET",))
def FaceDet(image: Image) -> Objects:
    """Find the faces (people and characters) in the image."""


@registry.declare(example="OBJ0=Seg(image=IMAGE)", aliases=("SEG",))
def Seg(image: Image) -> Objects:
    """Segment the image into objects, each with a mask and a label."""


@registry.declare(example="OBJ1=Select(image=IMAGE, object=OBJ0, query='dog', category=None)",
                  aliases=("SELECT",))
def Select(image: Image, object: Objects, query: str, category: Optional[str] = None) -> Objects:
    """Keep the objects that best match `query` (comma-separated alternatives allowed),
    optionally only among those of `category`."""


@registry.declare(example="OBJ1=Classify(image=IMAGE, object=OBJ0, categories=LIST0)",
                  aliases=("CLASSIFY",))
def Classify(image: Image, object: Objects, categories: Union[list[str], str]) -> Objects:
    """Label each object with the category it matches best; objects matching none are dropped."""


@registry.declare(example="ANSWER0=Vqa(image=IMAGE, question='How many dogs are there?')",
                  aliases=("VQA",))
def Vqa(image: Image, question: str) -> str:
    """Answer a question about the image in a word or number ('yes', 'no', '3', 'red')."""


@registry.declare(example="IMAGE0=Replace(image=IMAGE, object=OBJ0, prompt='a red bus')",
                  aliases=("REPLACE",))
def Replace(image: Image, object: Objects, prompt: str) -> Image:
    """Repaint the objects' regions to show `prompt` instead."""


@registry.declare(example="LIST0=List(query='farm animals', max=20)", aliases=("LIST",))
def List(query: str, max: int = 20) -> list[str]:
    """List up to `max` names answering `query` ('farm animals', 'people in uniform')."""


@registry.declare(example="POINTS0=Point(image=IMAGE, object='dog')", aliases=("POINT",))
def Point(image: Image, object: str) -> Points:
    """Point at every instance of `object`; returns (x, y) pixel coordinates."""
