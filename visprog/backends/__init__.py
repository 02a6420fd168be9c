"""Tool backends that need models or annotations. Importing a module attaches its backends:

- `visprog.backends.iconworld`: the in-repo CLIP and detector (defaults for Loc, FaceDet,
  Classify, Select, List), trained on the icon world (`visprog/models/`).
- `visprog.backends.vqa`: the in-repo LLaVA-style model (defaults for Vqa and Point).
- `visprog.backends.pretrained`: real open_clip / OWL-ViT / LLaVA weights from local folders
  (`VISPROG_OPENCLIP=name:path`, `VISPROG_OWLVIT=dir`, `VISPROG_LLAVA=dir`), on CUDA when present.
- `visprog.iconworld.oracle`: answers from icon-world scene annotations (never a default;
  pick it with `backend="oracle"`).

All are cheap to import: torch and the models load on first use.
"""

from . import iconworld, pretrained, vqa  # noqa: F401  (importing registers the backends)
from ..iconworld import oracle  # noqa: F401
