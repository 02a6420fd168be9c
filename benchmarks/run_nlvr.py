"""End to end on NLVR: `visprog.run` with the in-repo planner and the in-repo models.

    python benchmarks/run_nlvr.py --n 200 --seed 9101 [--out results.json]

Generates n icon-world NLVR pairs (statement, LEFT and RIGHT images, true/false
answer; an evaluation seed the planner never trained on), runs each statement
through `visprog.run` (plan with the in-repo planner model, check, execute) and
reports accuracy, valid-program rate and seconds per item. Tools run on the
backends the default policy picks (the in-repo models where their weights are
present, else the oracle); the report lists which ran and why.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=9101)
    parser.add_argument("--out", default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    import visprog
    from visprog.api import as_planner, run
    from visprog.iconworld import tasks

    planner = as_planner()
    items = list(tasks.generate("nlvr", args.n, seed=args.seed))
    correct = errors = 0
    seconds = []
    plan_seconds = []
    failures = []
    used: dict[str, set] = {}
    for item in items:
        start = time.perf_counter()
        try:
            t0 = time.perf_counter()
            planner.plan(item["instruction"], task="nlvr", inputs=tuple(item["images"]))
            plan_seconds.append(time.perf_counter() - t0)  # cached for the run below
            result = run(item["instruction"], item["images"], planner=planner, task="nlvr")
            ok, why = tasks.reproduces(item, result)
            for step in result.trace:
                used.setdefault(step.module, set()).add(f"{step.backend} ({step.backend_reason})")
        except visprog.VisprogError as exc:
            ok, why = False, f"{type(exc).__name__}: {exc}"
            errors += 1
        seconds.append(time.perf_counter() - start)
        correct += ok
        if not ok and len(failures) < 20:
            failures.append({"instruction": item["instruction"], "why": why})
    n = len(items)
    report = {"n": n, "seed": args.seed, "accuracy_pct": 100 * correct / n,
              "errors": errors, "seconds_per_item": sum(seconds) / n,
              "planning_seconds_per_item": sum(plan_seconds) / max(len(plan_seconds), 1),
              "backends": {k: sorted(v) for k, v in sorted(used.items())},
              "failures": failures}
    print(f"NLVR end to end: accuracy {report['accuracy_pct']:.1f}% on {n} pairs, "
          f"{errors} errors, {report['seconds_per_item']:.3f}s per item "
          f"(planning {report['planning_seconds_per_item']:.3f}s)")
    print("backends used: " + ", ".join(f"{k}={' / '.join(v)}" for k, v in report["backends"].items()))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
