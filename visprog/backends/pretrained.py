"""The `pretrained` backends: real open_clip and OWL-ViT weights from local files.

    VISPROG_OPENCLIP=ViT-B-32:/models/open_clip_vit_b32.bin   Classify, Select (CLIP on crops)
    VISPROG_OWLVIT=/models/owlvit-base-patch32                 Loc, FaceDet (a save_pretrained folder)

`name` in VISPROG_OPENCLIP is an open_clip model name, or the path of a model config
JSON (registered with `open_clip.add_model_config`). Nothing is downloaded: when a
variable is unset or its files are missing, the backend's `missing` check says what
to set and the interpreter raises ToolUnavailable. Models run on CUDA when present,
are loaded once per process, and importing this module imports neither torch nor
open_clip nor transformers.

    visprog.execute(program, images, backend="pretrained")
"""

from __future__ import annotations

import os
from typing import Optional

from ..tools.vision import alternatives, with_side_boxes
from ..values import Obj, Objects
from .device import best_device
from .iconworld import crops

BACKEND = "pretrained"
OPENCLIP_ENV = "VISPROG_OPENCLIP"
OWLVIT_ENV = "VISPROG_OWLVIT"
TEMPLATES = ("a photo of a {}.", "a photo of the {}.", "an image of a {}.", "a {}.")
LOC_THRESHOLD = 0.1
NMS_IOU = 0.5



# ----------------------------------------------------------------------------- open_clip


def openclip_spec() -> Optional[tuple[str, str]]:
    value = os.environ.get(OPENCLIP_ENV, "").strip()
    if not value or ":" not in value:
        return None
    name, path = value.rsplit(":", 1)
    return name.strip(), path.strip()


def openclip_missing() -> Optional[str]:
    spec = openclip_spec()
    if spec is None:
        return (f"set {OPENCLIP_ENV}=<model name or config .json>:<local checkpoint path> "
                f"(e.g. {OPENCLIP_ENV}=ViT-B-32:/models/vit_b32_openai.bin)")
    name, path = spec
    if not os.path.exists(path):
        return f"{OPENCLIP_ENV} names {path!r}, which does not exist"
    if name.endswith(".json") and not os.path.exists(name):
        return f"{OPENCLIP_ENV} names the model config {name!r}, which does not exist"
    try:
        import open_clip  # noqa: F401
    except ImportError:
        return "the open_clip_torch package is not installed (pip install 'visprog[pretrained]')"
    return None


class OpenCLIP:
    """An open_clip model from a local checkpoint, with L2-normalised encoders."""

    def __init__(self, name: str, path: str, device: Optional[str] = None):
        import open_clip
        if name.endswith(".json"):
            open_clip.add_model_config(name)
            name = os.path.splitext(os.path.basename(name))[0]
        self.device = device or best_device()
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(
            name, pretrained=path, device=self.device)
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(name)
        self._text: dict[str, object] = {}

    def encode_image(self, images):
        import torch
        with torch.no_grad():
            x = torch.stack([self.preprocess(im.convert("RGB")) for im in images]).to(self.device)
            return torch.nn.functional.normalize(self.model.encode_image(x).float(), dim=-1).cpu()

    def encode_text(self, texts: list[str]):
        import torch
        todo = [t for t in dict.fromkeys(texts) if t not in self._text]
        if todo:
            with torch.no_grad():
                e = self.model.encode_text(self.tokenizer(todo).to(self.device)).float()
                e = torch.nn.functional.normalize(e, dim=-1).cpu()
            self._text.update(zip(todo, e))
        return torch.stack([self._text[t] for t in texts])

    def class_embeddings(self, names: list[str]):
        """Prompt-ensembled text embeddings (C, D)."""
        import torch
        e = self.encode_text([t.format(n) for n in names for t in TEMPLATES])
        e = e.view(len(names), len(TEMPLATES), -1).mean(1)
        return torch.nn.functional.normalize(e, dim=-1)


def openclip() -> OpenCLIP:
    from ..models import shared
    name, path = openclip_spec()
    return shared(("openclip", name, path), lambda: OpenCLIP(name, path))


def _crop_embeddings(model: OpenCLIP, calls: list[dict]):
    images, owners = [], []
    for i, call in enumerate(calls):
        objs = call.get("object") or Objects()
        images.extend(crops(call["image"], objs))
        owners.extend([i] * len(objs))
    emb = model.encode_image(images) if images else None
    per = [[] for _ in calls]
    for k, i in enumerate(owners):
        per[i].append(emb[k])
    import torch
    return [torch.stack(p) if p else None for p in per]


