"""`visprog eval DATASET`: evaluate a dataset folder, one results line per item.

    visprog eval data/nlvr --out results.jsonl            # plan with the in-repo planner
    visprog eval data/nlvr --out gold.jsonl --programs gold

Rerunning with the same --out resumes: items already there are skipped. The exit status
is 0 when the run completed, whatever its items did (their errors and warnings are on their
lines; stderr says how many items warned).
"""

from __future__ import annotations

import sys


def cmd_eval(args) -> int:
    from ..cli import backend_choice
    from .evaluate import evaluate
    summary = evaluate(args.dataset, args.out, batch_size=args.batch_size, engine=args.engine,
                       planner=args.planner, backend=backend_choice(args.backend),
                       programs=args.programs, progress=not args.quiet, workers=args.workers)
    print(summary)
    if summary.warned:
        print(f"warning: {summary.warned} of {summary.total} items warned (each results line lists "
              f"its own{'' if args.out else '; keep them with --out'})", file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    from ..cli import backend_options, debug_option, positive_int
    from .evaluate import ENGINES
    p = sub.add_parser("eval", help="evaluate a dataset folder (visprog data make): plan, run, score",
                       parents=[backend_options(), debug_option()])
    p.add_argument("dataset", help="a folder with data.jsonl and images/")
    p.add_argument("--out", metavar="FILE.jsonl",
                   help="results, one JSON line per item; rerunning resumes (default: none kept)")
    p.add_argument("--batch-size", type=positive_int, default=64, metavar="N")
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="ray: spread batches over Ray workers (RAY_ADDRESS joins a cluster)")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="Ray workers (default: one per CPU)")
    p.add_argument("--planner", metavar="local|local:FILE|hf:DIR",
                   help="who writes the programs (default: the in-repo planner model)")
    p.add_argument("--programs", choices=["gold"], help="run the items' gold programs instead")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)
