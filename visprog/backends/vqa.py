"""Vqa and Point backends: the in-repo LLaVA-style model, and real LLaVA weights.

    import visprog.backends.vqa      # registers Vqa 'iconworld' (default), Point 'iconworld'
                                     # (default) and Vqa 'pretrained'

- Vqa 'iconworld': `visprog/models/llava.py` with `visprog/weights/llava.safetensors`.
  Count questions ('How many dogs are there?') are answered by pointing when
  COUNT_BY_POINTING is set: the model is asked 'Count the dogs.' and answers in Molmo's
  format ('Counting the <points ...>dogs</points> shows a total of 3.'); the rationale
  notes 'counted by pointing: 3 points'. Likewise 'Is the cat left of the tree?' is
  answered from the points the model gives the cat and the tree (RELATIONS_BY_POINTING).
- Point 'iconworld': 'Point to the dogs.' -> Molmo points -> (x, y) pixels of the input image.
- Vqa 'pretrained': `LlavaForConditionalGeneration` + `AutoProcessor` from a local folder
  (VISPROG_LLAVA=dir, a `save_pretrained` folder), on CUDA when present.

Importing this module imports neither torch nor transformers; models load on first use,
once per process. The images of a batch go through the model together; image features
are cached per image in `ctx.cache`, so Vqa and Point on one image run the tower once.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Optional

from ..tools import registry
from ..values import Points

BACKEND = "iconworld"
PRETRAINED = "pretrained"
LLAVA_ENV = "VISPROG_LLAVA"
FEATURES_KEY = "llava.features"
COUNT_BY_POINTING = True   # answer 'How many X ...?' by pointing (see the model card)
RELATIONS_BY_POINTING = True  # answer 'Is the A left of the B?' from the points of A and B

_lock = threading.RLock()
_models: dict[str, object] = {}

_NUMBERS = {w: str(i) for i, w in enumerate(
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
     "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
     "nineteen", "twenty"))}
_NUMBERS["no"] = "0"
_NUMBERS["none"] = "0"
_COUNT = re.compile(r"^how many (?P<x>.+?)(?: (?:are|is) there| can you see| do you see|"
                    r" (?:are|is) (?:in|on) (?:the|this) (?:image|picture|photo|scene))?"
                    r"(?: in (?:the|this) (?:image|picture|photo|scene))?\s*\??$", re.I)
_NOT_PLAIN = re.compile(r"\b(left|right|above|below|over|under|beneath|top|bottom|of the|than|"
                        r"and|or|with|next to|behind|near)\b", re.I)


def short_answer(text: str) -> str:
    """A model's reply as a short answer: lower case, no final period, numbers as digits,
    'Yes, there is ...' -> 'yes'."""
    t = (text or "").strip()
    low = t.lower()
    m = re.match(r"^(yes|no)\b", low)
    if m and (len(low) == 2 + (m.group(1) == "yes") or low[len(m.group(1))] in ",.!;"):
        return m.group(1)
    t = re.sub(r"[.!]+$", "", t).strip()
    low = t.lower()
    if low in _NUMBERS:
        return _NUMBERS[low]
    m = re.fullmatch(r"there (?:are|is) (\w+)(?: [\w ]+)?", low)
    if m and m.group(1) in _NUMBERS:
        return _NUMBERS[m.group(1)]
    return low if len(t.split()) <= 3 else t


_RELATION = re.compile(r"^(?:is|are) the (?P<a>.+?) (?:to the |on the )?(?P<rel>left|right|above|below)"
                       r"(?: of| side of)? the (?P<b>.+?)\s*\??$", re.I)
_HOLDS = {"left": lambda a, b: a[0] < b[0], "right": lambda a, b: a[0] > b[0],
          "above": lambda a, b: a[1] < b[1], "below": lambda a, b: a[1] > b[1]}


def relation_by_points(question: str, refs: list) -> Optional[str]:
    """'Is the cat left of the tree?' -> 'yes'/'no' from the one point the model gave each of
    the two things it names first; None for other questions or other pointing."""
    m = _RELATION.match(question.strip())
    if m is None or len(refs) < 2 or len(refs[0][1]) != 1 or len(refs[1][1]) != 1:
        return None
    return "yes" if _HOLDS[m.group("rel").lower()](refs[0][1][0], refs[1][1][0]) else "no"


def count_target(question: str) -> Optional[str]:
    """'How many dogs are there?' -> 'dogs'; None for other questions (relations, comparisons)."""
    m = _COUNT.match(question.strip())
    if not m:
        return None
    x = m.group("x").strip()
    if _NOT_PLAIN.search(x):
        return None
    from ..iconworld import catalog
    return x if catalog.resolve(x) else None  # plain names and groups; 'red cars' asks directly


def plural_phrase(text: str) -> str:
    """'dog' -> 'dogs', 'farm animal' -> 'farm animals'; other phrases unchanged."""
    from ..iconworld import catalog
    t = re.sub(r"^(?:the|a|an|all|all the|every|each)\s+", "", text.strip().lower())
    if t in catalog.CATEGORIES or t in catalog.CHARACTERS:
        return catalog.plural_of(t)
    if t in catalog.SUPERCATEGORY_PLURALS:
        return catalog.SUPERCATEGORY_PLURALS[t]
    return t


# ----------------------------------------------------------------------------- in-repo model


def _missing() -> Optional[str]:
    from ..models import weights_path
    path = weights_path("llava")
    if not os.path.exists(path):
        return (f"the in-repo VQA weights are missing ({path}); train them with "
                f"`visprog train vqa --seed 0` or set VISPROG_WEIGHTS to their folder")
    return None


def model():
    """The in-repo LLaVA-style model, loaded once per process."""
    with _lock:
        if "llava" not in _models:
            import torch
            from ..models import llava, weights_path
            if torch.get_num_threads() > 2:
                torch.set_num_threads(2)
            _models["llava"] = llava.load(weights_path("llava"))
        return _models["llava"]


class _Slot:
    value = None


def features(images, ctx):
    """(feats (U, N, D), image_of): merged patch tokens of the distinct images among `images`
    (cached per image in ctx.cache, the rest computed in one batch) and, per image, its row.
    Questions about one image then share its tokens in the model (`LLaVA.generate`)."""
    import torch
    m = model()
    slots = [ctx.cache.get(im, FEATURES_KEY, _Slot) if ctx is not None else _Slot() for im in images]
    first: dict[int, int] = {}  # slot -> index of the first image using it (its row, in order)
    for i, s in enumerate(slots):
        first.setdefault(id(s), i)
    todo = [i for i in first.values() if slots[i].value is None]
    if todo:
        with torch.no_grad():
            feats = m.image_features([images[i] for i in todo], bf16=True)
        for k, i in enumerate(todo):
            slots[i].value = feats[k]
    row = {key: r for r, key in enumerate(first)}
    return torch.stack([slots[i].value for i in first.values()]), [row[id(s)] for s in slots]


def ask(images, prompts: list[str], ctx=None) -> list[tuple[str, list]]:
    """The model's replies to one prompt per image (batched): (answer, what it pointed at
    first: [(label, [(x%, y%), ...]), ...]) each."""
    if not prompts:
        return []
    feats, image_of = features(images, ctx)
    return model().answer_grounded(None, prompts, feats=feats, image_of=image_of)


@registry.lookup("Vqa").backend(BACKEND, default=True, missing=_missing,
                                description="the in-repo LLaVA-style model (visprog/models/llava.py); "
                                            "counts by pointing")
def vqa(calls: list[dict], ctx) -> list[str]:
    from ..pointing import parse_count
    images = [c["image"] for c in calls]
    prompts, counting = [], []
    for c in calls:
        q = str(c["question"]).strip()
        target = count_target(q) if COUNT_BY_POINTING else None
        counting.append(target)
        prompts.append(f"Count the {target}." if target else q)
    replies = ask(images, prompts, ctx)
    out = []
    for i, ((reply, refs), target) in enumerate(zip(replies, counting)):
        if target:
            n = parse_count(reply)
            if n is not None:
                ctx.note(i, f"counted by pointing: {n} point{'s' if n != 1 else ''} "
                            f"({reply if len(reply) < 300 else reply[:300] + '...'})")
                out.append(str(n))
                continue
        relation = relation_by_points(prompts[i], refs) if RELATIONS_BY_POINTING else None
        if relation is not None:
            (a, (pa,)), (b, (pb,)) = refs[:2]
            ctx.note(i, f"relation by pointing: {a} at {pa}, {b} at {pb} (% of width, height) "
                        f"-> {relation} (the model itself wrote {reply!r})")
            out.append(relation)
            continue
        looked = "; ".join(f"{label} ({len(pts)} point{'s' if len(pts) != 1 else ''})"
                           for label, pts in refs if label)
        ctx.note(i, f"in-repo LLaVA-style model: {reply!r}" +
                 (f", after pointing at {looked}" if looked else ""))
        out.append(short_answer(reply))
    return out


@registry.lookup("Point").backend(BACKEND, default=True, missing=_missing,
                                  description="the in-repo LLaVA-style model, Molmo-style pointing")
def point(calls: list[dict], ctx) -> list[Points]:
    from ..pointing import parse_points
    images = [c["image"] for c in calls]
    prompts = [f"Point to the {plural_phrase(str(c['object']))}." for c in calls]
    replies = ask(images, prompts, ctx)
    out = []
    for i, ((reply, _), im, c) in enumerate(zip(replies, images, calls)):
        pts = parse_points(reply, im.width, im.height)
        ctx.note(i, f"{len(pts)} point{'s' if len(pts) != 1 else ''}: {reply[:300]}")
        out.append(Points(pts, label=str(c["object"])))
    return out


# ----------------------------------------------------------------------------- pretrained LLaVA


def _device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def _pretrained_missing() -> Optional[str]:
    path = os.environ.get(LLAVA_ENV, "").strip()
    if not path:
        return (f"set {LLAVA_ENV}=<folder> to a LLaVA checkpoint saved with save_pretrained "
                f"(LlavaForConditionalGeneration + AutoProcessor), e.g. llava-hf/llava-1.5-7b-hf")
    if not os.path.isdir(path):
        return f"{LLAVA_ENV} names {path!r}, which is not a folder"
    if not os.path.exists(os.path.join(path, "config.json")):
        return f"{LLAVA_ENV} folder {path!r} has no config.json"
    try:
        import transformers  # noqa: F401
    except ImportError:
        return "the transformers package is not installed (pip install 'visprog[pretrained]')"
    return None


class PretrainedLlava:
    """LlavaForConditionalGeneration + AutoProcessor from a local folder; greedy short answers."""

    def __init__(self, path: str, device: Optional[str] = None):
        import torch
        from transformers import AutoProcessor, LlavaForConditionalGeneration
        self.device = device or _device()
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.processor = AutoProcessor.from_pretrained(path)
        self.model = LlavaForConditionalGeneration.from_pretrained(path, torch_dtype=dtype).to(self.device).eval()
        tok = self.processor.tokenizer
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token

    def prompt(self, question: str) -> str:
        text = f"{question.strip()}\nAnswer the question using a single word or phrase."
        if getattr(self.processor, "chat_template", None):
            conv = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
            return self.processor.apply_chat_template(conv, add_generation_prompt=True)
        return f"USER: <image>\n{text} ASSISTANT:"

    def answer(self, images, questions: list[str], max_new_tokens: int = 12) -> list[str]:
        import torch
        prompts = [self.prompt(q) for q in questions]
        inputs = self.processor(images=[im.convert("RGB") for im in images], text=prompts,
                                return_tensors="pt", padding=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        new = out[:, inputs["input_ids"].shape[1]:]
        return [t.strip() for t in self.processor.batch_decode(new, skip_special_tokens=True)]


def pretrained_llava() -> PretrainedLlava:
    path = os.environ[LLAVA_ENV].strip()
    with _lock:
        key = f"pretrained:{path}"
        if key not in _models:
            _models[key] = PretrainedLlava(path)
        return _models[key]


@registry.lookup("Vqa").backend(PRETRAINED, missing=_pretrained_missing,
                                description=f"real LLaVA weights from a local folder ({LLAVA_ENV}=dir)")
def vqa_pretrained(calls: list[dict], ctx) -> list[str]:
    m = pretrained_llava()
    replies = m.answer([c["image"] for c in calls], [str(c["question"]) for c in calls])
    out = []
    for i, reply in enumerate(replies):
        ctx.note(i, f"LLaVA ({os.path.basename(os.environ.get(LLAVA_ENV, '').rstrip('/'))}): {reply!r}")
        out.append(short_answer(reply))
    return out
