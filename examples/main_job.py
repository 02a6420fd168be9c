"""The main job: instructions in, programs and answers out, with a rationale page for each.

    python examples/main_job.py --out out

Renders icon-world scenes, then for each instruction `visprog.run` plans a
program with the in-repo planner model (grammar-constrained, offline), checks
it and runs it. Tools run on their in-repo model backends where those are
registered and their weights are present (`Tool.default_backend`); any tool
without one falls back to the icon-world oracle, and the script says so.
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
    from visprog.api import model_backends, run
    from visprog.iconworld import save_png
    from visprog.planners.cli import planner_from_spec

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("backends: in-repo models where registered and trained, else the oracle")
    backends = model_backends(log=print)
    models = sorted(f"{t}={b}" for t, b in backends.items() if b not in ("builtin", "oracle"))
    print(f"  model backends in use: {', '.join(models) or 'none'}")
    planner = planner_from_spec(args.planner)
    failures = 0
    for task, instruction, spec in JOBS:
        images = {name: scene(names, seed) for name, (names, seed) in spec.items()}
        for name, image in images.items():
            save_png(image, out / f"{task}_{name}.png")
        print(f"\n== {task}: {instruction}")
        start = time.perf_counter()
        try:
            result = run(instruction, images, planner=planner, task=task, backend=backends)
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
        print(f"answer: {value}   ({seconds:.2f}s; backends: "
              + ", ".join(sorted({f'{s.module}={s.backend}' for s in result.trace})) + ")")
        page = out / f"{task}.html"
        page.write_text(result.html(title=f"{task}: {instruction}"), encoding="utf-8")
        print(f"rationale: {page}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
