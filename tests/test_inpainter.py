"""The diffusion inpainter (visprog/models/inpainter.py): a tiny config trained for a few steps
(never the shipped weights), shapes, pixels outside the region untouched, save/load."""

import os
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from PIL import Image  # noqa: E402

from visprog.models.inpainter import Inpainter, InpainterConfig, box_mask, dilate, load, noise_scheduler  # noqa: E402
from visprog.models.inpainter_data import examples  # noqa: E402
from visprog.models.inpainter_train import diffusion_loss, train  # noqa: E402

TINY = dict(resolution=16, channels=(16, 32, 32), batch=8, warmup=1, sample_steps=3, lr=3e-3, bf16=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    path = str(tmp_path_factory.mktemp("inpainter") / "inpainter.safetensors")
    model = train(InpainterConfig(**TINY, max_steps=3), seed=0, out_path=path, log=lambda *_: None)
    return model, path


def test_examples_shapes():
    cfg = InpainterConfig(**TINY)
    crops, regions, texts = examples(random.Random(0), cfg, 5)
    assert crops.shape == (5, 3, 16, 16) and regions.shape == (5, 1, 16, 16)
    assert len(texts) == 5 and all(t.startswith(("a ", "an ")) for t in texts)
    assert crops.min() >= -1 and crops.max() <= 1
    assert set(regions.unique().tolist()) <= {0.0, 1.0} and regions.sum() > 0


def test_loss_goes_down():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = InpainterConfig(**TINY)
    model = Inpainter(cfg)
    crops, regions, texts = examples(random.Random(1), cfg, 8)
    sched = noise_scheduler("ddpm")

    def fixed_loss():
        with torch.no_grad():
            return diffusion_loss(model, crops, regions, texts, sched, torch.Generator().manual_seed(5), cfg).item()

    before = fixed_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(12):
        loss = diffusion_loss(model, crops, regions, texts, sched, gen, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert fixed_loss() < 0.8 * before


def test_inpaint_keeps_pixels_outside_the_region(tiny):
    model, _ = tiny
    from visprog.iconworld.render import random_scene
    image, scene = random_scene(3, n_objects=3, width=200, height=150)
    masks = [box_mask(o.box, 200, 150) for o in scene.objects[:2]]
    out = model.inpaint(image, masks, "a cat", seed=0)
    assert out.size == image.size and out.mode == "RGB"
    before, after = np.asarray(image.convert("RGB")), np.asarray(out)
    changed = (before != after).any(-1)
    reach = dilate(np.any(masks, 0), model.config.dilate + model.config.feather)
    assert not changed[~reach].any()
    for m in masks:
        assert changed[m].any()
    # one mask with two components is two regions, repainted the same way
    again = model.inpaint(image, np.any(masks, 0), "a cat", seed=0)
    assert not (np.asarray(again) != before).any(-1)[~reach].any()
    # deterministic for a seed; an empty mask changes nothing
    assert np.array_equal(np.asarray(model.inpaint(image, masks, "a cat", seed=0)), after)
    assert np.array_equal(np.asarray(model.inpaint(image, np.zeros((150, 200), bool), "a cat")), before)


def test_sample_shapes(tiny):
    model, _ = tiny
    masked = torch.zeros(2, 3, 16, 16)
    region = torch.zeros(2, 1, 16, 16)
    region[:, :, 4:12, 4:12] = 1
    out = model.sample(masked, region, ["a dog", "a red car"], seed=1)
    assert out.shape == (2, 3, 16, 16)
    assert torch.equal(out[:, :, 0, 0], masked[:, :, 0, 0])  # known pixels kept


def test_save_load_round_trip(tiny):
    model, path = tiny
    loaded = load(path)
    assert loaded.config == model.config
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.allclose(a.float(), b.float(), atol=1e-2, rtol=1e-2), k
    assert loaded.meta["seed"] == 0 and loaded.meta["steps"] == 3
    import visprog.models
    again = visprog.models.load("inpainter", path)
    image = Image.new("RGB", (64, 48), (200, 220, 240))
    mask = np.zeros((48, 64), bool)
    mask[10:30, 20:40] = True
    assert np.array_equal(np.asarray(again.inpaint(image, mask, "a dog")), np.asarray(loaded.inpaint(image, mask, "a dog")))


def test_shipped_weights_if_present():
    from visprog.models.weights import weights_path
    path = weights_path("inpainter")
    if not os.path.exists(path):
        pytest.skip("no shipped inpainter weights")
    assert os.path.getsize(path) <= 15 * 2 ** 20
    assert os.path.exists(path[:-len(".safetensors")] + ".md")
    model = load(path)
    assert model.config.resolution >= 16


def test_training_is_reproducible_from_the_seed(tiny):
    torch.set_num_threads(1)
    again = train(InpainterConfig(**TINY, max_steps=3), seed=0, out_path=None, log=lambda *_: None)
    first = tiny[0].state_dict()
    assert all(torch.equal(first[k], v) for k, v in again.state_dict().items())
