"""The main job: instructions in, programs and answers out, with a rationale page for each.

    python examples/main_job.py --out out

Renders icon-world scenes, then for each instruction `visprog.run` plans a
program with the in-repo planner model (grammar-constrained, offline), checks
it and runs it. Each tool runs on the backend the default policy picks
(`visprog/resolver.py`): its builtin, else its in-repo model, else the
icon-world oracle; the script prints which ran each tool and why.
Writes the input images, each result image and each rationale page to --out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def scene(names, seed):
    import numpy as np
    from visprog.iconworld import render, sample_placements
    rng = np.random.default_rng(seed)
    image, _ = render(sample_placements(rng, names), seed=seed)
    return image


JOBS = [
    ("nlvr", "The left and right image contain a total of six people and two boats.",
     {"LEFT": (["person"] * 4 + ["boat", "tree"], 1), "RIGHT": (["person"] * 2 + ["boat", "dog"], 2)}),
    ("gqa", "How many cats are in the picture?",
     {"IMAGE": (["cat", "cat", "cat", "dog", "dog", "tree"], 3)}),
    ("edit", "Replace the dog with a cat.",
     {"IMAGE": (["dog", "tree", "car"], 4)}),
    ("tag", "Tag the farm animals.",
     {"IMAGE": (["cow", "pig", "sheep", "dog", "car"], 5)}),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="out", help="folder for images and rationale pages")
    parser.add_argument("--planner", default="local", help="local | local:FILE | hf:DIR")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (on a shared 2-core machine 1 is fastest)")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    import visprog
    from visprog.api import as_planner, run
    from visprog.iconworld import save_png

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("backends: per tool, the builtin, else the in-repo model, else the icon-world oracle")
    planner = as_planner(args.planner)
    failures = 0
    for task, instruction, spec in JOBS:
        images = {name: scene(names, seed) for name, (names, seed) in spec.items()}
        for name, image in images.items():
            save_png(image, out / f"{task}_{name}.png")
        print(f"\n== {task}: {instruction}")
        start = time.perf_counter()
        try:
            result = run(instruction, images, planner=planner, task=task)
        except visprog.VisprogError as exc:
            failures += 1
            print(f"failed: {exc}")
            continue
        seconds = time.perf_counter() - start
        print(result.program)
        value = result.value
        if hasattr(value, "save"):
            path = out / f"{task}_result.png"
            value.save(path)
            value = f"<image {value.width}x{value.height}, saved to {path}>"
        print(f"answer: {value}   ({seconds:.2f}s)")
        for warning in result.warnings:
            print(f"  warning: {warning}")
        for module, backend, reason in sorted({(s.module, s.backend, s.backend_reason)
                                               for s in result.trace}):
            print(f"  {module}: {backend} ({reason})")
        page = out / f"{task}.html"
        page.write_text(result.html(title=f"{task}: {instruction}"), encoding="utf-8")
        print(f"rationale: {page}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
