import numpy as np
import pytest
from PIL import Image

from visprog import Obj, Objects
from visprog.registry import ImageCache, ToolContext
from visprog.resolver import resolve_tool
from visprog.tools import registry
from visprog.values import FRAME_KEY


def run(name, **args):
    tool = registry.lookup(name)
    return tool.backends["builtin"]([args], ToolContext(ImageCache()))[0]


@pytest.fixture
def image():
    array = np.zeros((100, 200, 3), dtype=np.uint8)
    array[..., 0] = np.arange(200)[None, :]
    array[..., 1] = np.arange(100)[:, None]
    array[..., 2] = 128
    return Image.fromarray(array)


BOX = Objects([Obj((40, 20, 80, 60), "dog")])


def test_crop_enlarges_box_and_records_frame(image):
    out = run("Crop", image=image, box=BOX)
    assert out.size == (60, 60)  # 40x40 box enlarged 1.5x around (60, 40)
    assert out.info[FRAME_KEY] == (30.0, 10.0, 1.0)
    assert run("Crop", image=image, box=Objects()) is image


@pytest.mark.parametrize("alias,size,origin", [
    ("CROP_LEFTOF", (60, 100), (0, 0)), ("CROP_RIGHTOF", (140, 100), (60, 0)),
    ("CROP_ABOVE", (200, 40), (0, 0)), ("CROP_BELOW", (200, 60), (0, 40))])
def test_side_crops_from_box_centre(image, alias, size, origin):
    out = run(alias, image=image, box=BOX)
    assert out.size == size
    assert out.info[FRAME_KEY][:2] == origin


@pytest.mark.parametrize("name,size", [("CropLeft", (100, 100)), ("CropRight", (100, 100)),
                                       ("CropAbove", (200, 50)), ("CropBelow", (200, 50))])
def test_side_crops_without_box_take_half(image, name, size):
    assert run(name, image=image, box=Objects()).size == size


def test_nested_crop_frames_compose(image):
    first = run("CropRight", image=image, box=BOX)
    second = run("CropBelow", image=first, box=Objects([Obj((10, 10, 30, 30))]))
    assert second.info[FRAME_KEY] == (60.0, 20.0, 1.0)


def test_colorpop_greys_outside_only(image):
    out = np.asarray(run("ColorPop", image=image, object=BOX)).astype(int)
    inside, outside = out[40, 60], out[90, 150]
    assert tuple(inside) == tuple(np.asarray(image)[40, 60])
    assert outside[0] == outside[1] == outside[2]


def test_colorpop_uses_masks_when_present(image):
    mask = np.zeros((100, 200), dtype=bool)
    mask[30:40, 50:60] = True
    out = np.asarray(run("ColorPop", image=image, object=Objects([Obj((40, 20, 80, 60), "x", mask=mask)])))
    assert len(set(out[35, 55])) > 1 and len(set(out[25, 45])) == 1


def test_bgblur_keeps_objects_sharp(image):
    noisy = Image.effect_noise((200, 100), 80).convert("RGB")
    out = np.asarray(run("BgBlur", image=noisy, object=BOX)).astype(int)
    original = np.asarray(noisy).astype(int)
    assert (out[20:60, 40:80] == original[20:60, 40:80]).all()
    assert np.abs(out[70:, 100:] - original[70:, 100:]).mean() > 5


def test_tag_draws_inside_the_box(image):
    out = np.asarray(run("Tag", image=image, object=BOX)).astype(int)
    assert (out != np.asarray(image)).any(axis=2)[20:61, 40:81].any()
    assert not (out != np.asarray(image)).any(axis=2)[70:, 100:].any()


def test_emoji_pastes_glyph_over_objects(image):
    out = np.asarray(run("Emoji", image=image, object=BOX, emoji="winking_face")).astype(int)
    changed = (out != np.asarray(image)).any(axis=2)
    assert changed[20:60, 40:80].mean() > 0.3 and not changed[70:, 100:].any()


def test_count_objects_and_points():
    from visprog import Points
    assert run("Count", box=BOX) == 1
    assert run("Count", box=Points([(1, 2), (3, 4)])) == 2


def test_model_tool_without_backend_is_unavailable():
    from visprog import ToolUnavailable
    reg = registry.copy()
    tool = reg.lookup("Replace")
    tool.backends.clear()
    tool.default_backend = None
    with pytest.raises(ToolUnavailable, match="Replace"):
        resolve_tool(tool, {})


def test_loc_side_words_are_answered_for_every_backend(image):
    from visprog.tools.vision import with_side_boxes
    seen = []

    @with_side_boxes
    def model(calls, ctx):
        seen.append([c["object"] for c in calls])
        ctx.note(0, "model ran")
        return [Objects([Obj((1, 2, 3, 4), c["object"])]) for c in calls]

    ctx = ToolContext(ImageCache())
    out = model([{"image": image, "object": "left"}, {"image": image, "object": "dog"},
                 {"image": image, "object": " BOTTOM "}], ctx)
    assert seen == [["dog"]]
    assert out[0][0].box == (0.0, 0.0, 100.0, 100.0) and out[0][0].label == "left"
    assert out[2][0].box == (0.0, 50.0, 200.0, 100.0)
    assert out[1][0].label == "dog" and ctx.notes == {1: ["model ran"]}
