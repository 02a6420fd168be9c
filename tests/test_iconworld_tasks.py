"""Icon-world task generators: balance, determinism, formats, and gold programs that reproduce."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import visprog
from visprog.errors import DatasetError
from visprog.iconworld import dataset
from visprog.iconworld import tasks
from visprog.pointing import format_points as molmo_points, parse_percent as parse_molmo_points
from visprog.iconworld.tasks.edit import score_edit
from visprog.iconworld.tasks.tag import score_tag
from visprog.values import Obj, Objects

SAMPLE = 30  # items per task whose gold programs must reproduce their answers


def test_nlvr_labels_are_balanced():
    labels = [tasks.generate_item("nlvr", 0, i)["answer"] for i in range(200)]
    share = sum(labels) / len(labels)
    assert 0.45 <= share <= 0.55, share
    forms = {tasks.generate_item("nlvr", 5, i)["form"] for i in range(60)}
    assert len(forms) >= 8  # many statement forms


@pytest.mark.parametrize("task", tasks.TASKS)
def test_gold_programs_reproduce_answers(task):
    failures = []
    for i in range(SAMPLE):
        item = tasks.generate_item(task, 20240, i)
        ok, why = dataset.check_item(item)
        if not ok:
            failures.append(f"{item['id']} ({item['form']}) {item['instruction']!r}: {why}")
    assert not failures, "\n".join(failures)


def test_items_are_deterministic_and_well_typed():
    for task in tasks.TASKS:
        a = tasks.generate_item(task, 3, 7)
        b = tasks.generate_item(task, 3, 7)
        assert (a["instruction"], a["program"], json.dumps(a["answer"])) == \
               (b["instruction"], b["program"], json.dumps(b["answer"]))
        for name in a["images"]:
            assert np.array_equal(np.asarray(a["images"][name]), np.asarray(b["images"][name]))
            assert "iconworld" in a["images"][name].info
        visprog.parse(a["program"])
        answer = a["answer"]
        source = a.get("source_task", task)
        if source == "nlvr":
            assert isinstance(answer, bool)
            assert set(a["images"]) == {"LEFT", "RIGHT"}
        elif source in ("gqa", "qa") and a["form"] != "describe":
            assert isinstance(answer, str) and answer == answer.lower()
        elif source in ("edit", "tag"):
            assert isinstance(answer, dict) and "op" in answer
    counts = [tasks.generate_item("gqa", 1, i) for i in range(40)]
    assert all(re.fullmatch(r"\d+", it["answer"]) for it in counts if it["form"] == "count")


def test_unknown_task_is_a_dataset_error():
    with pytest.raises(DatasetError, match="unknown icon-world task"):
        tasks.generate_item("vqa2", 0, 0)


# --------------------------------------------------------------------------- Molmo points

def test_molmo_single_point():
    assert molmo_points([(157.44, 103.9)], 256, 256, "dog", "dogs") == \
        '<point x="61.5" y="40.6" alt="dog">dog</point>'


def test_molmo_many_points_sorted_by_x_then_y():
    text = molmo_points([(200, 10), (20, 200), (20, 100)], 200, 400, "dog", "dogs")
    assert text == ('<points x1="10.0" y1="25.0" x2="10.0" y2="50.0" x3="100.0" y3="2.5" '
                    'alt="dogs">dogs</points>')
    assert parse_molmo_points(text) == [(10.0, 25.0), (10.0, 50.0), (100.0, 2.5)]


def test_molmo_none():
    assert molmo_points([], 256, 256, "dog", "dogs") == "There are none."
    assert parse_molmo_points("There are none.") == []


def test_points_items_use_molmo_format():
    pattern = re.compile(r'There are none\.|<point x="\d+\.\d" y="\d+\.\d" alt="[a-z ]+">[a-z ]+</point>|'
                         r'<points( x\d+="\d+\.\d" y\d+="\d+\.\d")+ alt="[a-z ]+">[a-z ]+</points>')
    for i in range(20):
        item = tasks.generate_item("points", 4, i)
        assert pattern.fullmatch(item["answer"]), item["answer"]
        pts = parse_molmo_points(item["answer"])
        assert pts == sorted(pts)


# --------------------------------------------------------------------------- scoring

def _first(task, form, seed=2):
    for i in range(200):
        item = tasks.generate_item(task, seed, i)
        if item["form"] == form:
            return item
    raise AssertionError(f"no {form} item")


@pytest.mark.parametrize("form", ["colorpop", "bgblur", "emoji", "replace"])
def test_score_edit_rejects_the_unedited_image(form):
    item = _first("edit", form)
    assert not score_edit(item, item["images"]["IMAGE"])
    result = visprog.execute(item["program"], item["images"], backend="oracle")
    assert score_edit(item, result.value)


def test_score_edit_rejects_the_wrong_edit():
    item = _first("edit", "colorpop")
    blurred = item["program"].replace("ColorPop", "BgBlur")
    result = visprog.execute(blurred, item["images"], backend="oracle")
    assert not score_edit(item, result.value)


def test_score_tag_needs_exact_boxes_and_labels():
    item = {"answer": {"op": "tag", "objects": [{"box": [0, 0, 10, 10], "label": "cow"},
                                                {"box": [20, 20, 40, 40], "label": "pig"}]}}
    good = Objects([Obj((21, 20, 40, 41), "pig"), Obj((0, 0, 10, 11), "cow")])
    assert score_tag(item, good)
    assert not score_tag(item, Objects([Obj((0, 0, 10, 10), "cow")]))  # one missing
    assert not score_tag(item, Objects(list(good) + [Obj((50, 50, 60, 60), "cow")]))  # an extra
    assert not score_tag(item, Objects([Obj((0, 0, 10, 10), "pig"), Obj((20, 20, 40, 40), "cow")]))


# --------------------------------------------------------------------------- datasets

def test_dataset_make_load_check_show(tmp_path):
    root = dataset.make("gqa", 6, 11, tmp_path / "gqa", progress=False)
    items = dataset.load(root)
    assert [it["id"] for it in items] == [f"gqa-11-{i:06d}" for i in range(6)]
    assert all(p.endswith(".png") and (root / "images").exists() for it in items
               for p in it["images"].values())
    card = (root / "README.md").read_text()
    assert dataset.OPENMOJI_CREDIT in card and "CC BY-SA 4.0" in card
    report = dataset.check(root, progress=False)
    assert report.ok and report.total == 6, report.summary()
    dataset.contact_sheet(root, tmp_path / "sheet.png", n=4)
    assert (tmp_path / "sheet.png").stat().st_size > 0
    with pytest.raises(DatasetError, match="already exists"):
        dataset.make("gqa", 1, 0, root, progress=False)


def test_dataset_check_reports_a_wrong_answer(tmp_path):
    root = dataset.make("nlvr", 4, 0, tmp_path / "nlvr", progress=False)
    lines = (root / "data.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["answer"] = not first["answer"]
    lines[0] = json.dumps(first)
    (root / "data.jsonl").write_text("\n".join(lines) + "\n")
    report = dataset.check(root, progress=False)
    assert not report.ok and report.failures[0][0] == first["id"]


def test_load_names_file_and_line(tmp_path):
    (tmp_path / "data.jsonl").write_text('{"id": "a", "task": "gqa", "instruction": "x", "images": '
                                         '{"IMAGE": "images/a.png"}, "answer": "1", "program": "p"}\n'
                                         '{not json\n')
    with pytest.raises(DatasetError, match=r"data\.jsonl, line 2"):
        dataset.load(tmp_path)
    (tmp_path / "data.jsonl").write_text('{"id": "a", "task": "gqa"}\n')
    with pytest.raises(DatasetError, match="line 1: missing"):
        dataset.load(tmp_path)
    with pytest.raises(DatasetError, match="no data.jsonl"):
        dataset.load(tmp_path / "nowhere")


def test_cli_data_commands(tmp_path, capsys):
    import argparse
    from visprog.iconworld.cli import add_commands
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    out = tmp_path / "edit"
    args = parser.parse_args(["data", "make", "edit", "--n", "3", "--seed", "1", "--out", str(out), "-q"])
    assert args.func(args) == 0
    args = parser.parse_args(["data", "check", str(out), "-q"])
    assert args.func(args) == 0
    assert "3/3" in capsys.readouterr().out
    args = parser.parse_args(["data", "show", str(out), "--out", str(tmp_path / "s.png")])
    assert args.func(args) == 0 and (tmp_path / "s.png").exists()
    lines = (out / "data.jsonl").read_text().splitlines()
    item = json.loads(lines[0])
    item["answer"]["op"] = "colorpop" if item["answer"]["op"] != "colorpop" else "bgblur"
    (out / "data.jsonl").write_text(json.dumps(item) + "\n")
    args = parser.parse_args(["data", "check", str(out), "-q"])
    assert args.func(args) == 1
