"""An OWL-ViT-style open-vocabulary detector for the icon world, in one file.

The CLIP image tower (`clip.Tower`, initialised from the trained CLIP) turns a
scene (resized to 192x192, which keeps the smallest icon-world objects above 20 px)
into a 24x24 grid of stride-8 patch tokens. A small conv trunk then
predicts, per patch:
    objectness  (1)   a CenterNet-style centre heatmap, class-agnostic
    box         (4)   log distances from the patch centre to the box's left/top/right/bottom
    embedding   (D)   a class embedding in the CLIP text space
A text query (any words) is embedded by the frozen CLIP text tower (prompt-ensembled)
and matched to a patch's embedding as OWL-ViT does: p = sigmoid(scale * cos + bias).

Loss (our choice, documented): CenterNet's penalty-reduced focal loss on the heatmap,
L1 on log box distances at the 3x3 patches around each centre, and a balanced
sigmoid BCE between centre-patch embeddings and a vocabulary of queries (every
category and character name, every supercategory, every colour + name), truth from
`catalog.resolve` and the object's dominant colour. We chose centre heatmaps over
OWL-ViT's Hungarian set matching because it converges in minutes on two CPU cores
and icon-world objects do not overlap much. Synonyms are never queries in training.

Inference: peaks of the heatmap (3x3 max-pool), objectness >= `min_objectness`,
boxes decoded, then per query p >= `min_prob`, then NMS (torchvision.ops.nms).

    python -m visprog.models.detector --seed 0 --clip none   (or: visprog train detector ...)
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .clip import (CLIP, CLIPConfig, CLASSIFY_TEMPLATES, TextHead, Tower, article, config_from, learning_rate,
                   read, save, to_pixels, tower_maps)


@dataclass
class DetectorConfig:
    image_size: int = 192          # scenes are resized to this (256 -> 192: 0.56x the compute)
    stride: int = 8
    head_width: int = 96
    # training
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
    min_objectness: float = 0.3
    min_prob: float = 0.5
    nms_iou: float = 0.5


class Detector(nn.Module):
    def __init__(self, cfg: DetectorConfig, clip_cfg: CLIPConfig):
        super().__init__()
        self.config, self.clip_config = cfg, clip_cfg
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
        return tower_maps(self.tower, images, self.config.image_size, bf16=True)

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
            boxes = boxes.clamp(0, self.config.image_size)
            boxes = boxes * torch.tensor([w, h, w, h]) / self.config.image_size
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
        import torchvision
        q = self.query_embeddings([query])                              # (1, D)
        p = self.class_logits(candidates["embeddings"], q)[:, 0].sigmoid()  # (K,)
        keep = p >= (self.config.min_prob if min_prob is None else min_prob)
        boxes = candidates["boxes"][keep]
        scores = (p[keep] * candidates["objectness"][keep]).sqrt()
        order = torchvision.ops.nms(boxes, scores, self.config.nms_iou)
        return boxes[order], scores[order]

    def detect(self, images, queries: list[str]):
        """For each image, for each query: (boxes (N, 4), scores (N,))."""
        cands = self.candidates(images)
        return [[self.match(c, q) for q in queries] for c in cands]


@torch.no_grad()
def text_embeddings(model, queries: list[str]) -> torch.Tensor:
    """Each query embedded under CLASSIFY_TEMPLATES by `model.text_head` (a CLIP or a
    Detector), averaged and renormalised: (Q, D)."""
    from .text import minilm
    texts = [t.format(article(q)) for q in queries for t in CLASSIFY_TEMPLATES]
    hidden, mask = minilm().tokens(texts)                                  # (Q*K, T, 384)
    e = F.normalize(model.text_head.eval()(hidden, mask), dim=-1)           # (Q*K, D)
    e = e.view(len(queries), len(CLASSIFY_TEMPLATES), -1).mean(1)         # (Q, D)
    return F.normalize(e, dim=-1)


# ----------------------------------------------------------------------------- save / load


def load(path: str) -> Detector:
    state, meta = read(path)
    model = Detector(config_from(meta["config"], DetectorConfig), config_from(meta["clip_config"]))
    model.load_state_dict(state)
    return model.eval()


# ----------------------------------------------------------------------------- training data


def vocabulary() -> list[tuple[str, frozenset, Optional[str]]]:
    """Training queries: (text, names it denotes, colour or None). No synonyms."""
    from ..iconworld import catalog
    vocab = []
    for name in catalog.all_names():
        vocab.append((name, catalog.resolve(name), None))
    for sup in catalog.SUPERCATEGORIES:
        if sup not in catalog.CATEGORIES:
            vocab.append((sup, catalog.resolve(sup), None))
    for name in catalog.all_names():
        for color in catalog.COLORS:
            vocab.append((f"{color} {name}", catalog.resolve(name), color))
    return vocab


def scene_targets(scene, G: int, stride: int, scale: float = 1.0):
    """Heatmap (G, G), box targets (4, G, G), box weights (G, G), centre cells [(obj, y, x, w)].
    `scale` maps scene pixels to model-input pixels."""
    heat = np.zeros((G, G), np.float32)
    box_t = np.zeros((4, G, G), np.float32)
    box_w = np.zeros((G, G), np.float32)
    cells = []
    ys, xs = np.mgrid[0:G, 0:G]
    for k, o in enumerate(scene.objects):
        x0, y0, x1, y1 = (v * scale for v in o.box)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        i, j = min(G - 1, int(cy // stride)), min(G - 1, int(cx // stride))
        sigma = max(0.7, max(x1 - x0, y1 - y0) / stride / 6)
        g = np.exp(-((ys - i) ** 2 + (xs - j) ** 2) / (2 * sigma ** 2))
        heat = np.maximum(heat, g)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                a, b = i + di, j + dj
                if not (0 <= a < G and 0 <= b < G):
                    continue
                px, py = (b + 0.5) * stride, (a + 0.5) * stride
                d = np.array([px - x0, py - y0, x1 - px, y1 - py], np.float32)
                if (d < 2).any():
                    continue
                box_t[:, a, b] = np.log(d / stride)
                box_w[a, b] = 1.0 if (di, dj) == (0, 0) else 0.5
                cells.append((k, a, b, 1.0 if (di, dj) == (0, 0) else 0.5))
        heat[i, j] = 1.0
    return heat, box_t, box_w, cells


def focal_heat_loss(logits, target):
    """CenterNet's penalty-reduced focal loss. logits, target (B, G, G)."""
    p = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    pos = target >= 1.0
    pos_loss = -((1 - p) ** 2 * torch.log(p))[pos].sum()
    neg_loss = -((1 - target) ** 4 * p ** 2 * torch.log(1 - p))[~pos].sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1)


