"""Dataset evaluation: the batched engine gives visprog.run's answers, bad items are recorded
and skipped, and a killed run resumes with every item exactly once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import visprog
from visprog.iconworld import dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def nlvr(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval") / "nlvr"
    dataset.make("nlvr", 12, 9101, folder, progress=False)
    return folder


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_batched_answers_equal_visprog_run_alone(nlvr, tmp_path):
    out = tmp_path / "results.jsonl"
    summary = visprog.evaluate(nlvr, out, batch_size=5, progress=False)
    lines = _lines(out)
    assert [line["id"] for line in lines] == [item["id"] for item in dataset.load(nlvr)]
    for item, line in zip(dataset.load(nlvr), lines):
        alone = visprog.run(item["instruction"], item["images"], task=item["task"])
        assert line["program"] == str(alone.program) and line["answer"] == alone.value
        assert line["error"] is None and line["gold"] == item["answer"]
    assert summary.total == 12 and summary.correct == sum(line["correct"] for line in lines)
    assert summary.by_task == {"nlvr": [summary.correct, 12]}


def test_bad_items_are_recorded_and_the_rest_scored(nlvr, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(nlvr, folder)
    items = [json.loads(line) for line in (folder / "data.jsonl").read_text().splitlines()]
    (folder / items[0]["images"]["LEFT"]).write_bytes(b"not a png at all")
    (folder / items[1]["images"]["RIGHT"]).unlink()
    items[2]["instruction"] = "   "
    text = "\n".join(json.dumps(item) for item in items) + "\n{not json\n"
    (folder / "data.jsonl").write_text(text)
    summary = visprog.evaluate(folder, tmp_path / "r.jsonl", batch_size=4, progress=False,
                               programs=None)
    lines = {line["id"]: line for line in _lines(tmp_path / "r.jsonl")}
    assert len(lines) == 13 and summary.total == 13 and summary.errors == 4
    assert lines[items[0]["id"]]["error"].startswith("ImageError: ")
    assert "cannot be" in lines[items[0]["id"]]["error"] or "not an image" in lines[items[0]["id"]]["error"]
    assert lines[items[1]["id"]]["error"].startswith("ImageError: ") and "no such file" in \
        lines[items[1]["id"]]["error"]
    assert lines[items[2]["id"]]["error"] == ("PlannerError: the instruction is empty: say what "
                                              "to find out about the images")
    assert lines["<malformed line 13>"]["error"].startswith("DatasetError: ")
    for item in items[3:]:
        assert lines[item["id"]]["error"] is None and lines[item["id"]]["correct"] in (True, False)


def test_a_killed_run_resumes_with_every_item_once(nlvr, tmp_path):
    out = tmp_path / "killed.jsonl"
    command = [sys.executable, "-m", "visprog", "eval", str(nlvr), "--out", str(out),
               "--batch-size", "1", "--quiet"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 3 <= len(out.read_bytes().splitlines()) < 12
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ids = [line["id"] for line in _lines(out)]
    assert sorted(ids) == sorted(item["id"] for item in dataset.load(nlvr)) and len(set(ids)) == 12
    whole = visprog.evaluate(nlvr, tmp_path / "whole.jsonl", batch_size=1, progress=False)
    resumed = visprog.evaluate(nlvr, out, batch_size=1, progress=False)
    assert resumed.evaluated == 0 and resumed.counts() == whole.counts()


def test_a_torn_last_line_is_cut(nlvr, tmp_path):
    out = tmp_path / "torn.jsonl"
    visprog.evaluate(nlvr, out, programs="gold", backend="oracle", progress=False)
    data = out.read_bytes()
    out.write_bytes(data[:-40])  # the last line torn mid-write
    summary = visprog.evaluate(nlvr, out, programs="gold", backend="oracle", progress=False)
    assert summary.evaluated == 1 and summary.total == 12 and summary.correct == 12
    def without_times(lines):
        return [{k: v for k, v in line.items() if k != "seconds"} for line in lines]
    assert without_times(_lines(out)) == without_times(json.loads(x) for x in data.splitlines())


def test_ray_gives_the_local_answers(nlvr, tmp_path):
    ray = pytest.importorskip("ray")
    local = visprog.evaluate(nlvr, tmp_path / "local.jsonl", batch_size=4, progress=False)
    try:
        on_ray = visprog.evaluate(nlvr, tmp_path / "ray.jsonl", batch_size=4, engine="ray",
                                  workers=2, progress=False)
    finally:
        ray.shutdown()
    answers = {line["id"]: (line["program"], line["answer"]) for line in _lines(tmp_path / "local.jsonl")}
    assert {line["id"]: (line["program"], line["answer"])
            for line in _lines(tmp_path / "ray.jsonl")} == answers
    assert on_ray.counts() == local.counts()


def test_counts_below_one_are_errors(nlvr):
    with pytest.raises(visprog.VisprogError, match="workers must be at least 1"):
        visprog.evaluate(nlvr, engine="ray", workers=0, progress=False)
    with pytest.raises(visprog.VisprogError, match="batch_size must be at least 1"):
        visprog.evaluate(nlvr, batch_size=0, progress=False)
