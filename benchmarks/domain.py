"""The in-repo models' domain check (visprog/models/domain.py): what it flags.

    .venv/bin/python benchmarks/domain.py [--n 1000] [--runs] [--programs 100]

- icon-world scenes of each style, held-out seeds (2_100_000_000 + i; the check is fitted
  and calibrated on others): the share flagged as outside the icon world (goal: <= 1% of
  the unseen style, the one no model trained on)
- scikit-image's sample images (`domain.SAMPLE_PHOTOS`; nothing trains on them): each one's
  score and whether it is flagged (goal: all); with --runs, whether `visprog.run` of a Loc
  program and of a Vqa program on it returns a warning or refuses
- with --programs N: N NLVR pairs and N GQA questions drawn in the unseen style, planned and
  run by `visprog.evaluate`: the share whose result warns that an image is unlike the icon
  world (their programs crop, and a crop is judged by the image it was cut from)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

SEED_BASE = 2_100_000_000


def scores(det, images) -> np.ndarray:
    from visprog.models.domain import features
    with torch.no_grad():
        return det.domain.scores(features(det, images, det.image_maps(images))).numpy()


def scene_rates(det, n: int) -> list[tuple[str, float, float]]:
    from visprog.iconworld.render import random_scene
    from visprog.models.domain import plain_reason
    rows = []
    for style in ("unseen", "train", "classic"):
        images = [random_scene(SEED_BASE + i, style=style)[0] for i in range(n)]
        s = np.concatenate([scores(det, images[k:k + 32]) for k in range(0, n, 32)])
        plain = np.array([plain_reason(im) is not None for im in images])
        rows.append((style, float(((s > det.domain.threshold) | plain).mean()), float(np.median(s))))
    return rows


def run_warnings(name: str, image) -> tuple[bool, bool]:
    """Whether a Loc program and a Vqa program on `image` warn (or are refused)."""
    import visprog
    out = []
    for program in ("BOX0=Loc(image=IMAGE, object='dog')\nANSWER0=Count(box=BOX0)\nFINAL=Result(var=ANSWER0)",
                    "ANSWER0=Vqa(image=IMAGE, question='How many people are in the image?')\n"
                    "FINAL=Result(var=ANSWER0)"):
        try:
            out.append(bool(visprog.execute(visprog.parse(program), {"IMAGE": image}).warnings))
        except visprog.VisprogError:
            out.append(True)
    return out[0], out[1]


def program_rates(n: int) -> list[tuple[str, float]]:
    import json
    import nlvr_comparison
    import visprog
    rows = []
    for task in ("nlvr", "gqa"):
        folder = nlvr_comparison.made(task, n, 9101, "unseen")
        out = folder.parent / "results.jsonl"
        visprog.evaluate(folder, out, progress=False)
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        rows.append((task, sum(any("unlike the icon world" in w for w in line.get("warnings", []))
                               for line in lines) / len(lines)))
    return rows


def main() -> int:
    from visprog.models import load
    from visprog.models.domain import SAMPLE_PHOTOS, plain_reason, sample_photo
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1000, help="scenes per style")
    p.add_argument("--runs", action="store_true", help="also run a Loc and a Vqa program on each photo")
    p.add_argument("--programs", type=int, default=0, help="unseen-style NLVR pairs and GQA questions to run")
    args = p.parse_args()
    det = load("detector")
    if det.domain is None:
        raise SystemExit("the detector's weights carry no domain check: run `visprog train domain --seed 0`")
    print(f"threshold {det.domain.threshold:.3f}\n")
    print("| icon-world style (held-out scenes) | flagged | median score |\n| --- | --- | --- |")
    for style, rate, median in scene_rates(det, args.n):
        print(f"| {style} (n={args.n}) | {rate:.4f} | {median:.2f} |")
    if args.programs:
        print("\n| unseen-style programs, `visprog.evaluate` | results with a domain warning |\n| --- | --- |")
        for task, rate in program_rates(args.programs):
            print(f"| {task} (n={args.programs}) | {rate:.4f} |")
    photos = {name: sample_photo(name) for name in SAMPLE_PHOTOS}
    s = scores(det, list(photos.values()))
    print(f"\n| scikit-image sample | size | score | flagged |{' Loc warns | Vqa warns |' * args.runs}")
    print("| --- | --- | --- | --- |" + " --- | --- |" * args.runs)
    flagged = warned = 0
    for (name, image), v in sorted(zip(photos.items(), s), key=lambda t: t[1]):
        reason = plain_reason(image)
        flag = "yes" if v > det.domain.threshold else f"yes: {reason}" if reason else "**no**"
        flagged += flag != "**no**"
        cells = [name, f"{image.width}x{image.height}", f"{v:.2f}", flag]
        if args.runs:
            loc, vqa = run_warnings(name, image)
            warned += loc and vqa
            cells += ["yes" if loc else "**no**", "yes" if vqa else "**no**"]
        print("| " + " | ".join(cells) + " |")
    print(f"\nflagged {flagged}/{len(photos)}" + (f"; both programs warned on {warned}/{len(photos)}" if args.runs else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
