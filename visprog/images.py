"""Robust image loading: every bad input becomes an ImageError naming the image."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import ImageError

# Far below Pillow's decompression-bomb limit (~89 Mpx): no program needs more, and a
# crafted header must not make us allocate gigabytes.
MAX_PIXELS = 40_000_000
KEEP_INFO = ("iconworld", "visprog.frame")  # annotations that travel with an image

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, not a grey band


def load_image(source: Any, name: str = "image") -> Image.Image:
    """Return an RGB PIL image from a PIL image, a path, bytes or a numpy array."""
    if isinstance(source, Image.Image):
        return _normalise(source, name)
    if isinstance(source, np.ndarray):
        return _from_array(source, name)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _open(io.BytesIO(bytes(source)), name)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"image {name}: no such file: {path}")
        with open(path, "rb") as handle:
            return _open(io.BytesIO(handle.read()), f"{name} ({path})")
    raise ImageError(f"image {name}: expected a PIL image, a file path, bytes or a numpy array, "
                     f"got {type(source).__name__}")


def _open(stream: io.BytesIO, name: str) -> Image.Image:
    try:
        image = Image.open(stream)
        _check_size(image.size, name)
        image.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"image {name}: not an image file Pillow can read (PNG, JPEG, WebP, "
                         f"GIF, BMP, TIFF, ...)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            EOFError, MemoryError) as exc:
        raise ImageError(f"image {name}: cannot be decoded ({exc})") from None
    return _normalise(image, name)


def _check_size(size: tuple[int, int], name: str) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(f"image {name}: empty image ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise ImageError(f"image {name}: {width}x{height} pixels is over the limit of "
                         f"{MAX_PIXELS:,}; downscale it first")


def _normalise(image: Image.Image, name: str) -> Image.Image:
    """Apply EXIF orientation and convert any mode to RGB (alpha composited on white)."""
    _check_size(image.size, name)
    kept = {k: image.info[k] for k in KEEP_INFO if k in image.info}
    try:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
            array = np.asarray(image, dtype=np.float64)
            high = array.max() if array.size and array.max() > 255 else 255.0
            image = Image.fromarray(np.clip(array / high * 255.0, 0, 255).astype(np.uint8))
        if image.mode == "P":
            image = image.convert("RGBA")
        if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
            rgba = image.convert("RGBA")
            base = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(base, rgba)
        if image.mode != "RGB":
            image = image.convert("RGB")
    except (OSError, ValueError, MemoryError) as exc:
        raise ImageError(f"image {name}: cannot be converted to RGB ({exc})") from None
    image.info.update(kept)
    return image


def _from_array(array: np.ndarray, name: str) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"image {name}: array of shape {array.shape} is not HxW, HxWx3 or HxWx4")
    _check_size((array.shape[1], array.shape[0]), name)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError(f"image {name}: array contains NaN or infinity")
        scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0
        array = np.clip(array * scale, 0, 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.integer):
            raise ImageError(f"image {name}: unsupported array dtype {array.dtype}")
        high = max(int(array.max(initial=0)), 255)
        array = (np.clip(array, 0, None) * (255.0 / high)).astype(np.uint8)
    return _normalise(Image.fromarray(np.ascontiguousarray(array)), name)
