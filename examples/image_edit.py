"""Image editing: colour pop, background blur and emoji, each a three-line program.

    python examples/image_edit.py [--out DIR] [--program]

An icon-world scene with a ninja, an astronaut, a dog and a car; the edited
images and each edit's rationale page are written to --out.
"""

import argparse
import tempfile
from pathlib import Path

import visprog
import visprog.iconworld.oracle  # noqa: F401  (registers the 'oracle' backend)
from visprog.iconworld import Placement, render

EDITS = {
    "colorpop": ("Keep the dog in colour and make everything else black and white.", """\
OBJ0=Seg(image=IMAGE)
OBJ1=Select(image=IMAGE, object=OBJ0, query='dog', category=None)
IMAGE0=ColorPop(image=IMAGE, object=OBJ1)
FINAL_RESULT=Result(var=IMAGE0)
"""),
    "bgblur": ("Blur the background behind the car.", """\
OBJ0=Seg(image=IMAGE)
OBJ1=Select(image=IMAGE, object=OBJ0, query='car', category=None)
IMAGE0=BgBlur(image=IMAGE, object=OBJ1)
FINAL_RESULT=Result(var=IMAGE0)
"""),
    "emoji": ("Hide the ninja's face with a winking face emoji.", """\
OBJ0=FaceDet(image=IMAGE)
OBJ1=Select(image=IMAGE, object=OBJ0, query='ninja', category=None)
IMAGE0=Emoji(image=IMAGE, object=OBJ1, emoji='winking_face')
FINAL_RESULT=Result(var=IMAGE0)
"""),
}


def solve(instruction, images, program, task, use_planner=True):
    """`visprog.run` with the default planner when it can run here; else the given program."""
    if use_planner:
        try:
            from visprog.api import run
        except ImportError:
            run = None
        if run is not None:
            try:
                return run(instruction, images, task=task, backend="oracle")
            except (visprog.VisprogError, ImportError, OSError) as exc:  # e.g. no planner weights here
                print(f"(the default planner cannot run here: {exc}; using the written program)")
    return visprog.execute(program, images, backend="oracle")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="where to write the edited images and rationale pages")
    parser.add_argument("--program", action="store_true", help="run the written programs, no planner")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="visprog-example-"))
    out.mkdir(parents=True, exist_ok=True)

    image, _ = render([Placement("ninja", size=64, x=16, y=20), Placement("astronaut", size=64, x=150, y=24),
                       Placement("dog", size=56, x=30, y=160), Placement("car", size=60, x=160, y=170)],
                      seed=5, background="sky_ground")
    image.save(out / "input.png")
    for name, (instruction, program) in EDITS.items():
        result = solve(instruction, {"IMAGE": image}, program, "edit", use_planner=not args.program)
        edited = result.value
        if not hasattr(edited, "save"):
            print(f"{name}: the program gave {edited!r}, not an image")
            continue
        edited.save(out / f"{name}.png")
        (out / f"{name}.html").write_text(result.html(instruction), encoding="utf-8")
        changed = sum(a != b for a, b in zip(image.convert("RGB").tobytes(), edited.convert("RGB").tobytes()))
        print(f"{name}: {instruction!r} -> {out / (name + '.png')} ({changed} bytes changed)")


if __name__ == "__main__":
    main()
