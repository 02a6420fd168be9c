"""A byte-level BPE tokenizer for the LLaVA-style model, trained here with `tokenizers`.

Byte-level means every string encodes (unknown words, emoji, any script fall back
to byte tokens) and decodes back exactly. Special tokens: <pad> 0, <s> 1, </s> 2
(the stop token), <image> 3. The trained tokenizer travels inside the model's
safetensors metadata (`to_json` / `from_json`), so weights are one file.
"""

from __future__ import annotations

from typing import Iterable

PAD, BOS, EOS, IMAGE = 0, 1, 2, 3
SPECIALS = ["<pad>", "<s>", "</s>", "<image>"]


class Tokenizer:
    def __init__(self, tok):
        self.tok = tok  # tokenizers.Tokenizer
        assert [tok.token_to_id(s) for s in SPECIALS] == [PAD, BOS, EOS, IMAGE]

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 1024) -> "Tokenizer":
        from tokenizers import Tokenizer as _Tok, decoders, models, pre_tokenizers, trainers
        tok = _Tok(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        tok.train_from_iterator(texts, trainer)
        return cls(tok)

    @classmethod
    def from_json(cls, text: str) -> "Tokenizer":
        from tokenizers import Tokenizer as _Tok
        return cls(_Tok.from_str(text))

    def to_json(self) -> str:
        return self.tok.to_str()

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids if int(i) > IMAGE]
        return self.tok.decode(ids, skip_special_tokens=True)
