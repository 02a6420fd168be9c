"""Evaluate on a small icon-world dataset and write a rationale index (failures first).

    python examples/dataset_eval.py [--task gqa] [--n 20] [--out DIR] [--program]

Makes a dataset folder with `visprog.iconworld.dataset.make`, runs every item
(`visprog.run` with the default planner when it can run here, else the item's
gold program; `--program` forces the gold programs) on the oracle backend,
checks each answer with `tasks.reproduces`, and writes one rationale page per
item plus `index.html` linking them all, failures first.
"""

import argparse
import tempfile
from pathlib import Path

import visprog
import visprog.iconworld.oracle  # noqa: F401  (registers the 'oracle' backend)
from visprog.iconworld import dataset
from visprog.iconworld.tasks import reproduces
from visprog.rationale import write_index


def planner_run(item):
    """`visprog.api.run` when the default planner can plan here (tried on `item`), else None."""
    try:
        from visprog.api import default_planner, run
        default_planner().plan(item["instruction"], task=item["task"], inputs=tuple(item["images"]))
    except (ImportError, OSError, visprog.ToolUnavailable) as exc:  # e.g. no planner weights here
        print(f"(the default planner cannot run here: {exc}; running the gold programs)")
        return None
    except visprog.PlannerError:
        pass  # it runs, it just failed on this item
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="gqa", choices=["gqa", "nlvr", "edit", "tag"])
    parser.add_argument("--n", type=int, default=20, help="number of items")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="folder for the dataset and the pages")
    parser.add_argument("--program", action="store_true", help="run the gold programs, no planner")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="visprog-example-"))
    folder = dataset.make(args.task, args.n, args.seed, out / "data", progress=False, overwrite=True)
    items = dataset.load(folder)
    run = None if args.program or not items else planner_run(items[0])

    results = []
    for item in items:
        extra = {"instruction": item["instruction"], "expected": item["answer"]}
        try:
            if run is not None:
                try:
                    result = run(item["instruction"], item["images"], task=item["task"], backend="oracle")
                except visprog.PlannerError as exc:  # the planner wrote nothing runnable
                    results.append((item["id"], False, f"planner: {exc}", extra))
                    continue
            else:
                result = visprog.execute(item["program"], item["images"], backend="oracle")
        except visprog.VisprogError as exc:
            results.append((item["id"], False, str(exc), extra))
            continue
        ok, why = reproduces(item, result)
        extra["check"] = why
        results.append((item["id"], ok, result, extra))

    passed = sum(r[1] for r in results)
    print(f"{args.task}: {passed}/{len(results)} correct "
          f"({'default planner' if run else 'gold programs'}, oracle backend)")
    index = write_index(results, out / "pages", title=f"icon-world {args.task}, {len(results)} items")
    print(f"index: {index}")


if __name__ == "__main__":
    main()
