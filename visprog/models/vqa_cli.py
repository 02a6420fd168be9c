"""`visprog train vqa`: train the LLaVA-style VQA/pointing model (visprog/models/llava.py).

    visprog train vqa --seed 0                       # all three stages on the CPU (78 min)
    visprog train vqa --seed 0 --stages 1 --minutes 4 --out /tmp/stage1.safetensors
    visprog train vqa --seed 0 --stages 2,3 --minutes 70 --init /tmp/stage1.safetensors
    visprog train vqa --seed 0 --device cuda --workers 4 --batch 64 --scenes 40000 --minutes 7.5

The bundled weights' exact commands are in visprog/weights/llava.md. Data: `--scenes`
icon-world scenes rendered with seeds llava.TRAIN_SEED_BASE + i (by `--workers`
processes, cached as .npz shards in `--cache`), questions drawn afresh from their
annotations each time; with --workers the same processes build the batches.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


SHARD = 2000  # scenes per cache file


def _render_shard(job: tuple[str, int, int, int]) -> None:
    import numpy as np
    from . import llava
    path, first, count, size = job
    arr, rec = llava.build_pool(range(first, first + count), size)
    np.savez(path + ".tmp.npz", images=arr, records=np.array(json.dumps(rec)))
    os.replace(path + ".tmp.npz", path)  # a shard is complete or absent


def load_pool(n_scenes: int, cache: str, size: int, log=print, workers: int = 1, shard: int = SHARD):
    """The first n_scenes training scenes at size x size, rendered once (in `workers`
    processes, `shard` scenes per file) and cached in `cache`."""
    import multiprocessing
    import numpy as np
    from . import llava
    os.makedirs(cache, exist_ok=True)
    suffix = "" if shard == SHARD else f"_of{shard}"
    shards = [(os.path.join(cache, f"pool{size}{suffix}_{k}.npz"), llava.TRAIN_SEED_BASE + k * shard, shard, size)
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


def cmd_train(args) -> int:
    import torch
    from . import llava, weights_path
    torch.set_num_threads(args.threads)
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
    images, records = load_pool(args.scenes, args.cache, llava.LlavaConfig.image_size, log,
                                workers=max(1, args.workers))
    log(f"pool: {len(records)} scenes")
    if args.init:
        model = llava.load(args.init)
        previous = {k: json.loads(v) for k, v in model.meta.items()}  # kept whole in the new file
        log(f"continuing from {args.init}")
        if args.vision != model.config.vision:  # e.g. stage 1 ran before the CLIP weights existed
            model.config.vision = args.vision
            model.attach_tower(llava.make_tower(model.config))
            log(f"image tower: {args.vision}")
    else:
        torch.manual_seed(args.seed)
        tok = llava.train_tokenizer(records[:3000], args.vocab, args.seed)
        default = llava.LlavaConfig()
        turn = default.block_size - default.n_image_tokens  # positions for a turn, whatever the merge
        grid = default.vision_grid // args.merge
        cfg = llava.LlavaConfig(vision=args.vision, vocab_size=tok.vocab_size, n_layer=args.layers,
                                n_embd=args.width, n_head=args.heads, merge=args.merge,
                                block_size=grid * grid + turn)
        model = llava.LLaVA(cfg, tok)
        model.attach_tower(llava.make_tower(cfg))
        previous = None
    model.to(args.device)
    data = llava.Data(images, records)
    if any(s in stages for s in (2, 3)):
        data.compute_features(model, log)
    tc = llava.TrainConfig(seed=args.seed, minutes=args.minutes, batch=args.batch, bf16=args.bf16,
                           workers=args.workers)
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
        llava.save(m, out + ".partial", {"seed": args.seed, "step": step})

    out = args.out or weights_path("llava")
    history = llava.train(model, data, tc, log, stages=stages, eval_fn=checkpoint)
    history["scenes"] = len(records)
    meta = {"seed": args.seed, "history": history,
            "command": command_line(args),
            "wall_minutes": round((time.time() - start) / 60, 2)}
    if previous:
        meta["continued_from"] = previous  # the runs before this one, newest first
    llava.save(model, out, meta)
    log(f"saved {out} ({os.path.getsize(out) / 1e6:.1f} MB) after {meta['wall_minutes']} min")
    return 0


def command_line(args) -> str:
    """The run's `visprog train vqa` command with every option spelled out, defaults too."""
    words = ["visprog train vqa"]
    for name in args.options:
        value, flag = getattr(args, name), "--" + name.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + name)
        elif value is not None:
            words.append(f"{flag} {value}")
    return " ".join(words)


def add_train_commands(models) -> None:
    """`visprog train vqa`."""
    p = models.add_parser("vqa", help="train the LLaVA-style VQA and pointing model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options = []

    def add(*names, **kw):
        options.append(p.add_argument(*names, **kw).dest)

    add("--seed", type=int, default=0)
    add("--minutes", type=float, default=78.0, help="training budget (all stages given)")
    add("--stages", default="1,2,3", help="comma-separated LLaVA stages to run")
    add("--init", default=None, help="continue from these weights (e.g. after stage 1)")
    add("--out", default=None, help="default: visprog/weights/llava.safetensors")
    add("--scenes", type=int, default=20000)
    add("--cache", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "llava_data"))
    add("--vision", default="detector", choices=["detector", "clip", "random-clip"])
    add("--width", type=int, default=128)
    add("--layers", type=int, default=4)
    add("--heads", type=int, default=4)
    add("--merge", type=int, default=2, choices=[1, 2],
        help="merge m x m patch tokens into one image token (1: 576 image tokens, 2: 144)")
    add("--vocab", type=int, default=1024)
    add("--batch", type=int, default=16)
    add("--lr", type=float, default=None, help="peak learning rate of stages 2-3 (default 1.5e-3)")
    add("--grounding", type=float, default=None,
        help="weight of the image-token grounding loss (default 0.5)")
    add("--threads", type=int, default=1,
        help="torch threads (1 is fastest on a shared, oversubscribed CPU)")
    add("--device", default="cpu", help="where to train: cpu or cuda")
    add("--workers", type=int, default=0,
        help="processes that render the scenes and build batches (0: the training process)")
    add("--bf16", action=argparse.BooleanOptionalAction, default=True)
    add("--log", default=None, help="also append the log to this file")
    p.set_defaults(func=cmd_train, options=options)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="visprog")
    add_train_commands(parser.add_subparsers(dest="model", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
