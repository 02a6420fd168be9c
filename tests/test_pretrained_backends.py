"""The `pretrained` backends, loaded through the same code path users take, with tiny random
open_clip and OWL-ViT models written to tmp_path (nothing is downloaded)."""

import json

import pytest
from PIL import Image

from visprog.errors import ToolUnavailable
from visprog.registry import ImageCache, ToolContext
from visprog.resolver import resolve_tool
from visprog.tools import registry
from visprog.values import Obj, Objects

import visprog.backends.pretrained as pretrained

import open_clip
import transformers  # noqa: F401


def _image(color=(200, 30, 30)):
    im = Image.new("RGB", (64, 48), (240, 240, 240))
    im.paste(Image.new("RGB", (20, 20), color), (5, 5))
    return im


@pytest.fixture
def tiny_openclip(tmp_path, monkeypatch):
    import torch
    cfg = {"embed_dim": 16,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    config = tmp_path / "visprog-tiny-clip.json"
    config.write_text(json.dumps(cfg))
    open_clip.add_model_config(str(config))
    torch.manual_seed(0)
    model = open_clip.create_model("visprog-tiny-clip")
    weights = tmp_path / "tiny_clip.pt"
    torch.save(model.state_dict(), weights)
    monkeypatch.setenv(pretrained.OPENCLIP_ENV, f"{config}:{weights}")
    return config


def _vocab_files(tmp_path):
    chars = "abcdefghijklmnopqrstuvwxyz0123456789.,'!?-"
    vocab = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    for extra in ("th", "the</w>", "<|startoftext|>", "<|endoftext|>"):
        vocab[extra] = len(vocab)
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\nt h\nth e</w>\n")
    return vocab


@pytest.fixture
def tiny_owlvit(tmp_path, monkeypatch):
    import torch
    from transformers import (CLIPTokenizer, OwlViTConfig, OwlViTForObjectDetection,
                              OwlViTImageProcessor, OwlViTProcessor)
    vocab = _vocab_files(tmp_path)
    tokenizer = CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    image_processor = OwlViTImageProcessor(size={"height": 32, "width": 32},
                                           crop_size={"height": 32, "width": 32})
    config = OwlViTConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 16, "intermediate_size": 32,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 32,
                     "bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"],
                     "pad_token_id": vocab["<|endoftext|>"]},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=16)
    torch.manual_seed(0)
    folder = tmp_path / "owlvit"
    OwlViTForObjectDetection(config).save_pretrained(folder)
    OwlViTProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    monkeypatch.setenv(pretrained.OWLVIT_ENV, str(folder))
    monkeypatch.setattr(pretrained, "LOC_THRESHOLD", 0.0)  # random weights: keep every box
    return folder


def _ctx():
    return ToolContext(cache=ImageCache())


def test_missing_configuration_names_the_variable(monkeypatch):
    monkeypatch.delenv(pretrained.OPENCLIP_ENV, raising=False)
    monkeypatch.delenv(pretrained.OWLVIT_ENV, raising=False)
    with pytest.raises(ToolUnavailable, match=pretrained.OPENCLIP_ENV):
        resolve_tool(registry.lookup("Classify"), {}, "pretrained").backend
    with pytest.raises(ToolUnavailable, match=pretrained.OWLVIT_ENV):
        resolve_tool(registry.lookup("Loc"), {}, "pretrained").backend
    monkeypatch.setenv(pretrained.OWLVIT_ENV, "/nonexistent/owlvit")
    with pytest.raises(ToolUnavailable, match="not a folder"):
        resolve_tool(registry.lookup("Loc"), {}, "pretrained").backend


def test_openclip_classify_and_select(tiny_openclip):
    backend = resolve_tool(registry.lookup("Classify"), {}, "pretrained").backend
    image = _image()
    objs = Objects([Obj((0, 0, 30, 30), "thing"), Obj((30, 10, 60, 40), "thing")])
    out = backend([{"image": image, "object": objs, "categories": "dog, cat"},
                       {"image": image, "object": Objects(), "categories": ["dog"]}], _ctx())
    assert len(out) == 2 and len(out[0]) == 2 and out[1] == []
    assert all(o.label in ("dog", "cat") and 0 <= o.score <= 1 for o in out[0])
    select = resolve_tool(registry.lookup("Select"), {}, "pretrained").backend
    chosen = select([{"image": image, "object": objs, "query": "dog", "category": None}], _ctx())[0]
    assert len(chosen) == 1 and chosen[0].label == "dog"


def test_owlvit_loc_and_facedet(tiny_owlvit):
    loc = resolve_tool(registry.lookup("Loc"), {}, "pretrained").backend
    image = _image()
    out = loc([{"image": image, "object": "the dog"}, {"image": image, "object": "LEFT"},
                   {"image": _image((0, 0, 200)), "object": "the cat, the dog"}], _ctx())
    assert len(out) == 3
    assert out[1][0].box == (0.0, 0.0, 32.0, 48.0)
    for objs in (out[0], out[2]):
        assert objs, "threshold 0 keeps boxes"
        for o in objs:
            x0, y0, x1, y1 = o.box
            assert -1 <= x0 <= x1 <= 65 and -1 <= y0 <= y1 <= 49
    assert {o.label for o in out[2]} <= {"the cat", "the dog"}
    faces = resolve_tool(registry.lookup("FaceDet"), {}, "pretrained").backend([{"image": image}], _ctx())[0]
    assert all(o.label == "face" for o in faces)
