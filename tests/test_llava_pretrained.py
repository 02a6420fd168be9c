"""The `pretrained` Vqa backend, against a tiny random LLaVA saved into tmp_path (no download)."""

import pytest
from PIL import Image

import transformers  # noqa: F401

from visprog.backends import vqa as vqa_backend  # noqa: E402
from visprog.registry import ImageCache, ToolContext  # noqa: E402
from visprog.resolver import resolve_tool  # noqa: E402
from visprog.tools import registry  # noqa: E402

WORDS = ["yes", "no", "red", "blue", "dog", "dogs", "cat", "how", "many", "are", "there", "is",
         "a", "the", "?", ".", "USER", ":", "ASSISTANT", "Answer", "question", "using", "single",
         "word", "or", "phrase", "1", "2", "3"]


def _save_tiny_llava(folder):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)
    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", "<pad>", "<image>"] + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>",
                                   extra_special_tokens={"image_token": "<image>"})
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=fast, patch_size=8,
                               vision_feature_select_strategy="default", image_token="<image>",
                               num_additional_image_tokens=1)
    processor.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                       num_attention_heads=2, image_size=32, patch_size=8),
        text_config=LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32,
                                num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                max_position_embeddings=128, pad_token_id=vocab["<pad>"],
                                bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"]),
        image_token_index=vocab["<image>"], image_seq_length=16, vision_feature_layer=-2)
    LlavaForConditionalGeneration(config).save_pretrained(folder)


def test_missing_says_what_to_set(monkeypatch):
    monkeypatch.delenv(vqa_backend.LLAVA_ENV, raising=False)
    backend = registry.lookup("Vqa").backends["pretrained"]
    assert vqa_backend.LLAVA_ENV in backend.problem()
    monkeypatch.setenv(vqa_backend.LLAVA_ENV, "/nonexistent/folder")
    assert "not a folder" in backend.problem()


def test_tiny_random_llava_answers_a_batch(tmp_path, monkeypatch):
    folder = tmp_path / "llava"
    _save_tiny_llava(str(folder))
    monkeypatch.setenv(vqa_backend.LLAVA_ENV, str(folder))
    tool = registry.lookup("Vqa")
    backend = resolve_tool(tool, {}, "pretrained").backend
    assert backend.name == "pretrained"
    images = [Image.new("RGB", (48, 40), (200, 30, 30)), Image.new("RGB", (32, 32), (30, 30, 200))]
    calls = [{"image": images[0], "question": "how many dogs are there ?"},
             {"image": images[1], "question": "is there a cat ?"}]
    ctx = ToolContext(ImageCache())
    answers = backend(calls, ctx)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    assert all(ctx.notes.get(i) for i in range(2))
    # batched equals one at a time (greedy, left padding)
    single = [backend([c], ToolContext(ImageCache()))[0] for c in calls]
    assert single == answers
