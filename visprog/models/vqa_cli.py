"""`visprog train vqa`: train the LLaVA-style VQA/pointing model (visprog/models/llava.py).

    visprog train vqa --seed 0                       # all three stages (78 min), writes the bundled weights
    visprog train vqa --seed 0 --stages 1 --minutes 4 --out /tmp/stage1.safetensors
    visprog train vqa --seed 0 --stages 2,3 --minutes 70 --init /tmp/stage1.safetensors

Data: `--scenes` icon-world scenes rendered with seeds llava.TRAIN_SEED_BASE + i (cached
as .npz shards in `--cache`), questions drawn afresh from their annotations each time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def load_pool(n_scenes: int, cache: str, size: int, log=print, shard: int = 2000):
    """The first n_scenes training scenes at size x size, rendered once and cached in `cache`."""
    import numpy as np
    from . import llava
    os.makedirs(cache, exist_ok=True)
    images, records = [], []
    for k in range((n_scenes + shard - 1) // shard):
        path = os.path.join(cache, f"pool{size}_{k}.npz")
        count = min(shard, n_scenes - k * shard)
        if not os.path.exists(path):
            log(f"rendering scenes {k * shard}..{k * shard + count} -> {path}")
            arr, rec = llava.build_pool(range(llava.TRAIN_SEED_BASE + k * shard,
                                              llava.TRAIN_SEED_BASE + k * shard + shard), size, log=log)
            np.savez(path, images=arr, records=np.array(json.dumps(rec)))
        d = np.load(path)
        images.append(d["images"][:count])
        records.extend(json.loads(str(d["records"]))[:count])
    return np.concatenate(images), records


def cmd_train(args) -> int:
    import torch
    from . import llava, weights_path
    torch.set_num_threads(args.threads)
    log_file = open(args.log, "a") if args.log else None

    def log(msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        if log_file:
            log_file.write(line + "\n")
            log_file.flush()

    stages = tuple(int(s) for s in args.stages.split(","))
    start = time.time()
    images, records = load_pool(args.scenes, args.cache, llava.LlavaConfig.image_size, log)
    log(f"pool: {len(records)} scenes")
    if args.init:
        model = llava.load(args.init)
        history = json.loads(model.meta.get("history", "{}"))
        log(f"continuing from {args.init}")
        if args.vision != model.config.vision:  # e.g. stage 1 ran before the CLIP weights existed
            model.config.vision = args.vision
            model.attach_tower(llava.make_tower(model.config))
            log(f"image tower: {args.vision}")
    else:
        torch.manual_seed(args.seed)
        tok = llava.train_tokenizer(records[:3000], args.vocab, args.seed)
        cfg = llava.LlavaConfig(vision=args.vision, vocab_size=tok.vocab_size, n_layer=args.layers,
                                n_embd=args.width, n_head=args.heads)
        model = llava.LLaVA(cfg, tok)
        model.attach_tower(llava.make_tower(cfg))
        history = {}
    data = llava.Data(images, records)
    if any(s in stages for s in (2, 3)):
        data.compute_features(model, log, bf16=args.bf16)
    tc = llava.TrainConfig(seed=args.seed, minutes=args.minutes, batch=args.batch, bf16=args.bf16)
    if args.lr:
        tc.lr = args.lr
    if args.grounding is not None:
        tc.grounding = args.grounding
    share = {1: tc.lm_frac, 2: tc.align_frac, 3: 1 - tc.lm_frac - tc.align_frac}
    total = sum(share[s] for s in stages)
    tc.lm_frac, tc.align_frac = share[1] / total, share[2] / total
    for s in (1, 2):
        if s not in stages:
            setattr(tc, "lm_frac" if s == 1 else "align_frac", 0.0)

    def checkpoint(m, step):
        llava.save(m, out + ".partial", {"seed": args.seed, "history": history, "step": step})

    out = args.out or weights_path("llava")
    h = llava.train(model, data, tc, log, stages=stages, eval_fn=checkpoint)
    history.update(h)
    history["scenes"] = len(records)
    meta = {"seed": args.seed, "history": history,
            "command": "visprog train vqa " + " ".join(sys.argv[sys.argv.index("vqa") + 1:] if "vqa" in sys.argv else []),
            "wall_minutes": round((time.time() - start) / 60, 2)}
    llava.save(model, out, meta)
    log(f"saved {out} ({os.path.getsize(out) / 1e6:.1f} MB) after {meta['wall_minutes']} min")
    return 0


def add_train_commands(models) -> None:
    """`visprog train vqa`."""
    p = models.add_parser("vqa", help="train the LLaVA-style VQA and pointing model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=78.0, help="training budget (all stages given)")
    p.add_argument("--stages", default="1,2,3", help="comma-separated LLaVA stages to run")
    p.add_argument("--init", default=None, help="continue from these weights (e.g. after stage 1)")
    p.add_argument("--out", default=None, help="default: visprog/weights/llava.safetensors")
    p.add_argument("--scenes", type=int, default=20000)
    p.add_argument("--cache", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "llava_data"))
    p.add_argument("--vision", default="detector", choices=["detector", "clip", "random-clip"])
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=None, help="peak learning rate of stages 2-3 (default 1.5e-3)")
    p.add_argument("--grounding", type=float, default=None,
                   help="weight of the image-token grounding loss (default 0.5)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 is fastest on a shared, oversubscribed CPU)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--log", default=None, help="also append the log to this file")
    p.set_defaults(func=cmd_train)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="visprog")
    add_train_commands(parser.add_subparsers(dest="model", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
