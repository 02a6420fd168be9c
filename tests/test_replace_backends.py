"""Replace: the `pretrained` backend (a diffusers inpainting pipeline) loaded through the
users' code path from tiny random components the test builds and saves (nothing is
downloaded), and the in-repo inpainter through `visprog.execute` on an image without
annotations."""

import json

import numpy as np
import pytest
from PIL import Image

import visprog
from visprog.backends import replace
from visprog.errors import ToolUnavailable
from visprog.iconworld.render import random_scene
from visprog.resolver import resolve_tool
from visprog.tools import registry


@pytest.fixture(scope="module")
def scene():
    image, truth = random_scene(2_000_000_321, n_objects=3)
    return Image.fromarray(np.asarray(image)), truth


@pytest.fixture
def tiny_pipeline(tmp_path, monkeypatch):
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    chars = "abcdefghijklmnopqrstuvwxyz0123456789.,'!?-"
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    torch.manual_seed(0)
    tokenizer = CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"), model_max_length=77)
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=77, bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"]))
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=9, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
        attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        block_out_channels=(8, 16), latent_channels=4, norm_num_groups=8)
    StableDiffusionInpaintPipeline(
        vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=DDIMScheduler(steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(tmp_path / "pipeline")
    monkeypatch.setenv(replace.INPAINT_ENV, str(tmp_path / "pipeline"))
    monkeypatch.setattr(replace, "STEPS", 2)
    return tmp_path / "pipeline"


def test_inpaint_missing_says_what_to_set(monkeypatch, tmp_path):
    monkeypatch.delenv(replace.INPAINT_ENV, raising=False)
    assert "VISPROG_INPAINT=" in replace.inpaint_missing()
    monkeypatch.setenv(replace.INPAINT_ENV, str(tmp_path))
    assert "no model_index.json" in replace.inpaint_missing()
    with pytest.raises(ToolUnavailable, match="VISPROG_INPAINT"):
        resolve_tool(registry.lookup("Replace"), {}, "pretrained")


def outside(mask: np.ndarray, px: int) -> np.ndarray:
    """Pixels more than `px` px (in x or y) from the mask."""
    from scipy.ndimage import binary_dilation
    return ~binary_dilation(mask, structure=np.ones((3, 3), bool), iterations=px)


def test_pretrained_pipeline_repaints_inside_the_objects_only(tiny_pipeline, scene):
    image, truth = scene
    program = "B=Seg(image=IMAGE)\nI=Replace(image=IMAGE, object=B, prompt='a cat')"
    result = visprog.execute(program, {"IMAGE": image}, backend={"Replace": "pretrained"})
    assert result.trace[1].backend == "pretrained"
    before, after = np.asarray(image, np.int32), np.asarray(result.value, np.int32)
    region = np.zeros(before.shape[:2], bool)
    for obj in result.trace[0].value:
        region |= obj.mask
    assert region.any()
    assert (before[outside(region, replace.DILATE + replace.FEATHER)] == after[
        outside(region, replace.DILATE + replace.FEATHER)]).all()
    assert np.abs(before - after)[region].mean() > 5  # random weights: anything but the input


def test_in_repo_inpainter_replaces_by_default(scene):
    image, truth = scene
    program = "B=Seg(image=IMAGE)\nI=Replace(image=IMAGE, object=B, prompt='a cat')"
    result = visprog.execute(program, {"IMAGE": image})
    assert [s.backend for s in result.trace] == ["iconworld", "iconworld"]
    before, after = np.asarray(image, np.int32), np.asarray(result.value, np.int32)
    boxes = np.zeros(before.shape[:2], bool)
    for obj in result.trace[0].value:
        x0, y0, x1, y1 = (int(round(v)) for v in obj.box)
        boxes[y0:y1, x0:x1] = True
    far = outside(boxes, 5)
    assert (before[far] == after[far]).all() and (before[boxes] != after[boxes]).any()
