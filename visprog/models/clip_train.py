"""Training the icon-world CLIP: the losses, the loop, and `visprog train clip`.

The symmetric contrastive loss is multi-positive (a caption like "an animal" is true of
many crops); a second term, on the crops only, asks every true caption to be near its
crop, not just one of them, which keeps 'person' as near each character's crops as their
own names (the tools read what a word denotes from that). A hard-negative term makes each
two-object scene prefer its caption to the swapped one, and a text-geometry term keeps
MiniLM's neighbourhoods in the text head so unseen words ('puppy') land near their
neighbours ('dog'). Saved weights carry each catalogue name's image prototype.

    visprog train clip --seed 0 --steps 4386 --minutes 200   (the shipped weights: clip.md)
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import time
from typing import Optional

import torch
import torch.nn.functional as F

from ..iconworld.language import margin_box, with_article
from .clip import CLIP, CLIPConfig, read, save
from .clip_data import TEMPLATES, catalog_phrases, geometry_pool, make_batch
from .flags import add_config_flags, add_run_flags, apply_threads, config_from_flags

# ----------------------------------------------------------------------------- losses


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


def learning_rate(config, step: int, elapsed: float) -> float:
    """Warmup, then a cosine decay that ends where the run ends: at `minutes` of wall clock or
    at `max_steps`, whichever comes first. So `--steps N` with a generous `--minutes` decays
    over exactly N steps on any machine, and repeats a run's step count on a slower one."""
    frac = max(elapsed / (config.minutes * 60), step / config.max_steps)
    return config.lr * min(1.0, (step + 1) / config.warmup) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))


def resume(model, init: Optional[str], seed: int, rng: random.Random) -> tuple[int, float, random.Random]:
    """(steps done, minutes spent, the data rng) for a run: from scratch, or continuing the
    saved weights `init` (loaded into `model`) with an rng of its own for the steps to come."""
    if not init:
        return 0, 0.0, rng
    from .domain import Domain
    state, meta = read(init)
    # A detector file also carries the domain check: it is fit anew on the new weights
    # (`visprog train domain`), so a continued run leaves its tensors out.
    Domain.from_state(state, None)
    model.load_state_dict(state)
    done = meta.get("steps", 0)
    return done, meta.get("minutes", 0.0), random.Random(seed * 1000 + done)


@torch.no_grad()
def name_prototypes(model: CLIP, n_scenes: int = 150, seed: int = 1_800_000_000):
    """(names, (N, D)): the mean L2-normalised image embedding of each catalogue name's crops
    (`language.CROP_MARGIN`) over `n_scenes` rendered scenes. The Loc backend uses them to read which
    names a query denotes: 'animal' sits near every animal's prototype, 'dog' near one."""
    from ..iconworld import catalog
    from ..iconworld.render import random_scene
    names = catalog.all_names()
    sums = torch.zeros(len(names), model.config.embed_dim)
    counts = torch.zeros(len(names))
    for i in range(n_scenes):
        image, scene = random_scene(seed + i, n_objects=(3, 8), style=model.config.style, recolor_prob=0.3)
        boxes = [margin_box(o.box, image.width, image.height) for o in scene.objects]
        e = model.encode_image([image.crop(b) for b in boxes])
        for o, v in zip(scene.objects, e):
            k = names.index(o.category)
            sums[k] += v
            counts[k] += 1
    return names, F.normalize(sums / counts.clamp(min=1)[:, None], dim=-1)


def save_with_prototypes(model: CLIP, path: str, meta: dict) -> None:
    names, protos = name_prototypes(model)
    save(model, path, {**meta, "prototype_names": names}, extra={"name_prototypes": protos})



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
            phrases = list(dict.fromkeys(rng.choice(TEMPLATES).format(with_article(w))
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


# ----------------------------------------------------------------------------- command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    """`visprog train clip`'s flags: --seed, --out, --threads, --init, and one per CLIPConfig field."""
    p.add_argument("--seed", type=int, default=0)
    add_run_flags(p, "clip")
    add_config_flags(p, CLIPConfig, rename={"max_steps": "steps"})


def run(args) -> CLIP:
    """Train from parsed `visprog train clip` flags."""
    from .weights import weights_path
    apply_threads(args)
    config = config_from_flags(args, CLIPConfig)
    return train(config, args.seed, args.out or weights_path("clip"), init=args.init)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="visprog train clip",
                                description="Train the icon-world CLIP (flags left out: CLIPConfig's defaults).")
    add_arguments(p)
    run(p.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
