"""Cold start: how long one command takes in a fresh process, as a user types it.

    .venv/bin/python benchmarks/cold_start.py [--repeat 5] [--against OLD_CHECKOUT]

Each row runs the command `--repeat` times in a new Python process and reports the
median wall time (the minimum and maximum beside it). `--against DIR` times the same
commands on another checkout of visprog (e.g. `git worktree add /tmp/old 5f8b07a`, the
commit before the one-door redesign) in a column beside. The first row is the goal:
one question, `visprog run` with the in-repo planner and the in-repo models, ≤ 3 s on
this 2-core machine. The others show where the time goes: `visprog exec` of the same
program (no planner), a model-free program (no torch at all) and `import visprog`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STATEMENT = "The left and right image contain a total of six people."
PROGRAM = """ANSWER0=Vqa(image=LEFT, question='How many people are in the image?')
ANSWER1=Vqa(image=RIGHT, question='How many people are in the image?')
ANSWER2=Eval(expr='{ANSWER0} + {ANSWER1} == 6')
FINAL=Result(var=ANSWER2)
"""
ROOT = Path(__file__).resolve().parents[1]
MODEL_FREE = "ANSWER0=Eval(expr='2 + 4 == 6')\nFINAL=Result(var=ANSWER0)\n"


def images(folder: Path) -> list[str]:
    import numpy as np
    from visprog.iconworld import render, sample_placements, save_png
    pairs = []
    for seed, (name, objects) in enumerate([("LEFT", ["person", "person", "tree"]),
                                            ("RIGHT", ["person"] * 4)]):
        image, _ = render(sample_placements(np.random.default_rng(seed), objects), seed=seed)
        save_png(image, folder / f"{name}.png")
        pairs.append(f"{name}={folder / (name + '.png')}")
    return pairs


def timed(command: list[str], repeat: int, source: Path, cwd: Path
          ) -> tuple[float, float, float, str]:
    """Wall seconds of `command` run with visprog imported from the checkout `source`."""
    env = dict(os.environ, PYTHONPATH=str(source))
    seconds, stderr = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
        seconds.append(time.perf_counter() - start)
        if done.returncode:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
        stderr = stderr or done.stderr.strip()
    return statistics.median(seconds), min(seconds), max(seconds), stderr


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--against", metavar="DIR", help="another checkout to time beside this one")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="visprog-cold-"))
    pairs = images(folder)
    (folder / "count.vp").write_text(PROGRAM)
    (folder / "eval.vp").write_text(MODEL_FREE)
    visprog = [sys.executable, "-m", "visprog"]
    rows = [("visprog run, one NLVR statement", visprog + ["run", STATEMENT, *pairs], "<= 3.0 s"),
            ("visprog exec, the same program", visprog + ["exec", str(folder / "count.vp"), *pairs], ""),
            ("visprog exec, a model-free program", visprog + ["exec", str(folder / "eval.vp"), *pairs], ""),
            ("python -c 'import visprog'", [sys.executable, "-c", "import visprog"], "")]
    before = f" {args.against} (median) |" if args.against else ""
    print(f"| command | median | min | max | goal | stderr |{before}\n"
          f"| --- | --- | --- | --- | --- | --- |{' --- |' if before else ''}")
    for name, command, goal in rows:
        median, low, high, stderr = timed(command, args.repeat, ROOT, folder)
        other = (f" {timed(command, args.repeat, Path(args.against).resolve(), folder)[0]:.2f} s |"
                 if args.against else "")
        print(f"| {name} | {median:.2f} s | {low:.2f} s | {high:.2f} s | {goal or '-'} | "
              f"{'empty' if not stderr else repr(stderr[:60])} |{other}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
