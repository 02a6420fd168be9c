"""The planner's data: the icon world's instruction -> program corpus, light rewordings,
the program-token vocabulary and phrase tokens, and padded training examples."""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..planners import grammar as G
from .planner import TASKS, Source, _pad_sources, _word_spans, task_ids

def build_vocab(pairs: list[tuple[str, list[str]]], registry, min_count: int = 2) -> list[str]:
    """Base tokens, every structural token seen, and string words that must be *generated*
    (seen at least `min_count` times when not in the instruction); other words are copied."""
    vocab = G.base_vocab(registry)
    structural: dict[str, int] = {}
    generated: dict[str, int] = {}
    for text, tokens in pairs:
        source = {w.lower() for _, _, w in _word_spans(text)}
        for tok in tokens:
            if tok.startswith("w:"):
                if tok[2:] not in source:
                    generated[tok] = generated.get(tok, 0) + 1
            elif tok.startswith("num:") and tok[4:] in source:
                continue
            else:
                structural[tok] = structural.get(tok, 0) + 1
    vocab += sorted(structural)
    vocab += sorted(t for t, n in generated.items() if n >= min_count)
    return list(dict.fromkeys(vocab))


def find_phrases(pairs: list[tuple[str, list[str]]], min_count: int = 10, max_words: int = 8) -> set[str]:
    """Frequent runs of generated (not copied) words inside string literals, e.g. 'How many',
    'are in the image?': one token each, so programs are shorter and decode faster."""
    counts: dict[str, int] = {}
    for text, tokens in pairs:
        source = {w.lower() for _, _, w in _word_spans(text)}
        for words in _strings(tokens):
            run: list[str] = []
            for w in words + [None]:
                if w is not None and w.lower() not in source:
                    run.append(w)
                    continue
                if 2 <= len(run) <= max_words:
                    key = G.join_words(run)
                    counts[key] = counts.get(key, 0) + 1
                run = []
    return {p for p, n in counts.items() if n >= min_count}


def _strings(tokens: list[str]):
    words = None
    for tok in tokens:
        if tok == G.STR_OPEN:
            words = []
        elif tok == G.STR_CLOSE:
            yield words
            words = None
        elif words is not None:
            words.append(tok[2:])


