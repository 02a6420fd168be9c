"""Dataset evaluation throughput: the batched engine against one-at-a-time execution.

    .venv/bin/python benchmarks/eval_throughput.py --n 300 [--batch-size 64] [--threads 1]

On n generated NLVR pairs (an evaluation seed), in one process with the models warm,
three ways to answer every item with the in-repo planner and models:

1. VisProg-style serial: plan one item (no program cache), then run its steps one at a
   time, each with a fresh image cache (no feature sharing between steps);
2. a warm loop of `visprog.run` over the items;
3. `visprog.evaluate` on the dataset folder (batched planning and the batched engine; the
   next batch is planned in a second thread while one runs).

`--threads` sets torch's threads for all three; 1 leaves the second core to evaluate's
planning thread alone, 2 lets every way use both cores.

Prints items/s of each, the ratios (goals: evaluate >= 10x serial, >= 5x the loop) and
whether the three gave the same answers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def serial(items, planner) -> list:
    """One item, one step at a time, nothing cached."""
    from visprog.interpreter import Execution, run_calls
    from visprog.registry import ImageCache
    answers = []
    for item in items:
        program = planner.plan(item["instruction"], task=item["task"], inputs=tuple(item["images"]))
        run = Execution(program, item["images"])
        while (call := run.pending()) is not None:
            run.complete(call, run_calls([call], ImageCache())[0])
        answers.append(run.result().value)
    return answers


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=9101)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    import visprog
    from visprog.api import as_planner
    from visprog.iconworld import dataset

    folder = Path(tempfile.mkdtemp(prefix="visprog-eval-")) / "nlvr"
    dataset.make("nlvr", args.n, args.seed, folder, progress=False)
    items = dataset.load(folder)
    warmup = items[:4]
    visprog.evaluate(folder, None, batch_size=4, progress=False)  # load every model once
    for item in warmup:
        visprog.run(item["instruction"], item["images"], task=item["task"])

    rows = []
    start = time.perf_counter()
    by_serial = serial(items, as_planner(cache=False))
    rows.append(("VisProg-style serial (one item, one step, no cache)", time.perf_counter() - start))
    start = time.perf_counter()
    planner = as_planner()
    by_run = [visprog.run(item["instruction"], item["images"], task=item["task"], planner=planner).value
              for item in items]
    rows.append(("warm loop of visprog.run", time.perf_counter() - start))
    out = folder.parent / "results.jsonl"
    start = time.perf_counter()
    summary = visprog.evaluate(folder, out, batch_size=args.batch_size, progress=False)
    rows.append((f"visprog.evaluate (batch {args.batch_size})", time.perf_counter() - start))
    import json
    by_eval = [json.loads(line)["answer"] for line in out.read_text().splitlines()]

    rate = {name: args.n / seconds for name, seconds in rows}
    print(f"| way ({args.n} NLVR pairs, {args.threads} thread(s)) | seconds | items/s | "
          f"evaluate's speed-up | goal |")
    print("| --- | --- | --- | --- | --- |")
    eval_rate = rate[rows[2][0]]
    goals = ["evaluate >= 10x", "evaluate >= 5x", "-"]
    for (name, seconds), goal in zip(rows, goals):
        print(f"| {name} | {seconds:.1f} | {rate[name]:.1f} | {eval_rate / rate[name]:.1f}x | {goal} |")
    same = sum(a == b == c for a, b, c in zip(by_serial, by_run, by_eval))
    print(f"\nsame answer from all three: {same}/{args.n}; evaluate's accuracy "
          f"{summary.accuracy:.1%} ({summary.errors} errors)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
