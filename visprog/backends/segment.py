"""The backends of `Seg`: every object with a mask, or a mask for each given box or point.

- `iconworld`: the in-repo promptable segmenter (`visprog/models/segmenter.py`, SAM's
  design). Without prompts, the detector's class-agnostic proposals are its box prompts and
  the in-repo CLIP names each mask's crop; with prompts, each box or point becomes a mask.
- `pretrained`: Segment Anything from a local checkpoint,

      VISPROG_SAM=vit_b:/models/sam_vit_b_01ec64.pth     (vit_b, vit_l or vit_h)
      VISPROG_SAM=/models/my_sam.json:/models/my_sam.pth (a JSON of segment_anything's
          _build_sam arguments: encoder_embed_dim, encoder_depth, encoder_num_heads,
          encoder_global_attn_indexes)

  `SamPredictor` for prompts, `SamAutomaticMaskGenerator` for the whole image (labelled
  'object': SAM does not name what it segments; Select or Classify can). On CUDA when
  present; nothing is downloaded.
"""

from __future__ import annotations

import json
import os
from typing import Optional

import numpy as np

from ..values import Obj, Objects, Points

SAM_ENV = "VISPROG_SAM"
SAM_KINDS = ("vit_b", "vit_l", "vit_h")
POINTS_PER_SIDE = 32  # the automatic mask generator's prompt grid (SAM's default)


def _box_of(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def _prompted(objects, masks, scores) -> Objects:
    """Objects from one mask per prompt (the best candidate); empty masks are dropped. Boxes
    keep their label and score, points are labelled with the Points' label."""
    out = []
    for k, mask in enumerate(masks):
        if not mask.any():
            continue
        if isinstance(objects, Points):
            label, score = objects.label or "object", float(scores[k])
        else:
            label, score = objects[k].label or "object", objects[k].score
        out.append(Obj(_box_of(mask), label, score, mask))
    return Objects(out)


def _prompts(objects) -> dict:
    """The segmenter's keyword arguments for one image's prompts."""
    if isinstance(objects, Points):
        return {"points": np.asarray([[p] for p in objects], np.float32).reshape(-1, 1, 2)}
    return {"boxes": np.asarray([o.box for o in objects], np.float32).reshape(-1, 4)}


# ----------------------------------------------------------------------------- in-repo


def seg(calls: list[dict], ctx) -> list:
    """Seg on the in-repo segmenter, one batch for the whole-image calls, one for prompts."""
    from ..models import load
    from .iconworld import _names, candidates, crop_names
    segmenter, out = load("segmenter"), [None] * len(calls)
    whole = [i for i, c in enumerate(calls) if c.get("object") is None]
    if whole:
        clip = load("clip")
        images = [calls[i]["image"] for i in whole]
        names = _names(clip)[0]
        # the detector's proposals, cached per image: a Loc on the same image reuses them
        found_all = segmenter.panoptic(images, candidates=candidates(images, ctx))
        named = crop_names(clip, images, [found["boxes"] for found in found_all])
        for i, found, (idx, _) in zip(whole, found_all, named):
            out[i] = Objects(Obj(tuple(float(v) for v in box), names[int(n)], float(score), mask)
                             for box, n, score, mask in zip(found["boxes"], idx.tolist(),
                                                            found["scores"], found["masks"]))
    prompted = [i for i, c in enumerate(calls) if c.get("object") is not None and len(c["object"])]
    if prompted:
        images = [calls[i]["image"] for i in prompted]
        asks = [_prompts(calls[i]["object"]) for i in prompted]
        results = segmenter.segment(images, boxes=[a.get("boxes") for a in asks],
                                    points=[a.get("points") for a in asks])
        for i, (masks, ious) in zip(prompted, results):
            out[i] = _prompted(calls[i]["object"], masks[:, 0], ious[:, 0])
    return [Objects() if o is None else o for o in out]  # None: no box or point given


# ----------------------------------------------------------------------------- Segment Anything


def sam_spec() -> Optional[tuple[str, str]]:
    value = os.environ.get(SAM_ENV, "").strip()
    if ":" not in value:
        return None
    kind, path = value.split(":", 1)
    return kind.strip(), path.strip()


def sam_missing() -> Optional[str]:
    spec = sam_spec()
    if spec is None:
        return (f"set {SAM_ENV}=<vit_b|vit_l|vit_h or a config .json>:<checkpoint .pth> "
                f"(e.g. {SAM_ENV}=vit_b:/models/sam_vit_b_01ec64.pth)")
    kind, path = spec
    if kind not in SAM_KINDS and not kind.endswith(".json"):
        return f"{SAM_ENV}: unknown model kind {kind!r}; use one of {', '.join(SAM_KINDS)} or a .json"
    for file in (path, kind) if kind.endswith(".json") else (path,):
        if not os.path.isfile(file):
            return f"{SAM_ENV} names {file!r}, which does not exist"
    try:
        import segment_anything  # noqa: F401
    except ImportError:
        return "the segment-anything package is not installed (pip install 'visprog[pretrained]')"
    return None


class SAM:
    """Segment Anything from a local checkpoint: a predictor and an automatic mask generator."""

    def __init__(self, kind: str, path: str):
        import torch
        from segment_anything import SamAutomaticMaskGenerator, SamPredictor, sam_model_registry
        from segment_anything.build_sam import _build_sam
        from .device import best_device
        if kind.endswith(".json"):
            with open(kind, encoding="utf-8") as f:
                model = _build_sam(**json.load(f))
        else:
            model = sam_model_registry[kind]()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        model.to(best_device()).eval()
        self.predictor = SamPredictor(model)
        self.generator = SamAutomaticMaskGenerator(model, points_per_side=POINTS_PER_SIDE)

    def whole(self, image) -> Objects:
        found = sorted(self.generator.generate(np.asarray(image.convert("RGB"))),
                       key=lambda m: -m["predicted_iou"])
        return Objects(Obj(_box_of(m["segmentation"]), "object", float(m["predicted_iou"]),
                           m["segmentation"]) for m in found if m["segmentation"].any())

    def prompted(self, image, objects) -> Objects:
        self.predictor.set_image(np.asarray(image.convert("RGB")))
        asks = _prompts(objects)
        candidates = ([self.predictor.predict(point_coords=p, point_labels=np.ones(len(p)),
                                              multimask_output=True) for p in asks["points"]]
                      if "points" in asks else
                      [self.predictor.predict(box=b, multimask_output=True) for b in asks["boxes"]])
        best = [int(np.argmax(scores)) for _, scores, _ in candidates]
        return _prompted(objects, [m[k] for (m, _, _), k in zip(candidates, best)],
                         [float(s[k]) for (_, s, _), k in zip(candidates, best)])


def _sam() -> SAM:
    from ..models.cache import shared
    kind, path = sam_spec()
    return shared(("sam", kind, path), lambda: SAM(kind, path))


def seg_pretrained(calls: list[dict], ctx) -> list:
    """Seg on Segment Anything (VISPROG_SAM)."""
    sam = _sam()
    return [sam.whole(c["image"]) if c.get("object") is None else
            sam.prompted(c["image"], c["object"]) if len(c["object"]) else Objects() for c in calls]
