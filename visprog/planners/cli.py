"""Command-line commands for planning: `visprog run` and `visprog train planner`.

    visprog run "The left and right image contain a total of six people." LEFT=a.png RIGHT=b.png
    visprog run "Tag the farm animals" IMAGE=farm.png --html out.html --planner hf:models/my-llm
    visprog train planner --seed 0

`add_commands(sub)` adds `run`; `add_train_commands(models)` adds `train planner`.
"""

from __future__ import annotations

import sys


def planner_from_spec(spec: str, **kwargs):
    """'local' (the in-repo model), 'local:FILE.safetensors', or 'hf:DIR' (a causal LM folder)."""
    from ..errors import VisprogError
    kind, _, arg = spec.partition(":")
    if kind == "local":
        from .local import local_planner
        return local_planner(**({"weights": arg} if arg else {}), **kwargs)
    if kind == "hf" and arg:
        from .hf import hf_planner
        return hf_planner(arg, **kwargs)
    raise VisprogError(f"unknown planner {spec!r}: use 'local', 'local:FILE' or 'hf:DIR'")


def cmd_run(args) -> int:
    from ..api import model_backends, run
    from ..cli import parse_backend, parse_images, print_result
    fallback = model_backends(log=lambda line: print(line, file=sys.stderr) if not args.backend
                              else None)  # also registers the model and oracle backends
    backend = parse_backend(args.backend) if args.backend else fallback
    planner = planner_from_spec(args.planner, repair_runtime_errors=args.repair)
    result = run(args.instruction, parse_images(args.images), planner=planner, task=args.task,
                 backend=backend)
    if args.show_program or not args.json:
        print(f"# program\n{result.program}\n# result", file=sys.stderr if args.json else sys.stdout)
    print_result(result, args)
    return 0


def cmd_train_planner(args) -> int:
    from ..models import planner
    argv = ["--seed", str(args.seed), "--per-task", str(args.per_task), "--minutes", str(args.minutes)]
    if args.out:
        argv += ["--out", args.out]
    if args.corpus_cache:
        argv += ["--corpus-cache", args.corpus_cache]
    return planner.main(argv)


def add_commands(sub) -> None:
    p = sub.add_parser("run", help="plan a program for an instruction and run it on named images")
    p.add_argument("instruction")
    p.add_argument("images", nargs="*", metavar="NAME=path")
    p.add_argument("--json", action="store_true", help="print the value and trace as JSON")
    p.add_argument("--html", metavar="FILE", help="write the rationale page here")
    p.add_argument("--planner", default="local", metavar="local|local:FILE|hf:DIR",
                   help="who writes the program (default: the in-repo planner model)")
    p.add_argument("--task", choices=["nlvr", "gqa", "edit", "tag"],
                   help="the kind of instruction (detected when not given)")
    p.add_argument("--backend", action="append", default=[], metavar="NAME|TOOL=NAME",
                   help="default: each tool's in-repo model where trained, else the oracle")
    p.add_argument("--repair", action="store_true", help="feed a runtime error back to the planner once")
    p.add_argument("--show-program", action="store_true", help="print the program even with --json "
                   "(to stderr)")
    p.set_defaults(func=cmd_run)


def add_train_commands(models) -> None:
    """`visprog train planner`."""
    p = models.add_parser("planner", help="train the in-repo planner on the icon world's programs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-task", type=int, default=4000)
    p.add_argument("--corpus-cache", default=None, help="JSON-lines file keeping the pairs (and "
                   "FILE.sources.pt the MiniLM states) between runs")
    p.add_argument("--minutes", type=float, default=19.0)
    p.add_argument("--out", default=None, help="weights file (default: the packaged one)")
    p.set_defaults(func=cmd_train_planner)
