"""Cropping tools. Each crop records its frame, so later steps can relate it to the original."""

from __future__ import annotations

import math

from ..registry import Image, builtin
from ..values import Objects, crop_image

ENLARGE = 1.5  # VisProg enlarges the box before cropping, to keep some context


def _first_box(box: Objects):
    return box[0].box if box else None


@builtin(example="IMAGE0=Crop(image=IMAGE, box=BOX0)",
               aliases=("CROP", "CROP_FRONTOF", "CROP_INFRONT", "CROP_INFRONTOF", "CROP_BEHIND",
                        "CROP_AHEAD"))
def Crop(image: Image, box: Objects) -> Image:
    """Crop the image to the first box, enlarged 1.5 times around its centre for context.
    With no box, the image is returned whole."""
    first = _first_box(box)
    if first is None:
        return image
    x0, y0, x1, y1 = first
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w, half_h = (x1 - x0) * ENLARGE / 2, (y1 - y0) * ENLARGE / 2
    width, height = image.size
    region = (max(0, math.floor(cx - half_w)), max(0, math.floor(cy - half_h)),
              min(width, math.ceil(cx + half_w)), min(height, math.ceil(cy + half_h)))
    if region[2] <= region[0] or region[3] <= region[1]:
        return image
    return crop_image(image, region)


def side_region(width: int, height: int, box, side: str) -> tuple[int, int, int, int]:
    """The region from `box`'s centre to the image edge on `side` ('left', 'right', 'above',
    'below'); with no box (None), that half of the image."""
    cx, cy = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2) if box else (width / 2, height / 2)
    cx = min(max(cx, 1), width - 1)
    cy = min(max(cy, 1), height - 1)
    return {
        "left": (0, 0, math.ceil(cx), height),
        "right": (math.floor(cx), 0, width, height),
        "above": (0, 0, width, math.ceil(cy)),
        "below": (0, math.floor(cy), width, height),
    }[side]


def _side_crop(image: Image, box: Objects, side: str) -> Image:
    """From the first box's centre to the image edge on `side`; with no box, that half."""
    return crop_image(image, side_region(*image.size, _first_box(box), side))


@builtin(example="IMAGE0=CropLeft(image=IMAGE, box=BOX0)", aliases=("CROP_LEFTOF",))
def CropLeft(image: Image, box: Objects) -> Image:
    """The part of the image left of the first box's centre (the left half when there is no box)."""
    return _side_crop(image, box, "left")


@builtin(example="IMAGE0=CropRight(image=IMAGE, box=BOX0)", aliases=("CROP_RIGHTOF",))
def CropRight(image: Image, box: Objects) -> Image:
    """The part of the image right of the first box's centre (the right half when there is no box)."""
    return _side_crop(image, box, "right")


@builtin(example="IMAGE0=CropAbove(image=IMAGE, box=BOX0)", aliases=("CROP_ABOVE",))
def CropAbove(image: Image, box: Objects) -> Image:
    """The part of the image above the first box's centre (the top half when there is no box)."""
    return _side_crop(image, box, "above")


@builtin(example="IMAGE0=CropBelow(image=IMAGE, box=BOX0)", aliases=("CROP_BELOW",))
def CropBelow(image: Image, box: Objects) -> Image:
    """The part of the image below the first box's centre (the bottom half when there is no box)."""
    return _side_crop(image, box, "below")


TOOLS = (Crop, CropLeft, CropRight, CropAbove, CropBelow)
