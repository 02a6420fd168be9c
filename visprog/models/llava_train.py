"""Training the VQA model: batches, LLaVA's three stages, and `visprog train vqa`.

Stages (as LLaVA): 1) the LM alone on icon-world question/answer text (no image),
2) the projector alone on captions ('Describe the image.'), LM frozen, 3) projector +
LM on question/answer pairs of every task form (`train`). Training packs several turns
about one image into one sequence, with an attention mask that lets each turn see only
the image and itself, so a packed sequence trains exactly what single-turn inference runs.

    visprog train vqa --seed 0                       # all three stages on the CPU
    visprog train vqa --seed 0 --stages 1 --minutes 4 --out /tmp/stage1.safetensors
    visprog train vqa --seed 0 --stages 2,3 --minutes 70 --init /tmp/stage1.safetensors
    visprog train vqa --seed 0 --device cuda --workers 4 --batch 64 --scenes 40000 --minutes 7.5

The shipped weights' exact commands and measurements: visprog/weights/llava.md. Data:
`--scenes` icon-world scenes rendered with seeds llava_data.TRAIN_SEED_BASE + i (by
`--workers` processes, cached as .npz shards in `--cache`), questions drawn afresh from
their annotations each time; with --workers the same processes build the batches.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .flags import add_config_flags, add_run_flags, apply_threads, command_line, config_from_flags
from .llava import LLaVA, LlavaConfig, side_by_side, statement_prompt
from .llava_data import (answer_ids, build_pool, cell_labels, collate, encode_budget, questions,
                         statements, TRAIN_SEED_BASE)
from .tokenizer import Tokenizer

# ----------------------------------------------------------------------------- batches


@dataclass
class TrainConfig:
    seed: int = 0
    minutes: float = 78.0            # training budget, split over the stages run
    lm_frac: float = 0.05            # stage 1: LM on text
    align_frac: float = 0.08         # stage 2: projector on captions
    batch: int = 16                  # images per step
    turns: int = 12                  # question/answer turns drawn per image ...
    text_tokens: int = 200           # ... and packed while they fit in this many text tokens
    pair_frac: float = 0.1           # share of side-by-side NLVR statement sequences in stage 3
    lr: float = 1.5e-3               # peak learning rate of stages 2-3
    lr_lm_stage1: float = 2e-3       # peak learning rate of stage 1
    weight_decay: float = 0.05
    warmup: int = 30
    log_every: int = 25
    bf16: bool = True                # bf16 autocast for the forward pass (2-3x faster on CPU)
    workers: int = 0                 # DataLoader processes building batches (0: in the training process)
    grounding: float = 0.5           # weight of the image-token grounding loss (stages 2, 3)



def _cosine(step_frac: float, warm: float) -> float:
    return min(1.0, warm) * 0.5 * (1 + math.cos(math.pi * min(step_frac, 1.0)))


class Data:
    """The scene pool: images (N, S, S, 3) uint8, records, and the tower's features of each image."""

    def __init__(self, images: np.ndarray, records: list[dict]):
        self.images, self.records = images, records
        self.feats: Optional[torch.Tensor] = None  # (N, n_image_tokens, D) float16, on the model's device

    def compute_features(self, model: LLaVA, log=print, chunk: int = 256) -> None:
        device = next(model.parameters()).device
        out = []
        t0 = time.time()
        for s in range(0, len(self.images), chunk):
            px = torch.from_numpy(self.images[s:s + chunk]).to(device).permute(0, 3, 1, 2).float() / 255.0
            out.append(model.image_features(px).to(torch.float16))       # (b, N, D)
            if (s // chunk) % 20 == 0:
                log(f"features {s + len(px)}/{len(self.images)} {time.time() - t0:.0f}s")
        self.feats = torch.cat(out)


def cpu_batch(images: np.ndarray, records: list[dict], tok: Tokenizer, cfg: LlavaConfig,
              rng: random.Random, tc: TrainConfig, stage: int):
    """One step's batch, all but the image features (the part DataLoader workers build):
    (scene indices (b,) or None, side-by-side pair pixels (p, S, S, 3) uint8 or None,
    ids, segs, targets, grounding labels (b, N, 3) or None). Stage 1 is text only: each
    row packs whole question/answer turns, with the loss on the questions too."""
    rows = []
    if stage == 1:
        for _ in range(tc.batch * 2):
            rec = records[rng.randrange(len(records))]
            turns = [(q, answer_ids(tok, cfg, rec, kind, refs, a))
                     for kind, q, a, refs in questions(rec, rng, tc.turns)]
            ids, segs, _ = encode_budget(tok, turns, tc.text_tokens)
            tgts = [ids[k + 1] if k + 1 < len(ids) and segs[k + 1] == segs[k] else -1
                    for k in range(len(ids))]
            rows.append((ids, segs, tgts))
        return (None, None, *collate(rows), None)
    n_pairs = int(round(tc.batch * tc.pair_frac)) if stage == 3 else 0
    idx = [rng.randrange(len(records)) for _ in range(tc.batch - n_pairs)]
    for i in idx:
        rec = records[i]
        if stage == 2:
            turns = [("Describe the image.", rec["caption"])]
        else:
            turns = [(q, answer_ids(tok, cfg, rec, kind, refs, a))
                     for kind, q, a, refs in questions(rec, rng, tc.turns)]
        rows.append(encode_budget(tok, turns, tc.text_tokens))
    pair_pixels = None
    if n_pairs:
        pairs = [(rng.randrange(len(records)), rng.randrange(len(records))) for _ in range(n_pairs)]
        for i, j in pairs:
            sts = statements(records[i], records[j], rng, tc.turns)
            rows.append(encode_budget(tok, [(statement_prompt(s), a) for s, a in sts], tc.text_tokens))
        pair_pixels = torch.from_numpy(np.stack([
            np.asarray(side_by_side(images[i], images[j], cfg.image_size)) for i, j in pairs]))
    labels = torch.stack([cell_labels(tok, cfg, records[i]) for i in idx])
    return (torch.tensor(idx), pair_pixels, *collate(rows), labels)


class Batches(torch.utils.data.IterableDataset):
    """The endless `cpu_batch` stream of one stage. With DataLoader workers each worker
    draws from its own generator, seeded from `rng` (a new seed for each stage), so a run is
    reproducible for a given number of workers."""

    def __init__(self, data: Data, model: LLaVA, tc: TrainConfig, stage: int, rng: random.Random):
        self.args = (data.images, data.records, model.tokenizer, model.config)  # not the device features
        self.tc, self.stage, self.rng = tc, stage, rng
        self.seed = rng.getrandbits(64)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = self.rng if info is None else random.Random(self.seed + info.id)
        while True:
            yield cpu_batch(*self.args, rng, self.tc, self.stage)


def batch_stream(data: Data, model: LLaVA, tc: TrainConfig, stage: int, rng: random.Random):
    batches = Batches(data, model, tc, stage, rng)
    if tc.workers == 0:
        return iter(batches)
    return iter(torch.utils.data.DataLoader(batches, batch_size=None, num_workers=tc.workers,
                                            prefetch_factor=8, multiprocessing_context="fork"))


def with_features(model: LLaVA, data: Data, batch):
    """A `cpu_batch` on the model's device, its scene indices replaced by their features
    (pairs' side-by-side images go through the tower here)."""
    device = next(model.parameters()).device
    idx, pair_pixels, ids, segs, tgts, labels = batch
    feats = None
    if idx is not None:
        feats = data.feats[idx.to(device)].float()                       # (b, N, D)
        if pair_pixels is not None:
            px = pair_pixels.to(device).permute(0, 3, 1, 2).float() / 255.0
            feats = torch.cat([feats, model.image_features(px)])          # (b+p, N, D)
    labels = None if labels is None else labels.to(device)
    return feats, ids.to(device), segs.to(device), tgts.to(device), labels


# ----------------------------------------------------------------------------- the stages


def train(model: LLaVA, data: Data, tc: TrainConfig, log=print, stages=(1, 2, 3),
          eval_fn=None) -> dict:
    """LLaVA's stages, each a short explicit loop with AdamW and a cosine schedule, on the
    device the model is on (data.feats must be there too)."""
    torch.manual_seed(tc.seed)
    rng = random.Random(tc.seed)
    device = next(model.parameters()).device
    fracs = {1: tc.lm_frac, 2: tc.align_frac}
    fracs[3] = max(0.0, 1.0 - fracs[1] - fracs[2])
    history = {}
    for stage in stages:
        budget = tc.minutes * 60 * fracs[stage]
        if budget <= 0:
            continue
        if stage == 2:
            params = list(model.projector.parameters())
        elif stage == 1:
            params = model.parameters_lm()
        else:
            params = list(model.parameters())
        for p in model.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        decay = [p for p in params if p.ndim >= 2]
        rest = [p for p in params if p.ndim < 2]
        lr = tc.lr_lm_stage1 if stage == 1 else tc.lr
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                                 {"params": rest, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98),
                                fused=device.type == "cuda")
        model.train()
        stream = batch_stream(data, model, tc, stage, rng)
        t0 = time.time()
        step, ema = 0, None
        while time.time() - t0 < budget:
            frac = (time.time() - t0) / budget
            for g in opt.param_groups:
                g["lr"] = lr * _cosine(frac, (step + 1) / tc.warmup)
            feats, ids, segs, tgts, labels = with_features(model, data, next(stream))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=tc.bf16):
                _, loss = model(feats, ids, segs, tgts)                 # forward only in bf16
                if labels is not None and tc.grounding > 0:
                    loss = loss + tc.grounding * model.grounding_loss(feats[:labels.shape[0]], labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            loss = loss.detach()  # kept on the device: reading it every step would stall a GPU
            ema = loss if ema is None else 0.95 * ema + 0.05 * loss
            if step % tc.log_every == 0:
                log(f"stage {stage} step {step} loss {loss.item():.4f} ema {ema.item():.4f} "
                    f"lr {opt.param_groups[0]['lr']:.2e} t {time.time() - t0:.0f}s")
            if eval_fn is not None and stage == 3 and step > 0 and step % 500 == 0:
                eval_fn(model, step)
                model.train()
            step += 1
        history[f"stage{stage}"] = {"steps": step, "loss": round(0.0 if ema is None else ema.item(), 4),
                                    "minutes": round((time.time() - t0) / 60, 2)}
        log(f"stage {stage} done: {history[f'stage{stage}']}")
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    return history


# ----------------------------------------------------------------------------- scene pool

SHARD = 2000  # scenes per cache file


def _render_shard(job: tuple[str, int, int, int, str]) -> None:
    path, first, count, size, style = job
    arr, rec = build_pool(range(first, first + count), size, style=style)
    np.savez(path + ".tmp.npz", images=arr, records=np.array(json.dumps(rec)))
    os.replace(path + ".tmp.npz", path)  # a shard is complete or absent


def load_pool(n_scenes: int, cache: str, size: int, log=print, workers: int = 1, shard: int = SHARD,
              style: str = "train"):
    """The first n_scenes training scenes in `style` at size x size, rendered once (in
    `workers` processes, `shard` scenes per file) and cached in `cache`."""
    import multiprocessing
    os.makedirs(cache, exist_ok=True)
    suffix = "" if shard == SHARD else f"_of{shard}"
    shards = [(os.path.join(cache, f"pool_{style}{size}{suffix}_{k}.npz"), TRAIN_SEED_BASE + k * shard, shard,
               size, style)
              for k in range((n_scenes + shard - 1) // shard)]
    todo = [s for s in shards if not os.path.exists(s[0])]
    if todo:
        log(f"rendering {len(todo) * shard} scenes into {cache} ({workers} processes)")
        t0 = time.time()
        with multiprocessing.get_context("fork").Pool(max(1, min(workers, len(todo)))) as pool:
            for k, _ in enumerate(pool.imap_unordered(_render_shard, todo), 1):
                log(f"shard {k}/{len(todo)} rendered, {time.time() - t0:.0f}s")
    images, records = [], []
    for k, (path, *_) in enumerate(shards):
        count = min(shard, n_scenes - k * shard)
        d = np.load(path)
        images.append(d["images"][:count])
        records.extend(json.loads(str(d["records"]))[:count])
    return np.concatenate(images), records


# ----------------------------------------------------------------------------- command line

# LlavaConfig fields that are flags, under the names `visprog train vqa` has always used
MODEL_FLAGS = {"vision": "vision", "merge": "merge", "proj_hidden": "proj-hidden", "loc_bins": "loc-bins",
               "vocab_size": "vocab", "n_layer": "layers", "n_head": "heads", "n_embd": "width",
               "style": "style"}


def add_arguments(p: argparse.ArgumentParser) -> list[argparse.Action]:
    """`visprog train vqa`'s flags (every TrainConfig field, the LlavaConfig fields of
    MODEL_FLAGS, and the run's own); returns them all, for `command_line`."""
    actions = add_config_flags(p, TrainConfig)
    actions += add_config_flags(p, LlavaConfig, rename=MODEL_FLAGS,
                                skip=[f for f in LlavaConfig.__dataclass_fields__ if f not in MODEL_FLAGS])
    actions += add_run_flags(p, "llava")
    actions += [
        p.add_argument("--stages", default="1,2,3", help="comma-separated LLaVA stages to run"),
        p.add_argument("--scenes", type=int, default=20000, help="training scenes in the pool"),
        p.add_argument("--cache", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "llava_data"),
                       help="folder of the rendered scene pool"),
        p.add_argument("--device", default="cpu", help="where to train: cpu or cuda"),
        p.add_argument("--log", default=None, help="also append the log to this file")]
    return actions


def cmd_train(args, actions) -> int:
    from .weights import weights_path
    apply_threads(args)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"visprog train vqa: --device {args.device}, but torch sees no CUDA device "
              "(use --device cpu)", file=sys.stderr)
        return 2
    log_file = open(args.log, "a") if args.log else None

    def log(msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        if log_file:
            log_file.write(line + "\n")
            log_file.flush()

    stages = tuple(int(s) for s in args.stages.split(","))
    start = time.time()
    images, records = load_pool(args.scenes, args.cache, LlavaConfig.image_size, log,
                                workers=max(1, args.workers), style=args.style)
    log(f"pool: {len(records)} scenes")
    if args.init:
        from .llava import load, make_tower
        model = load(args.init)
        previous = {k: json.loads(v) for k, v in model.meta.items()}  # kept whole in the new file
        log(f"continuing from {args.init}")
        if args.vision != model.config.vision:  # e.g. stage 1 ran before the CLIP weights existed
            model.config.vision = args.vision
            model.attach_tower(make_tower(model.config))
            log(f"image tower: {args.vision}")
    else:
        from .llava import make_tower
        from .llava_data import train_tokenizer
        torch.manual_seed(args.seed)
        tok = train_tokenizer(records[:3000], args.vocab_size, args.seed)
        default = LlavaConfig()
        turn = default.block_size - default.n_image_tokens  # positions for a turn, whatever the merge
        grid = default.vision_grid // args.merge
        cfg = config_from_flags(args, LlavaConfig, vocab_size=tok.vocab_size, block_size=grid * grid + turn)
        model = LLaVA(cfg, tok)
        model.attach_tower(make_tower(cfg))
        previous = None
    model.to(args.device)
    data = Data(images, records)
    if any(s in stages for s in (2, 3)):
        data.compute_features(model, log)
    tc = config_from_flags(args, TrainConfig)
    share = {1: tc.lm_frac, 2: tc.align_frac, 3: 1 - tc.lm_frac - tc.align_frac}
    total = sum(share[s] for s in stages)
    tc.lm_frac, tc.align_frac = share[1] / total, share[2] / total
    for s in (1, 2):
        if s not in stages:
            setattr(tc, "lm_frac" if s == 1 else "align_frac", 0.0)

    def checkpoint(m, step):
        save(m, out + ".partial", {"seed": args.seed, "step": step})

    from .llava import save
    out = args.out or weights_path("llava")
    history = train(model, data, tc, log, stages=stages, eval_fn=checkpoint)
    history["scenes"] = len(records)
    meta = {"seed": args.seed, "history": history,
            "command": command_line("visprog train vqa", args, actions),
            "wall_minutes": round((time.time() - start) / 60, 2)}
    if previous:
        meta["continued_from"] = previous  # the runs before this one, newest first
    save(model, out, meta)
    log(f"saved {out} ({os.path.getsize(out) / 1e6:.1f} MB) after {meta['wall_minutes']} min")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="visprog train vqa", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = add_arguments(p)
    return cmd_train(p.parse_args(argv), actions)


if __name__ == "__main__":
    raise SystemExit(main())
