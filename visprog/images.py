"""Robust image loading: every bad input becomes an ImageError naming the image."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import ImageError

# Far below Pillow's decompression-bomb limit (~89 Mpx): no program needs more, and a
# crafted header must not make us allocate gigabytes.
MAX_PIXELS = 40_000_000
# Image files above this many bytes are refused before any is read (VISPROG_MAX_IMAGE_BYTES).
MAX_BYTES = 64 * 1024 * 1024
KEEP_INFO = ("iconworld", "visprog.frame")  # annotations that travel with an image

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, not a grey band


def load_image(source: Any, name: str = "image") -> Image.Image:
    """Return an RGB PIL image from a PIL image, a path, bytes or a numpy array."""
    if isinstance(source, Image.Image):
        return _normalise(source, name)
    if isinstance(source, np.ndarray):
        return _from_array(source, name)
    if isinstance(source, (bytes, bytearray, memoryview)):
        _check_bytes(len(source), name)
        return _open(io.BytesIO(source), name)
    if isinstance(source, (str, os.PathLike)):
        return _open_file(source, name)
    raise ImageError(f"image {name}: expected a PIL image, a file path, bytes or a numpy array, "
                     f"got {type(source).__name__}")


def max_bytes() -> int:
    """The byte limit on one image file: VISPROG_MAX_IMAGE_BYTES, else MAX_BYTES."""
    value = os.environ.get("VISPROG_MAX_IMAGE_BYTES", "").strip()
    if not value:
        return MAX_BYTES
    if not value.isdigit() or int(value) < 1:
        raise ImageError(f"VISPROG_MAX_IMAGE_BYTES={value!r} is not a positive whole number of bytes")
    return int(value)


def _check_bytes(size: int, name: str) -> None:
    limit = max_bytes()
    if size > limit:
        raise ImageError(f"image {name}: {size:,} bytes is over the limit of {limit:,} "
                         f"(set VISPROG_MAX_IMAGE_BYTES to raise it)")


def _open_file(source, name: str) -> Image.Image:
    """Decode an image file, checking its size first; Pillow reads only what it decodes.
    Every error the file system raises (no such file, name too long, a loop of links,
    no permission, ...) becomes an ImageError naming the image."""
    try:
        path = Path(source)
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # a folder, a device or a pipe never is an image
            raise ImageError(f"image {name}: not a regular file: {_shown(path)}")
        _check_bytes(info.st_size, f"{name} ({_shown(path)})")
        with open(path, "rb") as handle:
            return _open(handle, f"{name} ({_shown(path)})")
    except FileNotFoundError:
        raise ImageError(f"image {name}: no such file: {_shown(source)}") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL character in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ImageError(f"image {name}: cannot open {_shown(source)}: {reason}") from None


def _shown(path, limit: int = 200) -> str:
    """A path as an error message shows it: at most `limit` characters."""
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
    text = text if isinstance(text, str) else os.fsdecode(text)
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return text if len(text) <= limit else f"{text[:limit // 2]}...{text[-limit // 2:]} ({len(text)} characters)"


def _open(stream, name: str) -> Image.Image:
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
