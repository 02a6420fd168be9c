"""A LLaVA-style VQA model for the icon world, with Molmo-style pointing: config, model, save/load.

    image (PIL) --to_pixels(192)--> frozen image tower (stride-8 patch tokens, 24x24x96)
    --2x2 merge--> 144 tokens x 384 --MLP projector + 2D positions--> 144 image embeddings
    --> small decoder LM (nanoGPT style) --> answer tokens, greedy, </s> stops.

The tower is the icon-world CLIP tower architecture (`clip.Tower`) as the OWL-style
detector trained it on whole scenes (visprog/weights/detector.safetensors), OWL-ViT's way
of fine-tuning CLIP's image tower; its output is the last layer before the detection
heads, i.e. the "penultimate" patch tokens LLaVA takes from CLIP ViT. It is frozen
(why this tower, and every measurement: visprog/weights/llava.md).

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

Scenes, questions and token sequences: `llava_data.py`; LLaVA's three training stages and
`visprog train vqa`: `llava_train.py`. `answer_statement` is the NLVR baseline: one call,
no program, the two images side by side.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..pointing import format_count, format_points
from .clip import Letterbox
from .tokenizer import BOS, EOS, PAD, Tokenizer
from .weights import no_random_init

# ----------------------------------------------------------------------------- config


@dataclass
class LlavaConfig:
    # vision: 'detector' = frozen tower from visprog/weights/detector.safetensors; 'clip' =
    # the one in clip.safetensors; 'random-clip' = that architecture, randomly initialised (tests)
    vision: str = "detector"
    style: str = "train"         # the icon-world render style of training scenes (iconworld.styles)
    image_size: int = 192        # scenes are resized to this before the tower
    letterbox: bool = True       # images keep their aspect ratio (clip.Letterbox); False: squashed square (files from before it)
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
        fmap = tower_maps(self.tower, images, self.config.image_size, bf16, self.config.letterbox)  # (B, C, G, G)
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
        """<s> and the prompt's tokens; ToolError when they leave no room for an answer."""
        ids = [BOS] + self.tokenizer.encode(prompt_text(question))
        room = self.config.block_size - self.config.n_image_tokens - 1
        if len(ids) > room:
            from ..errors import ToolError
            raise ToolError(f"the question is {len(ids)} tokens long; the in-repo VQA model "
                            f"reads at most {room} (ask a shorter question)")
        return ids

    @torch.no_grad()
    def answer_grounded(self, images, questions: Sequence[str], max_new_tokens: Optional[int] = None,
                        feats: Optional[torch.Tensor] = None, image_of: Optional[Sequence[int]] = None,
                        batch_size: int = 64, sizes: Optional[Sequence[tuple[int, int]]] = None
                        ) -> list[tuple[str, list]]:
        """Answer questions[b] about images[b] (or about feats[image_of[b]] when features are
        given), batched: (answer text, refs) each, refs being the (label, [(x%, y%), ...]) the
        model pointed at before answering, in percent of the image: sizes[b] is the (width,
        height) of question b's image (default: the images' own; square without images)."""
        self.eval()
        if sizes is None:
            sizes = [im.size for im in images] if images is not None else [(1, 1)] * len(questions)
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
            out.extend(self.render(q, i, size) for q, i, size in zip(qs, ids, sizes[s:s + batch_size]))
        return out

    def answer(self, images, questions: Sequence[str], max_new_tokens: Optional[int] = None,
               feats: Optional[torch.Tensor] = None, image_of: Optional[Sequence[int]] = None,
               batch_size: int = 64) -> list[str]:
        """Answer one question per image (or per feats[image_of[b]]), batched."""
        return [a for a, _ in self.answer_grounded(images, questions, max_new_tokens, feats,
                                                   image_of, batch_size)]

    def render(self, question: str, ids: Sequence[int], size: tuple[int, int] = (1, 1)
               ) -> tuple[str, list]:
        """Generated tokens -> (answer text, refs). Location tokens pair up as x then y; an
        unpaired or out-of-order one is dropped. They place points in the letterboxed canvas
        of a `size` image; refs give them in percent of the image."""
        cfg, tok = self.config, self.tokenizer
        S = cfg.image_size
        frame = Letterbox.fit(*size, S, cfg.letterbox)
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
                    px, py = frame.to_image(x * S, v * S)  # a point in a band: the image's edge
                    points.append((round(min(max(100 * px / size[0], 0), 100), 1),
                                   round(min(max(100 * py / size[1], 0), 100), 1)))
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


_POINTING_Q = re.compile(r"(point to|count) (?:all )?(?:the )?(.+?)(?: by pointing)?", re.I)


def _pointing_match(question: str) -> Optional[re.Match]:
    # spaces collapsed and final punctuation cut first, so that the lazy group never
    # rescans a run of them: linear in the question's length
    return _POINTING_Q.fullmatch(" ".join(question.split()).rstrip(".?! "))


def pointing_kind(question: str) -> Optional[str]:
    """'point' for 'Point to the dogs.', 'count_point' for 'Count the dogs.', else None."""
    m = _pointing_match(question)
    return None if m is None else ("point" if m.group(1).lower() == "point to" else "count_point")


def pointing_object(question: str) -> str:
    m = _pointing_match(question)
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
    """The model in `path` (default: `weights_path("llava")`) with its frozen tower attached:
    the copy stored in the file, else `tower`, else `make_tower`. Uncached: use
    `visprog.models.load("llava")` for the process-wide model."""
    from safetensors import safe_open
    if path is None:
        from .weights import weights_path
        path = weights_path("llava")
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    from . import clip
    cfg = clip.config_from(json.loads(meta["config"]), LlavaConfig)  # old files: squashed images
    with no_random_init():
        model = LLaVA(cfg, Tokenizer.from_json(meta["tokenizer"]))
    tower_state = {k[6:]: state.pop(k) for k in list(state) if k.startswith("tower.")}
    state["lm_head.weight"] = state["wte.weight"]
    model.load_state_dict(state)
    model.meta = {k: v for k, v in meta.items() if k not in ("config", "tokenizer", "tower_config")}
    if tower is None and tower_state:
        with no_random_init():
            tower = clip.Tower(clip.config_from(json.loads(meta.get("tower_config") or "{}")))
        tower.load_state_dict(tower_state)
        tower.clip_config = json.loads(meta.get("tower_config") or "{}")
    model.attach_tower(tower if tower is not None else make_tower(cfg))
    return model.eval()


def make_tower(cfg: LlavaConfig) -> nn.Module:
    """The frozen image tower: the icon-world CLIP's (trained) or a random one of its shape."""
    from . import clip, detector
    from .weights import weights_path
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


def answer_statements(lefts, rights, statements_: Sequence[str], model: LLaVA) -> list[bool]:
    """Batched `answer_statement` (model: e.g. `visprog.models.load("llava")`)."""
    ims = [side_by_side(l, r, model.config.image_size) for l, r in zip(lefts, rights)]
    replies = model.answer(ims, [statement_prompt(s) for s in statements_], max_new_tokens=4)
    return [r.strip().lower().startswith("yes") for r in replies]


def answer_statement(left, right, statement: str, model: LLaVA) -> bool:
    """NLVR baseline: is `statement` true of the two images placed side by side?
    One model call, no program ('Is this statement true? ...' -> yes/no)."""
    return answer_statements([left], [right], [statement], model)[0]
