"""A custom tool, registered by a user in ten lines, then used in a program.

    python examples/custom_tool.py [--out DIR]

A tool is a typed Python function plus a docstring; `registry.tool` declares it
(the checker, the planners' module docs, the REPL's completion and `visprog
tools` all pick it up) and makes its body the 'builtin' backend. The same file
works as a plugin: `visprog --plugin examples/custom_tool.py exec prog.vp IMAGE=x.png`.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

import visprog
from visprog.registry import Image
from visprog.tools import registry


# --- the ten lines ---------------------------------------------------------------------------
if registry.lookup("Brightness") is None:  # (importing twice must not declare it twice)
    @registry.tool(example="ANSWER0=Brightness(image=IMAGE0)", aliases=("BRIGHTNESS",))
    def Brightness(image: Image) -> float:
        """How bright the image is, from 0 (black) to 1 (white)."""
        return round(float(np.asarray(image.convert("L")).mean()) / 255, 3)
# ---------------------------------------------------------------------------------------------

PROGRAM = """\
BOX0=Loc(image=IMAGE, object='dog')
IMAGE0=Crop(image=IMAGE, box=BOX0)
ANSWER0=Brightness(image=IMAGE0)
ANSWER1=Brightness(image=IMAGE)
ANSWER2=Eval(expr="'brighter' if {ANSWER0} > {ANSWER1} else 'darker'")
FINAL=Result(var=ANSWER2)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="where to write the rationale page")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="visprog-example-"))
    out.mkdir(parents=True, exist_ok=True)

    from visprog.iconworld import random_scene
    image, scene = random_scene(7, n_objects=4, categories=["dog", "tree", "car"])
    if not any(o.category == "dog" for o in scene.objects):
        image, scene = random_scene(8, n_objects=3, categories=["dog"])

    print(registry.lookup("Brightness").describe())
    # The checker knows the new tool at once: a typo gets a 'did you mean'.
    for problem in visprog.check("A=Brightnes(image=IMAGE)"):
        print("check:", problem)

    result = visprog.execute(PROGRAM, {"IMAGE": image}, backend="oracle")
    for step in result.trace:
        print(f"{step.output:>8} = {step.value!r:.60}  ({step.module}, {step.backend})")
    page = out / "custom_tool.html"
    page.write_text(result.html("a custom tool"), encoding="utf-8")
    print(f"the dog's crop is {result.value} than the whole image; rationale: {page}")


if __name__ == "__main__":
    main()
