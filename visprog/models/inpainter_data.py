"""Training crops for the inpainter: icon-world scenes, one object's box regenerated from its name.

An edit `Replace(old, prompt)` asks for the new object inside the old one's box: as big as
fits, centred, the rest of the box background. So a training example is any rendered object
(of the 40 categories, in the config's render `style`) with an "old box" around it: its own box, or (`stretch_prob`) that box
widened on one axis by up to `max_stretch` (an old object of another aspect ratio, into which
the new one fits). The region is that box dilated by `dilate` px, exactly as `inpaint` makes
it from a box mask; the crop window and its resizing are `inpaint`'s too. The old object
never needs rendering: the region hides it, and outside the region the two scenes are the
same pixels. The prompt is the object's name with an article ('a cat'), with its colour
('a red car') when it was recoloured, and otherwise now and then.

Scene seeds come from `random.Random(seed).randrange(1_000_000_000)`: disjoint from the
held-out evaluation seeds (2_000_000_000 + i) of benchmarks/inpainter.py.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from ..iconworld.catalog import CATEGORIES
from ..iconworld.language import with_article
from .inpainter import InpainterConfig, box_mask, crop_window, cut, dilate, mask_box

TRAIN_SEEDS = 1_000_000_000  # training scenes use seeds below this; evaluation uses 2e9 + i


def prompt_for(obj, rng: random.Random, cfg: InpainterConfig) -> str:
    name = obj.category
    if obj.color and (obj.hue_shift or rng.random() < cfg.color_word_prob):
        return with_article(f"{obj.color} {name}")
    return with_article(name)


def old_box(box, rng: random.Random, cfg: InpainterConfig):
    """A box the object fits inside, as the object it replaces would have had."""
    x0, y0, x1, y1 = box
    if rng.random() < cfg.stretch_prob:
        f = rng.uniform(1.0, cfg.max_stretch)
        if rng.random() < 0.5:
            grow = (x1 - x0) * (f - 1) / 2
            x0, x1 = x0 - grow, x1 + grow
        else:
            grow = (y1 - y0) * (f - 1) / 2
            y0, y1 = y0 - grow, y1 + grow
    return x0, y0, x1, y1


def examples(rng: random.Random, cfg: InpainterConfig, n: int):
    """n examples: target crops (n, 3, R, R) in [-1, 1], regions (n, 1, R, R), prompts."""
    from ..iconworld.render import random_scene
    R = cfg.resolution
    crops, regions, texts = [], [], []
    while len(texts) < n:
        image, scene = random_scene(rng.randrange(TRAIN_SEEDS), n_objects=(1, 5), style=cfg.style,
                                    recolor_prob=cfg.recolor_prob)
        objs = [o for o in scene.objects if o.category in CATEGORIES]
        rng.shuffle(objs)
        for o in objs[:2]:
            region = dilate(box_mask(old_box(o.box, rng, cfg), scene.width, scene.height), cfg.dilate)
            window = crop_window(mask_box(region), cfg.crop_scale)
            crop, reg = cut(image, region, window, R)
            if rng.random() < 0.5:  # glyphs are drawn flipped half the time anyway
                crop, reg = crop.flip(-1), reg.flip(-1)
            crops.append(crop), regions.append(reg), texts.append(prompt_for(o, rng, cfg))
            if len(texts) == n:
                break
    return torch.stack(crops), torch.stack(regions), texts