def make_batch(rng: random.Random, cfg: DetectorConfig):
    from ..iconworld.render import random_scene
    images, scenes = [], []
    for _ in range(cfg.batch):
        image, scene = random_scene(rng.randrange(2 ** 31), n_objects=cfg.n_objects,
                                    recolor_prob=cfg.recolor_prob,
                                    allow_overlap=rng.random() < cfg.overlap_prob)
        images.append(image)
        scenes.append(scene)
    return images, scenes


def train(config: DetectorConfig, seed: int, out_path: Optional[str], clip: CLIP, log=print,
          init: Optional[str] = None, vocab_limit: Optional[int] = None) -> Detector:
    """Train for `config.minutes` (or `max_steps`); `init` continues from saved weights;
    `vocab_limit` keeps only the first queries (for quick tests)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = Detector(config, clip.config)
    model.tower.load_state_dict(clip.tower.state_dict())
    model.text_head.load_state_dict(clip.text_head.state_dict())
    done, prev_minutes = 0, 0.0
    if init:
        state, meta = read(init)
        model.load_state_dict(state)
        done, prev_minutes = meta.get("steps", 0), meta.get("minutes", 0.0)
        rng = random.Random(seed * 1000 + done)
    vocab = vocabulary()[:vocab_limit]
    t0 = time.time()
    Q = text_embeddings(model, [v[0] for v in vocab])                 # (V, D)
    log(f"{len(vocab)} vocabulary queries embedded in {time.time() - t0:.0f}s")
    names = [v[1] for v in vocab]
    colors = [v[2] for v in vocab]
    from ..iconworld import catalog
    exact = catalog.all_names()
    name_col = {n: k for k, (text, _, col) in enumerate(vocab) if col is None for n in [text] if n in exact}
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in params if p.ndim >= 2]
    rest = [p for n, p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=config.lr)
    G = config.image_size // config.stride
    start, step = time.time(), 0
    while step < config.max_steps and time.time() - start < config.minutes * 60:
        lr = learning_rate(config, step, time.time() - start)
        for g in opt.param_groups:
            g["lr"] = lr
        images, scenes = make_batch(rng, config)
        pixels = to_pixels(images, config.image_size)               # (B, 3, S, S)
        heat_t, box_t, box_w, cell_rows, truth_rows = [], [], [], [], []
        for b, scene in enumerate(scenes):
            h, bt, bw, cells = scene_targets(scene, G, config.stride, config.image_size / scene.width)
            heat_t.append(h), box_t.append(bt), box_w.append(bw)
            for k, a, c, w in cells:
                o = scene.objects[k]
                cell_rows.append((b, a, c, w, name_col.get(o.category, -1)))
                truth_rows.append([o.category in n and (col is None or o.color == col)
                                   for n, col in zip(names, colors)])
        heat_t = torch.from_numpy(np.stack(heat_t))                   # (B, G, G)
        box_t = torch.from_numpy(np.stack(box_t))                     # (B, 4, G, G)
        box_w = torch.from_numpy(np.stack(box_w))                     # (B, G, G)
        model.train()
        model.text_head.eval()
        heat, box, emb = model(pixels)
        loss_heat = focal_heat_loss(heat, heat_t)
        loss_box = ((box - box_t).abs().sum(1) * box_w).sum() / box_w.sum().clamp(min=1)
        loss_cls = torch.zeros(())
        if cell_rows:
            idx = torch.tensor([(b, a, c) for b, a, c, _, _ in cell_rows])
            weight = torch.tensor([w for _, _, _, w, _ in cell_rows])  # (N,)
            target = torch.tensor([t for *_, t in cell_rows])         # (N,) column of the exact name
            e = emb[idx[:, 0], :, idx[:, 1], idx[:, 2]]               # (N, D)
            logits = model.class_logits(e, Q)                         # (N, V)
            truth = torch.tensor(truth_rows, dtype=torch.bool)        # (N, V)
            bce = F.binary_cross_entropy_with_logits(logits, truth.float(), reduction="none")
            bce = bce * weight[:, None]
            loss_cls = bce[truth].mean() + bce[~truth].mean()
            cols = torch.tensor(sorted(name_col.values()))
            valid = target >= 0
            if config.name_ce_weight and valid.any():
                remap = torch.full((len(vocab),), -1, dtype=torch.long)
                remap[cols] = torch.arange(len(cols))
                ce_logits = model.class_scale.exp() * e[valid] @ Q[cols].T   # (N', names)
                loss_cls = loss_cls + config.name_ce_weight * F.cross_entropy(ce_logits, remap[target[valid]])
        loss = loss_heat + loss_box + loss_cls
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        opt.step()
        if step % 25 == 0:
            log(f"step {step} loss {loss.item():.3f} heat {loss_heat.item():.3f} box {loss_box.item():.3f} "
                f"cls {loss_cls.item():.3f} scale {model.class_scale.exp().item():.1f} "
                f"bias {model.class_bias.item():.2f} lr {lr:.2e} t {time.time() - start:.0f}s")
        step += 1
    model.eval()
    if out_path:
        meta = {"config": dataclasses.asdict(config), "clip_config": dataclasses.asdict(clip.config),
                "seed": seed, "steps": done + step,
                "minutes": round(prev_minutes + (time.time() - start) / 60, 2)}
        save(model, out_path, meta)
        log(f"saved {out_path} after {step} steps")
    return model


def run(args) -> Detector:
    """Train from parsed `visprog train detector` flags (visprog/models/cli.py)."""
    from . import clip as clip_module, weights_path
    from .cli import config_overrides
    torch.set_num_threads(args.threads)
    if args.clip == "none":
        torch.manual_seed(args.seed)
        clip = clip_module.CLIP(clip_module.CLIPConfig()).eval()
    else:
        clip = clip_module.load(args.clip or weights_path("clip"))
    for p in clip.parameters():
        p.requires_grad_(False)
    config = DetectorConfig(**config_overrides(args, DetectorConfig))
    return train(config, args.seed, args.out or weights_path("detector"), clip, init=args.init)


def main(argv=None):
    import argparse
    from .cli import detector_arguments
    p = argparse.ArgumentParser(description="Train the icon-world detector (flags left out: DetectorConfig's defaults).")
    detector_arguments(p)
    run(p.parse_args(argv))


if __name__ == "__main__":
    main()
