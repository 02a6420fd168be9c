"""The in-repo planner: instruction -> program, a small pointer-generator (config, model, save/load, decode).

    model = visprog.models.load("planner")          # weights_path("planner")
    model.plan(["Are there two dogs in the left image?"], inputs=[("LEFT", "RIGHT")])

Encoder: the frozen, packaged MiniLM (`visprog.models.load("minilm")`) gives contextual
word-piece states; one trainable transformer layer adapts them. Decoder: a
small transformer over *program tokens* (see `visprog.planners.grammar`) with
cross-attention to the instruction. Each step scores the vocabulary and, as a
pointer, every instruction word (its first word piece): a string word or a
numeral can be copied from the instruction, so words never seen in training
('puppy', 'scooters') still reach the program. Decoding runs through
`grammar.DecodeState`: only tokens the grammar and the registry allow are
scored, so every decoded program parses and checks.

The corpus and examples: `planner_data.py`; the loss, the loop and `visprog train planner`:
`planner_train.py` (the shipped weights' command and measurements: visprog/weights/planner.md).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import torch
import torch.nn as nn

from ..planners import grammar as G
from .weights import no_random_init

ENC_WIDTH = 384  # MiniLM hidden size
MAX_SOURCE = 48  # word pieces of instruction kept
_NUMERAL = re.compile(r"[0-9]+")
TASKS = ("nlvr", "gqa", "edit", "tag")  # the task embedding's rows 1..4 (0: not given)


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
    # similar lengths together: less padding for MiniLM to run over
    todo = sorted((t for t in dict.fromkeys(texts) if t not in _SOURCE_CACHE), key=len)
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

def padding(mask: torch.Tensor) -> Optional[torch.Tensor]:
    """The key padding mask for (B, S) `mask` (True: a real token), None when nothing is padded:
    the same attention, and torch's check of a padding mask imports sympy (0.4 s of a cold start)."""
    return None if bool(mask.all()) else ~mask


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
        return self.encoder(x, src_key_padding_mask=padding(mask))

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
        h = self.decoder(x, memory, tgt_mask=causal, memory_key_padding_mask=padding(mask))
        h = self.norm(h)  # (B, T, d)
        vocab = self.out(h)  # (B, T, V)
        q = self.copy_q(h)
        k = self.copy_k(memory)
        copy = torch.einsum("btd,bsd->bts", q, k) / math.sqrt(self.config.d_model)  # (B, T, S)
        copy = copy.masked_fill(~word_start[:, None, :], float("-inf"))
        return torch.cat([vocab, copy], dim=-1)

    # -- persistence --

    def save(self, path: str, meta: Optional[dict] = None) -> None:
        from safetensors.torch import save_file
        tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in self.state_dict().items()}
        info = {"vocab": json.dumps(self.vocab), "config": json.dumps(asdict(self.config)),
                "meta": json.dumps(meta or {})}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata=info)

    @classmethod
    def load(cls, path: Optional[str] = None) -> "PlannerModel":
        """The model in `path` (default: `weights_path("planner")`); uncached: use
        `visprog.models.load("planner")` for the process-wide model."""
        if path is None:
            from .weights import weights_path
            path = weights_path("planner")
        from safetensors import safe_open
        from safetensors.torch import load_file
        with safe_open(str(path), "pt") as f:
            info = f.metadata()
        with no_random_init():
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

    def plan(self, instructions: Sequence[str], inputs: Sequence[Iterable[str]], registry=None, *,
             tasks: Optional[Sequence[Optional[str]]] = None, temperature: float = 0.0,
             generator: Optional[torch.Generator] = None) -> list[str]:
        """Decode one program per instruction under the grammar constraint (greedy by default)."""
        return self.plan_scored(instructions, inputs, registry, tasks=tasks, temperature=temperature,
                                generator=generator)[0]

    @torch.no_grad()
    def plan_scored(self, instructions: Sequence[str], inputs: Sequence[Iterable[str]], registry=None,
                    *, tasks: Optional[Sequence[Optional[str]]] = None, temperature: float = 0.0,
                    generator: Optional[torch.Generator] = None) -> tuple[list[str], list[float]]:
        """`plan`'s programs and each one's confidence: the mean log-probability of its tokens,
        each under the distribution the decoder chose it from (the grammar's allowed tokens,
        renormalised). Near 0 when every choice was clear; `LocalPlanner` refuses instructions
        whose program scores low (`visprog.planners.local.refusal`)."""
        if registry is None:
            from ..tools import registry
        spec = G.Spec(self.vocab, registry)
        sources = encode_sources(list(instructions))
        states, mask, word_start = _pad_sources(sources)
        memory = self.memory(states, mask, task_ids(tasks or [None] * len(sources)))
        B = len(sources)
        allowed = self.meta.get("task_modules", {})
        decs = [G.DecodeState(spec, names, allowed.get(task) if task else None)
                for names, task in zip(inputs, tasks or [None] * B)]
        ids = torch.full((B,), self.index[G.BOS])
        cps = torch.full((B,), -1)
        steps = _Steps(self, memory, mask, word_start)
        V = len(self.vocab)
        budget = self.config.max_len - 1
        logp, length = [0.0] * B, [0] * B
        for t in range(budget):
            live = [i for i, d in enumerate(decs) if not d.done]
            if not live:
                break
            scores = steps.next(ids, cps)  # (B, V+S); finished rows are computed and ignored
            if temperature > 0:
                scores = scores / temperature
            probs = scores.float().softmax(-1)[live].tolist()
            cps = torch.full((B,), -1)  # ids keep each finished row's last token
            for p, i in zip(probs, live):
                dec = decs[i]
                allowed, copy_mode = dec.allowed(t >= budget - 40)
                cand: dict[str, float] = {tok: p[self.index[tok]] for tok in allowed}
                first_pos: dict[str, int] = {}
                if copy_mode:
                    for s, word in enumerate(sources[i].words):
                        if not word:
                            continue
                        if copy_mode == "word":
                            tok = "w:" + word
                        elif _NUMERAL.fullmatch(word) and (dec.phase == "expr" or any(
                                a.startswith("num:") for a in allowed)):
                            tok = "num:" + word
                        else:
                            continue
                        cand[tok] = cand.get(tok, 0.0) + p[V + s]
                        first_pos.setdefault(tok, s)
                tok = _choose(cand, temperature, generator)
                total = sum(cand.values())  # 0 only where every allowed token underflowed: uniform
                logp[i] += math.log(max(cand[tok] / total if total > 0 else 1 / len(cand), 1e-12))
                length[i] += 1
                dec.advance(tok)
                if tok in self.index:
                    ids[i] = self.index[tok]
                else:
                    ids[i] = self.index[G.UNK_WORD]
                    cps[i] = first_pos[tok]
        return [d.text() for d in decs], [lp / max(n, 1) for lp, n in zip(logp, length)]


