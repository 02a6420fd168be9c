"""NLVR: is a statement about a pair of images true?

    python examples/nlvr_pair.py [--out DIR] [--program]

Two icon-world images are rendered (two people on the left, four on the right)
and `visprog.run` plans a program for the statement with the in-repo planner,
checks it and runs it. `--program` skips the planner and runs
`examples/nlvr_pair.vp`, the program VisProg writes for this statement. Tools
run on the in-repo models where trained, else on the icon-world oracle.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

import visprog
from visprog.iconworld import render, sample_placements

STATEMENT = "The left and right image contain a total of six people."
PROGRAM = (Path(__file__).parent / "nlvr_pair.vp").read_text(encoding="utf-8")


def scene(seed: int, categories: list[str]):
    """An icon-world image with these objects at random places."""
    image, _ = render(sample_placements(np.random.default_rng(seed), categories), seed=seed)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="where to write the rationale page")
    parser.add_argument("--program", action="store_true", help="run the written program, no planner")
    args = parser.parse_args()

    images = {"LEFT": scene(1, ["person", "person", "tree", "dog"]),
              "RIGHT": scene(2, ["person"] * 4 + ["car"])}
    if args.program:
        result = visprog.execute(PROGRAM, images)
    else:
        result = visprog.run(STATEMENT, images)
    print(result.program)
    print(f"{STATEMENT!r} -> {result.value}")

    page = Path(args.out or tempfile.mkdtemp(prefix="visprog-")) / "nlvr_pair.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(result.html(STATEMENT), encoding="utf-8")
    print(f"rationale: {page}")


if __name__ == "__main__":
    main()
