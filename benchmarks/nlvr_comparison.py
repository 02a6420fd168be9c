"""Programs against end to end on NLVR: accuracy per statement type, three ways.

    .venv/bin/python benchmarks/nlvr_comparison.py --n 300 [--threads 1] [--style unseen]

On n generated NLVR pairs (an evaluation seed; scenes drawn in a render style,
visprog/iconworld/styles.py), each statement is answered:

1. by visprog with the in-repo planner and the in-repo models (`visprog.evaluate`);
2. by the same programs on the oracle backend (exact answers from the scene annotations:
   the upper bound of the programs);
3. end to end, with no program: the LLaVA-style model shown the two images side by side
   and asked whether the statement is true (`models.llava.answer_statements`), the
   baseline VisProg argued against.

Prints one table, accuracy per statement type (the items' `form`) and overall.
"""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path


def made(task: str, n: int, seed: int, style="classic") -> Path:
    """A new dataset folder (in a temporary directory, removed at exit) of n `task` items in `style`."""
    from visprog.iconworld import dataset
    folder = Path(tempfile.mkdtemp(prefix=f"visprog-{task}-")) / task
    atexit.register(shutil.rmtree, folder.parent, True)  # removed when the benchmark ends
    dataset.make(task, n, seed, folder, progress=False, style=style)
    return folder


def evaluated(folder: Path, backend=None):
    """`visprog.evaluate` on a dataset folder with the in-repo planner and `backend` (None:
    the default policy): its summary, and whether each item (by id) came out right."""
    import visprog
    out = folder.parent / f"{backend or 'models'}.jsonl"
    summary = visprog.evaluate(folder, out, backend=backend, progress=False)
    return summary, {line["id"]: bool(line["correct"]) for line in map(json.loads, out.read_text().splitlines())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=9101)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--style", default="classic", help="render style (default classic)")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from visprog.iconworld import dataset
    from visprog.images import load_image
    from visprog.models import llava, load

    folder = made("nlvr", args.n, args.seed, args.style)
    items = dataset.load(folder)
    ways = {name: evaluated(folder, backend)[1]
            for name, backend in (("visprog, in-repo models", None), ("visprog, oracle backend", "oracle"))}
    model = load("llava")
    said = []
    for k in range(0, len(items), 32):
        chunk = items[k:k + 32]
        said += llava.answer_statements([load_image(i["images"]["LEFT"]) for i in chunk],
                                        [load_image(i["images"]["RIGHT"]) for i in chunk],
                                        [i["instruction"] for i in chunk], model)
    ways["end to end (LLaVA, no program)"] = {i["id"]: s is i["answer"] for i, s in zip(items, said)}

    forms = defaultdict(list)
    for item in items:
        forms[item["form"]].append(item["id"])
    names = list(ways)
    print(f"| statement type (n) | {' | '.join(names)} |")
    print("| --- |" + " --- |" * len(names))
    for form, ids in sorted(forms.items()) + [("all", [i["id"] for i in items])]:
        cells = [f"{sum(ways[w][i] for i in ids) / len(ids):.1%}" for w in names]
        label = f"**{form}** ({len(ids)})" if form == "all" else f"{form} ({len(ids)})"
        print(f"| {label} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
