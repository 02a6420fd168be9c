"""Image editing: colour pop, background blur and emoji, each a three-line program.

    python examples/image_edit.py [--out DIR] [--program] [--edit colorpop|bgblur|emoji]

An icon-world scene with a ninja, an astronaut, a dog and a car. For each edit
instruction `visprog.run` plans a program and runs it (`--program` runs the
program written below instead); the input, the edited images and each edit's
rationale page are written to --out. `--edit` picks one edit.
"""

import argparse
import tempfile
from pathlib import Path

import visprog
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="where to write the edited images and rationale pages")
    parser.add_argument("--program", action="store_true", help="run the written programs, no planner")
    parser.add_argument("--edit", choices=list(EDITS), action="append", help="only this edit (repeatable)")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="visprog-edits-"))
    out.mkdir(parents=True, exist_ok=True)

    image, _ = render([Placement("ninja", size=64, x=16, y=20), Placement("astronaut", size=64, x=150, y=24),
                       Placement("dog", size=56, x=30, y=160), Placement("car", size=60, x=160, y=170)],
                      seed=5, background="sky_ground")
    image.save(out / "input.png")
    for name in args.edit or EDITS:
        instruction, program = EDITS[name]
        if args.program:
            result = visprog.execute(program, {"IMAGE": image})
        else:
            result = visprog.run(instruction, {"IMAGE": image})
        print(result.program)
        (out / f"{name}.html").write_text(result.html(instruction), encoding="utf-8")
        if not hasattr(result.value, "save"):
            print(f"{name}: {instruction!r} -> {result.value!r}, not an image")
            continue
        result.value.save(out / f"{name}.png")
        print(f"{name}: {instruction!r} -> {out / (name + '.png')}")


if __name__ == "__main__":
    main()
