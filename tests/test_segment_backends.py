"""Seg: the oracle with and without prompts, and the `pretrained` backend (Segment Anything)
loaded through the users' code path from a tiny random model the test builds (nothing is
downloaded)."""

import json

import numpy as np
import pytest

import visprog
from visprog.backends import segment
from visprog.errors import ToolUnavailable
from visprog.iconworld.render import random_scene
from visprog.resolver import resolve_tool
from visprog.tools import registry


@pytest.fixture(scope="module")
def scene():
    return random_scene(7, n_objects=4)


def test_oracle_refines_boxes_and_points(scene):
    image, truth = scene
    program = ("A=Seg(image=IMAGE)\nB=Loc(image=IMAGE, object='person')\nC=Seg(image=IMAGE, object=B)\n"
               "P=Point(image=IMAGE, object='cup')\nD=Seg(image=IMAGE, object=P)")
    result = visprog.execute(program, {"IMAGE": image}, backend="oracle")
    values = {t.output: t.value for t in result.trace}
    assert len(values["A"]) == len(truth.objects)
    assert all(o.mask is not None and o.mask.shape == (256, 256) for o in values["A"])
    people = [o for o in truth.objects if o.category in ("supervillain", "firefighter", "vampire")]
    assert sorted(int(o.mask.sum()) for o in values["C"]) == sorted(int(o.mask.sum()) for o in people)
    assert [o.label for o in values["C"]] == ["person"] * 3  # the prompt's label is kept
    cup = next(o for o in truth.objects if o.category == "cup")
    assert len(values["D"]) == 1 and (values["D"][0].mask == cup.mask).all()


def test_seg_takes_objects_or_points_only():
    diagnostics = visprog.check("A=Seg(image=IMAGE, object='dog')")
    assert any("takes None | Objects | Points" in d.message for d in diagnostics)


@pytest.fixture
def tiny_sam(tmp_path, monkeypatch):
    import torch
    from segment_anything.build_sam import _build_sam
    config = {"encoder_embed_dim": 16, "encoder_depth": 1, "encoder_num_heads": 2,
              "encoder_global_attn_indexes": [0]}
    model = _build_sam(**config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # weights set here, whatever torch.nn.init does at this moment
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.05)
        for mlp in model.mask_decoder.output_hypernetworks_mlps:
            mlp.layers[-1].bias.fill_(1.0)  # a decoder that says "everything": masks not empty
    (tmp_path / "tiny_sam.json").write_text(json.dumps(config))
    torch.save(model.state_dict(), tmp_path / "tiny_sam.pth")
    monkeypatch.setenv(segment.SAM_ENV, f"{tmp_path / 'tiny_sam.json'}:{tmp_path / 'tiny_sam.pth'}")
    return tmp_path


def test_sam_missing_says_what_to_set(monkeypatch, tmp_path):
    monkeypatch.delenv(segment.SAM_ENV, raising=False)
    assert "VISPROG_SAM=" in segment.sam_missing()
    monkeypatch.setenv(segment.SAM_ENV, f"vit_q:{tmp_path}")
    assert "unknown model kind 'vit_q'" in segment.sam_missing()
    monkeypatch.setenv(segment.SAM_ENV, f"vit_b:{tmp_path / 'nope.pth'}")
    assert "does not exist" in segment.sam_missing()
    with pytest.raises(ToolUnavailable, match="VISPROG_SAM"):
        resolve_tool(registry.lookup("Seg"), {}, "pretrained")


def test_sam_backend_segments_prompts_and_whole_images(tiny_sam, scene, monkeypatch):
    monkeypatch.setattr(segment, "POINTS_PER_SIDE", 2)  # 4 prompts, not 1,024: a tiny model is slow enough
    image, _ = scene
    program = "B=Loc(image=IMAGE, object='person')\nC=Seg(image=IMAGE, object=B)\nA=Seg(image=IMAGE)"
    result = visprog.execute(program, {"IMAGE": image}, backend={"Seg": "pretrained", "Loc": "oracle"})
    boxes, refined, whole = (t.value for t in result.trace)
    assert result.trace[1].backend == "pretrained"
    assert len(refined) == len(boxes) == 3
    for obj in list(refined) + list(whole):
        assert obj.mask.shape == (256, 256) and obj.mask.dtype == bool and obj.mask.any()
        x0, y0, x1, y1 = obj.box
        ys, xs = np.nonzero(obj.mask)
        assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert [o.label for o in refined] == ["person"] * 3 and {o.label for o in whole} <= {"object"}


def test_in_repo_segmenter_through_seg(scene):
    """The default backend on an image without annotations: the in-repo segmenter's masks
    match the scene's (held-out seed), each object labelled by the in-repo CLIP."""
    from PIL import Image
    image, truth = random_scene(2_000_000_123, n_objects=5)
    plain = Image.fromarray(np.asarray(image))
    result = visprog.execute("A=Seg(image=IMAGE)", {"IMAGE": plain})
    assert result.trace[0].backend == "iconworld"
    found = result.value

    def iou(a, b):
        return (a & b).sum() / max((a | b).sum(), 1)
    best = [max((iou(o.mask, f.mask) for f in found), default=0) for o in truth.objects]
    assert sum(b >= 0.5 for b in best) >= 4 and np.mean(best) >= 0.8
    named = {f.label for f in found if max(iou(f.mask, o.mask) for o in truth.objects) >= 0.5}
    assert len(named & {o.category for o in truth.objects}) >= 4
    from visprog.backends.segment import seg
    from visprog.values import Obj, Objects
    prompts = Objects(Obj(o.box, o.category, 1.0) for o in truth.objects)
    refined = seg([{"image": plain, "object": prompts}], None)[0]
    assert len(refined) == 5
    assert np.mean([iou(r.mask, o.mask) for r, o in zip(refined, truth.objects)]) >= 0.85
