"""Training batches for the segmenter: icon-world scenes and prompts sampled from their
exact masks (SAM's recipe, shortened).

Per scene, up to `prompts` objects (without replacement); each prompt is
  a box      (probability `box_prob`): the object's box, each side jittered by a normal of
             std `box_noise` x the box side (at most 20 px), clipped to the image;
  or points  one positive point uniform over the object's visible pixels, and with
             probability `extra_points` 1-2 more points: positive inside the object or
             negative outside it (in its box, else anywhere).
The target is the object's visible mask (occlusion-aware, full resolution).

Scene seeds come from `random.Random(seed).randrange(TRAIN_SEEDS)`: training never sees
the evaluation scenes (seeds 2_000_000_000 + i, benchmarks/segmenter.py).
"""

from __future__ import annotations

import random

import numpy as np
import torch

from .clip import to_pixels
from .segmenter import BOTTOM_RIGHT, NEG, PAD, POS, TOP_LEFT, SegmenterConfig

TRAIN_SEEDS = 1_000_000_000


def scene_batch(rng: random.Random, cfg: SegmenterConfig):
    from ..iconworld.render import random_scene
    images, scenes = [], []
    for _ in range(cfg.batch):
        image, scene = random_scene(rng.randrange(TRAIN_SEEDS), n_objects=cfg.n_objects,
                                    recolor_prob=cfg.recolor_prob,
                                    width=cfg.image_size, height=cfg.image_size,
                                    allow_overlap=rng.random() < cfg.overlap_prob)
        images.append(image)
        scenes.append(scene)
    return images, scenes


def sample_point(rng: np.random.Generator, mask: np.ndarray) -> tuple[float, float]:
    """A pixel centre (x + 0.5, y + 0.5) uniform over mask's True pixels."""
    ys, xs = np.nonzero(mask)
    k = int(rng.integers(len(xs)))
    return float(xs[k]) + 0.5, float(ys[k]) + 0.5


def jitter_box(rng: np.random.Generator, box, noise: float, w: int, h: int) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    bw, bh = x1 - x0, y1 - y0
    d = rng.normal(0, 1, 4) * noise * np.array([bw, bh, bw, bh])
    d = np.clip(d, -20, 20)
    x0, y0, x1, y1 = x0 + d[0], y0 + d[1], x1 + d[2], y1 + d[3]
    x0, x1 = np.clip(min(x0, x1 - 2), 0, w), np.clip(max(x1, x0 + 2), 0, w)
    y0, y1 = np.clip(min(y0, y1 - 2), 0, h), np.clip(max(y1, y0 + 2), 0, h)
    return [float(x0), float(y0), float(x1), float(y1)]


def prompt_for(rng: np.random.Generator, obj, cfg: SegmenterConfig, w: int, h: int):
    """(coords [(x, y)], kinds [kind]) for one object."""
    if rng.random() < cfg.box_prob:
        x0, y0, x1, y1 = jitter_box(rng, obj.box, cfg.box_noise, w, h)
        return [(x0, y0), (x1, y1)], [TOP_LEFT, BOTTOM_RIGHT]
    coords, kinds = [sample_point(rng, obj.mask)], [POS]
    if rng.random() < cfg.extra_points:
        for _ in range(int(rng.integers(1, 3))):
            if rng.random() < 0.5:
                coords.append(sample_point(rng, obj.mask))
                kinds.append(POS)
            else:
                x0, y0, x1, y1 = obj.box
                region = np.zeros_like(obj.mask)
                region[y0:y1, x0:x1] = True
                region &= ~obj.mask
                coords.append(sample_point(rng, region if region.any() else ~obj.mask))
                kinds.append(NEG)
    return coords, kinds


def make_batch(rng: random.Random, cfg: SegmenterConfig):
    """pixels (B, 3, S, S), image_index (N,), coords (N, T, 2), kinds (N, T), targets (N, S, S) bool."""
    images, scenes = scene_batch(rng, cfg)
    nrng = np.random.default_rng(rng.randrange(2 ** 31))
    index, coords, kinds, targets = [], [], [], []
    for b, scene in enumerate(scenes):
        objs = [o for o in scene.objects if o.area > 0]
        for k in nrng.permutation(len(objs))[:cfg.prompts]:
            c, kd = prompt_for(nrng, objs[k], cfg, scene.width, scene.height)
            index.append(b)
            coords.append(c)
            kinds.append(kd)
            targets.append(objs[k].mask)
    T = max(len(k) for k in kinds)
    coords = [c + [(0.0, 0.0)] * (T - len(c)) for c in coords]
    kinds = [k + [PAD] * (T - len(k)) for k in kinds]
    return (to_pixels(images, cfg.image_size, cfg.letterbox), torch.tensor(index), torch.tensor(coords, dtype=torch.float32),
            torch.tensor(kinds), torch.from_numpy(np.stack(targets)))
