"""Time of `Result.html()` (the rationale page) for long programs.

    .venv/bin/python benchmarks/rationale.py [--steps 100] [--repeat 3]

Each program has --steps steps on one 256x256 icon-world scene; the page shows the input,
every step's arguments and value (objects drawn on the step's image, images as
thumbnails). Goal: <= 3 s for 100 steps. Prints the median over --repeat pages.
"""

from __future__ import annotations

import argparse
import statistics
import time


def programs(steps: int) -> dict[str, str]:
    half = steps // 2
    return {
        "Loc": "\n".join(f"B{i}=Loc(image=IMAGE, object='dog')" for i in range(steps)),
        "Vqa": "\n".join(f"A{i}=Vqa(image=IMAGE, question='How many cats are there?')"
                         for i in range(steps)),
        "Loc + ColorPop": "\n".join(f"B{i}=Loc(image=IMAGE, object='dog')\n"
                                    f"I{i}=ColorPop(image=IMAGE, object=B{i})" for i in range(half)),
        "Loc + Crop": "\n".join(
            f"B{i}=Loc(image=IMAGE, object='person')\nC{i}=Crop(image=IMAGE, box=B{i})"
            for i in range(half)),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    import visprog
    from visprog.iconworld.render import random_scene
    image, _ = random_scene(5, n_objects=6)
    print(f"{'program':20} {'backend':8} {'steps':>6} {'html s':>8} {'page MB':>8}")
    for name, program in programs(args.steps).items():
        for backend in ("oracle", None):
            result = visprog.execute(program, {"IMAGE": image}, backend=backend)
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                page = result.html()
                times.append(time.perf_counter() - start)
            print(f"{name:20} {backend or 'default':8} {len(result.trace):6d} "
                  f"{statistics.median(times):8.2f} {len(page) / 1e6:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
