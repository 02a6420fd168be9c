"""The `pretrained` Point backend, against a tiny random Molmo2 saved into tmp_path (no download)."""

import json

import pytest
from PIL import Image

import transformers  # noqa: F401
import transformers.models.molmo2  # noqa: F401

import visprog  # noqa: E402
from visprog.backends import vqa as vqa_backend  # noqa: E402
from visprog.errors import ToolUnavailable  # noqa: E402
from visprog.pointing import parse_points  # noqa: E402
from visprog.registry import ImageCache, ToolContext  # noqa: E402
from visprog.resolver import resolve_tool  # noqa: E402
from visprog.tools import registry  # noqa: E402
from visprog.values import Points  # noqa: E402

# A reply in Molmo2's format to 'Point to the dogs.': image 1, points 1 and 2, x y in thousandths.
REPLY = '<points coords="1 1 250 500 2 750 900">dogs</points>'
# Molmo2Processor writes each image as these tokens: the tokenizer must keep each one whole.
IMAGE_TOKENS = ["<|image|>", "<|video|>", "<im_patch>", "<im_col>", "<im_start>", "<low_res_im_start>",
                "<frame_start>", "<im_end>", "<frame_end>", "<im_low>"]
CHAT = ["<|im_start|>", "<|im_end|>"]
WORDS = ["Point", "to", "the", "dogs", "red", "car", ".", "user", "assistant"]
# Shaped like the Molmo2 chat template in transformers' processor tests: turns between
# <|im_start|> and <|im_end|>, each image as <|image|> where it comes.
TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
            "{% if c['type'] == 'image' %}<|image|>{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
            "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _save_tiny_molmo(folder, always_reply=False):
    """A Molmo2 with one layer per part and 28 x 28 crops (2 x 2 patches, pooled to 1 token).
    `always_reply`: every logit is 0, so greedy decoding repeats token 0, which is REPLY."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (Molmo2Config, Molmo2ForConditionalGeneration, Molmo2ImageProcessor,
                              Molmo2Processor, Molmo2VideoProcessor, PreTrainedTokenizerFast)
    from transformers.models.molmo2.configuration_molmo2 import (Molmo2AdapterConfig, Molmo2TextConfig,
                                                                 Molmo2VisionConfig)
    vocab = {w: i for i, w in enumerate([REPLY, "<unk>", "<|endoftext|>", "<pad>"] + WORDS + CHAT + IMAGE_TOKENS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<|endoftext|>",
                                   eos_token="<|endoftext|>", pad_token="<pad>",
                                   extra_special_tokens={"image_token": "<|image|>", "video_token": "<|video|>"})
    fast.add_special_tokens({"additional_special_tokens": CHAT + IMAGE_TOKENS[2:]})
    size = {"height": 28, "width": 28}
    Molmo2Processor(image_processor=Molmo2ImageProcessor(size=size, patch_size=14, max_crops=1,
                                                         overlap_margins=[0, 0]),
                    video_processor=Molmo2VideoProcessor(size=size, patch_size=14),
                    tokenizer=fast, chat_template=TEMPLATE).save_pretrained(folder)
    small = dict(hidden_size=16, intermediate_size=16, num_attention_heads=2, num_key_value_heads=2, head_dim=8)
    config = Molmo2Config(
        vision_config=Molmo2VisionConfig(num_hidden_layers=1, image_size=[28, 28], patch_size=14, **small),
        adapter_config=Molmo2AdapterConfig(vision_feature_layer=[-1], text_hidden_size=16, **small),
        text_config=Molmo2TextConfig(vocab_size=len(vocab), additional_vocab_size=0, num_hidden_layers=1,
                                     max_position_embeddings=128, rope_theta=10000.0,
                                     bos_token_id=vocab["<|endoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                                     pad_token_id=vocab["<pad>"], **small),
        image_start_token_id=vocab["<im_start>"], low_res_image_start_token_id=vocab["<low_res_im_start>"],
        image_end_token_id=vocab["<im_end>"], image_patch_id=vocab["<im_patch>"],
        frame_start_token_id=vocab["<frame_start>"], frame_end_token_id=vocab["<frame_end>"])
    torch.manual_seed(0)
    model = Molmo2ForConditionalGeneration(config)
    if always_reply:
        with torch.no_grad():
            model.model.language_model.norm.weight.zero_()
    model.save_pretrained(folder)


def _images():
    return [Image.new("RGB", (48, 40), (200, 30, 30)), Image.new("RGB", (100, 30), (30, 30, 200))]


def _inside(points, image):
    return all(0 <= x <= image.width and 0 <= y <= image.height for x, y in points)


def test_missing_says_what_to_set(monkeypatch, tmp_path):
    image = _images()[0]
    program = "POINTS0=Point(image=IMAGE, object='dog')"
    monkeypatch.delenv(vqa_backend.MOLMO_ENV, raising=False)
    with pytest.raises(ToolUnavailable, match=f"set {vqa_backend.MOLMO_ENV}=<folder> to a Molmo2 checkpoint"):
        visprog.execute(program, {"IMAGE": image}, backend="pretrained")
    monkeypatch.setenv(vqa_backend.MOLMO_ENV, "/nonexistent/folder")
    with pytest.raises(ToolUnavailable, match="not a folder"):
        visprog.execute(program, {"IMAGE": image}, backend="pretrained")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "molmo"}))  # Molmo (v1)
    monkeypatch.setenv(vqa_backend.MOLMO_ENV, str(tmp_path))
    with pytest.raises(ToolUnavailable, match="no weights"):
        visprog.execute(program, {"IMAGE": image}, backend="pretrained")
    (tmp_path / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ToolUnavailable, match="holds a 'molmo' model, not Molmo2"):
        visprog.execute(program, {"IMAGE": image}, backend="pretrained")
    # looks right but does not load (no processor, broken weights): still names the variable
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "molmo2"}))
    with pytest.raises(ToolUnavailable, match=f"{vqa_backend.MOLMO_ENV}=.* does not load as a Molmo2"):
        visprog.execute(program, {"IMAGE": image}, backend="pretrained")


def test_tiny_random_molmo_points_inside_the_image(tmp_path, monkeypatch):
    folder = tmp_path / "molmo2"
    _save_tiny_molmo(str(folder))
    monkeypatch.setenv(vqa_backend.MOLMO_ENV, str(folder))
    monkeypatch.setattr(vqa_backend, "MOLMO_MAX_NEW_TOKENS", 6)  # random weights ramble
    images = _images()
    result = visprog.execute("POINTS0=Point(image=IMAGE, object='dog')", {"IMAGE": images[0]},
                             backend="pretrained")
    assert isinstance(result.value, Points) and result.value.label == "dog"
    assert _inside(result.value, images[0])
    assert result.trace[0].backend == "pretrained" and "Molmo2" in result.trace[0].notes[0]
    # a batch of two images and objects equals one call at a time (greedy, left padding)
    backend = resolve_tool(registry.lookup("Point"), {}, "pretrained").backend
    calls = [{"image": images[0], "object": "dog"}, {"image": images[1], "object": "red car"}]
    batched = backend(calls, ToolContext(ImageCache()))
    assert all(isinstance(p, Points) and _inside(p, im) for p, im in zip(batched, images))
    assert [backend([c], ToolContext(ImageCache()))[0] for c in calls] == batched


def test_molmo2_reply_becomes_pixels_of_each_image(tmp_path, monkeypatch):
    folder = tmp_path / "molmo2-replies"
    _save_tiny_molmo(str(folder), always_reply=True)
    monkeypatch.setenv(vqa_backend.MOLMO_ENV, str(folder))
    monkeypatch.setattr(vqa_backend, "MOLMO_MAX_NEW_TOKENS", 1)  # REPLY is one token
    images = _images()
    backend = resolve_tool(registry.lookup("Point"), {}, "pretrained").backend
    ctx = ToolContext(ImageCache())
    out = backend([{"image": im, "object": "dog"} for im in images], ctx)
    assert out == [[(12.0, 20.0), (36.0, 36.0)], [(25.0, 15.0), (75.0, 27.0)]]
    assert REPLY in ctx.notes[0][0] and "2 points" in ctx.notes[0][0]


def test_parser_reads_a_handwritten_molmo2_reply():
    # a 640 x 480 photo; Molmo2 counts two dogs, the first at 94.6% of the width, 2.9% of the height
    reply = 'Counting the <points coords="1 1 946 029 2 050 975">dogs</points> shows a total of 2.'
    points = parse_points(reply, 640, 480)
    assert [c for p in points for c in p] == pytest.approx([605.44, 13.92, 32.0, 468.0])
