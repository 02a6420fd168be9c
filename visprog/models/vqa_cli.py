"""`visprog train vqa` (visprog/cli.py's TRAIN_MODULES names this module); the command's
flags, data pool and loop live in `llava_train.py`."""

from __future__ import annotations

from .flags import add_train_command


def add_train_commands(models) -> None:
    """`visprog train vqa`."""
    add_train_command(models, "vqa", "llava_train", "train the LLaVA-style VQA and pointing model")
