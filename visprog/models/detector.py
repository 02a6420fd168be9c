"""An OWL-ViT-style open-vocabulary detector for the icon world: config, model, save/load.

The CLIP image tower (`clip.Tower`, initialised from the trained CLIP) turns a
scene (letterboxed to 192x192 in training, 224x224 to find objects: `scan_size`)
into a grid of stride-8 patch tokens (24x24 at 192). A small conv trunk then
predicts, per patch:
    objectness  (1)   a CenterNet-style centre heatmap, class-agnostic
    box         (4)   log distances from the patch centre to the box's left/top/right/bottom
    embedding   (D)   a class embedding in the CLIP text space
A text query (any words) is embedded by the frozen CLIP text tower (prompt-ensembled)
and matched to a patch's embedding as OWL-ViT does: p = sigmoid(scale * cos + bias).

Inference: peaks of the heatmap (3x3 max-pool), objectness >= `min_objectness`,
boxes decoded, then per query p >= `min_prob`, then NMS (`nms`).
`detect(images, queries)` returns, per image and query, (boxes (N, 4) px, scores (N,)).

Training data, losses and loop: `detector_train.py` (`visprog train detector`; the
shipped weights' commands and measurements: visprog/weights/detector.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..iconworld.language import with_article
from ..iconworld.lexicon import read_as
from .clip import CLASSIFY_TEMPLATES, CLIPConfig, Letterbox, TextHead, Tower, config_from, read, tower_maps
from .weights import no_random_init


@dataclass
class DetectorConfig:
    image_size: int = 192          # training scenes are letterboxed to this (256 -> 192: 0.56x the compute)
    letterbox: bool = True         # images keep their aspect ratio (clip.Letterbox); False: squashed square (files from before it)
    stride: int = 8
    head_width: int = 96
    # training
    style: str = "train"           # the icon-world render style of training scenes (iconworld.styles)
    minutes: float = 40.0
    max_steps: int = 100000
    batch: int = 12
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 100
    n_objects: tuple = (0, 8)
    recolor_prob: float = 0.4
    overlap_prob: float = 0.2
    name_ce_weight: float = 1.0    # softmax CE over the exact names (sharpens dog vs cat)
    # inference
    scan_size: int = 224           # scenes are letterboxed to this to find objects: a little over
                                   # image_size, so that small objects stay findable (detector.md)
    min_objectness: float = 0.3
    min_prob: float = 0.5
    nms_iou: float = 0.5


class Detector(nn.Module):
    def __init__(self, cfg: DetectorConfig, clip_cfg: CLIPConfig):
        super().__init__()
        self.config, self.clip_config = cfg, clip_cfg
        self.domain = None  # the domain check (visprog/models/domain.py), set by `load`
        self.meta: dict = {}  # the weights file's metadata, set by `load`
        self.tower = Tower(clip_cfg)
        c, h = clip_cfg.token_width, cfg.head_width
        self.trunk = nn.Sequential(nn.Conv2d(c, h, 3, padding=1, bias=False), nn.BatchNorm2d(h), nn.GELU())
        self.heat = nn.Conv2d(h, 1, 1)
        nn.init.constant_(self.heat.bias, -2.19)  # prior 0.1, as CenterNet
        self.box = nn.Conv2d(h, 4, 1)
        self.embed = nn.Conv2d(h, clip_cfg.embed_dim, 1)
        self.class_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.class_bias = nn.Parameter(torch.tensor(-3.0))
        # A frozen copy of the CLIP text head the detector was trained against, so that
        # the detector file stands alone (CLIP may be retrained later).
        self.text_head = TextHead(clip_cfg)
        self.text_head.requires_grad_(False)
        self._text_cache: dict[str, torch.Tensor] = {}

    def forward(self, pixels):
        return self.heads(self.tower(pixels))

    def heads(self, fmap):
        """The tower's patch tokens (B, C, G, G) -> heat logits, log box distances, embeddings."""
        f = self.trunk(fmap)                           # (B, h, G, G)
        heat = self.heat(f)[:, 0]                      # (B, G, G) logits
        box = self.box(f)                              # (B, 4, G, G) log(distance / stride)
        emb = F.normalize(self.embed(f), dim=1)        # (B, D, G, G)
        return heat, box, emb

    def class_logits(self, emb, queries):  # (..., D), (Q, D) -> (..., Q)
        return self.class_scale.exp() * emb @ queries.T + self.class_bias

    # ------------------------------------------------------------------ inference API
    def image_maps(self, images) -> torch.Tensor:
        """PIL images -> the tower's patch tokens (B, C, G, G), under bf16 autocast on a CPU
        (`clip.tower_maps`)."""
        return tower_maps(self.tower, images, self.config.scan_size, bf16=True,
                          keep_aspect=self.config.letterbox)

    @torch.no_grad()
    def candidates(self, images, fmaps: Optional[torch.Tensor] = None) -> list[dict]:
        """Class-agnostic objects per image: boxes (K, 4) px, objectness (K,), embeddings (K, D).
        fmaps: the images' `image_maps`, when already computed."""
        self.eval()
        sizes = [im.size for im in images]
        heat, box, emb = self.heads(self.image_maps(images) if fmaps is None else fmaps)
        prob = heat.sigmoid()                                       # (B, G, G)
        peak = prob == F.max_pool2d(prob[:, None], 3, 1, 1)[:, 0]   # (B, G, G)
        G, s = prob.shape[-1], self.config.stride
        ys, xs = torch.meshgrid(torch.arange(G), torch.arange(G), indexing="ij")
        cx, cy = (xs + 0.5) * s, (ys + 0.5) * s                    # (G, G)
        out = []
        for b, (w, h) in enumerate(sizes):
            keep = peak[b] & (prob[b] >= self.config.min_objectness)
            d = box[b].exp() * s                                    # (4, G, G)
            boxes = torch.stack([cx - d[0], cy - d[1], cx + d[2], cy + d[3]], -1)[keep]  # (K, 4)
            frame = Letterbox.fit(w, h, self.config.scan_size, self.config.letterbox)
            x0, y0 = frame.to_image(boxes[:, 0], boxes[:, 1])
            x1, y1 = frame.to_image(boxes[:, 2], boxes[:, 3])
            boxes = torch.stack([x0.clamp(0, w), y0.clamp(0, h), x1.clamp(0, w), y1.clamp(0, h)], -1)
            out.append({"boxes": boxes, "objectness": prob[b][keep],
                        "embeddings": emb[b].permute(1, 2, 0)[keep]})  # (K, D)
        return out

    @torch.no_grad()
    def query_embeddings(self, queries: list[str]) -> torch.Tensor:
        """Prompt-ensembled CLIP text embeddings for detector queries (Q, D), cached."""
        todo = [q for q in dict.fromkeys(queries) if q not in self._text_cache]
        if todo:
            self._text_cache.update(zip(todo, text_embeddings(self, todo)))
        return torch.stack([self._text_cache[q] for q in queries])

    @torch.no_grad()
    def match(self, candidates: dict, query: str, min_prob: Optional[float] = None):
        """Boxes (N, 4) and scores (N,) of the candidates matching `query`, after NMS."""
        q = self.query_embeddings([query])                              # (1, D)
        p = self.class_logits(candidates["embeddings"], q)[:, 0].sigmoid()  # (K,)
        keep = p >= (self.config.min_prob if min_prob is None else min_prob)
        boxes = candidates["boxes"][keep]
        scores = (p[keep] * candidates["objectness"][keep]).sqrt()
        order = nms(boxes, scores, self.config.nms_iou)
        return boxes[order], scores[order]

    def detect(self, images, queries: list[str]):
        """For each image, for each query: (boxes (N, 4), scores (N,))."""
        cands = self.candidates(images)
        return [[self.match(c, q) for q in queries] for c in cands]


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """torchvision.ops.nms without importing torchvision (1.4 s of a cold start): the indices
    of the boxes (N, 4; x0, y0, x1, y1) kept, by decreasing score; a box goes when its IoU
    with a kept, higher-scoring box exceeds the threshold."""
    order = scores.argsort(descending=True)
    b = boxes[order]
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])                    # (N,)
    lo = torch.maximum(b[:, None, :2], b[None, :, :2])                  # (N, N, 2)
    hi = torch.minimum(b[:, None, 2:], b[None, :, 2:])
    inter = (hi - lo).clamp(min=0).prod(-1)                             # (N, N)
    overlaps = (inter / (area[:, None] + area[None, :] - inter) > iou_threshold).tolist()
    kept, gone = [], [False] * len(b)
    for i in range(len(b)):
        if not gone[i]:
            kept.append(i)
            gone = [g or o for g, o in zip(gone, overlaps[i])]
    return order[torch.tensor(kept, dtype=torch.long)]