def merge_phrases(tokens: list[str], phrases: set[str], max_words: int = 8) -> list[str]:
    """Replace word runs inside strings by phrase tokens (greedy, longest first)."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("w:"):
            j = i
            while j < len(tokens) and tokens[j].startswith("w:"):
                j += 1
            words = [t[2:] for t in tokens[i:j]]
            k = 0
            while k < len(words):
                for m in range(min(len(words), k + max_words), k + 1, -1):
                    text = G.join_words(words[k:m])
                    if text in phrases:
                        out.append("w:" + text)
                        k = m
                        break
                else:
                    out.append("w:" + words[k])
                    k += 1
            i = j
        else:
            out.append(tok)
            i += 1
    return out


@dataclass
class Example:
    source: Source
    task: int             # task id (0: not given)
    ids: list[int]        # BOS + targets (inputs) ... EOS
    copy_in: list[int]    # source position fed for a copied input token, or -1
    targets: list[tuple[int, list[int]]]  # per output position: (vocab id or -1, copy positions)


def make_example(source: Source, tokens: list[str], model_index: dict[str, int],
                 task: Optional[str] = None) -> Optional[Example]:
    seq = tokens + [G.EOS]
    ids, copy_in, targets = [model_index[G.BOS]], [-1], []
    for tok in seq:
        vid = model_index.get(tok, -1)
        positions = []
        if tok.startswith("w:") or tok.startswith("num:"):
            word = tok.split(":", 1)[1]
            positions = [s for s, w in enumerate(source.words) if w and w == word]
        if vid < 0 and not positions:
            return None  # neither generated nor copyable
        targets.append((vid, positions))
        if vid >= 0:
            ids.append(vid)
            copy_in.append(-1)
        else:
            ids.append(model_index[G.UNK_WORD])
            copy_in.append(positions[0])
    return Example(source, int(task_ids([task])[0]), ids[:-1], copy_in[:-1], targets)


def collate(batch: list[Example], V: int):
    states, mask, word_start = _pad_sources([e.source for e in batch])
    T = max(len(e.ids) for e in batch)
    S = states.shape[1]
    inp = torch.zeros(len(batch), T, dtype=torch.long)
    cps = torch.full((len(batch), T), -1)
    gold = torch.zeros(len(batch), T, V + S, dtype=torch.bool)
    valid = torch.zeros(len(batch), T, dtype=torch.bool)
    for i, e in enumerate(batch):
        n = len(e.ids)
        inp[i, :n] = torch.tensor(e.ids)
        cps[i, :n] = torch.tensor(e.copy_in)
        valid[i, :n] = True
        for t, (vid, positions) in enumerate(e.targets):
            if vid >= 0:
                gold[i, t, vid] = True
            for s in positions:
                gold[i, t, V + s] = True
    tasks = torch.tensor([e.task for e in batch])
    return states, mask, word_start, inp, cps, gold, valid, tasks


def _length_batches(examples: list, size: int, rng: random.Random) -> list:
    """Batches of similar program length (little padding), in random order."""
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i].ids), rng.random()))
    batches = [[examples[i] for i in order[k:k + size]] for k in range(0, len(order), size)]
    rng.shuffle(batches)
    return batches



SEED_BASE = 7_000_000  # training seeds; evaluation uses small seeds, so the two never meet


def corpus(per_task: int, seed: int, cache: Optional[Path] = None, log=print) -> list[tuple]:
    """(instruction, input names, program, task) pairs from the icon world's task generators,
    drawn with seed SEED_BASE + seed (disjoint from the evaluation seeds). Rendering the
    scenes is most of the cost, so the pairs can be kept in a JSON-lines `cache` file."""
    if cache is not None and Path(cache).exists():
        rows = [json.loads(line) for line in Path(cache).read_text().splitlines() if line.strip()]
        return [(r["instruction"], tuple(r["inputs"]), r["program"], r["task"]) for r in rows]
    from ..iconworld import tasks
    rows = []
    start = time.time()
    for task in TASKS:
        for item in tasks.generate(task, per_task, seed=SEED_BASE + seed):
            rows.append({"instruction": item["instruction"], "inputs": sorted(item["images"]),
                         "program": item["program"], "task": task})
        log(f"generated {per_task} {task} items ({time.time() - start:.0f}s)")
    if cache is not None:
        Path(cache).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return [(r["instruction"], tuple(r["inputs"]), r["program"], r["task"]) for r in rows]


_SWAPS = [("image", "picture"), ("image", "photo"), ("images", "pictures"), ("images", "photos"),
          ("picture", "image"), ("Tag", "Label"), ("Label", "Tag"), ("shows", "contains"),
          ("contains", "has"), ("has", "shows"), ("show", "contain"), ("contain", "have"),
          ("includes", "shows"), ("Is there", "Can you see"), ("Are there", "Can you see")]
_PREFIXES = ["Please ", "Can you check: ", "Q: ", "Tell me: ", "I want to know: ", "Check: "]


def augment(text: str, rng: random.Random) -> str:
    """A light rewording (case, punctuation, a prefix, a synonym for 'image'); content words
    stay, so copying still lines up."""
    out = text
    for a, b in _SWAPS:
        if rng.random() < 0.3:
            out = re.sub(rf"\b{a}\b", b, out)
    if rng.random() < 0.2:
        out = re.sub(r"\b(?:the|a|an) (?=\w)", lambda m: "" if rng.random() < 0.3 else m.group(), out)
    if rng.random() < 0.3:
        out = out.rstrip(".?!")
    if rng.random() < 0.25:
        out = rng.choice(_PREFIXES) + out[:1].lower() + out[1:]
    if rng.random() < 0.2:
        out = out.lower()
    return out
