"""GQA: a compositional question about one image.

    python examples/gqa_question.py [--out DIR] [--program]

"Is the cat to the right of the tree?" on an icon-world scene with dogs, a
cat and a tree. `visprog.run` plans the program; the one VisProg writes
(`--program` runs it instead) finds the tree, crops the part of the image right
of it, looks for cats there and turns the count into yes or no.
"""

import argparse
import tempfile
from pathlib import Path

import visprog
from visprog.iconworld import Placement, render

QUESTION = "Is the cat to the right of the tree?"
PROGRAM = """\
BOX0=Loc(image=IMAGE, object='tree')
IMAGE0=CropRight(image=IMAGE, box=BOX0)
BOX1=Loc(image=IMAGE0, object='cat')
ANSWER0=Count(box=BOX1)
ANSWER1=Eval(expr="'yes' if {ANSWER0} > 0 else 'no'")
FINAL_RESULT=Result(var=ANSWER1)
"""


def scene():
    """Two dogs left of the tree, one right of it, and a cat for company."""
    image, _ = render([Placement("dog", size=40, x=10, y=40), Placement("dog", size=40, x=30, y=170),
                       Placement("tree", size=64, x=110, y=90), Placement("dog", size=40, x=200, y=60),
                       Placement("cat", size=36, x=205, y=190)], seed=3)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--program", action="store_true", help="run the written program, no planner")
    parser.add_argument("--out", help="where to write the rationale page")
    args = parser.parse_args()

    images = {"IMAGE": scene()}
    result = visprog.execute(PROGRAM, images) if args.program else visprog.run(QUESTION, images)
    print(result.program)
    print(f"{QUESTION} -> {result.value}")

    page = result.html(QUESTION)
    path = Path(args.out or tempfile.mkdtemp(prefix="visprog-gqa-"), "gqa_question.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    print(f"rationale: {path}")


if __name__ == "__main__":
    main()
