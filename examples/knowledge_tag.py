"""Knowledge tagging: label the things a query with outside knowledge picks out.

    python examples/knowledge_tag.py [--out DIR] [--program]

"Tag the people in uniform." on an icon-world scene of five characters.
`visprog.run` plans the program; the one VisProg writes (`--program` runs it
instead) finds the faces, Lists the roles that answer the query (knowledge),
Classifies each face against that list and Tags the image.
"""

import argparse
import tempfile
from pathlib import Path

import visprog
from visprog.iconworld import Placement, render

INSTRUCTION = "Tag the people in uniform."
PROGRAM = """\
OBJ0=FaceDet(image=IMAGE)
LIST0=List(query='people in uniform', max=20)
OBJ1=Classify(image=IMAGE, object=OBJ0, categories=LIST0)
IMAGE0=Tag(image=IMAGE, object=OBJ1)
FINAL_RESULT=Result(var=IMAGE0)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="where to write the tagged image and rationale page")
    parser.add_argument("--program", action="store_true", help="run the written program, no planner")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="visprog-tags-"))
    out.mkdir(parents=True, exist_ok=True)

    image, _ = render([Placement("police officer", size=60, x=10, y=20), Placement("cook", size=60, x=100, y=30),
                       Placement("firefighter", size=60, x=185, y=20), Placement("fairy", size=60, x=40, y=160),
                       Placement("astronaut", size=60, x=150, y=160)], seed=9)
    if args.program:
        result = visprog.execute(PROGRAM, {"IMAGE": image})
    else:
        result = visprog.run(INSTRUCTION, {"IMAGE": image})
    print(result.program)
    # The objects the Tag step labelled (the last step that gave objects).
    tagged = next((step.value for step in reversed(result.trace) if isinstance(step.value, visprog.Objects)), [])
    print(f"{INSTRUCTION} -> tagged {[o.label for o in tagged]}")

    if hasattr(result.value, "save"):
        result.value.save(out / "knowledge_tag.png")
        print(f"tagged image: {out / 'knowledge_tag.png'}")
    (out / "knowledge_tag.html").write_text(result.html(INSTRUCTION), encoding="utf-8")
    print(f"rationale: {out / 'knowledge_tag.html'}")


if __name__ == "__main__":
    main()
