"""`visprog train clip` and `visprog train detector` (added to `visprog train` by `visprog/cli.py`),
and the same flags for `python -m visprog.models.clip` / `.detector`: one parser for both.

    visprog train clip --seed 0 --steps 4386 --minutes 200   -> visprog/weights/clip.safetensors
    visprog train detector --seed 0 --clip none              -> visprog/weights/detector.safetensors

The exact commands that made the shipped weights are in visprog/weights/clip.md and
detector.md. A flag left out takes the default of the model's config dataclass
(`CLIPConfig`, `DetectorConfig`), so the defaults live in one place; this module
imports no torch, so `visprog --help` stays fast.

Training uses one torch thread by default: on a small, shared CPU more threads were
measured to be slower (they spin waiting for each other).
"""

from __future__ import annotations

import argparse


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="weights file (default: visprog/weights/<model>.safetensors)")
    p.add_argument("--minutes", type=float, help="wall-clock training budget")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--init", default=None, help="continue training from these weights")
    p.add_argument("--lr", type=float)
    p.add_argument("--steps", dest="max_steps", type=int, help="stop after this many steps")


def clip_arguments(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--image-size", type=int)
    p.add_argument("--pair-scenes", type=int, help="two-object scenes per step (relations, colour pairs, counts)")
    p.add_argument("--geometry-weight", type=float)
    p.add_argument("--hard-negative-weight", type=float)
    p.add_argument("--all-positives-weight", type=float,
                   help="weight of the loss that asks every true caption (e.g. 'a person' of a character) "
                        "to be near its image")


def detector_arguments(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--clip", default=None,
                   help="CLIP weights whose tower and text head to start from (default: the bundled ones); "
                        "'none': a fresh tower and a fixed projection of MiniLM (what the shipped detector used)")
    p.add_argument("--name-ce-weight", type=float)


def config_overrides(args: argparse.Namespace, config_cls) -> dict:
    """The flags given on the command line that name a field of `config_cls`."""
    import dataclasses
    fields = {f.name for f in dataclasses.fields(config_cls)}
    return {k: v for k, v in vars(args).items() if k in fields and v is not None}


def cmd_train_clip(args) -> int:
    from . import clip
    clip.run(args)
    return 0


def cmd_train_detector(args) -> int:
    from . import detector
    detector.run(args)
    return 0


def add_train_commands(models) -> None:
    """`visprog train clip` and `visprog train detector`."""
    c = models.add_parser("clip", help="the CLIP-style model (visprog/models/clip.py)",
                          description="Train the icon-world CLIP. A flag left out takes CLIPConfig's "
                                      "default (visprog/models/clip.py).")
    clip_arguments(c)
    c.set_defaults(func=cmd_train_clip)
    d = models.add_parser("detector", help="the open-vocabulary detector (visprog/models/detector.py)",
                          description="Train the icon-world detector. A flag left out takes "
                                      "DetectorConfig's default (visprog/models/detector.py).")
    detector_arguments(d)
    d.set_defaults(func=cmd_train_detector)
