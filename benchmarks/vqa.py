"""Benchmark the in-repo LLaVA-style model (visprog/weights/llava.safetensors) on icon-world
scenes from seeds never used in training (llava_data.BENCH_SEED_BASE + i).

    .venv/bin/python benchmarks/vqa.py [--n 200] [--threads 1] [--json out.json]

Prints a table:
- counting: 'How many X are in the image?' with 0-8 instances of X among 2-5 distractors
  (cluttered, 24-48 px objects); exact match: the model asked directly and by pointing
  ('Count the X.') on the whole image, and through the Vqa backend, which points on the whole
  image and, where the detector's boxes do not confirm those points, on overlapping crops
  (visprog/pointing.py)
- yes/no existence and spatial relations (the model's answer, and through the Vqa backend,
  from the model's points when RELATIONS_BY_POINTING is set); attribute (colour, size: the
  model's, and the backend's, measured where Loc finds the thing when ATTRIBUTES_MEASURED is set) and
  supercategory. Each form draws its own questions, so both relation rows ask the same ones
- pointing ('Point to the X.'), by the model on the whole image and through the Point backend
  (crops): share of predicted points inside a ground-truth box of X, share of instances whose
  box receives a point
- NLVR baseline: 'Is this statement true?' on two scenes side by side (answer_statement)
- accuracies come with their 95% Wilson interval (n = 200 questions is +-6 points at 70%)
- latency of one Vqa answer on a 256x256 image (a yes/no question; a count question, over 50
  scenes); batched (64 questions about 8 images, as
  programs ask several questions of each image, and about 64 images) vs one at a time
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

import numpy as np


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion p measured on n items."""
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def count_scene(seed: int, style="classic"):
    """Cluttered counting scene in a render style (visprog/iconworld/styles.py):
    (image, scene, target, k)."""
    from visprog.iconworld import catalog
    from visprog.iconworld.styles import draw
    rng = np.random.default_rng(seed)
    cats = list(catalog.CATEGORIES)
    names = catalog.all_names()
    target = cats[int(rng.integers(len(cats)))]
    k = int(rng.integers(0, 9))
    others = [n for n in names if n != target]
    d = int(rng.integers(2, 6))
    items = [target] * k + [others[int(i)] for i in rng.integers(0, len(others), size=d)]
    rng.shuffle(items)
    image, scene = draw(rng, items, style, recolor_prob=0.5, size_range=(24, 48))
    return image, scene, target, sum(o.category == target for o in scene.objects)


def counts_via_backend(backend, images, plurals):
    """'How many X are in the image?' through the Vqa backend: (answers, the context, whose
    notes say which counts needed crops)."""
    from visprog.registry import ImageCache, ToolContext
    ctx = ToolContext(ImageCache())
    answers = backend.vqa([{"image": im, "question": f"How many {p} are in the image?"}
                           for im, p in zip(images, plurals)], ctx)
    return answers, ctx


