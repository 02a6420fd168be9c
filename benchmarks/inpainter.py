"""Benchmark the in-repo inpainter as `Replace` uses it: "replace the X with a Y" on held-out scenes.

    PYTHONPATH=. python benchmarks/inpainter.py [--n 64] [--weights FILE] [--save grid.png]

Scene i (seed 2_000_000_000 + i; training draws seeds below 1_000_000_000) holds 1-2 X and
0-2 distractors (none X or Y); X and Y are distinct categories of the 40. Every X's box is
repainted with with_article(Y) in one `inpaint` call, on a copy of the image without its
annotation, so Loc runs the in-repo detector + CLIP (backend 'iconworld'). Per replaced X:
  ok    Loc(Y) finds a Y whose box centre lies in the old X box (+4 px) and Loc(X) finds no X there
and per edit (scene) all its X are ok. Also: the fraction of pixels farther than 6 px from
the X boxes (and from the X masks) left exactly unchanged, and seconds per Replace (the whole
`inpaint` call at 256x256, one torch thread). Rows 'rendered Y' (the renderer draws Y in
the same place: what the detector can do at best) and 'blank box' (the boxes filled with
the mean border colour: X removed, nothing painted) bracket the model.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

BASE = 2_000_000_000


def make_case(i: int, base: int = BASE):
    from visprog.iconworld.catalog import CATEGORIES
    from visprog.iconworld.render import render, sample_placements
    cats = list(CATEGORIES)
    rng = np.random.default_rng(base + i)
    x, y = (cats[int(k)] for k in rng.choice(len(cats), 2, replace=False))
    k = int(rng.integers(1, 3))
    others = [c for c in cats if c not in (x, y)]
    distract = [others[int(j)] for j in rng.integers(0, len(others), int(rng.integers(0, 3)))]
    order = [x] * k + distract
    perm = rng.permutation(len(order))
    placements = sample_placements(rng, [order[j] for j in perm], recolor_prob=0.3)
    image, scene = render(placements, seed=base + i)
    return x, y, placements, image, scene


def strip(image: Image.Image) -> Image.Image:
    out = Image.new("RGB", image.size)
    out.paste(image.convert("RGB"))
    return out


def loc(image, name):
    import visprog
    res = visprog.execute(f"B=Loc(image=IMAGE, object='{name}')", {"IMAGE": strip(image)}, backend="iconworld")
    return [tuple(o.box) for o in res.value]


def near(boxes, box, pad=4):
    x0, y0, x1, y1 = box
    return any(x0 - pad <= (b[0] + b[2]) / 2 <= x1 + pad and y0 - pad <= (b[1] + b[3]) / 2 <= y1 + pad
               for b in boxes)


def unchanged(before, after, masks, far=6):
    from scipy.ndimage import distance_transform_edt
    region = np.any(masks, 0)
    dist = distance_transform_edt(~region)
    keep = dist > far
    same = (np.asarray(before.convert("RGB")) == np.asarray(after.convert("RGB"))).all(-1)
    return float(same[keep].mean())


def score(image, xs, x, y):
    found_y, found_x = loc(image, y), loc(image, x)
    oks = [near(found_y, o.box) and not near(found_x, o.box) for o in xs]
    return oks


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=64, help="replacements (X objects) at least")
    p.add_argument("--weights", default=None)
    p.add_argument("--sample-steps", type=int, default=None)
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--base", type=int, default=BASE, help="first scene seed (the settings were tuned "
                   "on 2_100_000_000, reported on 2_000_000_000)")
    p.add_argument("--save", default=None, help="write a grid of the first 16 edits here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    import visprog.models
    from visprog.iconworld.language import with_article
    from visprog.iconworld.render import Placement, render
    from visprog.models.inpainter import box_mask
    model = visprog.models.load("inpainter", args.weights)
    rows = {"model": [], "rendered Y": [], "blank box": []}
    edits = {k: [] for k in rows}
    kept_box, kept_mask, seconds, grid = [], [], [], []
    orig_x = []
    i = 0
    model.inpaint(Image.new("RGB", (64, 64)), np.eye(64, dtype=bool), "a cat")  # warm-up
    while sum(len(r) for r in rows["model"]) < args.n:
        x, y, placements, image, scene = make_case(i, args.base)
        xs = [o for o in scene.objects if o.category == x]
        boxes = [box_mask(o.box, scene.width, scene.height) for o in xs]
        clean = strip(image)
        t0 = time.perf_counter()
        edited = model.inpaint(clean, boxes, with_article(y), seed=i, steps=args.sample_steps,
                               guidance=args.guidance)
        seconds.append(time.perf_counter() - t0)
        kept_box.append(unchanged(clean, edited, boxes))
        kept_mask.append(unchanged(clean, edited, [o.mask for o in xs]))
        # references: Y rendered in X's place; the boxes blanked
        swapped = [Placement(y, None, pl.size, pl.x, pl.y, pl.flipped) if pl.category == x else pl
                   for pl in placements]
        rendered, _ = render(swapped, seed=args.base + i)
        blank = np.asarray(clean).copy()
        for m in boxes:
            from visprog.models.inpainter import dilate
            ring = dilate(m, 3) & ~m
            blank[m] = np.asarray(clean)[ring].mean(0).astype(np.uint8)
        for name, im in (("model", edited), ("rendered Y", rendered), ("blank box", Image.fromarray(blank))):
            oks = score(im, xs, x, y)
            rows[name].append(oks)
            edits[name].append(all(oks))
        orig_x.append([near(loc(clean, x), o.box) for o in xs])
        if args.save and len(grid) < 16:
            grid.append((clean, edited, f"{x}->{y}"))
        i += 1
    n_obj = sum(len(r) for r in rows["model"])
    print(f"{i} edits, {n_obj} replacements (held-out seeds {args.base}+0..{i - 1}); "
          f"Loc finds the X before the edit: {np.mean(sum(orig_x, [])):.3f}")
    print("| | replacements ok (no X, a Y there) | edits ok (every X) |")
    print("| --- | --- | --- |")
    for name in rows:
        print(f"| {name} | {np.mean(sum(rows[name], [])):.3f} | {np.mean(edits[name]):.3f} |")
    print(f"| pixels > 6 px from the X boxes unchanged | {np.mean(kept_box):.4f} (min {np.min(kept_box):.4f}) | |")
    print(f"| pixels > 6 px from the X masks unchanged | {np.mean(kept_mask):.4f} (min {np.min(kept_mask):.4f}) | |")
    print(f"| seconds per Replace, 256x256, 1 thread | mean {np.mean(seconds):.3f}, max {np.max(seconds):.3f} | |")
    if args.save and grid:
        W = 256
        sheet = Image.new("RGB", (4 * 2 * W, ((len(grid) + 3) // 4) * W), "white")
        for k, (a, b, _) in enumerate(grid):
            sheet.paste(a, ((k % 4) * 2 * W, (k // 4) * W))
            sheet.paste(b, ((k % 4) * 2 * W + W, (k // 4) * W))
        sheet.save(args.save)
        print("saved", args.save, "; edits:", ", ".join(t for _, _, t in grid))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
