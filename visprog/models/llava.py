"""A LLaVA-style VQA model for the icon world, with Molmo-style pointing, in one file.

    image (PIL) --to_pixels(192)--> frozen image tower (stride-8 patch tokens, 24x24x96)
    --2x2 merge--> 144 tokens x 384 --MLP projector + 2D positions--> 144 image embeddings
    --> small decoder LM (nanoGPT style) --> answer tokens, greedy, </s> stops.

The tower is the icon-world CLIP tower architecture (`clip.Tower`) as the OWL-style
detector trained it on whole scenes (visprog/weights/detector.safetensors), OWL-ViT's way
of fine-tuning CLIP's image tower; its output is the last layer before the detection
heads, i.e. the "penultimate" patch tokens LLaVA takes from CLIP ViT. It is frozen;
features are computed once per image and cached during training. (The CLIP file's own
tower, trained on 64x64 crops, was measured first: it barely localises objects in a
scene; see visprog/weights/llava.md.)

Every answer is grounded first, as Molmo points before it counts: the model names the
points of each thing the question refers to, then answers after '='. Points are location
tokens (PaliGemma's and Kosmos-2's idea): one of `loc_bins` x-bins and one of `loc_bins`
y-bins per point, sorted by x then y, so a point costs two tokens and no digit arithmetic.

    Q: How many dogs are there?   ->  <x12><y40><x61><y33> dogs = 2
    Q: Is the cat left of the tree? -> <x20><y50> cat <x70><y45> tree = yes
    Q: Point to the dogs.          ->  <x12><y40><x61><y33> dogs

`answer()` renders replies as text: the part after '=' for questions, Molmo's format for
'Point to the dogs.' ('<points x1="25.0" y1="81.0" ...>dogs</points>') and counting by
pointing for 'Count the dogs.' ('Counting the <points ...>dogs</points> shows a total of 2.').
`answer_grounded()` also returns the points behind each answer (for the rationale).

Text format, one turn: `<s>Q: {question}\nA:` then the answer tokens and `</s>`.
Training packs several turns about the same image into one sequence, with an
attention mask that lets each turn see only the image and itself (positions restart
after the image), so a packed sequence trains exactly what single-turn inference runs.

Stages (as LLaVA): 1) the LM alone on icon-world question/answer text (no image),
2) the projector alone on captions ('Describe the image.'), LM frozen, 3) projector +
LM on question/answer pairs of every task form. See `train()`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import re
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..pointing import format_count, format_points
from .tokenizer import BOS, EOS, PAD, Tokenizer

# ----------------------------------------------------------------------------- config


@dataclass
class LlavaConfig:
    # vision: 'detector' = frozen tower from visprog/weights/detector.safetensors; 'clip' =
    # the one in clip.safetensors; 'random-clip' = that architecture, randomly initialised (tests)
    vision: str = "detector"
    image_size: int = 192        # scenes are resized to this before the tower
    vision_width: int = 96       # channels of the tower's patch tokens
    vision_grid: int = 24        # tower grid side at image_size (stride 8)
    merge: int = 2               # merge x merge neighbouring patch tokens into one image token
    proj_hidden: int = 256
    # language model
    vocab_size: int = 1024       # text tokens (the tokenizer's); location tokens follow them
    loc_bins: int = 50           # location tokens per axis (2% of the image each)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 512        # max positions (image tokens + one turn)
    max_answer: int = 160        # max new tokens when generating

    @property
    def grid(self) -> int:
        return self.vision_grid // self.merge

    @property
    def n_image_tokens(self) -> int:
        return self.grid * self.grid

    @property
    def n_vocab(self) -> int:
        return self.vocab_size + 2 * self.loc_bins

    def loc_token(self, axis: int, value: float) -> int:
        """The location token of a coordinate in [0, 1] (axis 0: x, 1: y)."""
        k = min(self.loc_bins - 1, max(0, int(value * self.loc_bins)))
        return self.vocab_size + axis * self.loc_bins + k

    def loc_value(self, token: int) -> tuple[int, float]:
        """(axis, bin centre in [0, 1]) of a location token."""
        axis, k = divmod(token - self.vocab_size, self.loc_bins)
        return axis, (k + 0.5) / self.loc_bins


def sincos(values: torch.Tensor, dim: int) -> torch.Tensor:
    """(N,) values in [0, 1] -> (N, dim) sin/cos features at dim/2 frequencies (smooth in value)."""
    freqs = torch.arange(1, dim // 2 + 1, dtype=torch.float32) * math.pi / 2  # (dim/2,)
    angles = values[:, None].float() * freqs[None]                             # (N, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)                      # (N, dim)


def position_features(xs: torch.Tensor, ys: torch.Tensor, dim: int) -> torch.Tensor:
    """2D positions -> (N, dim): x in the first half of the channels, y in the second. Shared
    by the image tokens and the location tokens, so that 'this token is there' and 'point
    there' start out as the same direction."""
    return torch.cat([sincos(xs, dim // 2), sincos(ys, dim // 2)], dim=1)


# ----------------------------------------------------------------------------- model


class SelfAttention(nn.Module):
    def __init__(self, cfg: LlavaConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x, mask, cache: Optional[dict] = None):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)                                 # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)      # (B, h, T, hd)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)      # (B, h, T, hd)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)      # (B, h, T, hd)
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)                         # (B, h, S, hd)
                v = torch.cat([cache["v"], v], dim=2)                         # (B, h, S, hd)
            cache["k"], cache["v"] = k, v
        if cache is not None and "prefix" in cache:
            y = self._attend_with_prefix(q, k, v, mask, cache["prefix"])
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)       # (B, h, T, hd)
        y = y.transpose(1, 2).contiguous().view(B, T, C)                      # (B, T, C)
        return self.proj(y)

    @staticmethod
    def _attend_with_prefix(q, k, v, mask, prefix):
        """Attention over image keys shared by a group of rows, then each row's own text keys,
        without copying the image's keys per row or per decoding step. Rows come in G groups
        of R consecutive rows asking about one image: prefix = (pk, pv) (G, h, P, hd);
        q (G*R, h, T, hd); k, v (G*R, h, S, hd) the text so far; mask (G*R, 1, T, P+S)."""
        pk, pv = prefix
        G, h, P, hd = pk.shape
        B, _, T, _ = q.shape
        R = B // G
        if R == 1:  # one row per image: nothing to share, and one fused kernel is fastest
            return F.scaled_dot_product_attention(q, torch.cat([pk, k], 2), torch.cat([pv, v], 2), attn_mask=mask)

        def grouped(t):    # (G*R, h, T, X) -> (G, h, R*T, X)
            return t.view(G, R, h, T, -1).transpose(1, 2).reshape(G, h, R * T, -1)

        def per_row(t):    # (G, h, R*T, X) -> (G*R, h, T, X)
            return t.view(G, h, R, T, -1).transpose(1, 2).reshape(B, h, T, -1)

        img = per_row(grouped(q) @ pk.transpose(-1, -2))                      # (B, h, T, P)
        scores = torch.cat([img, q @ k.transpose(-1, -2)], -1) / math.sqrt(hd)  # (B, h, T, P+S)
        att = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        return per_row(grouped(att[..., :P]) @ pv) + att[..., P:] @ v         # (B, h, T, hd)


