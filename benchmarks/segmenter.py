"""Benchmark the in-repo segmenter on held-out icon-world scenes.

    PYTHONPATH=. .venv/bin/python benchmarks/segmenter.py [--n 100] [--weights PATH] [--threads 1] [--no-refine]

Scenes: `random_scene(2_000_000_000 + i, n_objects=(1, 8), recolor_prob=0.4)`, overlap
allowed in every fourth; training draws its seeds below 1_000_000_000
(`segmenter_data.TRAIN_SEEDS`). Prints a table of:
  panoptic   `Segmenter.panoptic` (detector boxes -> masks -> mask NMS): the share of
             ground-truth objects some predicted mask covers with IoU >= 0.5 (recall), the
             mean over objects of the best IoU, precision at IoU 0.5, and how often CLIP
             names the best mask's box crop as the object's category (`crop_names`, as
             Loc and Classify name crops);
  box        the object's ground-truth box as the prompt: mean IoU of the best-predicted mask;
  point      one point uniform over the object's visible pixels: mean IoU of the
             best-predicted mask (and of the best of the K candidates, an oracle);
  latency    per 256x256 image, one at a time: panoptic (detector included), and box prompts.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

BASE = 2_000_000_000


def scenes(n: int):
    from visprog.iconworld.render import random_scene
    return [random_scene(BASE + i, n_objects=(1, 8), recolor_prob=0.4, allow_overlap=i % 4 == 0)
            for i in range(n)]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.logical_and(a, b).sum()
    union = np.logical_or(a, b).sum()
    return float(inter / union) if union else 0.0


def evaluate(model, detector, clip, data, batch: int = 8, refine: bool = True) -> dict:
    from visprog.backends.iconworld import _names, crop_names
    names = _names(clip)[0]
    pan_best, pan_pred, pan_hits, box_ious, point_ious, point_oracle = [], 0, 0, [], [], []
    labels = []
    for k in range(0, len(data), batch):
        chunk = data[k:k + batch]
        images = [im for im, _ in chunk]
        objs = [[o for o in sc.objects if o.area > 0] for _, sc in chunk]
        # box prompts
        res = model.segment(images, boxes=[[o.box for o in ob] for ob in objs], refine=refine)
        for ob, (masks, _) in zip(objs, res):
            box_ious += [iou(m[0], o.mask) for m, o in zip(masks, ob)]
        # one point per object, uniform over its visible pixels
        pts = []
        for j, ob in enumerate(objs):
            rng = np.random.default_rng(BASE + k + j)
            row = []
            for o in ob:
                ys, xs = np.nonzero(o.mask)
                q = int(rng.integers(len(xs)))
                row.append([[xs[q] + 0.5, ys[q] + 0.5]])
            pts.append(row)
        res = model.segment(images, points=pts, refine=refine)
        for ob, (masks, _) in zip(objs, res):
            for m, o in zip(masks, ob):
                cand = [iou(c, o.mask) for c in m]
                point_ious.append(cand[0])
                point_oracle.append(max(cand))
        # panoptic
        for image, ob, pan in zip(images, objs, model.panoptic(images, detector, refine=refine)):
            pred = pan["masks"]
            pan_pred += len(pred)
            if len(pred) == 0:
                pan_best += [0.0] * len(ob)
                continue
            table = np.array([[iou(p, o.mask) for p in pred] for o in ob])   # (objects, predictions)
            pan_best += list(table.max(1))
            pan_hits += int((table.max(0) >= 0.5).sum())
            idx, _ = crop_names(clip, [image], [pan["boxes"]])[0]
            labels += [names[int(idx[row.argmax()])] == o.category for o, row in zip(ob, table)
                       if row.max() >= 0.5]
    return {"objects": len(box_ious), "panoptic_recall50": float(np.mean(np.array(pan_best) >= 0.5)),
            "panoptic_mean_best_iou": float(np.mean(pan_best)),
            "panoptic_precision50": pan_hits / max(pan_pred, 1),
            "panoptic_label_accuracy": float(np.mean(labels)) if labels else 0.0,
            "box_miou": float(np.mean(box_ious)), "point_miou": float(np.mean(point_ious)),
            "point_oracle_miou": float(np.mean(point_oracle))}


def latency(model, detector, data, n: int = 20) -> tuple[float, float]:
    pan, box = [], []
    for im, sc in data[:n]:
        t = time.perf_counter()
        model.panoptic([im], detector)
        pan.append(time.perf_counter() - t)
        t = time.perf_counter()
        model.segment([im], boxes=[[o.box for o in sc.objects]])
        box.append(time.perf_counter() - t)
    return statistics.median(pan) * 1000, statistics.median(box) * 1000


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100, help="held-out scenes")
    p.add_argument("--weights", default=None, help="segmenter weights (default: the bundled ones)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--no-refine", action="store_true", help="the decoder's raw masks (no `Segmenter.refine`)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from visprog import models
    model = models.load("segmenter", args.weights)
    detector = models.load("detector")
    clip = models.load("clip")
    data = scenes(args.n)
    t = time.time()
    r = evaluate(model, detector, clip, data, refine=not args.no_refine)
    elapsed = time.time() - t
    rows = [("panoptic recall (mask IoU >= 0.5)", r["panoptic_recall50"], ">= 0.95"),
            ("panoptic mean best IoU", r["panoptic_mean_best_iou"], ">= 0.85"),
            ("panoptic precision (IoU >= 0.5)", r["panoptic_precision50"], ""),
            ("panoptic label accuracy (CLIP on the mask's box, found objects)", r["panoptic_label_accuracy"], ""),
            ("box prompt mean IoU", r["box_miou"], ">= 0.90"),
            ("point prompt mean IoU (best-predicted of K)", r["point_miou"], ">= 0.85"),
            ("point prompt mean IoU (oracle best of K)", r["point_oracle_miou"], "")]
    print(f"{args.n} held-out scenes (seeds {BASE}+i), {r['objects']} objects, {elapsed:.0f}s"
          f"{', no refine' if args.no_refine else ''}")
    print("| metric | value | goal |\n| --- | --- | --- |")
    for name, value, goal in rows:
        print(f"| {name} | {value:.3f} | {goal} |")
    if not args.skip_latency:
        pan_ms, box_ms = latency(model, detector, data)
        print(f"| panoptic latency per image, {args.threads} thread(s) | {pan_ms:.0f} ms | |")
        print(f"| box-prompt latency per image (all its objects), {args.threads} thread(s) | {box_ms:.0f} ms | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