def classify(calls: list[dict], ctx) -> list:
    model = openclip()
    out = []
    for call, emb in zip(calls, _crop_embeddings(model, calls)):
        cats = alternatives(call["categories"])
        if emb is None or not cats:
            out.append(Objects())
            continue
        probs = (100.0 * emb @ model.class_embeddings(cats).T).softmax(-1)  # (N, C)
        best, idx = probs.max(-1)
        out.append(Objects(o.relabel(cats[k], float(p))
                           for o, k, p in zip(call["object"], idx.tolist(), best.tolist())))
    return out


def select(calls: list[dict], ctx) -> list:
    """VisProg's Select: per query alternative, the object whose crop matches it best."""
    model = openclip()
    out = []
    for call, emb in zip(calls, _crop_embeddings(model, calls)):
        queries = alternatives(call["query"])
        objs = list(call.get("object") or Objects())
        category = call.get("category")
        if emb is None or not queries:
            out.append(Objects())
            continue
        if isinstance(category, str) and category.strip():
            keep = [k for k, o in enumerate(objs) if o.label == category.strip()] or list(range(len(objs)))
        else:
            keep = list(range(len(objs)))
        sims = emb[keep] @ model.class_embeddings(queries).T  # (N, Q)
        chosen = Objects()
        for q, col in zip(queries, sims.T):
            k = keep[int(col.argmax())]
            chosen.append(objs[k].relabel(q, float(col.max())))
        out.append(chosen)
    return out


# ----------------------------------------------------------------------------- OWL-ViT


def owlvit_missing() -> Optional[str]:
    path = os.environ.get(OWLVIT_ENV, "").strip()
    if not path:
        return (f"set {OWLVIT_ENV}=<folder saved with OwlViTForObjectDetection.save_pretrained and "
                f"OwlViTProcessor.save_pretrained> (e.g. google/owlvit-base-patch32 downloaded beforehand)")
    if not os.path.isdir(path) or not os.path.exists(os.path.join(path, "config.json")):
        return f"{OWLVIT_ENV}={path!r} is not a folder with an OWL-ViT config.json"
    try:
        import transformers  # noqa: F401
    except ImportError:
        return "the transformers package is not installed (pip install 'visprog[pretrained]')"
    return None


class OwlViT:
    def __init__(self, path: str, device: Optional[str] = None):
        from transformers import OwlViTForObjectDetection, OwlViTProcessor
        self.device = device or best_device()
        self.processor = OwlViTProcessor.from_pretrained(path)
        self.model = OwlViTForObjectDetection.from_pretrained(path).to(self.device).eval()

    def detect(self, images, queries: list[list[str]], threshold: float = LOC_THRESHOLD):
        """Per image, a list of (box, label, score) for its own queries, after NMS."""
        import torch
        import torchvision
        images = [im.convert("RGB") for im in images]
        texts = [[f"a photo of a {q}" for q in qs] for qs in queries]
        width = max(len(t) for t in texts)
        texts = [t + [" "] * (width - len(t)) for t in texts]  # OWL-ViT wants equal query counts
        inputs = self.processor(text=texts, images=images, return_tensors="pt", padding=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.no_grad():
            outputs = self.model(**inputs)
        sizes = torch.tensor([[im.height, im.width] for im in images])
        results = self.processor.post_process_grounded_object_detection(
            outputs=outputs, threshold=threshold, target_sizes=sizes)
        out = []
        for r, qs, im in zip(results, queries, images):
            boxes, scores, labels = r["boxes"].float().cpu(), r["scores"].float().cpu(), r["labels"].cpu()
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, im.width)   # boxes stay inside the image
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, im.height)
            valid = labels < len(qs)
            boxes, scores, labels = boxes[valid], scores[valid], labels[valid]
            keep = torchvision.ops.batched_nms(boxes, scores, labels, NMS_IOU) if len(boxes) else []
            out.append([(tuple(float(v) for v in boxes[k]), qs[int(labels[k])], float(scores[k]))
                        for k in list(keep)])
        return out


def owlvit() -> OwlViT:
    from ..models import shared
    path = os.environ[OWLVIT_ENV].strip()
    return shared(("owlvit", path), lambda: OwlViT(path))


def _detect_calls(images, queries: list[list[str]]) -> list[Objects]:
    found = owlvit().detect(images, queries)
    out = []
    for items in found:
        objs = [Obj(b, q, s) for b, q, s in items]
        objs.sort(key=lambda o: (o.box[0], o.box[1]))
        out.append(Objects(objs))
    return out


@with_side_boxes
def loc(calls: list[dict], ctx) -> list:
    return _detect_calls([c["image"] for c in calls],
                         [alternatives(c["object"]) or [str(c["object"])] for c in calls])


def facedet(calls: list[dict], ctx) -> list:
    found = _detect_calls([c["image"] for c in calls], [["human face"] for _ in calls])
    return [Objects(o.relabel("face") for o in objs) for objs in found]
