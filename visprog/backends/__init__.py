"""Every backend of the model tools, as data: which tool, which name, what kind, where the code
is and what it needs. `attach(registry)` adds them to a registry; nothing here imports a
model, a model's module or the icon world: a backend's code is imported when a step first
runs it, and its `missing` check when the policy (`visprog.resolver`) first asks.

- `iconworld` (kind 'model'): the in-repo models trained on the icon world
  (`visprog/models/`, weights in `visprog/weights/`): `visprog.backends.iconworld` (CLIP and
  the detector) and `visprog.backends.vqa` (the LLaVA-style model).
- `pretrained`: real weights from local files named by an environment variable
  (`visprog.backends.pretrained`: open_clip and OWL-ViT; `visprog.backends.vqa`: LLaVA
  and Molmo2), on CUDA when present.
- `oracle`: exact answers from the scene annotations icon-world images carry
  (`visprog.iconworld.oracle`).
"""

from __future__ import annotations

from typing import Callable, Optional

from ..registry import Backend, Registry

# (tool, name, kind, code, missing, description)
BACKENDS = [
    ("Loc", "iconworld", "model", "visprog.backends.iconworld:loc", ("clip", "detector"),
     "in-repo open-vocabulary detector, proposals named by the in-repo CLIP"),
    ("FaceDet", "iconworld", "model", "visprog.backends.iconworld:facedet", ("clip", "detector"),
     "in-repo detector, query 'person' (glyphs are heads)"),
    ("Classify", "iconworld", "model", "visprog.backends.iconworld:classify", ("clip",),
     "in-repo CLIP on each object's crop"),
    ("Select", "iconworld", "model", "visprog.backends.iconworld:select", ("clip",),
     "in-repo CLIP on each object's crop (+ pixel colour)"),
    ("List", "iconworld", "model", "visprog.backends.iconworld:list_", (),
     "offline knowledge lists matched by MiniLM similarity"),
    ("Vqa", "iconworld", "model", "visprog.backends.vqa:vqa", ("llava",),
     "the in-repo LLaVA-style model; counts, relations, colours and sizes from the detector's boxes"),
    ("Point", "iconworld", "model", "visprog.backends.vqa:point", ("llava",),
     "the centres of the in-repo detector's boxes, else the LLaVA-style model's Molmo-style pointing"),
    ("Seg", "iconworld", "model", "visprog.backends.segment:seg", ("segmenter", "detector", "clip"),
     "in-repo promptable segmenter (SAM's design) on the detector's proposals, named by the in-repo CLIP"),
    ("Loc", "pretrained", "pretrained", "visprog.backends.pretrained:loc",
     "visprog.backends.pretrained:owlvit_missing", "real OWL-ViT weights (VISPROG_OWLVIT=dir)"),
    ("FaceDet", "pretrained", "pretrained", "visprog.backends.pretrained:facedet",
     "visprog.backends.pretrained:owlvit_missing", "real OWL-ViT weights, query 'face'"),
    ("Classify", "pretrained", "pretrained", "visprog.backends.pretrained:classify",
     "visprog.backends.pretrained:openclip_missing",
     "real open_clip weights on each crop (VISPROG_OPENCLIP=name:path)"),
    ("Select", "pretrained", "pretrained", "visprog.backends.pretrained:select",
     "visprog.backends.pretrained:openclip_missing",
     "real open_clip weights on each crop (VISPROG_OPENCLIP=name:path)"),
    ("Vqa", "pretrained", "pretrained", "visprog.backends.vqa:vqa_pretrained",
     "visprog.backends.vqa:llava_missing", "real LLaVA weights (VISPROG_LLAVA=dir)"),
    ("Point", "pretrained", "pretrained", "visprog.backends.vqa:point_pretrained",
     "visprog.backends.vqa:molmo_missing", "real Molmo2 weights (VISPROG_MOLMO=dir)"),
    ("Replace", "iconworld", "model", "visprog.backends.replace:replace", ("inpainter",),
     "in-repo diffusion inpainter (diffusers UNet, DDIM), prompted by MiniLM"),
    ("Replace", "pretrained", "pretrained", "visprog.backends.replace:replace_pretrained",
     "visprog.backends.replace:inpaint_missing",
     "a real Stable Diffusion inpainting pipeline (VISPROG_INPAINT=dir)"),
    ("Seg", "pretrained", "pretrained", "visprog.backends.segment:seg_pretrained",
     "visprog.backends.segment:sam_missing",
     "real Segment Anything weights (VISPROG_SAM=vit_b:/path/sam_vit_b.pth)"),
    *((tool, "oracle", "oracle", f"visprog.iconworld.oracle:batch_{tool.lower()}", (),
       "exact answers from icon-world scene annotations (icon-world images only)")
      for tool in ("Loc", "FaceDet", "Seg", "Select", "Classify", "Vqa", "Replace", "List", "Point")),
]


def weights_missing(names: tuple[str, ...]) -> Callable[[], Optional[str]]:
    """The check of a 'model' backend: the in-repo weights it loads are where they belong."""
    def missing() -> Optional[str]:
        from ..models.weights import missing as weights_missing_for
        return next(filter(None, (weights_missing_for(name) for name in names)), None)
    return missing


def advice(tool: str) -> str:
    """What serves `tool` on images outside the icon world: its pretrained backend, if any."""
    for t, name, kind, _, _, description in BACKENDS:
        if t == tool and kind == "pretrained":
            return f"the {name!r} backend: {description}"
    return f"a custom {tool} backend (visprog has no pretrained one)"


def attach(registry: Registry) -> None:
    """Add every backend above to the registry's tools of those names; the in-repo models'
    warn about images outside the icon world (`visprog.backends.domain`)."""
    from .domain import checked
    for tool, name, kind, code, needs, description in BACKENDS:
        missing = needs if isinstance(needs, str) else weights_missing(needs)
        run = checked(code, advice(tool)) if kind == "model" else code
        registry.lookup(tool).add_backend(Backend(name, run, description, missing, kind))
