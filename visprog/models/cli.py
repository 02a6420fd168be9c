"""`visprog train clip`, `detector`, `domain`, `segmenter` and `inpainter` (added to
`visprog train` by visprog/cli.py).

    visprog train clip --seed 0 --steps 4386 --minutes 200   -> weights_path("clip")
    visprog train detector --seed 0 --clip none              -> weights_path("detector")
    visprog train domain --seed 0                            -> into weights_path("detector")
    visprog train segmenter --seed 0 --threads 1             -> weights_path("segmenter")
    visprog train inpainter --seed 0 --threads 1             -> weights_path("inpainter")

The flags are generated from the model's config dataclass (`flags.add_config_flags`) by
`clip_train.main` / `detector_train.main` / `segmenter_train.main` / `inpainter_train.main`,
which `python -m visprog.models.clip_train` (and the others) runs too. The exact commands that made the shipped weights are in visprog/weights/*.md.
"""

from __future__ import annotations

from .flags import add_train_command


def add_train_commands(models) -> None:
    """`visprog train clip`, `detector`, `domain`, `segmenter` and `inpainter`."""
    add_train_command(models, "clip", "clip_train", "train the CLIP-style model (visprog/models/clip.py)")
    add_train_command(models, "detector", "detector_train",
                      "train the open-vocabulary detector (visprog/models/detector.py)")
    add_train_command(models, "domain", "domain",
                      "fit the in-repo models' domain check into the detector's weights (visprog/models/domain.py)")
    add_train_command(models, "segmenter", "segmenter_train",
                      "train the promptable segmenter (visprog/models/segmenter.py)")
    add_train_command(models, "inpainter", "inpainter_train",
                      "train the diffusion inpainter for Replace (visprog/models/inpainter.py)")
