"""Drawing objects and points onto images: used by Tag and by the rationale."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .values import Objects, Points

PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128)]


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def draw_objects(image: Image.Image, objects: Objects, *, scores: bool = False,
                 masks: bool = True) -> Image.Image:
    """A copy of `image` with each object's box, label (and score), and mask as an overlay."""
    out = image.convert("RGB")
    width = max(2, round(min(out.size) / 128))
    font = _font(max(10, min(out.size) // 20))
    if masks and any(o.mask is not None for o in objects):
        overlay = np.asarray(out, dtype=np.float32).copy()
        for i, obj in enumerate(objects):
            if obj.mask is not None and obj.mask.shape == overlay.shape[:2]:
                overlay[obj.mask] = 0.55 * overlay[obj.mask] + 0.45 * np.array(PALETTE[i % len(PALETTE)])
        out = Image.fromarray(overlay.astype(np.uint8))
    draw = ImageDraw.Draw(out)
    for i, obj in enumerate(objects):
        color = PALETTE[i % len(PALETTE)]
        draw.rectangle([round(v) for v in obj.box], outline=color, width=width)
        text = obj.label + (f" {obj.score:.2f}" if scores else "")
        if text:
            x, y = obj.box[0], max(0, obj.box[1] - font.size - 2)
            left, top, right, bottom = draw.textbbox((x, y), text, font=font)
            draw.rectangle([left - 1, top - 1, right + 1, bottom + 1], fill=color)
            draw.text((x, y), text, fill=(255, 255, 255), font=font)
    return out


def draw_points(image: Image.Image, points: Points) -> Image.Image:
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    r = max(3, min(out.size) // 60)
    for x, y in points:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(230, 25, 75), outline=(255, 255, 255), width=2)
    return out


def object_mask(obj, size: tuple[int, int]) -> np.ndarray:
    """The object's mask, or its box filled when it has none, as bool (H, W)."""
    width, height = size
    if obj.mask is not None and obj.mask.shape == (height, width):
        return obj.mask
    mask = np.zeros((height, width), dtype=bool)
    x0, y0, x1, y1 = (int(round(v)) for v in obj.box)
    mask[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = True
    return mask


def union_mask(objects: Objects, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    mask = np.zeros((height, width), dtype=bool)
    for obj in objects:
        mask |= object_mask(obj, size)
    return mask