class Block(nn.Module):
    def __init__(self, cfg: LlavaConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd))

    def forward(self, x, mask, cache=None):
        x = x + self.attn(self.ln1(x), mask, cache)
        return x + self.mlp(self.ln2(x))


POSITION_SCALE = 0.05  # position features' norm ~0.3, like a 0.02-std embedding row's


class Projector(nn.Module):
    """Merged patch tokens -> LM embeddings: a 2-layer MLP (LLaVA-1.5) plus learned 2D positions."""

    def __init__(self, cfg: LlavaConfig):
        super().__init__()
        d_in = cfg.vision_width * cfg.merge * cfg.merge
        self.norm = nn.LayerNorm(d_in)
        self.mlp = nn.Sequential(nn.Linear(d_in, cfg.proj_hidden), nn.GELU(),
                                 nn.Linear(cfg.proj_hidden, cfg.n_embd))
        self.pos = nn.Parameter(torch.randn(cfg.n_image_tokens, cfg.n_embd) * 0.02)
        centres = (torch.arange(cfg.grid, dtype=torch.float32) + 0.5) / cfg.grid
        ys, xs = torch.meshgrid(centres, centres, indexing="ij")
        self.register_buffer("fixed_pos", POSITION_SCALE * position_features(
            xs.flatten(), ys.flatten(), cfg.n_embd), persistent=False)  # (N, n_embd)

    def forward(self, feats):                     # (B, N, d_in)
        return self.mlp(self.norm(feats)) + self.pos + self.fixed_pos  # (B, N, n_embd)


