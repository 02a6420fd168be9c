"""The in-repo planner: instruction -> program, a small pointer-generator trained on the icon world.

    model = PlannerModel.load()                         # visprog/weights/planner.safetensors
    model.plan(["Are there two dogs in the left image?"], inputs=[("LEFT", "RIGHT")])

Encoder: the frozen, packaged MiniLM (visprog.models.text) gives contextual
word-piece states; one trainable transformer layer adapts them. Decoder: a
small transformer over *program tokens* (see `visprog.planners.grammar`) with
cross-attention to the instruction. Each step scores the vocabulary and, as a
pointer, every instruction word (its first word piece): a string word or a
numeral can be copied from the instruction, so words never seen in training
('puppy', 'scooters') still reach the program. Decoding runs through
`grammar.DecodeState`: only tokens the grammar and the registry allow are
scored, so every decoded program parses and checks.

Training (`python -m visprog.models.planner --seed 0`, or `visprog train planner`)
reads the icon world's instruction -> program corpus, caches the MiniLM states
once, and trains with AdamW for a fixed number of steps (~15 minutes on 2 CPU
cores). One file, nanoGPT style: config, model, data, train loop, decode.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import torch
import torch.nn as nn

from ..planners import grammar as G

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "planner.safetensors"
ENC_WIDTH = 384  # MiniLM hidden size
MAX_SOURCE = 48  # word pieces of instruction kept
_NUMERAL = re.compile(r"[0-9]+")


@dataclass
class PlannerConfig:
    d_model: int = 128
    n_heads: int = 4
    enc_layers: int = 1
    dec_layers: int = 2
    d_ff: int = 384
    dropout: float = 0.1
    max_len: int = 160       # program tokens, BOS included
    # training
    steps: int = 6000
    batch: int = 32
    lr: float = 2e-3
    warmup: int = 100
    weight_decay: float = 0.01
    seed: int = 0


# --- the encoder input ------------------------------------------------------------------------

@dataclass
class Source:
    """An encoded instruction: MiniLM states, which positions start a word, and those words."""

    states: torch.Tensor      # (S, 384)
    word_start: torch.Tensor  # (S,) bool: the first piece of a copyable word
    words: list[str]          # (S,) the lower-cased word starting there ('' elsewhere)


def encode_sources(texts: Sequence[str], batch: int = 128) -> list[Source]:
    """Run the frozen MiniLM over instructions (cached per text in the process)."""
    from .text import minilm
    lm = minilm()
    todo = [t for t in dict.fromkeys(texts) if t not in _SOURCE_CACHE]
    for i in range(0, len(todo), batch):
        chunk = todo[i:i + batch]
        enc = lm.tokenizer(chunk, padding=True, truncation=True, max_length=MAX_SOURCE,
                           return_tensors="pt", return_offsets_mapping=True)
        offsets = enc.pop("offset_mapping")
        with torch.no_grad():
            hidden = lm.model(**{k: v for k, v in enc.items()}).last_hidden_state
        for j, text in enumerate(chunk):
            n = int(enc["attention_mask"][j].sum())
            ids = enc.word_ids(j)[:n]
            start = torch.zeros(n, dtype=torch.bool)
            words = [""] * n
            spans = _word_spans(text)
            seen = set()
            for p in range(n):
                w = ids[p]
                if w is None or (p > 0 and ids[p - 1] == w):
                    continue
                a = int(offsets[j][p][0])
                span = next(((s, e, t) for s, e, t in spans if s <= a < e), None)
                if span is None or span in seen:
                    continue
                seen.add(span)
                start[p] = True
                words[p] = span[2].lower()
            _SOURCE_CACHE[text] = Source(hidden[j, :n].half(), start, words)
    return [_SOURCE_CACHE[t] for t in texts]


_SOURCE_CACHE: dict[str, Source] = {}


def _word_spans(text: str):
    """Words as the program grammar splits them, with character spans."""
    return [(m.start(), m.end(), m.group()) for m in re.finditer(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]", text)]


# --- the model --------------------------------------------------------------------------------

class PlannerModel(nn.Module):
    def __init__(self, vocab: list[str], config: PlannerConfig = PlannerConfig()):
        super().__init__()
        self.meta: dict = {}
        self.vocab = list(vocab)
        self.index = {t: i for i, t in enumerate(self.vocab)}
        self.config = config
        c = config
        self.src_proj = nn.Linear(ENC_WIDTH, c.d_model)
        self.src_pos = nn.Embedding(MAX_SOURCE, c.d_model)
        layer = nn.TransformerEncoderLayer(c.d_model, c.n_heads, c.d_ff, c.dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.enc_layers, enable_nested_tensor=False)
        self.task = nn.Embedding(len(TASKS) + 1, c.d_model)  # 0: task not given
        self.tok = nn.Embedding(len(vocab), c.d_model)
        self.pos = nn.Embedding(c.max_len, c.d_model)
        self.copy_in = nn.Linear(c.d_model, c.d_model)  # a copied word's input: its source state
        dec = nn.TransformerDecoderLayer(c.d_model, c.n_heads, c.d_ff, c.dropout, batch_first=True,
                                         norm_first=True)
        self.decoder = nn.TransformerDecoder(dec, c.dec_layers)
        self.norm = nn.LayerNorm(c.d_model)
        self.out = nn.Linear(c.d_model, len(vocab))
        self.copy_q = nn.Linear(c.d_model, c.d_model)
        self.copy_k = nn.Linear(c.d_model, c.d_model)

    def memory(self, states: torch.Tensor, mask: torch.Tensor,
               task: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, S, 384) MiniLM states, (B, S) bool mask, (B,) task ids (0: unknown) -> (B, S, d)."""
        B, S = mask.shape
        if task is None:
            task = torch.zeros(B, dtype=torch.long)
        x = self.src_proj(states) + self.src_pos(torch.arange(S).clamp(max=MAX_SOURCE - 1))
        x = x + self.task(task)[:, None, :]
        return self.encoder(x, src_key_padding_mask=~mask)

    def forward(self, memory, mask, word_start, inp, inp_copy):
        """Scores (B, T, V + S): vocabulary, then copying each source position.

        inp (B, T) token ids; inp_copy (B, T) source position of a copied input word or -1."""
        B, T = inp.shape
        x = self.tok(inp) + self.pos(torch.arange(T))
        copied = inp_copy >= 0
        if copied.any():
            src = memory[torch.arange(B)[:, None].expand(B, T), inp_copy.clamp(min=0)]  # (B, T, d)
            x = x + self.copy_in(src) * copied[..., None]
        causal = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)
        h = self.decoder(x, memory, tgt_mask=causal, memory_key_padding_mask=~mask)
        h = self.norm(h)  # (B, T, d)
        vocab = self.out(h)  # (B, T, V)
        q = self.copy_q(h)
        k = self.copy_k(memory)
        copy = torch.einsum("btd,bsd->bts", q, k) / math.sqrt(self.config.d_model)  # (B, T, S)
        copy = copy.masked_fill(~word_start[:, None, :], float("-inf"))
        return torch.cat([vocab, copy], dim=-1)

    # -- persistence --

    def save(self, path: Path = WEIGHTS, meta: Optional[dict] = None) -> None:
        from safetensors.torch import save_file
        tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in self.state_dict().items()}
        info = {"vocab": json.dumps(self.vocab), "config": json.dumps(asdict(self.config)),
                "meta": json.dumps(meta or {})}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata=info)

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> "PlannerModel":
        from safetensors import safe_open
        from safetensors.torch import load_file
        with safe_open(str(path), "pt") as f:
            info = f.metadata()
        model = cls(json.loads(info["vocab"]), PlannerConfig(**json.loads(info["config"])))
        state = {k: v.float() for k, v in load_file(str(path)).items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or set(missing) - {"task.weight"}:  # older files have no task embedding
            raise ValueError(f"{path}: weights do not match the model ({missing}, {unexpected})")
        if "task.weight" in missing:
            nn.init.zeros_(model.task.weight)
        model.meta = json.loads(info.get("meta", "{}"))
        return model.eval()

    # -- decoding --

    @torch.no_grad()
    def plan(self, instructions: Sequence[str], inputs: Sequence[Iterable[str]], registry=None, *,
             tasks: Optional[Sequence[Optional[str]]] = None, temperature: float = 0.0,
             generator: Optional[torch.Generator] = None) -> list[str]:
        """Decode one program per instruction under the grammar constraint (greedy by default)."""
        if registry is None:
            from ..tools import registry
        spec = G.Spec(self.vocab, registry)
        sources = encode_sources(list(instructions))
        states, mask, word_start = _pad_sources(sources)
        memory = self.memory(states, mask, task_ids(tasks or [None] * len(sources)))
        B = len(sources)
        allowed = getattr(self, "meta", {}).get("task_modules", {})
        decs = [G.DecodeState(spec, names, allowed.get(task) if task else None)
                for names, task in zip(inputs, tasks or [None] * B)]
        ids = torch.full((B, 1), self.index[G.BOS])
        cps = torch.full((B, 1), -1)
        V = len(self.vocab)
        max_len = self.config.max_len
        budget = max_len - 1
        for t in range(budget):
            live = [i for i, d in enumerate(decs) if not d.done]
            if not live:
                break
            L = torch.tensor(live)
            scores = self(memory[L], mask[L], word_start[L], ids[L], cps[L])[:, -1]  # (b, V+S)
            if temperature > 0:
                scores = scores / temperature
            probs = scores.float().softmax(-1)
            new_ids = ids[:, -1:].clone()
            new_cps = torch.full((B, 1), -1)
            for row, i in enumerate(live):
                dec = decs[i]
                finishing = t >= budget - 40
                allowed, copy_mode = dec.allowed(finishing)
                cand: dict[str, float] = {}
                p = probs[row]
                for tok in allowed:
                    cand[tok] = float(p[self.index[tok]])
                first_pos: dict[str, int] = {}
                if copy_mode:
                    src = sources[i]
                    for s, word in enumerate(src.words):
                        if not word:
                            continue
                        if copy_mode == "word":
                            tok = "w:" + word
                        elif _NUMERAL.fullmatch(word) and (dec.phase == "expr" or any(
                                a.startswith("num:") for a in allowed)):
                            tok = "num:" + word
                        else:
                            continue
                        cand[tok] = cand.get(tok, 0.0) + float(p[V + s])
                        first_pos.setdefault(tok, s)
                tok = _choose(cand, temperature, generator)
                dec.advance(tok)
                if tok in self.index:
                    new_ids[i, 0] = self.index[tok]
                else:
                    new_ids[i, 0] = self.index[G.UNK_WORD]
                    new_cps[i, 0] = first_pos[tok]
            ids = torch.cat([ids, new_ids], 1)
            cps = torch.cat([cps, new_cps], 1)
        return [d.text() for d in decs]


def task_ids(tasks: Sequence[Optional[str]]) -> torch.Tensor:
    """Task names -> ids for the task embedding (0 for None or an unknown task)."""
    return torch.tensor([TASKS.index(t) + 1 if t in TASKS else 0 for t in tasks])


def _choose(cand: dict[str, float], temperature: float, generator) -> str:
    items = list(cand.items())
    if temperature <= 0:
        return max(items, key=lambda kv: kv[1])[0]
    weights = torch.tensor([max(w, 1e-12) for _, w in items])
    return items[int(torch.multinomial(weights, 1, generator=generator))][0]


def _pad_sources(sources: list[Source]):
    S = max(s.states.shape[0] for s in sources)
    B = len(sources)
    states = torch.zeros(B, S, ENC_WIDTH)
    mask = torch.zeros(B, S, dtype=torch.bool)
    word_start = torch.zeros(B, S, dtype=torch.bool)
    for i, s in enumerate(sources):
        n = s.states.shape[0]
        states[i, :n] = s.states.float()
        mask[i, :n] = True
        word_start[i, :n] = s.word_start
    # a row with no copyable word still needs one finite score in the softmax
    return states, mask, word_start


# --- data -------------------------------------------------------------------------------------

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


def loss_fn(scores, gold, valid):
    """-log of the total probability of every way (generate or copy) to emit the target."""
    logz = torch.logsumexp(scores, -1)
    good = torch.logsumexp(scores.masked_fill(~gold, float("-inf")), -1)
    nll = (logz - good)[valid]
    return nll.mean()


TASKS = ("nlvr", "gqa", "edit", "tag")
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


def train(config: PlannerConfig, pairs, registry, *, log=print, out: Optional[Path] = WEIGHTS,
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


_loaded: Optional[PlannerModel] = None


def default_model() -> PlannerModel:
    """The packaged planner, loaded once per process."""
    global _loaded
    if _loaded is None:
        if not WEIGHTS.exists():
            from ..errors import ToolUnavailable
            raise ToolUnavailable(f"the planner weights are missing ({WEIGHTS}); "
                                  "train them with `visprog train planner`")
        _loaded = PlannerModel.load(WEIGHTS)
    return _loaded


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="train the in-repo planner")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-task", type=int, default=4000, help="training items per task")
    parser.add_argument("--steps", type=int, default=PlannerConfig.steps)
    parser.add_argument("--minutes", type=float, default=19.0, help="wall-clock training budget")
    parser.add_argument("--corpus-cache", default=None, help="JSON-lines file to keep the pairs in")
    parser.add_argument("--out", default=str(WEIGHTS))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is fastest on a shared machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ..tools import registry
    config = PlannerConfig(steps=args.steps, seed=args.seed)
    start = time.time()
    log = lambda text: print(text, flush=True)  # noqa: E731
    pairs = corpus(args.per_task, args.seed, Path(args.corpus_cache) if args.corpus_cache else None,
                   log=log)
    meta = {"command": f"python -m visprog.models.planner --seed {args.seed} --per-task "
                       f"{args.per_task} --steps {args.steps} --minutes {args.minutes}",
            "seed": args.seed, "pairs": len(pairs), "per_task": args.per_task, "seed_base": SEED_BASE}
    train(config, pairs, registry, out=Path(args.out), time_limit=args.minutes * 60, meta=meta,
          augment_share=0.3, log=log,
          source_cache=Path(args.corpus_cache + ".sources.pt") if args.corpus_cache else None)
    print(f"trained in {(time.time() - start) / 60:.1f} minutes", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
