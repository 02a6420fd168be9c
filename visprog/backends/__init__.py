"""Tool backends that need models or annotations. Importing a module attaches its backends:

- `visprog.backends.iconworld`: the in-repo CLIP and detector (defaults for Loc, FaceDet,
  Classify, Select, List), trained on the icon world (`visprog/models/`).
- `visprog.backends.vqa`: the in-repo LLaVA-style model (defaults for Vqa and Point).
- `visprog.backends.pretrained`: real open_clip / OWL-ViT weights from local folders
  (`VISPROG_OPENCLIP=name:path`, `VISPROG_OWLVIT=dir`), on CUDA when present; real LLaVA
  (`Vqa`, `VISPROG_LLAVA=dir`) and Molmo2 (`Point`, `VISPROG_MOLMO=dir`) weights are the
  `pretrained` backends in `visprog.backends.vqa`.
- `visprog.iconworld.oracle`: answers from icon-world scene annotations (never a default;
  pick it with `backend="oracle"`).

All are cheap to import: torch and the models load on first use.
"""

from . import iconworld, pretrained, vqa  # noqa: F401  (importing registers the backends)
from ..iconworld import oracle  # noqa: F401