def pointing_hits(point_items, found) -> tuple[float, int, float, int]:
    """Points against the true boxes of their category: (share of points inside a box, points,
    share of instances whose box holds a point, instances). point_items: (image, scene,
    category); found: the points of each."""
    inside = total_pts = hit = total_inst = 0
    for (_im, sc, t), pts in zip(point_items, found):
        boxes = [o.box for o in sc.objects if o.category == t]
        total_pts += len(pts)
        inside += sum(any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes) for x, y in pts)
        total_inst += len(boxes)
        hit += sum(any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for x, y in pts) for b in boxes)
    return inside / max(total_pts, 1), total_pts, hit / max(total_inst, 1), total_inst


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200, help="questions per row")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--weights", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from visprog.iconworld import catalog
    from visprog.models import llava, llava_data
    from visprog.pointing import parse_count, parse_points
    from visprog.registry import ImageCache, ToolContext
    model = llava.load(args.weights)
    base = llava_data.BENCH_SEED_BASE
    rows: list[tuple[str, str, str]] = []
    results: dict = {}

    def row(name, value, goal, fmt="{:.1%}", n=None):
        """n: the number of items an accuracy is over; adds its 95% Wilson interval, so that
        two runs (or a value and its goal) can be told apart from sampling noise."""
        text = fmt.format(value) if isinstance(value, float) else str(value)
        if n:
            lo, hi = wilson(value, n)
            text += f" ({lo:.0%}-{hi:.0%})"
        rows.append((name, text, goal))
        results[name] = value
        print(f"  {name}: {rows[-1][1]} (goal {goal})", flush=True)

    # --- counting
    items = [count_scene(base + i) for i in range(args.n)]
    images = [im for im, _, _, _ in items]
    truth = [k for _, _, _, k in items]
    plurals = [catalog.plural_of(t) for _, _, t, _ in items]
    direct = model.answer(images, [f"How many {p} are in the image?" for p in plurals])
    by_point = model.answer(images, [f"Count the {p}." for p in plurals])
    acc_direct = float(np.mean([a == str(k) for a, k in zip(direct, truth)]))
    acc_point = float(np.mean([parse_count(a) == k for a, k in zip(by_point, truth)]))
    row("counting 0-8, cluttered, asked directly", acc_direct, ">= 97%", n=len(items))
    row("counting 0-8, cluttered, by pointing", acc_point, ">= 97%", n=len(items))
    from visprog.backends import vqa as backend
    backend.model = lambda: model  # the backend runs the model under test (--weights)
    via, ctx = counts_via_backend(backend, images, plurals)
    how = ("the centres of Loc's boxes" if backend.DETECTOR_POINTS else
           "points, checked by the detector, else on crops")
    row(f"counting via the Vqa backend ({how})",
        float(np.mean([a == str(k) for a, k in zip(via, truth)])), ">= 97%", n=len(items))
    results["counts that needed crops"] = float(np.mean(["overlapping crops" in ctx.notes[i][0]
                                                         for i in range(len(items))]))
    print(f"  counts that needed crops: {results['counts that needed crops']:.1%}")
    for name, counts in [("by pointing", [parse_count(a) for a in by_point]),
                         ("via the Vqa backend", [int(a) for a in via])]:
        per_k = {}
        for c, k in zip(counts, truth):
            per_k.setdefault(k, []).append(c == k)
        results[f"counting {name}, per k"] = {k: round(float(np.mean(v)), 3) for k, v in sorted(per_k.items())}
        print(f"  {name}, per k:", results[f"counting {name}, per k"])

    # --- pointing (the counting scenes with k >= 1): the model on the whole image, and the
    # Point backend, which points on overlapping crops
    point_items = [(im, sc, t) for im, sc, t, k in items if k > 0]
    replies = model.answer([im for im, _, _ in point_items],
                           [f"Point to the {catalog.plural_of(t)}." for _, _, t in point_items])
    whole = [parse_points(reply, im.width, im.height) for (im, _, _), reply in zip(point_items, replies)]
    crops = backend.point([{"image": im, "object": t} for im, _, t in point_items], ToolContext(ImageCache()))
    backend_name = "the Point backend" + (", Loc's box centres" if backend.DETECTOR_POINTS else ", crops")
    for name, found in [("the model, whole image", whole), (backend_name, crops)]:
        precision, total_pts, recall, total_inst = pointing_hits(point_items, found)
        row(f"pointing ({name}): points inside a GT box", precision, ">= 97%", n=total_pts)
        row(f"pointing ({name}): instances receiving a point", recall, ">= 97%", n=total_inst)

    # --- question forms on mixed scenes
    recs, ims = [], []
    for i in range(args.n):
        image, scene, kind = llava_data.make_scene(base + 100_000 + i, kind="mixed" if i % 2 else "count",
                                                   style="classic")
        recs.append(llava_data.scene_record(scene))
        ims.append(image)

    def form_accuracy(forms, via_backend=False):
        qs, ans, imgs = [], [], []
        draw = random.Random(",".join(forms))  # a form's questions do not depend on the rows before
        for rec, im in zip(recs, ims):
            for _, q, a, _refs in llava_data.questions(rec, draw, 1, forms=forms):
                qs.append(q)
                ans.append(a)
                imgs.append(im)
        if via_backend:
            out = backend.vqa([{"image": im, "question": q} for im, q in zip(imgs, qs)],
                              ToolContext(ImageCache()))
        else:
            out = model.answer(imgs, qs)
        return float(np.mean([o == a for o, a in zip(out, ans)])), len(qs)

    for name, forms, goal, via in [
            ("yes/no existence", ["exist"], ">= 97%", False),
            ("yes/no spatial relations, the model's own answer", ["relation"], ">= 97%", False),
            ("yes/no spatial relations via the Vqa backend" +
             (" (from the points)" if backend.RELATIONS_BY_POINTING else ""), ["relation"], ">= 97%", True),
            ("attribute (colour, size), the model's own answer", ["color", "size"], ">= 90%", False),
            ("attribute (colour, size) via the Vqa backend" +
             (" (measured where Loc finds the thing)" if backend.ATTRIBUTES_MEASURED else ""),
             ["color", "size"], ">= 90%", True),
            ("supercategory", ["super"], ">= 90%", False)]:
        acc, n = form_accuracy(forms, via)
        row(f"{name} (n={n})", acc, goal, n=n)

    # --- NLVR baseline: answer_statement on two scenes side by side
    rng = random.Random(0)
    lefts, rights, sts, gold = [], [], [], []
    for i in range(0, min(len(recs), args.n) - 1, 2):
        for st, a in llava_data.statements(recs[i], recs[i + 1], rng, 2):
            lefts.append(ims[i])
            rights.append(ims[i + 1])
            sts.append(st)
            gold.append(a == "yes")
    pred = llava.answer_statements(lefts, rights, sts, model)
    row(f"NLVR baseline answer_statement (n={len(sts)}, {np.mean(gold):.0%} true)",
        float(np.mean([p == g for p, g in zip(pred, gold)])), "documented", n=len(sts))

    # --- latency and batching
    image = images[0]
    q = "Is there a dog in the image?"
    for _ in range(3):
        backend.vqa([{"image": image, "question": q}], ToolContext(ImageCache()))
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        backend.vqa([{"image": image, "question": q}], ToolContext(ImageCache()))
        times.append(time.perf_counter() - t0)
    row("latency, one Vqa answer (yes/no), 256x256, median", float(np.median(times)) * 1000, "<= 50 ms",
        fmt="{:.1f} ms")
    times = []
    for im, p in list(zip(images, plurals))[:50]:  # counts differ in cost: the whole image, or 4-17 crops more
        t0 = time.perf_counter()
        backend.vqa([{"image": im, "question": f"How many {p} are in the image?"}], ToolContext(ImageCache()))
        times.append(time.perf_counter() - t0)
    row(f"latency, one count question, median over {len(times)} counting scenes "
        f"(mean {np.mean(times) * 1000:.0f} ms, 90th percentile {np.percentile(times, 90) * 1000:.0f} ms)",
        float(np.median(times)) * 1000, "<= 50 ms", fmt="{:.1f} ms")
    def throughput_gain(calls):
        t0 = time.perf_counter()
        backend.vqa(calls, ToolContext(ImageCache()))
        batched = time.perf_counter() - t0
        t0 = time.perf_counter()
        for c in calls:
            backend.vqa([c], ToolContext(ImageCache()))
        return (time.perf_counter() - t0) / batched

    def exist_call(i, image):
        name = items[i % len(items)][2]
        return {"image": image, "question": f"Is there {'an' if name[0] in 'aeiou' else 'a'} {name}?"}

    # programs ask several questions of the same images (NLVR: LEFT and RIGHT, 2-4 each)
    shared = [exist_call(i, images[i // 8]) for i in range(64)]
    row("batched 64 questions about 8 images vs one at a time (throughput)", throughput_gain(shared),
        ">= 5x", fmt="{:.1f}x")
    distinct = [exist_call(i, images[i % len(images)]) for i in range(64)]
    row("batched 64 questions about 64 images vs one at a time (throughput)", throughput_gain(distinct),
        "-", fmt="{:.1f}x")

    print()
    w = max(len(r[0]) for r in rows)
    print(f"| {'metric'.ljust(w)} | value | goal |")
    print(f"| {'-' * w} | --- | --- |")
    for name, value, goal in rows:
        print(f"| {name.ljust(w)} | {value} | {goal} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
