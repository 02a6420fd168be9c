"""Benchmark the in-repo planner on held-out icon-world instructions and on the paraphrase set.

    python benchmarks/planner.py --n 100 --seed 9001 [--out results.json]

For each task (nlvr, gqa, edit, tag): n items generated with an evaluation seed
(the planner trains on seeds 7,000,000 + S, so none of these scenes was seen),
planned by the in-repo model (grammar-constrained; batched, the same decoding the
LocalPlanner wrapper runs; an instruction it refuses counts as no valid program), then
parsed and checked (valid %), then executed with the oracle backend and compared with the
item's answer (accuracy). It also
reports accuracy on instructions whose exact wording never occurs in the training
corpus, and on `visprog/planners/paraphrases.jsonl`: instructions written by hand,
apart from the generators' templates, for generated items (the answers are the
items'). Set A (64, items of seed 4242) was written first and its failures were
looked at while developing (task-detection rules, augmentation); set B (32, items
of seed 4343) was written later and never used for any decision. Paraphrases are
planned as `visprog.run` would: with the task from `detect_task`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


TASKS = ("nlvr", "gqa", "edit", "tag")
PARAPHRASES = Path(__file__).resolve().parents[1] / "visprog" / "planners" / "paraphrases.jsonl"


def evaluate(items, instructions, model, registry, batch=64, tasks_given=None):
    from visprog import check, execute, parse
    from visprog.iconworld import tasks
    from visprog.planners.local import refusal
    valid = correct = 0
    failures = []
    programs, scores = [], []
    hits = []
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        texts, confidence = model.plan_scored(
            instructions[i:i + batch], [tuple(sorted(it["images"])) for it in chunk], registry,
            tasks=(tasks_given or [None] * len(items))[i:i + batch])
        programs += texts
        scores += confidence
    for item, text, instruction, score in zip(items, programs, instructions, scores):
        why = refusal(instruction, score)  # LocalPlanner would raise PlannerError: not valid
        errors = [why] if why else [d for d in check(text, registry, inputs=item["images"].keys())
                                    if d.severity == "error"]
        if errors:
            failures.append({"instruction": instruction, "program": text, "why": str(errors[0])})
            hits.append(False)
            continue
        valid += 1
        try:
            result = execute(parse(text), item["images"], backend="oracle")
            ok, why = tasks.reproduces(item, result)
        except Exception as exc:  # a runtime failure counts as wrong
            ok, why = False, f"{type(exc).__name__}: {exc}"
        correct += ok
        hits.append(bool(ok))
        if not ok:
            failures.append({"instruction": instruction, "program": text, "why": why})
    return valid, correct, failures, hits


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="items per task")
    parser.add_argument("--seed", type=int, default=9001)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--corpus", default=None, help="training corpus (JSON lines) to measure "
                        "unseen wording against; default: regenerate it")
    parser.add_argument("--out", default=None, help="write the numbers as JSON here")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from visprog.iconworld import tasks
    from visprog.models import load, weights_path
    from visprog.models.planner_data import corpus
    from visprog.planners.tasks import detect_task
    from visprog.tools import registry

    model = load("planner", args.weights)
    meta = getattr(model, "meta", {})
    seen: set[str] = set()
    if args.corpus:
        seen = {json.loads(line)["instruction"] for line in Path(args.corpus).read_text().splitlines()}
    elif "per_task" in meta or "pairs" in meta:
        per_task = meta.get("per_task") or meta["pairs"] // 4
        seen = {row[0] for row in corpus(per_task, meta.get("seed", 0), log=lambda *_: None)}

    report = {"seed": args.seed, "n_per_task": args.n, "weights": args.weights or weights_path("planner"),
              "tasks": {}, "failures": {}}
    start = time.time()
    for task in TASKS:
        items = list(tasks.generate(task, args.n, seed=args.seed))
        instructions = [it["instruction"] for it in items]
        t0 = time.time()
        detected = [detect_task(t) for t in instructions]
        valid, correct, failures, hits = evaluate(items, instructions, model, registry,
                                                  tasks_given=detected)
        unseen = [i for i, it in enumerate(items) if it["instruction"] not in seen]
        u_items = [items[i] for i in unseen]
        u_correct = sum(hits[i] for i in unseen)
        report["tasks"][task] = {
            "items": len(items), "valid_pct": 100 * valid / len(items),
            "task_detection_pct": 100 * sum(d == task for d in detected) / len(items),
            "accuracy_pct": 100 * correct / len(items),
            "unseen_wording_items": len(u_items),
            "unseen_wording_accuracy_pct": (100 * u_correct / len(u_items)) if u_items else None,
            "seconds": round(time.time() - t0, 1)}
        report["failures"][task] = failures[:10]
        print(f"{task}: valid {report['tasks'][task]['valid_pct']:.1f}%  "
              f"task detection {report['tasks'][task]['task_detection_pct']:.0f}%  "
              f"accuracy {report['tasks'][task]['accuracy_pct']:.1f}%  "
              f"(unseen wording: {len(u_items)} items, "
              f"{report['tasks'][task]['unseen_wording_accuracy_pct'] or 0:.1f}%)", flush=True)

    from visprog.planners.tasks import detect_task
    rows = [json.loads(line) for line in PARAPHRASES.read_text().splitlines() if line.strip()]
    report["paraphrases"] = {}
    report["failures"]["paraphrases"] = []
    for name in sorted({r.get("set", "A") for r in rows}):
        para = {"items": 0, "by_task": {}}
        all_valid = all_correct = detected_ok = 0
        for task in TASKS:
            mine = [r for r in rows if r["task"] == task and r.get("set", "A") == name]
            if not mine:
                continue
            items = [tasks.generate_item(task, r["seed"], r["index"]) for r in mine]
            texts = [r["paraphrase"] for r in mine]
            detected = [detect_task(t) for t in texts]  # as visprog.run does with no task given
            detected_ok += sum(d == task for d in detected)
            valid, correct, failures, _ = evaluate(items, texts, model, registry, tasks_given=detected)
            para["by_task"][task] = {"items": len(mine), "valid_pct": 100 * valid / len(mine),
                                     "accuracy_pct": 100 * correct / len(mine)}
            para["items"] += len(mine)
            all_valid += valid
            all_correct += correct
            report["failures"]["paraphrases"] += [dict(f, set=name) for f in failures]
        para["valid_pct"] = 100 * all_valid / max(para["items"], 1)
        para["accuracy_pct"] = 100 * all_correct / max(para["items"], 1)
        para["task_detection_pct"] = 100 * detected_ok / max(para["items"], 1)
        report["paraphrases"][name] = para
        print(f"paraphrases set {name} ({para['items']}): valid {para['valid_pct']:.1f}%  "
              f"accuracy {para['accuracy_pct']:.1f}%  task detection {para['task_detection_pct']:.0f}%  "
              + "  ".join(f"{t} {v['accuracy_pct']:.0f}%" for t, v in para["by_task"].items()), flush=True)
    report["seconds"] = round(time.time() - start, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