class LLaVA(nn.Module):
    def __init__(self, cfg: LlavaConfig, tokenizer: Optional[Tokenizer] = None):
        super().__init__()
        self.config = cfg
        self.tokenizer = tokenizer
        self.tower = None  # the frozen vision tower, attached by attach_tower (not in state_dict)
        self.projector = Projector(cfg)
        self.wte = nn.Embedding(cfg.n_vocab, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") and "projector" not in name:
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layer))
        with torch.no_grad():  # location tokens start as the image tokens' position features
            centres = (torch.arange(cfg.loc_bins, dtype=torch.float32) + 0.5) / cfg.loc_bins
            half = cfg.n_embd // 2
            loc = torch.zeros(2, cfg.loc_bins, cfg.n_embd)
            loc[0, :, :half] = sincos(centres, half)
            loc[1, :, half:] = sincos(centres, half)
            self.wte.weight[cfg.vocab_size:] = POSITION_SCALE * loc.reshape(-1, cfg.n_embd)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    # -- vision
    def attach_tower(self, tower: nn.Module) -> None:
        tower.eval()
        for p in tower.parameters():
            p.requires_grad_(False)
        object.__setattr__(self, "tower", tower)  # not a submodule: never saved, never trained

    def to(self, *args, **kwargs):
        """Module.to, moving the frozen tower along (it is no submodule)."""
        if self.tower is not None:
            self.tower.to(*args, **kwargs)
        return super().to(*args, **kwargs)

    @torch.no_grad()
    def image_features(self, images, bf16: bool = False) -> torch.Tensor:
        """PIL images (or (B, 3, S, S) pixels in [0, 1]) -> merged patch tokens (B, N, C*m*m).
        bf16: see `clip.tower_maps` (answering uses it; training caches float32 features)."""
        from .clip import tower_maps
        fmap = tower_maps(self.tower, images, self.config.image_size, bf16)  # (B, C, G, G)
        return merge_tokens(fmap, self.config.merge)                  # (B, N, C*m*m)

    def parameters_lm(self):
        return [p for n, p in self.named_parameters() if not n.startswith("projector")]

    # -- the decoder
    def run(self, x, pos, mask, caches=None, hidden=False):
        """x (B, T, C) embeddings, pos (B, T) positions, mask (B, 1, T, S) bool -> logits (B, T, V)
        (or the final hidden states (B, T, C) when hidden=True)."""
        x = x + self.wpe(pos)                                          # (B, T, C)
        for i, block in enumerate(self.blocks):
            x = block(x, mask, None if caches is None else caches[i])  # (B, T, C)
        x = self.ln_f(x)                                               # (B, T, C)
        return x if hidden else self.lm_head(x)                        # (B, T, V)

    def _loss(self, h, targets):
        """Cross-entropy from hidden states (B, T, C), computing logits only where there is a target."""
        keep = targets.reshape(-1) >= 0                                # (B*T,)
        if not bool(keep.any()):
            return h.sum() * 0.0
        logits = self.lm_head(h.reshape(-1, h.size(-1))[keep])         # (K, V)
        return F.cross_entropy(logits.float(), targets.reshape(-1)[keep])

    def grounding_loss(self, feats, labels):
        """Auxiliary alignment: the image embedding of the cell holding an object's point
        should read, through the tied word embeddings, as the object's name and as its x and
        y location tokens ('<image>' for background cells): pointing is then a copy.
        feats (B, N, D), labels (B, N, 3) token ids (-1: no label)."""
        img = self.projector(feats)                                    # (B, N, C)
        return self._loss(img[:, :, None].expand(-1, -1, labels.shape[-1], -1), labels)

    def forward(self, feats, ids, segs, targets=None):
        """Training forward over packed turns.

        feats (B, N, D) merged patch tokens; ids (B, T) text token ids; segs (B, T) turn
        number of each text token (1, 2, ...; 0 = padding); targets (B, T) next-token
        targets (-1 = no loss). Returns (logits (B, T, V), loss).
        """
        B, T = ids.shape
        txt = self.wte(ids)                                            # (B, T, C)
        if feats is None:  # stage 1: text only, turns placed where they follow the image
            N, offset, x = 0, self.config.n_image_tokens, txt
        else:
            N, offset = feats.shape[1], feats.shape[1]
            img = self.projector(feats)                                # (B, N, C)
            x = torch.cat([img, txt], dim=1)                           # (B, N+T, C)
        dev = ids.device
        seg = torch.cat([torch.zeros(B, N, dtype=segs.dtype, device=dev), segs], 1)  # (B, N+T)
        # positions: image 0..N-1, each turn restarts at N
        start = torch.ones_like(segs)
        start[:, 1:] = (segs[:, 1:] != segs[:, :-1]).long()
        idx = torch.arange(T, device=dev).expand(B, T)
        first = torch.cummax(torch.where(start.bool(), idx, torch.zeros_like(idx)), dim=1).values
        pos = torch.cat([torch.arange(N, device=dev).expand(B, N), offset + idx - first], 1)  # (B, N+T)
        pos = pos.clamp(max=self.config.block_size - 1)
        S = N + T
        causal = torch.ones(S, S, dtype=torch.bool, device=dev).tril()  # (S, S)
        same = (seg[:, :, None] == seg[:, None, :]) | (seg[:, None, :] == 0)  # (B, S, S)
        valid = (seg > 0) | (torch.arange(S, device=dev) < N)          # (B, S): pads are seg 0 beyond N
        mask = causal & same & valid[:, None, :]
        mask = mask | torch.eye(S, dtype=torch.bool, device=dev)       # pads attend to themselves
        h = self.run(x, pos, mask[:, None], hidden=True)[:, N:]        # (B, T, C)
        if targets is not None:
            return None, self._loss(h, targets)
        return self.lm_head(h), None                                   # (B, T, V)

    # -- generation
    @torch.no_grad()
    def generate(self, feats, prompts: list[list[int]], max_new_tokens: Optional[int] = None,
                 use_cache: bool = True, image_of: Optional[Sequence[int]] = None) -> list[list[int]]:
        """Greedy decoding for a batch: feats (U, N, D) image tokens, prompts B lists of token
        ids (starting with <s>), image_of[b] the image row b asks about (default: row b's own).
        Each image's tokens go through the decoder once, however many questions ask about it:
        its keys and values are shared by the rows asking about it (`group_rows`), which
        attend to them without copying them. Rows are laid out [image][pads][prompt]; a row
        stops at </s>. Returns the new ids of each row."""
        cfg = self.config
        U, N, _ = feats.shape
        slot, group_image, R = group_rows(list(image_of) if image_of is not None else list(range(len(prompts))), U)
        B = len(group_image) * R                                       # rows, padding included
        padded = [[BOS]] * B
        for b, p in enumerate(prompts):
            padded[slot[b]] = p
        L = max(len(p) for p in padded)
        max_new = max(1, min(max_new_tokens or cfg.max_answer, cfg.block_size - N - L))
        ids = torch.full((B, L), PAD, dtype=torch.long)
        valid_txt = torch.zeros(B, L, dtype=torch.bool)
        for i, p in enumerate(padded):
            ids[i, L - len(p):] = torch.tensor(p)
            valid_txt[i, L - len(p):] = True
        img = self.projector(feats)                                    # (U, N, C)
        pos_txt = N + (valid_txt.long().cumsum(1) - 1).clamp(min=0)    # (B, L)
        valid = torch.cat([torch.ones(B, N, dtype=torch.bool), valid_txt], 1)  # (B, N+L)
        S = N + L
        causal = torch.ones(S, S, dtype=torch.bool).tril()
        if use_cache:
            caches = [dict() for _ in self.blocks]
            self.run(img, torch.arange(N).expand(U, N), causal[:N, :N][None, None], caches)
            for c in caches:  # (G, h, N, hd) each: the image keys and values of each group of rows
                c["prefix"] = (c.pop("k")[group_image], c.pop("v")[group_image])
            mask = (causal[N:] & valid[:, None, :]) | torch.eye(S, dtype=torch.bool)[N:]  # (B, L, S)
            logits = self.run(self.wte(ids), pos_txt, mask[:, None], caches)  # (B, L, V)
        else:
            caches = None
            x = torch.cat([img[group_image].repeat_interleave(R, 0), self.wte(ids)], 1)  # (B, S, C)
            pos = torch.cat([torch.arange(N).expand(B, N), pos_txt], 1)  # (B, S)
            mask = (causal & valid[:, None, :]) | torch.eye(S, dtype=torch.bool)
            logits = self.run(x, pos, mask[:, None])                    # (B, S, V)
        out = [[] for _ in range(B)]
        done = torch.ones(B, dtype=torch.bool)
        done[slot] = False                                              # padding rows never run
        last_pos = pos_txt[:, -1:]                                      # (B, 1)
        for t in range(max_new):
            nxt = logits[:, -1].argmax(-1)                              # (B,)
            for i in torch.nonzero(~done).flatten().tolist():
                if int(nxt[i]) == EOS:
                    done[i] = True
                else:
                    out[i].append(int(nxt[i]))
            if bool(done.all()) or t == max_new - 1:
                break
            step_x = self.wte(nxt)[:, None]                             # (B, 1, C)
            last_pos = last_pos + 1                                     # (B, 1)
            valid = torch.cat([valid, torch.ones(B, 1, dtype=torch.bool)], 1)  # (B, S+t+1)
            if use_cache:
                logits = self.run(step_x, last_pos, valid[:, None, None, :], caches)  # (B, 1, V)
            else:
                x = torch.cat([x, step_x], 1)                           # (B, S+t+1, C)
                pos = torch.cat([pos, last_pos], 1)
                n = x.shape[1]
                mask = (torch.ones(n, n, dtype=torch.bool).tril() & valid[:, None, :]) | \
                    torch.eye(n, dtype=torch.bool)
                logits = self.run(x, pos, mask[:, None])                # (B, n, V)
        return [out[i] for i in slot.tolist()]

    # -- text in, text out
    def prompt_ids(self, question: str) -> list[int]:
        return [BOS] + self.tokenizer.encode(prompt_text(question))

    @torch.no_grad()
    def answer_grounded(self, images, questions: Sequence[str], max_new_tokens: Optional[int] = None,
                        feats: Optional[torch.Tensor] = None, image_of: Optional[Sequence[int]] = None,
                        batch_size: int = 64) -> list[tuple[str, list]]:
        """Answer questions[b] about images[b] (or about feats[image_of[b]] when features are
        given), batched: (answer text, refs) each, refs being the (label, [(x%, y%), ...]) the
        model pointed at before answering."""
        self.eval()
        out: list[tuple[str, list]] = []
        for s in range(0, len(questions), batch_size):
            qs = list(questions[s:s + batch_size])
            if feats is None:  # one image per question: this chunk's images only
                f, rows = self.image_features(list(images[s:s + batch_size]), bf16=True), None
            else:
                rows = list(image_of[s:s + batch_size]) if image_of is not None else \
                    list(range(s, s + len(qs)))
                used = {r: k for k, r in enumerate(sorted(set(rows)))}
                f, rows = feats[list(used)], [used[r] for r in rows]
            ids = self.generate(f, [self.prompt_ids(q) for q in qs], max_new_tokens, image_of=rows)
            out.extend(self.render(q, i) for q, i in zip(qs, ids))
        return out

    def answer(self, images, questions: Sequence[str], max_new_tokens: Optional[int] = None,
               feats: Optional[torch.Tensor] = None, image_of: Optional[Sequence[int]] = None,
               batch_size: int = 64) -> list[str]:
        """Answer one question per image (or per feats[image_of[b]]), batched."""
        return [a for a, _ in self.answer_grounded(images, questions, max_new_tokens, feats,
                                                   image_of, batch_size)]

    def render(self, question: str, ids: Sequence[int]) -> tuple[str, list]:
        """Generated tokens -> (answer text, refs). Location tokens pair up as x then y; an
        unpaired or out-of-order one is dropped."""
        cfg, tok = self.config, self.tokenizer
        chunks: list[tuple[list[int], list[int]]] = []   # (location tokens, text tokens after them)
        for t in ids:
            if t >= cfg.vocab_size:
                if not chunks or chunks[-1][1]:
                    chunks.append(([], []))
                chunks[-1][0].append(t)
            else:
                if not chunks:
                    chunks.append(([], []))
                chunks[-1][1].append(t)
        text = tok.decode(t for t in ids if t < cfg.vocab_size).strip()
        kind = pointing_kind(question)
        grounded = kind is not None or "=" in text or any(locs for locs, _ in chunks)
        refs = []
        for locs, words in chunks if grounded else []:
            points, x = [], None
            for t in locs:
                axis, v = cfg.loc_value(t)
                if axis == 0:
                    x = v
                elif x is not None:
                    points.append((round(100 * x, 1), round(100 * v, 1)))
                    x = None
            label, equals, _ = tok.decode(words).partition("=")
            refs.append((label.strip(), points))
            if equals:  # the answer follows; nothing after it is a ref
                break
        if kind is not None:
            label = next((lb for lb, _ in refs if lb), "") or pointing_object(question)
            points = [p for _, pts in refs for p in pts]
            write = format_points if kind == "point" else format_count
            return write(points, 100, 100, label, label), refs
        return (text.partition("=")[2].strip() if grounded else text), refs


