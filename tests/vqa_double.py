"""A test double for Vqa: backend "double", which counts red squares.

Images for it are drawn with `square_image(n)`: n red 10x10 squares. It answers
"How many ...?" with the number of red squares and "Is there ...?" with yes/no. On an
image with no red squares it warns (`ctx.warn`), as a model warns of an image outside
its domain.

Importing this module changes no registry: tests call `with_double(registry.copy())`
for a registry of their own. As a CLI plugin (`visprog --plugin tests/vqa_double_plugin.py
exec ...`) it is added to that process's default registry.
"""

import numpy as np
from PIL import Image


def square_image(n: int, size: int = 128) -> Image.Image:
    image = Image.new("RGB", (size, size), (240, 240, 240))
    for i in range(n):
        x, y = 12 + (i % 5) * 22, 12 + (i // 5) * 22
        image.paste((220, 20, 20), (x, y, x + 10, y + 10))
    return image


def count_squares(image: Image.Image) -> int:
    red = np.asarray(image.convert("RGB")).astype(int)
    return int(((red[..., 0] > 180) & (red[..., 1] < 60)).sum() // 100)


def _answer(calls, ctx):
    answers = []
    for i, call in enumerate(calls):
        n = count_squares(call["image"])
        question = call["question"].lower()
        answers.append(str(n) if question.startswith("how many") else ("yes" if n else "no"))
        ctx.note(i, f"counted {n} red squares")
        if not n:  # how a model warns of an image unlike those it was trained on
            ctx.warn(i, "no red squares: this image is unlike those the double knows")
    return answers


def with_double(registry):
    """`registry` with Vqa backend "double" attached (once); pass a copy, not the default."""
    vqa = registry.lookup("Vqa")
    if "double" not in vqa.backends:
        vqa.backend("double", description="test double: counts red squares")(_answer)
    return registry
