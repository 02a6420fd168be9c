import json
import subprocess
import sys
from pathlib import Path

import pytest

from visprog.cli import main

from vqa_double import square_image

ROOT = Path(__file__).resolve().parents[1]


def _pair(tmp_path, left, right):
    square_image(left).save(tmp_path / "left.png")
    square_image(right).save(tmp_path / "right.png")
    return [f"LEFT={tmp_path / 'left.png'}", f"RIGHT={tmp_path / 'right.png'}"]


def test_exec_nlvr_program_with_double_writes_rationale(tmp_path):
    images = _pair(tmp_path, 2, 4)
    html = tmp_path / "rationale.html"
    proc = subprocess.run(
        [sys.executable, "-m", "visprog", "--plugin", str(ROOT / "tests" / "vqa_double_plugin.py"), "exec",
         str(ROOT / "examples" / "nlvr_pair.vp"), *images, "--backend", "Vqa=double",
         "--json", "--html", str(html)],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["value"] is True
    assert [s["output"] for s in out["steps"]] == ["ANSWER0", "ANSWER1", "ANSWER2", "FINAL"]
    assert [s["value"] for s in out["steps"][:2]] == ["2", "4"]
    page = html.read_text()
    for line in (ROOT / "examples" / "nlvr_pair.vp").read_text().splitlines():
        if line and not line.startswith("#"):
            assert line.split("=")[0] in page
    assert page.count("<div class='step") == 1 + 4 + 1  # inputs, four steps, result
    assert "counted 2 red squares" in page
    assert page.count("data:image/png;base64,") >= 4


def test_exec_false_statement_in_process(tmp_path, capsys, monkeypatch):
    import visprog.tools
    from vqa_double import with_double
    # the CLI runs on the default registry: point it at a copy with the double for this test
    registry = with_double(visprog.tools.default_registry().copy())
    monkeypatch.setattr(visprog.tools, "default_registry", lambda: registry)
    images = _pair(tmp_path, 1, 1)
    assert main(["exec", str(ROOT / "examples" / "nlvr_pair.vp"), *images,
                 "--backend", "Vqa=double"]) == 0
    assert capsys.readouterr().out.strip() == "False"


def test_check_reports_errors_with_nonzero_exit(tmp_path, capsys):
    bad = tmp_path / "bad.vp"
    bad.write_text("BOX0=Loc(image=IMAGE, object='dog')\nANSWER0=Count(box=IMAGE)\nX=CROP_NOT(image=IMAGE)\n")
    assert main(["check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert ":2" in out and ":3" in out and "Crop" in out


def test_check_clean_program(capsys):
    assert main(["check", str(ROOT / "examples" / "nlvr_pair.vp")]) == 0


def test_tools_lists_every_declared_tool(capsys):
    assert main(["tools"]) == 0
    out = capsys.readouterr().out
    for name in ["Loc", "FaceDet", "Seg", "Select", "Classify", "Vqa", "Replace", "List", "Point",
                 "Eval", "Count", "Result", "Crop", "CropLeft", "CropRight", "CropAbove",
                 "CropBelow", "Tag", "ColorPop", "BgBlur", "Emoji"]:
        assert f"\n{name}(" in "\n" + out, name


def test_bad_image_argument_is_a_clean_error(tmp_path, capsys):
    assert main(["exec", str(ROOT / "examples" / "nlvr_pair.vp"), "LEFT"]) == 2
    assert "NAME=path" in capsys.readouterr().err
    assert main(["exec", str(ROOT / "examples" / "nlvr_pair.vp"), f"LEFT={tmp_path}/missing.png",
                 f"RIGHT={tmp_path}/missing.png"]) == 2
    assert "missing.png" in capsys.readouterr().err


STATEMENT = "The left and right image contain a total of six people."


def _people(tmp_path):
    """Two icon-world images, two people on the left and four on the right."""
    import numpy as np
    from visprog.iconworld import render, sample_placements, save_png
    pairs = []
    for seed, (name, objects) in enumerate([("LEFT", ["person", "person", "tree"]),
                                            ("RIGHT", ["person"] * 4)]):
        image, _ = render(sample_placements(np.random.default_rng(seed), objects), seed=seed)
        save_png(image, tmp_path / f"{name}.png")
        pairs.append(f"{name}={tmp_path / (name + '.png')}")
    return pairs


def test_one_answer_through_every_door(tmp_path, capsys):
    import visprog
    pairs = _people(tmp_path)
    images = dict(p.split("=", 1) for p in pairs)
    result = visprog.run(STATEMENT, images)
    assert main(["run", STATEMENT, *pairs, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    program = tmp_path / "planned.vp"
    program.write_text(str(result.program))
    assert main(["exec", str(program), *pairs]) == 0
    assert capsys.readouterr().out.strip() == str(result.value)
    assert out["value"] == result.value is True
    assert [(s["module"], s["backend"], s["backend_reason"]) for s in out["steps"]] == \
        [(s.module, s.backend, s.backend_reason) for s in result.trace]


def test_one_question_leaves_stderr_empty(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "visprog", "run", STATEMENT, *_people(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.strip().endswith("True")


def test_bad_planners_and_instructions_are_one_line_errors(tmp_path, capsys):
    pairs = _people(tmp_path)
    for args, message in [(["--planner", "hf:/nonexistent"], "hf planner /nonexistent: no such folder"),
                          (["--planner", "local:/nonexistent.safetensors"], "no such file"),
                          (["--planner", "gpt"], "unknown planner 'gpt'")]:
        assert main(["run", STATEMENT, *pairs, *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
    for instruction in ("", "   "):
        assert main(["run", instruction, *pairs]) == 2
        assert capsys.readouterr().err == ("error: the instruction is empty: say what to find out "
                                           "about the images\n")


def test_a_closed_pipe_is_not_an_error(monkeypatch, capsys):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["tools", "-v"]) == 0
    assert capsys.readouterr().err == ""


def test_thread_counts_are_checked(monkeypatch, capsys):
    monkeypatch.setenv("VISPROG_THREADS", "two")
    assert main(["tools"]) == 2
    assert capsys.readouterr().err == ("error: VISPROG_THREADS='two': expected a positive whole "
                                       "number, got 'two'\n")
    monkeypatch.delenv("VISPROG_THREADS")
    with pytest.raises(SystemExit):
        main(["--threads", "0", "tools"])
    assert "expected a positive whole number, got 0" in capsys.readouterr().err
