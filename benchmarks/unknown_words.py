"""Words outside the in-repo models' vocabulary: does `visprog.run` keep them, and say so?

    .venv/bin/python benchmarks/unknown_words.py [--scenes 20]

For each noun no icon-world category, character or synonym is ("rocket", "teapot",
"kangaroo", ...), it plans "How many Xs are in the image?" and "Is there a X in the
image?" with the in-repo planner (as `visprog.run` does) and reports whether the program
keeps the noun, then runs both on `--scenes` unseen-style scenes (held-out seeds) with the
default backends: the share answered 0 / "no" (no scene holds an X), the share that
carries a warning (the Loc backend's about a word never trained on, or the planner's about a
program that looks for something the instruction does not name), and the nouns for which
both questions hold (issue #20: keep the noun and answer 0 / no, or warn).
"""

from __future__ import annotations

import argparse

NOUNS = ("rocket", "teapot", "lighthouse", "kangaroo", "penguin", "violin", "piano", "castle",
         "guitar", "volcano")
SEED_BASE = 2_200_000_000


def main() -> int:
    import visprog
    from visprog.iconworld import catalog
    from visprog.iconworld.language import plural
    from visprog.iconworld.render import random_scene
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", type=int, default=20)
    args = p.parse_args()
    known = {w for c in catalog.CATEGORIES.values() for n in (c.name, *c.synonyms) for w in n.split()}
    assert not known & set(NOUNS), known & set(NOUNS)
    from visprog.api import as_planner
    planner = as_planner()
    scenes = [random_scene(SEED_BASE + i, style="unseen")[0] for i in range(args.scenes)]
    print("| noun | question | program keeps it | answered 0 / no | warned |")
    print("| --- | --- | --- | --- | --- |")
    kept = honest = warned = total = 0
    holds = []  # nouns whose two questions each keep it and answer 0 / no, or warn, on every scene
    for noun in NOUNS:
        both = True
        for question, honest_answer in ((f"How many {plural(noun)} are in the image?", 0),
                                        (f"Is there a {noun} in the image?", "no")):
            try:
                program = planner.plan(question, inputs=("IMAGE",))
            except visprog.VisprogError as exc:
                print(f"| {noun} | {question} | refused: {exc} | | |")
                continue  # a refusal is honest too
            keeps = noun in str(program)
            results = [visprog.execute(program, {"IMAGE": s}) for s in scenes]
            right = sum(str(r.value).strip().lower() == str(honest_answer) for r in results)
            said = sum(bool(r.warnings) for r in results)
            kept, honest, warned, total = kept + keeps, honest + right, warned + said, total + 1
            both &= (keeps and right == len(scenes)) or said == len(scenes)
            print(f"| {noun} | {question} | {'yes' if keeps else '**no**: ' + str(program).splitlines()[0]} "
                  f"| {right}/{len(scenes)} | {said}/{len(scenes)} |")
        if both:
            holds.append(noun)
    n = len(scenes) * total
    print(f"\nprograms keeping the noun: {kept}/{total}; answered 0 / no: {honest}/{n}; warned: {warned}/{n}")
    print(f"nouns whose two questions keep the noun and answer 0 / no, or warn, on every scene: "
          f"{len(holds)}/{len(NOUNS)} (goal >= 8): {', '.join(holds)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