@torch.no_grad()
def text_embeddings(model, queries: list[str]) -> torch.Tensor:
    """Each query embedded under CLASSIFY_TEMPLATES by `model.text_head` (a CLIP or a
    Detector), averaged and renormalised: (Q, D). A word WordNet puts under a catalogue
    name is read as that name first ('steed' -> horse; `iconworld.lexicon`)."""
    from .text import minilm
    texts = [t.format(with_article(read_as(q))) for q in queries for t in CLASSIFY_TEMPLATES]
    hidden, mask = minilm().tokens(texts)                                  # (Q*K, T, 384)
    e = F.normalize(model.text_head.eval()(hidden, mask), dim=-1)           # (Q*K, D)
    e = e.view(len(queries), len(CLASSIFY_TEMPLATES), -1).mean(1)         # (Q, D)
    return F.normalize(e, dim=-1)


# ----------------------------------------------------------------------------- save / load


def load(path: str) -> Detector:
    """The detector in `path`, with the domain check stored beside it (`model.domain`; None
    before `visprog train domain` ran on the file)."""
    from .domain import Domain
    state, meta = read(path)
    domain = Domain.from_state(state, meta.get("domain"))
    with no_random_init():
        model = Detector(config_from(meta["config"], DetectorConfig), config_from(meta["clip_config"]))
    model.load_state_dict(state)
    model.domain, model.meta = domain, meta
    return model.eval()


# ----------------------------------------------------------------------------- training data
