"""The shipped models on icon-world scenes of another render style: issue 20's table.

    .venv/bin/python benchmarks/robustness.py [--style classic,unseen] [--n 200] [--only crops,vqa]

For each style (visprog/iconworld/styles.py; default 'classic' and 'unseen' side by side,
'unseen' being the style no training data is drawn in) it measures, with the current
weights and default backends:

- crops: CLIP crop top-1 over the 40 categories (crops framed as the style frames them) and
  its top confusions; top-1 against unseen synonyms (clip_detector.crops_dataset, zero_shot)
- vqa: counting through `Vqa` on cluttered scenes (0-8 of a category among 2-5 others,
  24-48 px), and `Point` on those with at least one: share of points inside a true box,
  share of instances pointed at (vqa.count_scene, counts_via_backend, pointing_hits)
- nlvr, gqa: `visprog.evaluate` (plans with the in-repo planner, runs on the default
  backends; the same answers as a loop of `visprog.run`) on n NLVR pairs / GQA questions,
  overall and per statement or question form (nlvr_comparison.made, evaluated)
- loc: exact counts by `Count(Loc)` with CLIP naming, 0-8 objects (clip_detector.counting)

Seeds are each benchmark's own held-out ones (scenes 2_000_000_000 + i, counting scenes
llava_data.BENCH_SEED_BASE + i, task seed 9101; training uses other streams), so the
'classic' column measures what the other benchmarks report. Accuracies carry their 95%
Wilson interval: at n = 100 a proportion near 0.9 is known to about +-6 points.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import clip_detector
import nlvr_comparison
import vqa

SECTIONS = ("crops", "vqa", "nlvr", "gqa", "loc")
GOALS = {"CLIP crop top-1": ">= 0.98", "CLIP unseen synonyms": ">= 0.90",
         "counting through Vqa": ">= 0.97", "Point: points inside a true box": ">= 0.97",
         "Point: instances pointed": ">= 0.97", "visprog.run, NLVR pairs": ">= 0.95",
         "visprog.run, GQA questions": ">= 0.95", "Loc + Count exact": ">= 0.95"}


def share(p: float, n: int) -> str:
    lo, hi = vqa.wilson(p, n) if n else (0.0, 0.0)
    return f"{p:.3f} ({max(lo, 0.0):.2f}-{min(hi, 1.0):.2f}, n={n})"


def crops(style: str, n: int) -> dict:
    from visprog.models import load
    clip = load("clip")
    images, labels, cats = clip_detector.crops_dataset(n, style)
    acc, syn, confusions = clip_detector.zero_shot(clip, images, labels, cats)
    top = ", ".join(f"{t}->{p} {k}" for (t, p), k in confusions.most_common(4))
    return {"CLIP crop top-1": share(acc, len(images)) + (f"; {top}" if top else ""),
            "CLIP unseen synonyms": share(syn, len(images))}


def counting_and_pointing(style: str, n: int) -> dict:
    from visprog.backends import vqa as backend
    from visprog.iconworld import catalog
    from visprog.models import llava_data
    from visprog.registry import ImageCache, ToolContext
    items = [vqa.count_scene(llava_data.BENCH_SEED_BASE + i, style) for i in range(n)]
    answers, _ = vqa.counts_via_backend(backend, [im for im, *_ in items],
                                        [catalog.plural_of(t) for _, _, t, _ in items])
    correct = float(np.mean([a == str(k) for a, (*_, k) in zip(answers, items)]))
    point_items = [(im, sc, t) for im, sc, t, k in items if k > 0]
    found = backend.point([{"image": im, "object": t} for im, _, t in point_items], ToolContext(ImageCache()))
    precision, n_points, recall, n_instances = vqa.pointing_hits(point_items, found)
    return {"counting through Vqa": share(correct, len(items)),
            "Point: points inside a true box": share(precision, n_points),
            "Point: instances pointed": share(recall, n_instances)}


def program_runs(task: str, style: str, n: int, seed: int) -> tuple[dict, dict]:
    summary, _ = nlvr_comparison.evaluated(nlvr_comparison.made(task, n, seed, style))
    name = {"nlvr": "visprog.run, NLVR pairs", "gqa": "visprog.run, GQA questions"}[task]
    errors = f", {summary.errors} errors" if summary.errors else ""
    forms = {form: share(c / t, t) for form, (c, t) in summary.by_form.items()}
    return {name: share(summary.accuracy, summary.total) + errors}, forms


def loc_count(style: str, n: int) -> dict:
    from visprog.models import load
    acc, errors = clip_detector.counting(load("detector"), load("clip"), n, "tool", style)
    examples = ", ".join(f"{c} {w}->{g}" for c, w, g in errors[:3])
    return {"Loc + Count exact": share(acc, n) + (f"; e.g. {examples}" if examples else "")}


def measure(style: str, n: int, sections: set, seed: int) -> tuple[dict, dict]:
    """One style's rows, and its per-form rows ('nlvr: count' -> cell)."""
    rows, forms = {}, {}
    if "crops" in sections:
        rows.update(crops(style, n))
    if "vqa" in sections:
        rows.update(counting_and_pointing(style, n))
    for task in ("nlvr", "gqa"):
        if task in sections:
            got, per_form = program_runs(task, style, n, seed)
            rows.update(got)
            forms.update({f"{task}: {form}": cell for form, cell in per_form.items()})
    if "loc" in sections:
        rows.update(loc_count(style, n))
    return rows, forms


def table(title: str, styles: list[str], columns: dict, goals: dict) -> str:
    keys = list(dict.fromkeys(k for s in styles for k in columns[s]))
    lines = [f"| {title} | " + " | ".join(styles) + (" | goal |" if goals else " |"),
             "| --- |" + " --- |" * (len(styles) + bool(goals))]
    for k in sorted(keys) if not goals else keys:
        cells = [columns[s].get(k, "-") for s in styles] + ([goals.get(k, "")] if goals else [])
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--style", default="classic,unseen", help="comma-separated styles (default classic,unseen)")
    p.add_argument("--n", type=int, default=200, help="items per row and style (default 200)")
    p.add_argument("--only", default="", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    p.add_argument("--seed", type=int, default=9101, help="task seed of the NLVR and GQA items")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from visprog.iconworld.styles import get_style
    styles = [get_style(s).name for s in args.style.split(",")]
    sections = set(args.only.split(",")) if args.only else set(SECTIONS)
    unknown = sections - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
    rows, forms = {}, {}
    for style in styles:
        rows[style], forms[style] = measure(style, args.n, sections, args.seed)
        print(f"measured {style}", file=sys.stderr, flush=True)
    print(table("measured", styles, rows, GOALS))
    if any(forms.values()):
        print()
        print(table("form", styles, forms, {}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
