"""Icon-world render speed on one core: scenes per second for 256x256 scenes with 1-8 objects.

    .venv/bin/python benchmarks/render_speed.py [--n 2000] [--size 256] [--overlap] [--recolor 0.5]

Each scene is a full `random_scene` call: layout sampling, background, glyph pasting,
masks, boxes, colours and the JSON annotation. The first pass over a fresh process fills
the glyph caches ('cold'); the table reports that and a second pass with warm caches
(the steady state of dataset generation). The goal is >= 200 scenes/s warm.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402

from visprog.iconworld import random_scene  # noqa: E402


def run(n: int, size: int, seed0: int, **kw) -> tuple[float, dict[int, list[float]]]:
    by_count: dict[int, list[float]] = defaultdict(list)
    start = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        n_obj = 1 + i % 8
        _, scene = random_scene(seed0 + i, n_objects=n_obj, width=size, height=size, **kw)
        by_count[n_obj].append(time.perf_counter() - t)
    return time.perf_counter() - start, by_count


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="scenes per pass (default 2000)")
    ap.add_argument("--size", type=int, default=256, help="image side in px (default 256)")
    ap.add_argument("--overlap", action="store_true", help="allow overlap (>= 50%% visible)")
    ap.add_argument("--recolor", type=float, default=0.0, help="recolour probability")
    ap.add_argument("--goal", type=float, default=200.0, help="scenes/s to reach warm")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        except OSError:
            pass
    kw = dict(allow_overlap=args.overlap, recolor_prob=args.recolor)
    rows = []
    for label, seed0 in (("cold", 0), ("warm", 10_000_000)):
        total, by_count = run(args.n, args.size, seed0, **kw)
        rows.append((label, total, by_count))
    print(f"icon-world render speed, {args.size}x{args.size}, one core, {args.n} scenes per pass, "
          f"overlap={args.overlap}, recolor={args.recolor}")
    print(f"{'pass':<6}{'objects':>9}{'scenes':>8}{'ms/scene':>10}{'scenes/s':>10}")
    for label, total, by_count in rows:
        for k in sorted(by_count):
            ts = by_count[k]
            print(f"{label:<6}{k:>9}{len(ts):>8}{1000 * sum(ts) / len(ts):>10.2f}{len(ts) / sum(ts):>10.0f}")
        print(f"{label:<6}{'1-8':>9}{args.n:>8}{1000 * total / args.n:>10.2f}{args.n / total:>10.0f}")
    warm = args.n / rows[1][1]
    verdict = "meets" if warm >= args.goal else "MISSES"
    print(f"warm: {warm:.0f} scenes/s, {verdict} the goal of {args.goal:.0f} scenes/s")
    return 0 if warm >= args.goal else 1


if __name__ == "__main__":
    raise SystemExit(main())
