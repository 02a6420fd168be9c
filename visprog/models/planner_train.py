"""Training the planner: the copy-aware loss, the loop, and `visprog train planner`.

Reads the icon world's instruction -> program corpus, caches the MiniLM states once, and
trains with AdamW and a cosine schedule for `--steps` steps or `--minutes`, whichever ends
first.

    visprog train planner --seed 0 --per-task 4000 --steps 6000 --minutes 19   (planner.md)
"""

from __future__ import annotations

import argparse
import math
import random
import time
from pathlib import Path
from typing import Optional

import torch

from ..planners import grammar as G
from .flags import add_config_flags, add_run_flags, apply_threads, command_line, config_from_flags
from .planner import _SOURCE_CACHE, PlannerConfig, PlannerModel, encode_sources
from .planner_data import (SEED_BASE, _length_batches, augment, build_vocab, collate, corpus,
                           find_phrases, make_example, merge_phrases)


def loss_fn(scores, gold, valid):
    """-log of the total probability of every way (generate or copy) to emit the target."""
    logz = torch.logsumexp(scores, -1)
    good = torch.logsumexp(scores.masked_fill(~gold, float("-inf")), -1)
    nll = (logz - good)[valid]
    return nll.mean()


def train(config: PlannerConfig, pairs, registry, *, log=print, out: Optional[Path] = None,
          time_limit: Optional[float] = None, meta: Optional[dict] = None,
          augment_share: float = 0.0, source_cache: Optional[Path] = None,
          task_dropout: float = 0.15) -> PlannerModel:
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    tokenized = []
    if augment_share:
        pairs = list(pairs) + [(augment(p[0], rng), *p[1:]) for p in pairs
                               if rng.random() < augment_share]
    for text, inputs, program, *rest in pairs:
        try:
            toks = G.program_tokens(program, registry)
        except ValueError as exc:
            log(f"skipped (cannot tokenize: {exc}): {program!r}")
            continue
        tokenized.append((text, inputs, toks, rest[0] if rest else None))
    phrases = find_phrases([(t, k) for t, _, k, _ in tokenized])
    tokenized = [(t, i, merge_phrases(k, phrases), task) for t, i, k, task in tokenized]
    log(f"{len(phrases)} phrase tokens; mean program length "
        f"{sum(len(k) for _, _, k, _ in tokenized) / max(len(tokenized), 1):.1f} tokens")
    vocab = build_vocab([(t, k) for t, _, k, _ in tokenized], registry)
    task_modules: dict[str, set] = {}
    for _, _, toks, task in tokenized:
        if task:
            task_modules.setdefault(task, set()).update(t[4:] for t in toks if t.startswith("mod:"))
    meta = dict(meta or {}, task_modules={t: sorted(m) for t, m in sorted(task_modules.items())})
    spec = G.Spec(vocab, registry)
    model = PlannerModel(vocab, config)
    model.meta = meta
    log(f"vocab {len(vocab)} tokens; {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")
    start = time.time()
    if source_cache is not None and Path(source_cache).exists():
        _SOURCE_CACHE.update(torch.load(source_cache, weights_only=False))
    known = len(_SOURCE_CACHE)
    sources = encode_sources([t for t, _, _, _ in tokenized])
    if source_cache is not None and len(_SOURCE_CACHE) > known:
        torch.save({t: _SOURCE_CACHE[t] for t, _, _, _ in tokenized}, source_cache)
    log(f"encoded {len(sources)} instructions with MiniLM in {time.time() - start:.0f}s")
    examples, dropped = [], 0
    for (text, inputs, toks, task), src in zip(tokenized, sources):
        ex = make_example(src, toks, model.index, task)
        if ex is None or len(ex.ids) >= config.max_len:
            dropped += 1
            continue
        examples.append(ex)
    if tokenized:
        for text, inputs, toks, _ in tokenized[:200]:
            G.replay(toks, spec, inputs)  # the grammar accepts the data
    log(f"{len(examples)} examples ({dropped} dropped)")
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    V = len(vocab)
    model.train()
    t0 = time.time()
    batches: list = []
    for step in range(config.steps):
        progress = step / config.steps
        if time_limit:
            progress = max(progress, (time.time() - t0) / time_limit)
        lr = config.lr * min(1.0, (step + 1) / config.warmup) * 0.5 * (
            1 + math.cos(math.pi * min(progress, 1.0)))
        for group in opt.param_groups:
            group["lr"] = lr
        if not batches:
            batches = _length_batches(examples, config.batch, rng)
        batch = batches.pop()
        states, mask, word_start, inp, cps, gold, valid, tasks = collate(batch, V)
        tasks = tasks.masked_fill(torch.rand(len(batch)) < task_dropout, 0)  # sometimes unknown
        memory = model.memory(states, mask, tasks)
        scores = model(memory, mask, word_start, inp, cps)
        loss = loss_fn(scores, gold, valid)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == config.steps - 1:
            log(f"step {step} loss {loss.item():.4f} lr {lr:.2e} {time.time() - t0:.0f}s")
        if progress >= 1.0:
            log(f"time limit reached at step {step}")
            break
    model.eval()
    meta["steps_done"] = step + 1
    meta["train_seconds"] = round(time.time() - t0)
    model.meta = meta
    if out is not None:
        model.save(out, meta)
        log(f"saved {out} ({Path(out).stat().st_size / 1e6:.1f} MB)")
    return model


def add_arguments(p: argparse.ArgumentParser) -> list[argparse.Action]:
    """`visprog train planner`'s flags: every PlannerConfig field (--steps, --seed, ...) and
    the run's own; returns them all, for `command_line`."""
    actions = add_config_flags(p, PlannerConfig)
    actions += add_run_flags(p, "planner", init=False)
    actions += [
        p.add_argument("--per-task", type=int, default=4000, help="training items per task"),
        p.add_argument("--minutes", type=float, default=19.0, help="wall-clock training budget"),
        p.add_argument("--corpus-cache", default=None, help="JSON-lines file keeping the pairs (and "
                       "FILE.sources.pt the MiniLM states) between runs")]
    return actions


def main(argv=None) -> int:
    from .weights import weights_path
    from ..tools import registry
    parser = argparse.ArgumentParser(prog="visprog train planner",
                                     description="Train the in-repo planner on the icon world's programs.")
    actions = add_arguments(parser)
    args = parser.parse_args(argv)
    apply_threads(args)
    config = config_from_flags(args, PlannerConfig)
    start = time.time()
    log = lambda text: print(text, flush=True)  # noqa: E731
    pairs = corpus(args.per_task, args.seed, Path(args.corpus_cache) if args.corpus_cache else None,
                   log=log)
    meta = {"command": command_line("visprog train planner", args, actions),
            "seed": args.seed, "pairs": len(pairs), "per_task": args.per_task, "seed_base": SEED_BASE}
    train(config, pairs, registry, out=Path(args.out or weights_path("planner")),
          time_limit=args.minutes * 60, meta=meta, augment_share=0.3, log=log,
          source_cache=Path(args.corpus_cache + ".sources.pt") if args.corpus_cache else None)
    print(f"trained in {(time.time() - start) / 60:.1f} minutes", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
