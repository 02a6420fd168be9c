"""The CLIP model file: captions and their truth, the loss, a few training steps, save/load."""

import random

import pytest
import torch

from visprog.models import clip as C
from visprog.models import clip_data as CD
from visprog.models import clip_train as CT

TINY = dict(image_size=32, widths=(8, 16, 16), depths=(1, 1, 1), token_width=16, embed_dim=32,
            text_head_width=16, crop_scenes=2, pair_scenes=3, max_steps=2, minutes=1.0, warmup=1)


def test_relation_facts_and_hard_negatives_are_false():
    dog, tree = ("dog", "brown", 10.0, 50.0), ("tree", "green", 90.0, 50.0)
    rng = random.Random(0)
    (pos, pos_fact), (neg, neg_fact) = CD.scene_captions(rng, "rel", [dog, tree])
    assert pos == "a dog left of a tree" and neg == "a tree left of a dog"
    assert CD.fact_true(pos_fact, [dog, tree]) and not CD.fact_true(neg_fact, [dog, tree])
    car, bus = ("car", "red", 10.0, 10.0), ("bus", "blue", 90.0, 90.0)
    (pos, pf), (neg, nf) = CD.scene_captions(rng, "pair", [car, bus])
    assert pos == "a red car and a blue bus" and neg == "a blue car and a red bus"
    assert CD.fact_true(pf, [car, bus]) and not CD.fact_true(nf, [car, bus])
    (pos, pf), (neg, nf) = CD.scene_captions(rng, "count", [dog, dog])
    assert pos == "two dogs" and CD.fact_true(pf, [dog, dog]) and not CD.fact_true(nf, [dog, dog])


def test_object_captions_never_use_synonyms():
    from visprog.iconworld import catalog
    # ('aircraft' is both airplane's synonym and a supercategory: the supercategory may be trained)
    synonyms = {s for c in catalog.CATEGORIES.values() for s in c.synonyms} - set(catalog.SUPERCATEGORIES)
    rng = random.Random(1)
    for _ in range(300):
        name = rng.choice(catalog.all_names())
        text, fact = CD.object_caption(rng, name, "red")
        assert name in fact[1]
        words = text.split()
        assert not any(" ".join(words[i:i + k]) in synonyms for k in (1, 2) for i in range(len(words)))


def test_multi_positive_loss_prefers_the_truth():
    truth = torch.tensor([[True, False, True], [False, True, False]])
    good = torch.where(truth, 5.0, -5.0)
    assert CT.multi_positive_loss(good, truth) < CT.multi_positive_loss(-good, truth)


def test_all_positives_loss_asks_for_every_true_caption():
    """One true caption near the image satisfies `multi_positive_loss`; `all_positives_loss`
    also wants the other ('a person' of a character, not just 'an astronaut')."""
    truth = torch.tensor([[True, True, False]])
    one_near = torch.tensor([[10.0, -10.0, -10.0]])
    both_near = torch.tensor([[10.0, 10.0, -10.0]])
    assert CT.multi_positive_loss(one_near, truth) < 1e-3
    assert CT.all_positives_loss(one_near, truth) > 4
    assert CT.all_positives_loss(both_near, truth) < 1.0


def test_batch_puts_crops_first_and_hard_negatives_on_scenes():
    """The all-positives term is taken over the first n_crops rows: they must be the crops,
    and the scenes (the only images with hard negatives) must come after them."""
    import random
    cfg = C.CLIPConfig(**TINY)
    pixels, texts, truth, pairs, n_crops = CD.make_batch(random.Random(3), cfg)
    assert 0 < n_crops < pixels.shape[0] == truth.shape[0]
    assert pixels.shape[0] - n_crops == cfg.pair_scenes
    assert pairs and all(i >= n_crops for i, _, _ in pairs)
    assert truth[:n_crops].any(1).all()  # every crop has a true caption to be pulled towards


def test_train_flags_override_only_the_config_fields_given():
    import argparse
    from visprog.models.flags import config_from_flags
    p = argparse.ArgumentParser()
    CT.add_arguments(p)
    args = p.parse_args(["--steps", "3", "--hard-negative-weight", "2", "--seed", "5", "--widths", "8", "16", "32"])
    config = config_from_flags(args, C.CLIPConfig)
    assert (config.max_steps, config.hard_negative_weight, config.widths) == (3, 2.0, (8, 16, 32))
    assert config.lr == C.CLIPConfig.lr and args.seed == 5


def test_learning_rate_decays_over_whichever_budget_ends_first():
    by_time = C.CLIPConfig(minutes=10.0, warmup=10)                    # max_steps: the default
    by_steps = C.CLIPConfig(minutes=10.0, warmup=10, max_steps=1000)
    assert CT.learning_rate(by_time, 0, 0.0) == pytest.approx(by_time.lr / 10)
    assert CT.learning_rate(by_time, 500, 300.0) == pytest.approx(by_time.lr / 2)   # half the clock
    assert CT.learning_rate(by_time, 999, 599.9) < 1e-6 * by_time.lr
    # a step cap reached well inside the clock still decays to zero at its last step
    assert CT.learning_rate(by_steps, 500, 60.0) == pytest.approx(by_steps.lr / 2)
    assert CT.learning_rate(by_steps, 999, 120.0) < 1e-4 * by_steps.lr


def test_train_a_few_steps_save_and_load(tmp_path):
    torch.set_num_threads(1)
    path = tmp_path / "clip.safetensors"
    model = CT.train(C.CLIPConfig(**TINY), seed=0, out_path=str(path), log=lambda *_: None)
    loaded = C.load(str(path))
    assert loaded.config.embed_dim == 32
    from PIL import Image
    images = [Image.new("RGB", (50, 40), (200, 0, 0)), Image.new("RGB", (20, 20), (0, 0, 200))]
    e = loaded.encode_image(images)
    t = loaded.encode_text(["a photo of a dog", "a red car"])
    assert e.shape == (2, 32) and t.shape == (2, 32)
    assert torch.allclose(e.norm(dim=-1), torch.ones(2), atol=1e-3)
    assert torch.allclose(t.norm(dim=-1), torch.ones(2), atol=1e-3)
    # fp16 storage round-trips closely
    assert torch.allclose(model.encode_text(["a dog"]), loaded.encode_text(["a dog"]), atol=2e-2)


def test_shipped_weights_load_through_models_load():
    from visprog import models
    if not models.available("clip"):
        pytest.skip("no shipped CLIP weights")
    clip = models.load("clip")
    assert models.load("clip") is clip  # cached per process
    e = clip.encode_text(["a photo of a dog", "a photo of a puppy", "a photo of a bus"])
    assert torch.allclose(e.norm(dim=-1), torch.ones(3), atol=1e-3)
    assert float(e[0] @ e[1]) > float(e[0] @ e[2])  # 'puppy' (never trained on) is nearer 'dog'
