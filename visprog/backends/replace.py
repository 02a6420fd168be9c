"""The backends of `Replace`: the objects' regions repainted from a text prompt.

- `iconworld`: the in-repo diffusion inpainter (`visprog/models/inpainter.py`): each object's
  box is a region; the new object is painted inside it and the rest of it filled with
  background; what is kept is the part within NEAR px of the objects' masks.
- `pretrained`: a Stable Diffusion inpainting pipeline from a local folder (a diffusers
  `save_pretrained` layout), `VISPROG_INPAINT=/models/stable-diffusion-inpainting`, through
  `AutoPipelineForInpainting`; fp16 on CUDA. The region is the objects' masks (boxes when
  maskless), dilated.

Both paste the generated pixels inside the region only, feathered over a few pixels: every
pixel farther than `dilate + feather` px from the objects is the input's.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

INPAINT_ENV = "VISPROG_INPAINT"
STEPS = 30       # the pretrained pipeline's denoising steps
DILATE = 4       # px the pretrained pipeline's region grows beyond the objects' masks
FEATHER = 2      # px over which generated pixels blend into the input
# The in-repo inpainter's output is kept within NEAR px (city-block) of the objects' masks,
# blended over 1 px more: nothing farther than 6 px from the objects changes.
NEAR = 4


def _boxes(objects, width: int, height: int) -> list[np.ndarray]:
    from ..models.inpainter import box_mask
    return [box_mask(o.box, width, height) for o in objects]


def replace(calls: list[dict], ctx) -> list:
    """Replace on the in-repo inpainter: each object's box is generated anew (the model
    paints the new object inside it), and kept within NEAR px of the objects' masks, so the
    box's corners away from the object stay the input's."""
    from scipy.ndimage import binary_dilation
    from ..drawing import union_mask
    from ..models import load
    from ..models.inpainter import blend
    inpainter = load("inpainter")
    out = []
    for call in calls:
        image, objects = call["image"].convert("RGB"), call["object"] or []
        if not objects:
            out.append(image.copy())
            continue
        edited = inpainter.inpaint(image, _boxes(objects, *image.size), call["prompt"])
        near = binary_dilation(union_mask(objects, image.size), iterations=NEAR)
        out.append(blend(image, edited, near, 1))
    return out


# ----------------------------------------------------------------------------- Stable Diffusion


def inpaint_missing() -> Optional[str]:
    folder = os.environ.get(INPAINT_ENV, "").strip()
    if not folder:
        return (f"set {INPAINT_ENV}=<folder of a diffusers inpainting pipeline> "
                f"(e.g. {INPAINT_ENV}=/models/stable-diffusion-inpainting)")
    if not os.path.isfile(os.path.join(folder, "model_index.json")):
        return f"{INPAINT_ENV} names {folder!r}, which holds no model_index.json (a save_pretrained folder)"
    try:
        import diffusers  # noqa: F401
    except ImportError:
        return "the diffusers package is not installed"
    return None


class Inpainting:
    """A diffusers inpainting pipeline from a local folder."""

    def __init__(self, folder: str):
        import torch
        from diffusers import AutoPipelineForInpainting
        from .device import best_device
        device = best_device()
        dtype = torch.float16 if device == "cuda" else torch.float32
        self.pipeline = AutoPipelineForInpainting.from_pretrained(folder, dtype=dtype).to(device)
        self.pipeline.set_progress_bar_config(disable=True)

    def __call__(self, image, objects, prompt: str, seed: int = 0):
        import torch
        from PIL import Image
        from ..drawing import union_mask
        from ..models.inpainter import blend, dilate
        image = image.convert("RGB")
        region = dilate(union_mask(objects, image.size), DILATE)
        if not region.any():
            return image.copy()
        width, height = (max(8, v - v % 8) for v in image.size)  # the VAE works in 8 px cells
        generated = self.pipeline(
            prompt=prompt, image=image.resize((width, height)),
            mask_image=Image.fromarray(region).resize((width, height)), width=width, height=height,
            num_inference_steps=STEPS, generator=torch.Generator().manual_seed(seed)).images[0]
        return blend(image, generated.resize(image.size), region, FEATHER)


def replace_pretrained(calls: list[dict], ctx) -> list:
    """Replace on a Stable Diffusion inpainting pipeline (VISPROG_INPAINT)."""
    from ..models.cache import shared
    folder = os.environ[INPAINT_ENV].strip()
    pipeline = shared(("inpainting", folder), lambda: Inpainting(folder))
    return [pipeline(c["image"], c["object"] or [], c["prompt"]) for c in calls]
