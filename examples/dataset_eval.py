"""Evaluate on a small icon-world dataset and write a rationale index (failures first).

    python examples/dataset_eval.py [--task gqa] [--n 20] [--out DIR] [--program]

Makes a dataset folder with `visprog.iconworld.dataset.make`, runs every item
(`visprog.run` with the in-repo planner; `--program` runs the items' gold
programs instead) on the oracle backend, so that every wrong answer is the
planner's, checks each answer with `tasks.reproduces`, and writes one rationale
page per item plus `index.html` linking them all, failures first.
"""

import argparse
import tempfile
from pathlib import Path

import visprog
from visprog.iconworld import dataset
from visprog.iconworld.tasks import reproduces
from visprog.rationale import write_index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="gqa", choices=["gqa", "nlvr", "edit", "tag"])
    parser.add_argument("--n", type=int, default=20, help="number of items")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="folder for the dataset and the pages")
    parser.add_argument("--program", action="store_true", help="run the gold programs, no planner")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="visprog-eval-"))
    folder = dataset.make(args.task, args.n, args.seed, out / "data", progress=False, overwrite=True)

    results = []
    for item in dataset.load(folder):
        extra = {"instruction": item["instruction"], "expected": item["answer"]}
        try:
            if args.program:
                result = visprog.execute(item["program"], item["images"], backend="oracle")
            else:
                result = visprog.run(item["instruction"], item["images"], task=item["task"], backend="oracle")
        except visprog.VisprogError as exc:  # the planner wrote nothing runnable, or a step failed
            where = "planner" if isinstance(exc, visprog.PlannerError) else "run"
            results.append((item["id"], False, f"{where}: {exc}", extra))
            continue
        ok, why = reproduces(item, result)
        extra["check"] = why
        results.append((item["id"], ok, result, extra))

    passed = sum(ok for _, ok, *_ in results)
    print(f"{args.task}: {passed}/{len(results)} correct "
          f"({'gold programs' if args.program else 'in-repo planner'}, oracle backend)")
    index = write_index(results, out / "pages", title=f"icon-world {args.task}, {len(results)} items")
    print(f"index: {index}")


if __name__ == "__main__":
    main()
