"""`visprog train clip` and `visprog train detector` (added to `visprog train` by `visprog/cli.py`).

    visprog train clip --seed 0 --minutes 25                 -> visprog/weights/clip.safetensors
    visprog train detector --seed 0 --clip none --minutes 40 -> visprog/weights/detector.safetensors

The exact commands that made the shipped weights are in visprog/weights/clip.md and
detector.md.

Training uses one torch thread by default: on a small, shared CPU more threads were
measured to be slower (they spin waiting for each other).
"""

from __future__ import annotations


def _common(p, minutes: float) -> None:
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="weights file (default: visprog/weights/<model>.safetensors)")
    p.add_argument("--minutes", type=float, default=minutes, help="wall-clock training budget")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--init", default=None, help="continue training from these weights")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--steps", type=int, default=100000, help="stop after this many steps")


def cmd_train_clip(args) -> int:
    from . import clip
    argv = ["--seed", str(args.seed), "--minutes", str(args.minutes), "--threads", str(args.threads),
            "--image-size", str(args.image_size), "--lr", str(args.lr), "--steps", str(args.steps),
            "--pair-scenes", str(args.pair_scenes), "--geometry-weight", str(args.geometry_weight),
            "--hard-negative-weight", str(args.hard_negative_weight), "--anchor-weight", str(args.anchor_weight)]
    argv += ["--out", args.out] if args.out else []
    argv += ["--init", args.init] if args.init else []
    clip.main(argv)
    return 0


def cmd_train_detector(args) -> int:
    from . import detector
    argv = ["--seed", str(args.seed), "--minutes", str(args.minutes), "--threads", str(args.threads),
            "--lr", str(args.lr), "--steps", str(args.steps), "--name-ce-weight", str(args.name_ce_weight)]
    argv += ["--out", args.out] if args.out else []
    argv += ["--init", args.init] if args.init else []
    argv += ["--clip", args.clip] if args.clip else []
    detector.main(argv)
    return 0


def add_train_commands(models) -> None:
    """`visprog train clip` and `visprog train detector`."""
    c = models.add_parser("clip", help="the CLIP-style model (visprog/models/clip.py)")
    _common(c, 25.0)
    c.add_argument("--image-size", type=int, default=64)
    c.add_argument("--pair-scenes", type=int, default=40)
    c.add_argument("--geometry-weight", type=float, default=1.0)
    c.add_argument("--hard-negative-weight", type=float, default=1.0)
    c.add_argument("--anchor-weight", type=float, default=0.0,
                   help="with --init: keep its embeddings of catalogue names and supercategories, and of crops")
    c.set_defaults(func=cmd_train_clip)
    d = models.add_parser("detector", help="the open-vocabulary detector (visprog/models/detector.py)")
    _common(d, 40.0)
    d.add_argument("--clip", default=None,
                   help="CLIP weights whose tower and text head to start from; 'none' for a fresh tower "
                        "and a fixed projection of MiniLM (what the shipped detector used)")
    d.add_argument("--name-ce-weight", type=float, default=1.0)
    d.set_defaults(func=cmd_train_detector)
