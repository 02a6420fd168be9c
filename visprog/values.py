"""The values that flow between steps: images, object lists and point lists.

Images are plain `PIL.Image.Image`. An image cropped from another keeps, in
`image.info["visprog.frame"]`, the offset and scale that map its pixels back
to the image it was cut from, so that tools and the rationale can relate a
crop to the original (the icon world's oracle uses this too), and in
`image.info["visprog.source"]` the uncropped image itself (`source_of`), which the
in-repo models' domain check judges in a crop's place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Optional

import numpy as np
from PIL import Image

FRAME_KEY = "visprog.frame"  # (x0, y0, scale): crop pixel p maps to x0 + p * scale in the parent
SOURCE_KEY = "visprog.source"  # the uncropped image a crop was cut from (`source_of`)


@dataclass
class Obj:
    """One detected thing: a box (x0, y0, x1, y1 in pixels), a label, a score, maybe a mask."""

    box: tuple[float, float, float, float]
    label: str = ""
    score: float = 1.0
    mask: Optional[np.ndarray] = field(default=None, repr=False)  # bool (H, W) in the image's frame

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return ((x0 + x1) / 2, (y0 + y1) / 2)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)

    def relabel(self, label: str, score: Optional[float] = None) -> "Obj":
        return replace(self, label=label, score=self.score if score is None else score)


class Objects(list):
    """A list of `Obj`, as returned by Loc, Seg, FaceDet, Classify and Select."""

    def __init__(self, items: Iterable[Obj] = ()):
        super().__init__(items)

    def __repr__(self) -> str:
        inner = ", ".join(f"{o.label or '?'}@({', '.join(f'{v:.0f}' for v in o.box)})" for o in self)
        return f"Objects[{inner}]"


class Points(list):
    """A list of (x, y) pixel coordinates in the image's frame, as returned by Point."""

    def __init__(self, items: Iterable[tuple[float, float]] = (), label: str = ""):
        super().__init__((float(x), float(y)) for x, y in items)
        self.label = label

    def __repr__(self) -> str:
        inner = ", ".join(f"({x:.0f}, {y:.0f})" for x, y in self)
        return f"Points[{inner}]"


def crop_image(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """Crop and record the crop's frame relative to `image` (composed with image's own frame)."""
    x0, y0, scale = image.info.get(FRAME_KEY, (0.0, 0.0, 1.0))
    out = image.crop(box)  # Pillow copies image.info into the crop
    out.info[FRAME_KEY] = (x0 + box[0] * scale, y0 + box[1] * scale, scale)
    out.info[SOURCE_KEY] = source_of(image)
    return out


def source_of(image: Image.Image) -> Image.Image:
    """The uncropped image `image` was cut from by `crop_image` (itself if it is no crop)."""
    return image.info.get(SOURCE_KEY, image)


def frame_in_source(image: Image.Image) -> tuple[float, float, float]:
    """(x0, y0, scale): pixel p of `image` is x0 + p * scale in `source_of(image)` ((0, 0, 1)
    for an image that is no crop)."""
    return image.info[FRAME_KEY] if source_of(image) is not image else (0.0, 0.0, 1.0)


def region_in_source(image: Image.Image) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1) `image` covers in `source_of(image)`."""
    x0, y0, k = frame_in_source(image)
    return x0, y0, x0 + image.width * k, y0 + image.height * k


def jsonable(value):
    """A JSON-friendly view of a step value (images by size, objects as dicts)."""
    if isinstance(value, Image.Image):
        return {"image": [value.width, value.height]}
    if isinstance(value, Objects):
        return [{"box": [round(v, 1) for v in o.box], "label": o.label, "score": round(o.score, 4)}
                for o in value]
    if isinstance(value, Points):
        return [[round(x, 1), round(y, 1)] for x, y in value]
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