_POINTING_Q = re.compile(r"^\s*(point to|count)\s+(?:all\s+)?(?:the\s+)?(.+?)(?:\s+by pointing)?\s*[.?!]*\s*$", re.I)


def pointing_kind(question: str) -> Optional[str]:
    """'point' for 'Point to the dogs.', 'count_point' for 'Count the dogs.', else None."""
    m = _POINTING_Q.match(question)
    return None if m is None else ("point" if m.group(1).lower() == "point to" else "count_point")


def pointing_object(question: str) -> str:
    m = _POINTING_Q.match(question)
    return m.group(2) if m else ""


def group_rows(image_of: list[int], n_images: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Lay out rows asking about images in G groups of R consecutive rows, each group asking
    about one image: (slot (B,): where each row goes, group_image (G,), R). Questions about one
    image share a group (padded to the largest group), unless padding would more than double
    the rows; then every row is its own group."""
    counts = torch.bincount(torch.as_tensor(image_of, dtype=torch.long), minlength=n_images)
    R = int(counts.max()) if image_of else 1
    if n_images * R > 2 * len(image_of):
        return torch.arange(len(image_of)), torch.as_tensor(image_of, dtype=torch.long), 1
    seen = [0] * n_images
    slot = []
    for u in image_of:
        slot.append(u * R + seen[u])
        seen[u] += 1
    return torch.as_tensor(slot, dtype=torch.long), torch.arange(n_images), R


def merge_tokens(fmap: torch.Tensor, m: int) -> torch.Tensor:
    """(B, C, G, G) -> (B, (G/m)^2, C*m*m): each m x m block of patch tokens concatenated."""
    B, C, H, W = fmap.shape
    x = fmap.reshape(B, C, H // m, m, W // m, m)                       # (B, C, H/m, m, W/m, m)
    x = x.permute(0, 2, 4, 3, 5, 1)                                    # (B, H/m, W/m, m, m, C)
    return x.reshape(B, (H // m) * (W // m), m * m * C)                # (B, N, m*m*C)


def prompt_text(question: str) -> str:
    return f"Q: {question.strip()}\nA:"


# ----------------------------------------------------------------------------- scenes
# Training and benchmark scenes are rendered once and kept as (128x128 image, record);
# questions are drawn from records afresh every time a scene is used.

TRAIN_SEED_BASE = 10_000_000      # training scenes use seeds TRAIN_SEED_BASE + i
BENCH_SEED_BASE = 900_000_000     # the benchmark's scenes (never used in training)


def scene_record(scene) -> dict:
    """What question generation needs of a scene: objects and clear/unclear relations."""
    from ..iconworld.tasks.common import colour_is_attribute, describe, relation_fraction, scene_view
    view = scene_view(scene)
    objs, entries = [], []
    for s in view.seen:
        o = s.obj
        px, py = view.point(s)
        objs.append({"name": o.category, "color": o.color, "size": o.size,
                     "box": [float(v) for v in s.box], "point": [round(px, 2), round(py, 2)],
                     "colorable": bool(colour_is_attribute(o))})
        entries.append(s.entry)
    n = len(entries)
    left = [[relation_fraction(entries[i], entries[j], "left") if i != j else 0.5 for j in range(n)]
            for i in range(n)]
    above = [[relation_fraction(entries[i], entries[j], "above") if i != j else 0.5 for j in range(n)]
             for i in range(n)]
    return {"w": scene.width, "h": scene.height, "objects": objs, "left": left, "above": above,
            "caption": describe(view)}


def make_scene(seed: int, kind: Optional[str] = None):
    """A training/benchmark scene: 'mixed' (1-10 random things) or 'count' (0-8 of one
    category among 0-5 distractors). Returns (PIL image 256x256, Scene, kind)."""
    from ..iconworld import catalog
    from ..iconworld.render import render, sample_placements
    rng = np.random.default_rng(seed)
    names = catalog.all_names()
    cats_only = list(catalog.CATEGORIES)
    if kind is None:
        kind = "count" if rng.random() < 0.5 else "mixed"
    for attempt in range(5):
        if kind == "count":
            target = cats_only[int(rng.integers(len(cats_only)))] if rng.random() < 0.85 else \
                names[int(rng.integers(len(names)))]
            k = int(rng.integers(0, 9))
            others = [n for n in names if n != target]
            d = int(rng.integers(0, 6))
            cats = [target] * k + [others[int(i)] for i in rng.integers(0, len(others), size=d)]
            rng.shuffle(cats)
            size_range = (24, 48) if len(cats) > 6 else (24, 60)
        else:
            n = int(rng.integers(1, 11))
            pool = cats_only if rng.random() < 0.7 else names
            cats = [pool[int(i)] for i in rng.integers(0, len(pool), size=n)]
            size_range = (24, 52) if n > 6 else (24, 68)
        try:
            placements = sample_placements(rng, cats, recolor_prob=0.5, size_range=size_range)
        except Exception:
            continue
        image, scene = render(placements, seed=int(rng.integers(0, 2 ** 31 - 1)))
        return image, scene, kind
    image, scene = render([], seed=seed)
    return image, scene, kind


def small_pixels(image, size: int = LlavaConfig.image_size) -> np.ndarray:
    """The uint8 (size, size, 3) array the tower sees (clip.to_pixels' resize)."""
    from PIL import Image
    im = image.convert("RGB")
    if im.size != (size, size):
        im = im.resize((size, size), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def build_pool(seeds: Sequence[int], size: int = LlavaConfig.image_size, log=None) -> tuple[np.ndarray, list[dict]]:
    """Render scenes for `seeds`: (uint8 (N, size, size, 3), records)."""
    arrays, records = [], []
    t0 = time.time()
    for i, seed in enumerate(seeds):
        image, scene, kind = make_scene(int(seed))
        rec = scene_record(scene)
        rec["kind"], rec["seed"] = kind, int(seed)
        arrays.append(small_pixels(image, size))
        records.append(rec)
        if log and (i + 1) % 500 == 0:
            log(f"pool {i + 1}/{len(seeds)} scenes, {time.time() - t0:.0f}s")
    return np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8), records


# ----------------------------------------------------------------------------- questions
# Question forms follow the icon-world oracle (visprog/iconworld/oracle.py, QUESTION_FORMS);
# answers are computed from scene records with the oracle's semantics, asked only where
# they are clear (unique referents, relations with fraction <= 0.2 or >= 0.8).

SIDES = {"left": "to the left of", "right": "to the right of", "above": "above", "below": "below"}


def _frac(rec, i, j, side):
    if side == "left":
        return rec["left"][i][j]
    if side == "right":
        return 1 - rec["left"][i][j]
    if side == "above":
        return rec["above"][i][j]
    return 1 - rec["above"][i][j]


def _plural(name):
    from ..iconworld import catalog
    return catalog.plural_of(name)


def _art(word):
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _groups():
    from ..iconworld import catalog
    return {s: set(m) for s, m in catalog.SUPERCATEGORIES.items() if len(m) > 1}


def point_answer(rec, members: list[int], singular: str, plural: str) -> str:
    pts = [tuple(rec["objects"][i]["point"]) for i in members]
    return format_points(pts, rec["w"], rec["h"], singular, plural)


def count_answer(rec, members: list[int], singular: str, plural: str) -> str:
    pts = [tuple(rec["objects"][i]["point"]) for i in members]
    return format_count(pts, rec["w"], rec["h"], singular, plural)


def questions(rec: dict, rng: random.Random, n: int = 8, forms: Optional[Sequence[str]] = None
              ) -> list[tuple[str, str, str, list]]:
    """Up to n (form, question, answer, refs) about a scene record. `answer` is the text
    `LLaVA.answer` should give; refs are the (label, object indices) the model points at
    before answering (`answer_ids`)."""
    from ..iconworld import catalog
    objs = rec["objects"]
    names = [o["name"] for o in objs]
    present = sorted(set(names))
    counts = {nm: names.count(nm) for nm in present}
    unique = [i for i, o in enumerate(objs) if counts[o["name"]] == 1]
    all_names = catalog.all_names()
    groups = _groups()

    def some_name():  # present or absent, about half each
        if present and rng.random() < 0.6:
            return rng.choice(present)
        return rng.choice(all_names)

    def members_of(name):
        return [i for i, o in enumerate(objs) if o["name"] == name]

    def ref(singular, members, plural=None):  # Molmo's alt: singular for one point
        return (singular if len(members) == 1 else (plural or _plural(singular)), members)

    out = []
    table = {
        "count": 3, "exist": 2, "point": 3, "count_point": 2.5, "color": 1, "size": 1,
        "relation": 1.5, "relation_choice": 0.5, "side": 0.5, "what_rel": 0.5, "compare": 0.5,
        "super": 1, "describe": 0.5, "count_rel": 0.3,
    }
    kinds = list(forms) if forms else list(table)
    weights = [table.get(k, 1.0) for k in kinds]
    tries = 0
    while len(out) < n and tries < 6 * n:
        tries += 1
        kind = rng.choices(kinds, weights)[0]
        q = a = None
        refs: list = []
        if kind == "count":
            nm = some_name()
            q = rng.choice(["How many {} are there?", "How many {} are in the image?",
                            "How many {} can you see?", "How many {} are in the picture?"]).format(_plural(nm))
            a = str(counts.get(nm, 0))
            refs = [ref(nm, members_of(nm))]
        elif kind == "exist":
            nm = some_name()
            q = rng.choice([f"Is there {_art(nm)}?", f"Are there any {_plural(nm)}?",
                            f"Is there {_art(nm)} in the image?", f"Does the image contain {_art(nm)}?"])
            a = "yes" if nm in counts else "no"
            refs = [ref(nm, members_of(nm))]
        elif kind in ("point", "count_point"):
            if rng.random() < 0.15 and groups:
                sup = rng.choice(sorted(groups))
                members = [i for i, o in enumerate(objs) if o["name"] in groups[sup]]
                sing, plu = sup, catalog.SUPERCATEGORY_PLURALS[sup]
            else:
                nm = some_name()
                members, sing, plu = members_of(nm), nm, _plural(nm)
            refs = [ref(sing, members, plu)]
            if kind == "point":
                q = rng.choice(["Point to the {}.", "Point to the {}", "Point to all the {}."]).format(plu)
                a = point_answer(rec, members, sing, plu)
            else:
                q = rng.choice(["Count the {}.", "Count the {} by pointing."]).format(plu)
                a = count_answer(rec, members, sing, plu)
        elif kind == "color" and unique:
            i = rng.choice(unique)
            o = objs[i]
            refs = [ref(o["name"], [i])]
            if rng.random() < 0.5:
                q, a = f"What color is the {o['name']}?", o["color"]
            else:
                c = o["color"] if rng.random() < 0.5 else rng.choice(list(catalog.COLORS))
                q, a = f"Is the {o['name']} {c}?", "yes" if c == o["color"] else "no"
        elif kind == "size" and unique:
            i = rng.choice(unique)
            o = objs[i]
            refs = [ref(o["name"], [i])]
            r = rng.random()
            if r < 0.35:
                q, a = f"What size is the {o['name']}?", o["size"]
            elif r < 0.6 and o["size"] in ("small", "large"):
                q, a = f"Is the {o['name']} small or large?", o["size"]
            else:
                s = rng.choice(["small", "large", "medium"])
                q, a = f"Is the {o['name']} {s}?", "yes" if s == o["size"] else "no"
        elif kind in ("relation", "relation_choice", "what_rel") and len(unique) >= 2:
            i, j = rng.sample(unique, 2)
            side = rng.choice(list(SIDES))
            f = _frac(rec, i, j, side)
            A, B = objs[i]["name"], objs[j]["name"]
            refs = [ref(A, [i]), ref(B, [j])] if kind != "what_rel" else [ref(B, [j])]
            if kind == "relation" and (f <= 0.2 or f >= 0.8):
                q = f"Is the {A} {SIDES[side]} the {B}?"
                a = "yes" if f >= 0.5 else "no"
            elif kind == "relation_choice" and (f <= 0.2 or f >= 0.8):
                if side in ("left", "right"):
                    q = f"Is the {A} to the left or to the right of the {B}?"
                    a = "left" if _frac(rec, i, j, "left") >= 0.5 else "right"
                else:
                    q = f"Is the {A} above or below the {B}?"
                    a = "above" if _frac(rec, i, j, "above") >= 0.5 else "below"
            elif kind == "what_rel":
                cands = [k for k in range(len(objs)) if objs[k]["name"] != B and _frac(rec, k, j, side) >= 0.5]
                unclear = [k for k in range(len(objs)) if objs[k]["name"] != B and 0.2 < _frac(rec, k, j, side) < 0.8]
                cn = {objs[k]["name"] for k in cands}
                if not unclear and len(cn) <= 1:
                    q = f"What is {SIDES[side]} the {B}?"
                    a = cn.pop() if cn else "nothing"
        elif kind == "side" and unique:
            i = rng.choice(unique)
            x0, y0, x1, y1 = objs[i]["box"]
            W, H = rec["w"], rec["h"]
            lr = "left" if x1 <= W / 2 else ("right" if x0 >= W / 2 else None)
            tb = "top" if y1 <= H / 2 else ("bottom" if y0 >= H / 2 else None)
            nm = objs[i]["name"]
            refs = [ref(nm, [i])]
            if lr and rng.random() < 0.5:
                if rng.random() < 0.5:
                    q, a = f"Is the {nm} on the left or right side of the image?", lr
                else:
                    s = rng.choice(["left", "right"])
                    q, a = f"Is the {nm} on the {s}?", "yes" if s == lr else "no"
            elif tb:
                if rng.random() < 0.5:
                    q, a = f"Is the {nm} on the top or bottom of the image?", tb
                else:
                    s = rng.choice(["top", "bottom"])
                    q, a = f"Is the {nm} on the {s}?", "yes" if s == tb else "no"
        elif kind == "compare":
            x, y = some_name(), some_name()
            if x != y:
                cx, cy = counts.get(x, 0), counts.get(y, 0)
                refs = [ref(x, members_of(x)), ref(y, members_of(y))]
                r = rng.random()
                if r < 0.4:
                    q, a = f"Are there more {_plural(x)} than {_plural(y)}?", "yes" if cx > cy else "no"
                elif r < 0.7:
                    q, a = f"Are there fewer {_plural(x)} than {_plural(y)}?", "yes" if cx < cy else "no"
                else:
                    q, a = f"Are there as many {_plural(x)} as {_plural(y)}?", "yes" if cx == cy else "no"
        elif kind == "super" and groups:
            sup = rng.choice(sorted(groups))
            plu = catalog.SUPERCATEGORY_PLURALS[sup]
            idx = [i for i, o in enumerate(objs) if o["name"] in groups[sup]]
            members = [objs[i]["name"] for i in idx]
            refs = [ref(sup, idx, plu)]
            r = rng.random()
            if r < 0.35:
                q, a = f"Are there any {plu}?", "yes" if members else "no"
            elif r < 0.65:
                q, a = f"How many {plu} are there?", str(len(members))
            elif r < 0.85 and len(set(members)) == 1:
                q, a = f"What {sup} is in the image?", members[0]
            elif unique:
                i = rng.choice(unique)
                o = objs[i]
                refs = [ref(o["name"], [i])]
                q = f"Is the {o['name']} {_art(sup)}?"
                a = "yes" if o["name"] in groups[sup] else "no"
        elif kind == "describe":
            q, a = rng.choice(["Describe the image.", "What is in the image?", "What do you see?"]), rec["caption"]
        elif kind == "count_rel" and unique:
            j = rng.choice(unique)
            side = rng.choice(list(SIDES))
            nm = some_name()
            ks = [k for k in members_of(nm) if k != j]
            refs = [ref(objs[j]["name"], [j]), ref(nm, ks)]
            if all(_frac(rec, k, j, side) <= 0.2 or _frac(rec, k, j, side) >= 0.8 for k in ks):
                q = f"How many {_plural(nm)} are {SIDES[side]} the {objs[j]['name']}?"
                a = str(sum(_frac(rec, k, j, side) >= 0.5 for k in ks))
        if q is not None and a is not None:
            out.append((kind, q, a, refs))
    return out


# NLVR-style statements about two scenes shown side by side (the baseline `answer_statement`).

def statements(left: dict, right: dict, rng: random.Random, n: int = 4) -> list[tuple[str, str]]:
    """(statement, 'yes'|'no') pairs about a left and a right scene record."""
    from ..iconworld.tasks.common import number_word
    from ..iconworld import catalog
    recs = {"left": left, "right": right}
    cnt = {s: {} for s in recs}
    for s, r in recs.items():
        for o in r["objects"]:
            cnt[s][o["name"]] = cnt[s].get(o["name"], 0) + 1
    present = sorted(set(cnt["left"]) | set(cnt["right"]))
    out = []
    for _ in range(4 * n):
        nm = rng.choice(present) if present and rng.random() < 0.8 else rng.choice(catalog.all_names())
        a, b = cnt["left"].get(nm, 0), cnt["right"].get(nm, 0)
        plu = _plural(nm)
        side = rng.choice(["left", "right"])
        k = cnt[side].get(nm, 0)
        r = rng.random()
        if r < 0.2:
            m = max(0, k + rng.choice([-1, 0, 0, 1]))
            what = _art(nm) if m == 1 else f"{number_word(m)} {plu}"
            out.append((f"The {side} image contains exactly {what}.", "yes" if k == m else "no"))
        elif r < 0.35:
            out.append((f"Both images contain {plu}." if rng.random() < 0.5 else f"Each image contains at least one {nm}.",
                        "yes" if a > 0 and b > 0 else "no"))
        elif r < 0.5:
            out.append((f"There are more {plu} in the left image than in the right image.", "yes" if a > b else "no"))
        elif r < 0.6:
            out.append((f"There are more {plu} in the right image than in the left image.", "yes" if b > a else "no"))
        elif r < 0.75:
            m = a + b + rng.choice([-1, 0, 0, 1])
            m = max(m, 0)
            what = f"is one {nm}" if m == 1 else f"are {number_word(m)} {plu}"
            out.append((f"There {what} in total.", "yes" if a + b == m else "no"))
        elif r < 0.9:
            out.append((f"The {side} image contains {_art(nm)}." if rng.random() < 0.5 else f"There is at least one {nm} in the {side} image.",
                        "yes" if k > 0 else "no"))
        else:
            out.append((f"Exactly one image contains {plu}.", "yes" if (a > 0) != (b > 0) else "no"))
    # balance true and false statements
    yes = [x for x in out if x[1] == "yes"]
    no = [x for x in out if x[1] == "no"]
    picked = []
    for k in range(n):
        first, second = (yes, no) if k % 2 == 0 else (no, yes)
        src = first if first else second
        if not src:
            break
        picked.append(src.pop(0))
    rng.shuffle(picked)
    return picked


def statement_prompt(statement: str) -> str:
    return f"Is this statement true? {statement.strip()}"


def side_by_side(left, right, size: int = 128):
    """Two images (PIL or uint8 arrays) pasted left/right, then resized to size x size."""
    from PIL import Image
    ims = [Image.fromarray(x) if isinstance(x, np.ndarray) else x.convert("RGB") for x in (left, right)]
    ims = [im.resize((size, size), Image.BILINEAR) for im in ims]
    canvas = Image.new("RGB", (2 * size, size))
    canvas.paste(ims[0], (0, 0))
    canvas.paste(ims[1], (size, 0))
    return canvas.resize((size, size), Image.BILINEAR)



# ----------------------------------------------------------------------------- batches

POINTING = ("point", "count_point")  # question forms answered in Molmo's format


def answer_ids(tok: Tokenizer, cfg: LlavaConfig, rec: dict, kind: str, refs: list, answer: str
               ) -> list[int]:
    """The tokens the model is trained to write: for each ref its points (an x and a y
    location token each, sorted by x then y) and its label, then ' = answer' (pointing
    forms stop after the points: `render` writes their Molmo text)."""
    ids: list[int] = []
    for label, members in refs:
        points = sorted((cfg.loc_token(0, x / rec["w"]), cfg.loc_token(1, y / rec["h"]))
                        for x, y in (rec["objects"][i]["point"] for i in members))
        for tx, ty in points:
            ids += [tx, ty]
        ids += tok.encode(" " + label)
    if kind not in POINTING:
        ids += tok.encode((" = " if refs else " ") + answer)
    return ids


def encode_turns(tok: Tokenizer, turns: Sequence[tuple[str, object]]) -> tuple[list[int], list[int], list[int]]:
    """(question, answer) turns -> ids, segs, targets (targets: next token on answer tokens
    and </s>, -1 elsewhere). An answer is text or already its token ids (`answer_ids`)."""
    ids, segs, tgts = [], [], []
    for k, (q, a) in enumerate(turns, 1):
        p = [BOS] + tok.encode(prompt_text(q))
        ans = (tok.encode(" " + a) if isinstance(a, str) else list(a)) + [EOS]
        seq = p + ans
        t = [-1] * (len(p) - 1) + ans + [-1]
        ids += seq
        segs += [k] * len(seq)
        tgts += t
    return ids, segs, tgts


def encode_budget(tok: Tokenizer, turns, budget: int):
    """encode_turns, keeping whole turns while the text fits in `budget` tokens (at least one)."""
    ids, segs, tgts = [], [], []
    for k, turn in enumerate(turns, 1):
        a, _, c = encode_turns(tok, [turn])
        if ids and len(ids) + len(a) > budget:
            continue
        ids += a
        segs += [k] * len(a)
        tgts += c
    return ids, segs, tgts


def collate(rows: list[tuple[list[int], list[int], list[int]]]):
    T = max(len(r[0]) for r in rows)
    ids = torch.full((len(rows), T), PAD, dtype=torch.long)
    segs = torch.zeros(len(rows), T, dtype=torch.long)
    tgts = torch.full((len(rows), T), -1, dtype=torch.long)
    for i, (a, b, c) in enumerate(rows):
        ids[i, :len(a)] = torch.tensor(a)
        segs[i, :len(b)] = torch.tensor(b)
        tgts[i, :len(c)] = torch.tensor(c)
    return ids, segs, tgts


def train_tokenizer(records: list[dict], vocab_size: int, seed: int = 0) -> Tokenizer:
    from ..iconworld import catalog
    rng = random.Random(seed)
    texts = []
    for rec in records:
        for kind, q, a, refs in questions(rec, rng, 8):
            grounding = " ".join(label for label, _ in refs)
            texts.append(prompt_text(q) + " " + grounding + (" = " + a if kind not in POINTING else ""))
    for i in range(0, len(records) - 1, 2):
        for st, a in statements(records[i], records[i + 1], rng, 4):
            texts.append(prompt_text(statement_prompt(st)) + " " + a)
    names = catalog.all_names() + [catalog.plural_of(n) for n in catalog.all_names()]
    names += list(catalog.SUPERCATEGORY_PLURALS) + list(catalog.SUPERCATEGORY_PLURALS.values())
    texts += [" ".join(names)] * 20
    return Tokenizer.train(texts, vocab_size)


# ----------------------------------------------------------------------------- training


@dataclass
class TrainConfig:
    seed: int = 0
    minutes: float = 60.0            # total budget; split over the stages below
    lm_frac: float = 0.05            # stage 1: LM on text
    align_frac: float = 0.08         # stage 2: projector on captions
    batch: int = 16                  # images per step
    turns: int = 12                  # question/answer turns drawn per image ...
    text_tokens: int = 200           # ... and packed while they fit in this many text tokens
    pair_frac: float = 0.1           # share of side-by-side NLVR statement sequences in stage 3
    lr: float = 1.5e-3
    lr_lm_stage1: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 30
    log_every: int = 25
    bf16: bool = True                # bf16 autocast for the forward pass (2-3x faster on CPU)
    workers: int = 0                 # DataLoader processes building batches (0: in the training process)
    grounding: float = 0.5           # weight of the auxiliary grounding loss (stages 2, 3)


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


def cell_labels(tok: Tokenizer, cfg: LlavaConfig, rec: dict) -> torch.Tensor:
    """(grid*grid, 3) token ids per image token: for the cell holding an object's point, the
    first token of ' name' and the point's x and y location tokens; '<image>' (and no
    location) for cells no object box touches; -1 (no loss) elsewhere."""
    from .tokenizer import IMAGE
    grid = cfg.grid
    lab = torch.full((grid, grid, 3), -1, dtype=torch.long)
    lab[:, :, 0] = IMAGE
    cw, ch = rec["w"] / grid, rec["h"] / grid
    for o in rec["objects"]:
        x0, y0, x1, y1 = o["box"]
        lab[int(y0 // ch):min(grid, int(math.ceil(y1 / ch))), int(x0 // cw):min(grid, int(math.ceil(x1 / cw))), 0] = -1
    for o in rec["objects"]:
        x, y = o["point"]
        lab[min(grid - 1, int(y // ch)), min(grid - 1, int(x // cw))] = torch.tensor(
            [tok.encode(" " + o["name"])[0], cfg.loc_token(0, x / rec["w"]), cfg.loc_token(1, y / rec["h"])])
    return lab.reshape(grid * grid, 3)


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


# ----------------------------------------------------------------------------- save / load


def save(model: LLaVA, path: str, meta: dict) -> None:
    from safetensors.torch import save_file
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()
             if k != "lm_head.weight"}
    tower_config = {}
    if model.tower is not None:  # a frozen copy of the tower, so the file stands alone
        for k, v in model.tower.state_dict().items():
            state["tower." + k] = v.detach().to("cpu", torch.float16 if v.is_floating_point() else v.dtype).contiguous()
        tower_config = getattr(model.tower, "clip_config", {})
    metadata = {"config": json.dumps(dataclasses.asdict(model.config)),
                "tower_config": json.dumps(tower_config),
                "tokenizer": model.tokenizer.to_json(),
                **{k: json.dumps(v) for k, v in meta.items()}}
    save_file(state, path, metadata=metadata)


def load(path: Optional[str] = None, tower: Optional[nn.Module] = None) -> LLaVA:
    """The bundled model (visprog/weights/llava.safetensors) with its frozen tower attached."""
    from safetensors import safe_open
    if path is None:
        from . import weights_path
        path = weights_path("llava")
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    names = {f.name for f in dataclasses.fields(LlavaConfig)}
    cfg = LlavaConfig(**{k: v for k, v in json.loads(meta["config"]).items() if k in names})
    model = LLaVA(cfg, Tokenizer.from_json(meta["tokenizer"]))
    tower_state = {k[6:]: state.pop(k) for k in list(state) if k.startswith("tower.")}
    state["lm_head.weight"] = state["wte.weight"]
    model.load_state_dict(state)
    model.meta = {k: v for k, v in meta.items() if k not in ("config", "tokenizer", "tower_config")}
    if tower is None and tower_state:
        from . import clip
        tower = clip.Tower(clip.config_from(json.loads(meta.get("tower_config") or "{}")))
        tower.load_state_dict(tower_state)
        tower.clip_config = json.loads(meta.get("tower_config") or "{}")
    model.attach_tower(tower if tower is not None else make_tower(cfg))
    return model.eval()


def make_tower(cfg: LlavaConfig) -> nn.Module:
    """The frozen image tower: the icon-world CLIP's (trained) or a random one of its shape."""
    from . import clip, detector, weights_path
    if cfg.vision in ("clip", "detector"):
        if cfg.vision == "clip":
            model = clip.load(weights_path("clip"))
            tower_config = model.config
        else:
            model = detector.load(weights_path("detector"))
            tower_config = model.clip_config
        tower = model.tower.eval()
        tower.clip_config = dataclasses.asdict(tower_config)
        return tower
    if cfg.vision == "random-clip":
        g = torch.random.get_rng_state()
        torch.manual_seed(0)
        tower = clip.Tower(clip.CLIPConfig(token_width=cfg.vision_width)).eval()
        torch.random.set_rng_state(g)
        tower.clip_config = dataclasses.asdict(clip.CLIPConfig(token_width=cfg.vision_width))
        return tower
    raise ValueError(f"unknown vision tower {cfg.vision!r}")



# ----------------------------------------------------------------------------- NLVR baseline

_default_model: Optional[LLaVA] = None


def default_model() -> LLaVA:
    """The bundled model, loaded once per process (shared with the Vqa backend)."""
    global _default_model
    if _default_model is None:
        try:
            from ..backends import vqa as _backend
            _default_model = _backend.model()
        except Exception:
            _default_model = load()
    return _default_model


def answer_statements(lefts, rights, statements_: Sequence[str], model: Optional[LLaVA] = None
                      ) -> list[bool]:
    """Batched `answer_statement`."""
    model = model or default_model()
    ims = [side_by_side(l, r, model.config.image_size) for l, r in zip(lefts, rights)]
    replies = model.answer(ims, [statement_prompt(s) for s in statements_], max_new_tokens=4)
    return [r.strip().lower().startswith("yes") for r in replies]


def answer_statement(left, right, statement: str, model: Optional[LLaVA] = None) -> bool:
    """NLVR baseline: is `statement` true of the two images placed side by side?
    One model call, no program ('Is this statement true? ...' -> yes/no)."""
    return answer_statements([left], [right], [statement], model)[0]
