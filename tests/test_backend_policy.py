"""One backend policy behind every door (visprog/resolver.py): explicit choices are checked,
the default falls back model -> pretrained -> oracle (annotated images only) -> a typed
error, every step is resolved before the first runs, and the trace says why."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import visprog
from visprog import cli
from visprog.errors import ToolUnavailable, VisprogError
from visprog.iconworld import tasks
from visprog.tools import default_registry


@pytest.fixture(scope="module")
def scene():
    """An annotated icon-world image and the same pixels without the annotation."""
    item = tasks.generate_item("gqa", 11, 0)
    image = item["images"]["IMAGE"]
    plain = Image.fromarray(np.asarray(image))
    assert "iconworld" in image.info and "iconworld" not in plain.info
    return image, plain


MISSPELLED = ["nonexistent", "ORACLE ", "", {"Lok": "oracle"}, {"Loc": "nonexistent"},
              {"Loc": "Oracle"}, ["oracle", "iconworld"], 3]


@pytest.mark.parametrize("choice", MISSPELLED, ids=repr)
def test_every_misspelled_backend_form_is_an_error(choice, scene):
    with pytest.raises(VisprogError) as err:
        visprog.execute("ANSWER0=Eval(expr='1 + 1')", {"IMAGE": scene[0]}, backend=choice)
    assert str(err.value).startswith("backend")  # names the argument at fault


def test_a_misspelled_environment_value_is_an_error(monkeypatch, scene):
    monkeypatch.setenv("VISPROG_BACKEND", "bogus")
    with pytest.raises(VisprogError, match="VISPROG_BACKEND: unknown backend 'bogus'"):
        visprog.execute("ANSWER0=Eval(expr='1')", {"IMAGE": scene[0]})
    monkeypatch.setenv("VISPROG_BACKEND", "Lok=oracle")
    with pytest.raises(VisprogError, match="unknown tool 'Lok' \\(did you mean Loc\\?\\)"):
        visprog.execute("ANSWER0=Eval(expr='1')", {"IMAGE": scene[0]})


def test_the_error_suggests_the_near_name(scene):
    with pytest.raises(VisprogError, match="did you mean 'oracle'"):
        visprog.execute("ANSWER0=Eval(expr='1')", {"IMAGE": scene[0]}, backend="oracel")


def test_cli_backend_misspelling_exits_2_with_one_line(tmp_path, capsys, scene):
    path = tmp_path / "scene.png"
    scene[0].save(path, pnginfo=_pnginfo(scene[0]))
    program = tmp_path / "p.vp"
    program.write_text("ANSWER0=Eval(expr='1')\n")
    code = cli.main(["exec", str(program), f"IMAGE={path}", "--backend", "oracel"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "did you mean 'oracle'" in err


def _pnginfo(image):
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("iconworld", image.info["iconworld"])
    return info


def test_explicit_choice_wins_and_the_trace_says_why(scene, monkeypatch):
    program = "BOX0=Loc(image=IMAGE, object='dog')\nANSWER0=Count(box=BOX0)"
    result = visprog.execute(program, {"IMAGE": scene[0]}, backend={"loc": "oracle"})
    loc, count = result.trace
    assert (loc.backend, loc.backend_reason) == ("oracle", "chosen with backend=")
    assert (count.backend, count.backend_reason) == ("builtin", "built in")
    monkeypatch.setenv("VISPROG_BACKEND", "oracle")
    result = visprog.execute(program, {"IMAGE": scene[0]})
    assert result.trace[0].backend_reason == "chosen with VISPROG_BACKEND"
    assert "chosen with VISPROG_BACKEND" in result.html()
    # an explicit argument wins over the environment
    result = visprog.execute(program, {"IMAGE": scene[0]}, backend="iconworld")
    assert result.trace[0].backend == "iconworld"


def test_default_policy_prefers_the_shipped_model(scene):
    result = visprog.execute("BOX0=Loc(image=IMAGE, object='dog')", {"IMAGE": scene[0]})
    assert result.trace[0].backend == "iconworld"
    assert result.trace[0].backend_reason == "in-repo model (its weights ship)"


def oracle_only(tool: str):
    """A registry in which `tool` has no model and no pretrained backend, only the oracle."""
    registry = default_registry().copy()
    backends = registry.lookup(tool).backends
    for name in [n for n, b in backends.items() if b.kind != "oracle"]:
        del backends[name]
    return registry


def test_tools_with_no_model_fall_back_to_the_oracle_on_annotated_images(scene):
    registry = oracle_only("Seg")
    result = visprog.execute("OBJ0=Seg(image=IMAGE)", {"IMAGE": scene[0]}, registry=registry)
    assert result.trace[0].backend == "oracle"
    assert "icon-world annotations" in result.trace[0].backend_reason
    assert len(result.value) == len(json.loads(scene[0].info["iconworld"])["objects"])


def test_no_backend_is_a_typed_error_before_any_step_runs(scene):
    registry = oracle_only("Seg")
    ran = []
    registry.lookup("Count").backend("spy", default=True)(lambda calls, ctx: ran.append(1) or [0])
    program = "OBJX=FaceDet(image=IMAGE)\nANSWER0=Count(box=OBJX)\nOBJ0=Seg(image=IMAGE)"
    with pytest.raises(ToolUnavailable) as err:
        visprog.execute(program, {"IMAGE": scene[1]}, registry=registry)
    message = str(err.value)
    assert message.startswith("line 3: Seg has no backend that can run here")
    assert "oracle: the input images carry no icon-world annotations" in message
    assert "@Seg.backend" in message
    assert ran == []


def test_missing_weights_fall_back_with_the_reason(scene, tmp_path, monkeypatch):
    monkeypatch.setenv("VISPROG_WEIGHTS", str(tmp_path))  # an empty weights folder
    result = visprog.execute("BOX0=Loc(image=IMAGE, object='dog')", {"IMAGE": scene[0]})
    step = result.trace[0]
    assert step.backend == "oracle"
    assert "iconworld: no weights for model 'clip'" in step.backend_reason
    assert "pretrained: set VISPROG_OWLVIT" in step.backend_reason
    with pytest.raises(ToolUnavailable) as err:
        visprog.execute("BOX0=Loc(image=IMAGE, object='dog')", {"IMAGE": scene[1]})
    for way in ("visprog train clip", "VISPROG_OWLVIT", "icon-world annotations"):
        assert way in str(err.value)


def test_an_explicit_backend_that_cannot_run_is_an_error(scene, monkeypatch):
    monkeypatch.delenv("VISPROG_OWLVIT", raising=False)
    with pytest.raises(ToolUnavailable, match="Loc: backend 'pretrained' .* set VISPROG_OWLVIT"):
        visprog.execute("BOX0=Loc(image=IMAGE, object='dog')", {"IMAGE": scene[0]},
                        backend="pretrained")
    with pytest.raises(ToolUnavailable, match="no icon-world annotations"):
        visprog.execute("OBJ0=Seg(image=IMAGE)", {"IMAGE": scene[1]}, backend="oracle")


@pytest.mark.parametrize("task", ["nlvr", "gqa", "edit", "tag"])
def test_gold_programs_run_with_default_backends(task):
    for i in range(3):
        item = tasks.generate_item(task, 77, i)
        result = visprog.execute(item["program"], item["images"])
        assert result.trace, item["id"]


def test_parse_check_and_model_free_execute_stay_lean():
    code = ("import sys, visprog\n"
            "p = visprog.parse(\"A=Eval(expr='1 + 2')\\nB=Result(var=A)\")\n"
            "assert not [d for d in visprog.check(p) if d.severity == 'error']\n"
            "from PIL import Image\n"
            "r = visprog.execute(p, {'IMAGE': Image.new('RGB', (8, 8))})\n"
            "assert r.value == 3 and r.trace[0].backend == 'builtin'\n"
            "print(sorted(m for m in ('torch', 'transformers', 'visprog.iconworld', "
            "'visprog.models', 'langchain_core') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
