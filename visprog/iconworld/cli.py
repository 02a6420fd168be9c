"""`visprog data ...`: make, show and check icon-world datasets.

    visprog data make nlvr --n 500 --seed 0 --out data/nlvr [--style unseen]
    visprog data show data/nlvr --out sheet.png
    visprog data check data/nlvr
"""

from __future__ import annotations

from .styles import STYLES
from .tasks import TASKS


def cmd_make(args) -> int:
    from .dataset import make
    root = make(args.task, args.n, args.seed, args.out, progress=not args.quiet,
                workers=args.workers, overwrite=args.overwrite, style=args.style)
    print(f"wrote {args.n} {args.task} items ({args.style} style) to {root}")
    return 0


def cmd_show(args) -> int:
    from pathlib import Path
    from .dataset import contact_sheet
    out = args.out or str(Path(args.dir) / "contact_sheet.png")
    contact_sheet(args.dir, out, n=args.n)
    print(f"wrote {out}")
    return 0


def cmd_check(args) -> int:
    from .dataset import check
    report = check(args.dir, progress=not args.quiet, limit=args.limit)
    print(report.summary())
    return 0 if report.ok else 1


def add_commands(subparsers) -> None:
    """Add `data make|show|check` to the `visprog` command line."""
    from ..cli import whole_number
    _count = whole_number(0)
    data = subparsers.add_parser("data", help="make, show and check icon-world datasets",
                                 description="Icon-world datasets: generate items with gold "
                                             "programs, draw contact sheets, and check that every "
                                             "gold program reproduces its answer with the oracle.")
    sub = data.add_subparsers(dest="data_command", required=True, metavar="{make,show,check}")

    p = sub.add_parser("make", help="generate a dataset folder (data.jsonl, images/, README.md)")
    p.add_argument("task", choices=TASKS)
    p.add_argument("--n", type=_count, default=100, help="number of items (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--workers", type=_count, default=1, help="generator processes (default 1)")
    p.add_argument("--style", choices=STYLES, default="classic",
                   help="how scenes are drawn (default classic; 'unseen' is kept out of training)")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset already in DIR")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_make)

    p = sub.add_parser("show", help="draw a contact sheet of the first items")
    p.add_argument("dir")
    p.add_argument("--out", metavar="PNG", help="where to write it (default DIR/contact_sheet.png)")
    p.add_argument("--n", type=_count, default=16, help="items to show (default 16)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("check", help="run every gold program with the oracle and compare answers")
    p.add_argument("dir")
    p.add_argument("--limit", type=_count, default=None, help="check only the first N items")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_check)
