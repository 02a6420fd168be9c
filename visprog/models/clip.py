"""A small CLIP for the icon world: the model, its config and save/load (nanoGPT style).

Image tower: a convnet (`Tower`) that patchifies 4x4, then two residual stages at
strides 8 and 16, fused back to a stride-8 map of "patch tokens" (C channels).
The same tower, on a 256x256 scene, feeds the detector (`visprog/models/detector.py`).
`ImageHead` runs one transformer layer over the tokens (with learned positions, so
"left of" is visible) and attention-pools them to one embedding.

Text tower: the frozen, pretrained all-MiniLM-L6-v2 (`visprog.models.load("minilm")`) and
a trained `TextHead` on its token outputs:
    linear(mean(tokens))                 the path unseen words travel: MiniLM already
                                         puts 'puppy' next to 'dog'; a semi-orthogonal
                                         init keeps that geometry
  + out(transformer(tokens + positions)) a small zero-initialised residual that learns
                                         word order ("a dog left of a tree" vs swapped),
                                         which MiniLM's mean pooling all but erases.
Why MiniLM and not a text tower from scratch, and every measurement behind these
choices: visprog/weights/clip.md.

`encode_image(images)` and `encode_text(texts)` return L2-normalised embeddings (B, D).
Training captions and batches: `clip_data.py`; losses and the training loop: `clip_train.py`
(`visprog train clip`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .weights import no_random_init

# ----------------------------------------------------------------------------- config


@dataclass
class CLIPConfig:
    image_size: int = 64            # crops and scenes are resized to this for encode_image
    letterbox: bool = True         # images keep their aspect ratio (clip.Letterbox); False: squashed square (files from before it)
    widths: tuple = (32, 64, 128)   # tower stage widths at strides 4, 8, 16
    depths: tuple = (1, 2, 2)
    token_width: int = 96           # channels of the stride-8 patch tokens
    embed_dim: int = 256
    text_width: int = 384           # MiniLM hidden size
    text_head_width: int = 128
    max_tokens: int = 24
    # training
    style: str = "train"            # the icon-world render style of training scenes (iconworld.styles)
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
        pixels = to_pixels(images, size or self.config.image_size, self.config.letterbox)
        return self.image_features(pixels)

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        self.eval()
        from .text import minilm
        hidden, mask = minilm().tokens(list(texts))
        return self.text_features(hidden, mask)


def tower_maps(tower: nn.Module, images, size: int, bf16: bool = False,
               keep_aspect: bool = True) -> torch.Tensor:
    """PIL images (or (B, 3, S, S) pixels in [0, 1]) -> the tower's patch tokens (B, C, G, G),
    float32. bf16=True runs the tower under bf16 autocast on a CPU (faster; the detector finds
    the same objects from its maps: visprog/weights/detector.md)."""
    pixels = images if torch.is_tensor(images) else to_pixels(images, size, keep_aspect)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16,
                                         enabled=bf16 and pixels.device.type == "cpu"):
        return tower.eval()(pixels).float()


PAD_COLOR = (128, 128, 128)  # the letterbox's bands


@dataclass(frozen=True)
class Letterbox:
    """Where a w x h image sits in a size x size canvas, scaled to fit without changing its
    aspect ratio: the models see every image this way (a square image fills the canvas)."""

    width: int   # the image's size
    height: int
    inner_w: int  # its size in the canvas
    inner_h: int
    left: int     # the bands before it
    top: int

    @classmethod
    def fit(cls, width: int, height: int, size: int, keep_aspect: bool = True) -> "Letterbox":
        """keep_aspect=False: the image squashed to fill the canvas (what older weights saw)."""
        if not keep_aspect:
            return cls(width, height, size, size, 0, 0)
        k = size / max(width, height)
        w, h = max(1, round(width * k)), max(1, round(height * k))
        return cls(width, height, w, h, (size - w) // 2, (size - h) // 2)

    def to_image(self, x, y):
        """Canvas pixels -> the image's pixels (numbers or tensors)."""
        return ((x - self.left) * self.width / self.inner_w, (y - self.top) * self.height / self.inner_h)

    def to_canvas(self, x, y):
        """The image's pixels -> canvas pixels."""
        return (self.left + x * self.inner_w / self.width, self.top + y * self.inner_h / self.height)


def letterboxed(image, size: int, keep_aspect: bool = True):
    """The RGB PIL image as the models see it: size x size, letterboxed (`Letterbox`)."""
    from PIL import Image
    im = image.convert("RGB")
    if im.size == (size, size):
        return im
    box = Letterbox.fit(im.width, im.height, size, keep_aspect)
    canvas = Image.new("RGB", (size, size), PAD_COLOR)
    canvas.paste(im.resize((box.inner_w, box.inner_h), Image.BILINEAR), (box.left, box.top))
    return canvas


def to_pixels(images, size: int, keep_aspect: bool = True) -> torch.Tensor:
    """PIL images -> (B, 3, size, size) float in [0, 1], each letterboxed (bilinear resize)."""
    arrays = [np.asarray(letterboxed(im, size, keep_aspect), dtype=np.uint8) for im in images]
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
    """A config dataclass from a weights file's JSON; a file that does not say `letterbox` was
    trained on squashed images, and must see them so (and on the classic style)."""
    cls = cls or CLIPConfig
    names = {f.name for f in dataclasses.fields(cls)}
    d = {"letterbox": False, "style": "classic", **d}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})


def load(path: str) -> CLIP:
    state, meta = read(path)
    with no_random_init():
        model = CLIP(config_from(meta["config"]))
    prototypes = state.pop("name_prototypes", None)
    model.load_state_dict(state)
    # Mean image embedding of each catalogue name's crops (see `clip_train.name_prototypes`), if stored.
    model.prototype_names = meta.get("prototype_names", [])
    model.name_prototypes = F.normalize(prototypes, dim=-1) if prototypes is not None else None
    return model.eval()


# Prompt ensemble for a query (the detector and the CLIP tools embed a name under each).
CLASSIFY_TEMPLATES = ("a photo of {}", "an icon of {}", "{}", "a picture of {}")
