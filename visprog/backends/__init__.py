"""Tool backends that need models. Importing a module attaches its backends to the tools:

- `visprog.backends.iconworld`: the in-repo CLIP and detector (defaults for Loc, FaceDet,
  Classify, Select, List), trained on the icon world (`visprog/models/`).
- `visprog.backends.pretrained`: real open_clip / OWL-ViT weights from local folders
  (`VISPROG_OPENCLIP=name:path`, `VISPROG_OWLVIT=dir`), on CUDA when present.

Both modules are cheap to import: torch and the models load on first use.
"""

from . import iconworld, pretrained  # noqa: F401  (importing registers the backends)
