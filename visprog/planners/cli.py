"""Command-line commands for planning: `visprog run` and `visprog train planner`.

    visprog run "The left and right image contain a total of six people." LEFT=a.png RIGHT=b.png
    visprog run "Tag the farm animals" IMAGE=farm.png --html out.html --planner hf:models/my-llm
    visprog train planner --seed 0

`add_commands(sub)` adds `run`; `add_train_commands(models)` adds `train planner`.
"""

from __future__ import annotations

import sys


def cmd_run(args) -> int:
    from ..api import as_planner, run
    from ..cli import backend_choice, parse_images, print_result
    planner = as_planner(args.planner, repair_runtime_errors=args.repair)  # checks the spec only
    result = run(args.instruction, parse_images(args.images), planner=planner, task=args.task,
                 backend=backend_choice(args.backend))
    if args.show_program or not args.json:
        print(f"# program\n{result.program}\n# result", file=sys.stderr if args.json else sys.stdout)
    print_result(result, args)
    return 0


def add_commands(sub) -> None:
    from ..cli import run_options
    p = sub.add_parser("run", help="plan a program for an instruction and run it on named images",
                       parents=run_options())
    p.add_argument("instruction")
    p.add_argument("images", nargs="*", metavar="NAME=path")
    p.add_argument("--planner", default="local", metavar="local|local:FILE|hf:DIR",
                   help="who writes the program (default: the in-repo planner model)")
    p.add_argument("--task", choices=["nlvr", "gqa", "edit", "tag"],
                   help="the kind of instruction (detected when not given)")
    p.add_argument("--repair", action="store_true", help="feed a runtime error back to the planner once")
    p.add_argument("--show-program", action="store_true", help="print the program even with --json "
                   "(to stderr)")
    p.set_defaults(func=cmd_run)


def add_train_commands(models) -> None:
    """`visprog train planner` (its flags: visprog/models/planner_train.py)."""
    from ..models.flags import add_train_command
    add_train_command(models, "planner", "planner_train",
                      "train the in-repo planner on the icon world's programs")
