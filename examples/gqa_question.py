"""GQA: a compositional question about one image.

    python examples/gqa_question.py [--out DIR] [--program]

"How many dogs are to the left of the tree?" on an icon-world scene: find the
tree, crop the part of the image left of it, find the dogs there, count them.
"""

import argparse
import tempfile
from pathlib import Path

import visprog
import visprog.iconworld.oracle  # noqa: F401  (registers the 'oracle' backend)
from visprog.iconworld import Placement, render

QUESTION = "How many dogs are to the left of the tree?"
PROGRAM = """\
BOX0=Loc(image=IMAGE, object='tree')
IMAGE0=CropLeft(image=IMAGE, box=BOX0)
BOX1=Loc(image=IMAGE0, object='dog')
ANSWER0=Count(box=BOX1)
FINAL_RESULT=Result(var=ANSWER0)
"""

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
    parser.add_argument("--out", help="where to write the rationale page")
    parser.add_argument("--program", action="store_true", help="run the written program, no planner")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="visprog-example-"))
    out.mkdir(parents=True, exist_ok=True)

    # Two dogs left of the tree, one right of it, and a cat for company.
    image, scene = render([Placement("dog", size=40, x=10, y=40), Placement("dog", size=40, x=30, y=170),
                           Placement("tree", size=64, x=110, y=90), Placement("dog", size=40, x=200, y=60),
                           Placement("cat", size=36, x=205, y=190)], seed=3)
    result = solve(QUESTION, {"IMAGE": image}, PROGRAM, "gqa", use_planner=not args.program)
    print(result.program)
    print(f"{QUESTION} -> {result.value}")
    page = out / "gqa_question.html"
    page.write_text(result.html(QUESTION), encoding="utf-8")
    print(f"rationale: {page}")

if __name__ == "__main__":
    main()
