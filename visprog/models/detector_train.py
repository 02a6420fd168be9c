"""Training the detector: targets from scene annotations, the losses, the loop, and
`visprog train detector`.

Loss (our choice): CenterNet's penalty-reduced focal loss on the heatmap, L1 on log box
distances at the 3x3 patches around each centre, and a balanced sigmoid BCE between
centre-patch embeddings and a vocabulary of queries (every category and character name,
every supercategory, every colour + name), truth from `catalog.resolve` and the object's
dominant colour, plus a softmax CE over the exact names. Centre heatmaps rather than
OWL-ViT's Hungarian set matching: they converge in minutes on a CPU, and icon-world
objects do not overlap much. Synonyms are never queries in training.

    visprog train detector --seed 0 --clip none   (the shipped weights: detector.md)
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..iconworld import catalog
from .clip import CLIP, Letterbox, save, to_pixels
from .clip_train import learning_rate, resume
from .detector import Detector, DetectorConfig, text_embeddings
from .flags import add_config_flags, add_run_flags, apply_threads, config_from_flags


def vocabulary() -> list[tuple[str, frozenset, Optional[str]]]:
    """Training queries: (text, names it denotes, colour or None). No synonyms."""
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


def scene_targets(scene, G: int, stride: int, size: int, keep_aspect: bool = True):
    """Heatmap (G, G), box targets (4, G, G), box weights (G, G), centre cells [(obj, y, x, w)],
    in the model's input: the scene letterboxed to size x size (`clip.to_pixels`)."""
    frame = Letterbox.fit(scene.width, scene.height, size, keep_aspect)
    heat = np.zeros((G, G), np.float32)
    box_t = np.zeros((4, G, G), np.float32)
    box_w = np.zeros((G, G), np.float32)
    cells = []
    ys, xs = np.mgrid[0:G, 0:G]
    for k, o in enumerate(scene.objects):
        x0, y0 = frame.to_canvas(*o.box[:2])
        x1, y1 = frame.to_canvas(*o.box[2:])
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
                                    style=cfg.style, recolor_prob=cfg.recolor_prob,
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
    done, prev_minutes, rng = resume(model, init, seed, rng)
    vocab = vocabulary()[:vocab_limit]
    t0 = time.time()
    Q = text_embeddings(model, [v[0] for v in vocab])                 # (V, D)
    log(f"{len(vocab)} vocabulary queries embedded in {time.time() - t0:.0f}s")
    names = [v[1] for v in vocab]
    colors = [v[2] for v in vocab]
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
        pixels = to_pixels(images, config.image_size, config.letterbox)  # (B, 3, S, S)
        heat_t, box_t, box_w, cell_rows, truth_rows = [], [], [], [], []
        for b, scene in enumerate(scenes):
            h, bt, bw, cells = scene_targets(scene, G, config.stride, config.image_size, config.letterbox)
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


# ----------------------------------------------------------------------------- command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    """`visprog train detector`'s flags: --seed, --clip, --out, --threads, --init, and one
    per DetectorConfig field."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clip", default=None,
                   help="CLIP weights whose tower and text head to start from (default: the bundled ones); "
                        "'none': a fresh tower and a fixed projection of MiniLM (what the shipped detector used)")
    add_run_flags(p, "detector")
    add_config_flags(p, DetectorConfig, rename={"max_steps": "steps"})


def run(args) -> Detector:
    """Train from parsed `visprog train detector` flags."""
    from . import clip as clip_module
    from .weights import weights_path
    apply_threads(args)
    if args.clip == "none":
        torch.manual_seed(args.seed)
        clip = clip_module.CLIP(clip_module.CLIPConfig()).eval()
    else:
        clip = clip_module.load(args.clip or weights_path("clip"))
    for p in clip.parameters():
        p.requires_grad_(False)
    config = config_from_flags(args, DetectorConfig)
    return train(config, args.seed, args.out or weights_path("detector"), clip, init=args.init)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="visprog train detector", description="Train the icon-world "
                                "detector (flags left out: DetectorConfig's defaults).")
    add_arguments(p)
    run(p.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
