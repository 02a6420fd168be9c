"""Image-editing tools that need no model: Tag, ColorPop, BgBlur and Emoji."""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage, ImageFilter

from .. import glyphs
from ..drawing import draw_objects, union_mask
from ..registry import Image, builtin
from ..values import Objects


# The kept region is the objects' masks grown by this many px: an object's antialiased edge,
# and a segmenter's mask a pixel short of it, stay whole (a halo reads better than a bite).
MARGIN = 1


def _keep_inside(image: Image, object: Objects, outside: Image) -> Image:
    """`image` inside the objects' masks (boxes when maskless) grown by MARGIN px, `outside`
    elsewhere."""
    from scipy.ndimage import binary_dilation
    mask = union_mask(object, image.size)
    if MARGIN and mask.any():
        mask = binary_dilation(mask, iterations=MARGIN)
    out = np.where(mask[:, :, None], np.asarray(image), np.asarray(outside.convert("RGB")))
    result = PILImage.fromarray(out.astype(np.uint8))
    result.info.update(image.info)
    return result


@builtin(example="IMAGE0=Tag(image=IMAGE, object=OBJ1)", aliases=("TAG",))
def Tag(image: Image, object: Objects) -> Image:
    """Draw each object's box and label on the image."""
    return draw_objects(image, object, masks=False)


@builtin(example="IMAGE0=ColorPop(image=IMAGE, object=OBJ1)", aliases=("COLORPOP",))
def ColorPop(image: Image, object: Objects) -> Image:
    """Keep the objects in colour and turn everything else grey."""
    return _keep_inside(image, object, image.convert("L"))


@builtin(example="IMAGE0=BgBlur(image=IMAGE, object=OBJ1)", aliases=("BGBLUR",))
def BgBlur(image: Image, object: Objects) -> Image:
    """Keep the objects sharp and blur the background."""
    radius = max(2, min(image.size) // 48)
    return _keep_inside(image, object, image.filter(ImageFilter.GaussianBlur(radius)))


@builtin(example="IMAGE0=Emoji(image=IMAGE, object=OBJ0, emoji='smiling_face_with_sunglasses')",
               aliases=("EMOJI",))
def Emoji(image: Image, object: Objects, emoji: str) -> Image:
    """Paste an OpenMoji glyph, chosen by name ('winking_face') or given as the emoji itself,
    over each object."""
    char = glyphs.emoji_by_name(emoji)
    out = image.copy()
    for obj in object:
        x0, y0, x1, y1 = (int(round(v)) for v in obj.box)
        side = max(x1 - x0, y1 - y0)
        if side < 2:
            continue
        glyph = glyphs.glyph(char, side)
        gx = x0 + (x1 - x0 - glyph.width) // 2
        gy = y0 + (y1 - y0 - glyph.height) // 2
        out.paste(glyph, (gx, gy), glyph)
    return out


TOOLS = (Tag, ColorPop, BgBlur, Emoji)
