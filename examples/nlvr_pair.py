"""NLVR: is a statement about a pair of images true?

    python examples/nlvr_pair.py [--out DIR] [--program]

Two icon-world images are rendered (two people on the left, four on the right)
and the statement "The left and right image contain a total of six people." is
checked. With `visprog.api` present, `visprog.run` plans the program with the
default planner; `--program` (or no planner) runs `examples/nlvr_pair.vp`, the
program VisProg writes for this statement, on the oracle backend.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

import visprog
import visprog.iconworld.oracle  # noqa: F401  (registers the 'oracle' backend)
from visprog.iconworld import render, sample_placements

STATEMENT = "The left and right image contain a total of six people."
PROGRAM = (Path(__file__).parent / "nlvr_pair.vp").read_text(encoding="utf-8")


def scene(seed: int, categories: list[str]):
    rng = np.random.default_rng(seed)
    image, _ = render(sample_placements(rng, categories), seed=seed)
    return image


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

    images = {"LEFT": scene(1, ["person", "person", "tree", "dog"]),
              "RIGHT": scene(2, ["person"] * 4 + ["car"])}
    result = solve(STATEMENT, images, PROGRAM, "nlvr", use_planner=not args.program)
    print(result.program)
    print(f"{STATEMENT!r} -> {result.value}")
    page = out / "nlvr_pair.html"
    page.write_text(result.html(STATEMENT), encoding="utf-8")
    print(f"rationale: {page}")


if __name__ == "__main__":
    main()