def task_ids(tasks: Sequence[Optional[str]]) -> torch.Tensor:
    """Task names -> ids for the task embedding (0 for None or an unknown task)."""
    return torch.tensor([TASKS.index(t) + 1 if t in TASKS else 0 for t in tasks])


def _choose(cand: dict[str, float], temperature: float, generator) -> str:
    items = list(cand.items())
    if temperature <= 0:
        return max(items, key=lambda kv: kv[1])[0]
    weights = torch.tensor([max(w, 1e-12) for _, w in items])
    return items[int(torch.multinomial(weights, 1, generator=generator))][0]


class _Steps:
    """Decoding one token at a time with cached keys and values: `forward`'s scores for the
    last position, without recomputing the earlier ones (same weights, same maths)."""

    def __init__(self, model: PlannerModel, memory, mask, word_start):
        self.m, self.memory, self.word_start, self.t = model, memory, word_start, 0
        d = memory.shape[-1]
        self.heads = model.config.n_heads
        self.past: list[tuple] = [((), ()) for _ in model.decoder.layers]  # self-attention k, v
        self.cross = []  # per layer: the memory's keys and values, computed once
        for layer in model.decoder.layers:
            w, b = layer.multihead_attn.in_proj_weight, layer.multihead_attn.in_proj_bias
            k = nn.functional.linear(memory, w[d:2 * d], b[d:2 * d])
            v = nn.functional.linear(memory, w[2 * d:], b[2 * d:])
            self.cross.append((self._split(k), self._split(v)))
        self.attend = mask[:, None, None, :]  # (B, 1, 1, S): True where a real token
        self.copy_k = model.copy_k(memory)

    def _split(self, x):  # (B, T, d) -> (B, heads, T, d / heads)
        B, T, d = x.shape
        return x.view(B, T, self.heads, d // self.heads).transpose(1, 2)

    def _merge(self, x):
        B, H, T, e = x.shape
        return x.transpose(1, 2).reshape(B, T, H * e)

    def next(self, ids, cps):
        """ids, cps (B,): each row's last token and the source position it copied (or -1)."""
        m, F = self.m, nn.functional
        B = ids.shape[0]
        x = m.tok(ids) + m.pos.weight[self.t]
        copied = cps >= 0
        if copied.any():
            src = self.memory[torch.arange(B), cps.clamp(min=0)]
            x = x + m.copy_in(src) * copied[:, None]
        x = x[:, None, :]  # (B, 1, d)
        d = x.shape[-1]
        for n, layer in enumerate(m.decoder.layers):
            sa = layer.self_attn
            q, k, v = (self._split(y) for y in F.linear(layer.norm1(x), sa.in_proj_weight,
                                                        sa.in_proj_bias).split(d, -1))
            pk, pv = self.past[n]
            k, v = (torch.cat([pk, k], 2), torch.cat([pv, v], 2)) if self.t else (k, v)
            self.past[n] = (k, v)
            x = x + sa.out_proj(self._merge(F.scaled_dot_product_attention(q, k, v)))
            ca = layer.multihead_attn
            q = self._split(F.linear(layer.norm2(x), ca.in_proj_weight[:d], ca.in_proj_bias[:d]))
            ck, cv = self.cross[n]
            x = x + ca.out_proj(self._merge(F.scaled_dot_product_attention(q, ck, cv, attn_mask=self.attend)))
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))
        self.t += 1
        h = m.norm(x[:, 0])  # (B, d)
        copy = torch.einsum("bd,bsd->bs", m.copy_q(h), self.copy_k) / math.sqrt(m.config.d_model)
        copy = copy.masked_fill(~self.word_start, float("-inf"))
        return torch.cat([m.out(h), copy], dim=-1)


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
