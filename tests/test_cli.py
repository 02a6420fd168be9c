import json
import subprocess
import sys
from pathlib import Path

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
        [sys.executable, "-m", "visprog", "--plugin", str(ROOT / "tests" / "vqa_double.py"), "exec",
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


def test_exec_false_statement_in_process(tmp_path, capsys):
    import vqa_double  # noqa: F401  (registers the double)
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
