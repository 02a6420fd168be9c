"""Knowledge tagging: label the things a query with outside knowledge picks out.

    python examples/knowledge_tag.py [--out DIR] [--program]

"Tag the people in uniform": find the faces, List the roles that answer the
query (knowledge), Classify each face against that list, Tag the image.
"""

import argparse
import tempfile
from pathlib import Path

import visprog
import visprog.iconworld.oracle  # noqa: F401  (registers the 'oracle' backend)
from visprog.iconworld import Placement, render

INSTRUCTION = "Tag the people in uniform."
PROGRAM = """\
OBJ0=FaceDet(image=IMAGE)
LIST0=List(query='people in uniform', max=20)
OBJ1=Classify(image=IMAGE, object=OBJ0, categories=LIST0)
IMAGE0=Tag(image=IMAGE, object=OBJ1)
FINAL_RESULT=Result(var=IMAGE0)
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
    parser.add_argument("--out", help="where to write the tagged image and rationale page")
    parser.add_argument("--program", action="store_true", help="run the written program, no planner")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="visprog-example-"))
    out.mkdir(parents=True, exist_ok=True)

    image, scene = render([Placement("police officer", size=60, x=10, y=20),
                           Placement("cook", size=60, x=100, y=30),
                           Placement("firefighter", size=60, x=185, y=20),
                           Placement("fairy", size=60, x=40, y=160),
                           Placement("astronaut", size=60, x=150, y=160)], seed=9)
    result = solve(INSTRUCTION, {"IMAGE": image}, PROGRAM, "tag", use_planner=not args.program)
    print(result.program)
    tagged = [o.label for o in result.variables.get("OBJ1", [])] or "see the rationale"
    print(f"{INSTRUCTION} -> tagged {tagged}")
    if hasattr(result.value, "save"):
        result.value.save(out / "knowledge_tag.png")
        print(f"tagged image: {out / 'knowledge_tag.png'}")
    page = out / "knowledge_tag.html"
    page.write_text(result.html(INSTRUCTION), encoding="utf-8")
    print(f"rationale: {page}")


if __name__ == "__main__":
    main()
