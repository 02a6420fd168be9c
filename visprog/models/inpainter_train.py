"""Training the inpainter: the diffusion loss, the loop, and `visprog train inpainter`.

Loss: v-prediction MSE (DDPM noise, cosine schedule, 1000 steps), pixels outside the region
weighted `outside_weight` (they are pasted back from the input anyway); the prompt is
dropped with probability `drop_text` (for classifier-free guidance); bf16 autocast on the
CPU; AdamW, warmup then cosine decay over `max_steps` (`clip_train.learning_rate`); the saved
weights are an EMA of the trained ones.

    visprog train inpainter --seed 0 --threads 1   (the shipped weights: visprog/weights/inpainter.md)
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from typing import Optional

import torch

from .clip_train import learning_rate, resume
from .flags import add_config_flags, add_run_flags, apply_threads, command_line, config_from_flags
from .inpainter import Inpainter, InpainterConfig, noise_scheduler, save, text_condition
from .inpainter_data import examples


def diffusion_loss(model: Inpainter, crops, regions, texts, sched, gen: torch.Generator,
                   cfg: InpainterConfig):
    B = crops.shape[0]
    noise = torch.randn(crops.shape, generator=gen)
    t = torch.randint(0, sched.config.num_train_timesteps, (B,), generator=gen)
    noisy = sched.add_noise(crops, noise, t)
    target = sched.get_velocity(crops, noise, t)
    masked = crops * (1 - regions)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
        v = model(noisy, masked, regions, t, *text_condition(texts)).float()
    w = regions + cfg.outside_weight * (1 - regions)                     # (B, 1, R, R)
    return ((v - target) ** 2 * w).sum() / (w.sum() * 3)


def train(config: InpainterConfig, seed: int, out_path: Optional[str], log=print,
          init: Optional[str] = None, command: str = "") -> Inpainter:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    model = Inpainter(config)
    done, prev_minutes, rng = resume(model, init, seed, rng)
    ema = copy.deepcopy(model).requires_grad_(False)
    sched = noise_scheduler("ddpm")
    params = list(model.parameters())
    opt = torch.optim.AdamW([{"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
                             {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}], lr=config.lr)
    log(f"inpainter: {sum(p.numel() for p in params) / 1e6:.2f} M parameters")
    start, step, avg = time.time(), 0, None
    while step < config.max_steps and time.time() - start < config.minutes * 60:
        lr = learning_rate(config, step, time.time() - start)
        for g in opt.param_groups:
            g["lr"] = lr
        crops, regions, texts = examples(rng, config, config.batch)
        texts = [None if rng.random() < config.drop_text else t for t in texts]
        model.train()
        loss = diffusion_loss(model, crops, regions, texts, sched, gen, config)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(config.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), params):
                pe.lerp_(p, 1 - decay)
        avg = loss.item() if avg is None else 0.95 * avg + 0.05 * loss.item()
        if step % 25 == 0:
            log(f"step {step} loss {loss.item():.4f} avg {avg:.4f} lr {lr:.2e} t {time.time() - start:.0f}s")
        step += 1
    ema.eval()
    if out_path:
        meta = {"seed": seed, "steps": done + step, "command": command,
                "minutes": round(prev_minutes + (time.time() - start) / 60, 2)}
        save(ema, out_path, meta)
        log(f"saved {out_path} after {step} steps ({(time.time() - start) / 60:.1f} min)")
    return ema


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="visprog train inpainter", description="Train the icon-world "
                                "inpainter for Replace (flags left out: InpainterConfig's defaults).")
    p.add_argument("--seed", type=int, default=0)
    actions = add_run_flags(p, "inpainter")
    actions += add_config_flags(p, InpainterConfig, rename={"max_steps": "steps"})
    args = p.parse_args(argv)
    apply_threads(args)
    from .weights import weights_path
    config = config_from_flags(args, InpainterConfig)
    command = command_line(f"visprog train inpainter --seed {args.seed}", args, actions)
    train(config, args.seed, args.out or weights_path("inpainter"), init=args.init, command=command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
