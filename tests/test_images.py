import io

import numpy as np
import pytest
from PIL import Image

from visprog import ImageError
from visprog.images import MAX_PIXELS, load_image


def _png_bytes(image, **kw):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kw)
    return buffer.getvalue()


def test_sources_all_become_rgb(tmp_path):
    rgb = Image.new("RGB", (8, 6), (10, 20, 30))
    path = tmp_path / "a.png"
    rgb.save(path)
    for source in (rgb, str(path), path, _png_bytes(rgb), np.asarray(rgb)):
        out = load_image(source, "A")
        assert out.mode == "RGB" and out.size == (8, 6)
        assert out.getpixel((0, 0)) == (10, 20, 30)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA", "I;16", "I", "F", "1"])
def test_modes_convert(mode):
    image = Image.new(mode, (5, 4))
    assert load_image(image, "m").mode == "RGB"


def test_alpha_is_composited_on_white():
    image = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    assert load_image(image).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_is_scaled():
    array = np.full((3, 3), 65535, dtype=np.uint16)
    assert load_image(Image.fromarray(array)).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (4, 2), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    assert load_image(buffer.getvalue()).size == (2, 4)


def test_truncated_and_corrupt_files_name_the_image(tmp_path):
    data = _png_bytes(Image.effect_noise((64, 64), 50))
    with pytest.raises(ImageError, match="LEFT"):
        load_image(data[: len(data) // 2], "LEFT")
    with pytest.raises(ImageError, match="RIGHT"):
        load_image(b"not an image at all", "RIGHT")
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png", "IMAGE")
    with pytest.raises(ImageError, match="expected a PIL image"):
        load_image(42, "IMAGE")


def test_pixel_cap_rejects_before_decoding():
    side = int(MAX_PIXELS ** 0.5) + 10
    header = _png_bytes(Image.new("1", (side, side)))
    with pytest.raises(ImageError, match="over the limit"):
        load_image(header, "BIG")


def test_arrays_of_odd_shapes_and_dtypes():
    assert load_image(np.zeros((4, 4, 1), dtype=np.uint8)).size == (4, 4)
    assert load_image(np.ones((4, 4), dtype=bool)).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(np.full((2, 2, 3), 0.5)).getpixel((0, 0)) == (127, 127, 127)
    with pytest.raises(ImageError, match="shape"):
        load_image(np.zeros((2, 2, 2)), "X")
    with pytest.raises(ImageError, match="NaN"):
        load_image(np.full((2, 2), np.nan), "X")


def test_annotations_survive_loading(tmp_path):
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    info.add_text("iconworld", '{"a": 1}')
    path = tmp_path / "s.png"
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)
    assert load_image(path).info["iconworld"] == '{"a": 1}'
