"""The in-repo backends' domain check: a call whose image is unlike the icon world the
in-repo models were trained on gets a warning that names the pretrained backend for it.

`attach` (visprog/backends/__init__.py) wraps every in-repo model backend in `checked`, so
no backend does this itself. The score is the detector's domain check
(visprog/models/domain.py) on the image tower that Loc and Vqa share, cached per image.
"""

from __future__ import annotations

from typing import Callable, Union

from ..registry import image_cache, imported

SCORE_KEY = "iconworld.domain.score"


def checked(run: Union[Callable, str], advice: str) -> Callable:
    """The batch function `run` (or its "module:function"), warning first on every call whose
    image is outside the icon world; `advice` says what serves such images instead."""
    def batch(calls: list[dict], ctx) -> list:
        warn_outside(calls, ctx, advice)
        return imported(run)(calls, ctx)
    return batch


def warn_outside(calls: list[dict], ctx, advice: str) -> None:
    """Warn on each call whose image is plainly unlike any training scene or scores above the
    domain check's threshold (both cached per image); nothing when the detector's weights
    are missing or carry no check. A crop is judged by the image it was cut from: a crop of
    one object is no scene, but it is as far inside the icon world as its scene."""
    from PIL import Image
    from ..values import source_of
    rows = [(i, call["image"]) for i, call in enumerate(calls) if isinstance(call.get("image"), Image.Image)]
    if not rows:
        return
    import torch
    from ..models.domain import features, plain_reason
    from .iconworld import _detector, detector_ready, tower_maps
    if not detector_ready() or _detector().domain is None:
        return
    det = _detector()
    found = image_cache(ctx).get_batch([source_of(image) for _, image in rows], SCORE_KEY, lambda ims: list(zip(
        det.domain.scores(features(det, ims, torch.stack(tower_maps(ims, ctx)))).tolist(),
        map(plain_reason, ims))))
    threshold = det.domain.threshold
    for (i, image), (score, plain) in zip(rows, found):
        reason = plain or (score > threshold and f"domain score {score:.1f} > {threshold:.1f}")
        if reason:
            which = "the image" if source_of(image) is image else "the image it was cut from"
            ctx.warn(i, f"{which} is unlike the icon world the in-repo models were trained on "
                        f"({reason}), so this answer may be a guess; for such images use {advice}")
