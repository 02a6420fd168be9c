"""Training the segmenter: losses, the loop, and `visprog train segmenter`.

Loss (SAM's): per prompt, focal (x `focal_weight`) + dice (x `dice_weight`) of each of
the K candidate masks against the target; only the best candidate's loss counts (SAM's min
over the multimask outputs), plus the MSE between each candidate's predicted IoU and its
actual IoU (x `iou_weight`). As Mask2Former does, the mask losses are taken at sampled
pixels (`loss_points` per mask, half of them on the target's boundary: `loss_pixels`) of the
full-resolution logits, not at all 256x256 (a third of the step time), and the IoU target
is the importance-weighted estimate from the same pixels. AdamW, linear warmup, cosine decay to
the end of the run (`clip_train.learning_rate`); the tower starts from the detector's
tower and trains at `tower_lr` x lr (its BatchNorm statistics stay frozen).

    visprog train segmenter --seed 0 --threads 1   (the shipped weights: segmenter.md)
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from typing import Optional

import torch
import torch.nn.functional as F

from .clip import CLIPConfig, save
from .clip_train import learning_rate, resume
from .flags import add_config_flags, add_run_flags, apply_threads, config_from_flags
from .segmenter import Segmenter, SegmenterConfig
from .segmenter_data import make_batch


def focal_dice(logits, target, alpha: float = 0.25):
    """Sigmoid focal loss (gamma 2, mean over pixels) and 1 - soft dice of each candidate:
    logits (N, K, P), target (N, 1, P) in {0, 1} (P pixels) -> two (N, K). (Written with z = the
    logit signed by the target, so that it is few passes over the N*K*H*W values.)"""
    t, x = target, logits
    z = x * (2 * t - 1)                                   # > 0 where right
    q = torch.sigmoid(-z)                                 # 1 - p_t
    a = (1 - alpha) + (2 * alpha - 1) * t                 # alpha_t
    focal = (F.softplus(-z) * q * q * a).mean(-1)
    p = torch.sigmoid(x)
    dice = 1 - (2 * (p * t).sum(-1) + 1) / (p.sum(-1) + t.sum(-1) + 1)
    return focal, dice


def loss_pixels(targets, boxes, n: int, generator=None):
    """Flat pixel indices (N, n) where each mask's loss is taken, and each one's importance
    weight (N, n) (1 / (n * its sampling probability): weighted sums estimate full-image
    sums). A quarter uniform over the image, a quarter uniform in the target's box (8 px
    margin), half on its boundary (pixels within 2 px of a pixel of the other side)."""
    N, S, _ = targets.shape
    t = targets[:, None].float()
    edge = (F.max_pool2d(t, 5, 1, 2) - (-F.max_pool2d(-t, 5, 1, 2)))[:, 0].flatten(1)  # (N, S*S)
    ys = torch.arange(S)[None, :, None]
    xs = torch.arange(S)[None, None, :]
    b = boxes.round().long()
    inbox = ((ys >= b[:, 1, None, None] - 8) & (ys < b[:, 3, None, None] + 8)
             & (xs >= b[:, 0, None, None] - 8) & (xs < b[:, 2, None, None] + 8)).flatten(1).float()
    q = 0.25 / S ** 2 + 0.25 * inbox / inbox.sum(1, keepdim=True).clamp(min=1)
    q = q + torch.where(edge.sum(1, keepdim=True) > 0, 0.5 * edge / edge.sum(1, keepdim=True).clamp(min=1),
                        torch.full_like(edge, 0.5 / S ** 2))
    idx = torch.multinomial(q, n, replacement=True, generator=generator)      # (N, n)
    return idx, 1.0 / (n * q.gather(1, idx))


def object_boxes(targets):
    """Tight boxes (N, 4) of the target masks (N, S, S)."""
    out = torch.zeros(len(targets), 4)
    for n, m in enumerate(targets):
        ys, xs = torch.where(m)
        out[n] = torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return out


def losses(model: Segmenter, batch, cfg: SegmenterConfig, generator=None):
    """(total, mask loss, IoU loss, mean IoU of the best candidate) for one batch."""
    images, index, coords, kinds, targets = batch
    if cfg.loss_points:
        pixels, weight = loss_pixels(targets, object_boxes(targets), cfg.loss_points, generator)
        target = targets.flatten(1).gather(1, pixels)[:, None].float()            # (N, 1, P)
    else:
        pixels, weight, target = None, None, targets[:, None].float().flatten(2)
    logits, iou_pred = model(images, index, coords, kinds, pixels)             # (N, K, P), (N, K)
    logits = logits.flatten(2)
    focal, dice = focal_dice(logits, target)
    per = cfg.focal_weight * focal + cfg.dice_weight * dice                    # (N, K)
    best = per.argmin(1)                                                       # (N,)
    mask_loss = per.gather(1, best[:, None]).mean()
    with torch.no_grad():  # each candidate's IoU (importance-weighted estimate when sampled)
        m = (logits > 0).float()
        w = torch.ones_like(target) if weight is None else weight[:, None]
        inter = (m * target * w).sum(-1)
        actual = (inter / ((m * w).sum(-1) + (target * w).sum(-1) - inter).clamp(min=1e-6)).clamp(0, 1)
    iou_loss = F.mse_loss(iou_pred, actual)
    best_iou = actual.gather(1, best[:, None]).mean()
    return mask_loss + cfg.iou_weight * iou_loss, mask_loss, iou_loss, best_iou


def train(config: SegmenterConfig, seed: int, out_path: Optional[str], tower_state: Optional[dict],
          clip_config: CLIPConfig, log=print, init: Optional[str] = None) -> Segmenter:
    """Train for `config.minutes` (or `max_steps`) from `tower_state` (the detector's tower);
    `init` continues from saved segmenter weights."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = Segmenter(config, clip_config)
    if tower_state is not None:
        model.tower.load_state_dict(tower_state)
    done, prev_minutes, rng = resume(model, init, seed, rng)
    if config.tower_lr == 0:
        model.tower.requires_grad_(False)
    groups = []
    for in_tower, scale in ((True, config.tower_lr), (False, 1.0)):
        params = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("tower.") == in_tower]
        groups += [{"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay, "scale": scale},
                   {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0, "scale": scale}]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr)
    start, step = time.time(), 0
    while step < config.max_steps and time.time() - start < config.minutes * 60:
        lr = learning_rate(config, step, time.time() - start)
        for g in opt.param_groups:
            g["lr"] = lr * g["scale"]
        batch = make_batch(rng, config)
        model.train()
        model.tower.eval()            # BatchNorm statistics stay the detector's
        loss, mask_loss, iou_loss, best_iou = losses(model, batch, config)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 25 == 0:
            log(f"step {step} loss {loss.item():.4f} mask {mask_loss.item():.4f} iou {iou_loss.item():.4f} "
                f"best-iou {best_iou.item():.3f} lr {lr:.2e} t {time.time() - start:.0f}s")
        step += 1
    model.eval()
    if out_path:
        meta = {"config": dataclasses.asdict(config), "clip_config": dataclasses.asdict(clip_config),
                "seed": seed, "steps": done + step,
                "minutes": round(prev_minutes + (time.time() - start) / 60, 2)}
        save(model, out_path, meta)
        log(f"saved {out_path} after {step} steps")
    return model


# ----------------------------------------------------------------------------- command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    """`visprog train segmenter`'s flags: --seed, --detector, --out, --threads, --init, and
    one per SegmenterConfig field."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--detector", default=None,
                   help="detector weights whose image tower to start from (default: the bundled ones); "
                        "'none': a fresh tower")
    add_run_flags(p, "segmenter")
    add_config_flags(p, SegmenterConfig, rename={"max_steps": "steps"})


def run(args) -> Segmenter:
    """Train from parsed `visprog train segmenter` flags."""
    from .weights import weights_path
    apply_threads(args)
    if args.detector == "none":
        tower_state, clip_config = None, CLIPConfig()
    else:
        from .detector import load as load_detector
        det = load_detector(args.detector or weights_path("detector"))
        tower_state, clip_config = det.tower.state_dict(), det.clip_config
    config = config_from_flags(args, SegmenterConfig)
    return train(config, args.seed, args.out or weights_path("segmenter"), tower_state, clip_config,
                 init=args.init)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="visprog train segmenter", description="Train the icon-world "
                                "promptable segmenter (flags left out: SegmenterConfig's defaults).")
    add_arguments(p)
    run(p.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
