"""A backend's warning (`ToolContext.warn`) reaches the user through every door, naming its
step, and only in the run whose call raised it. The Vqa double warns on an image with no
red squares (tests/vqa_double.py)."""

from __future__ import annotations

import json

import pytest

import visprog
from visprog.evaluation import execute_many
from visprog.registry import ImageCache, ToolContext
from visprog.tools import registry

from vqa_double import square_image, with_double

PROGRAM = """ANSWER0=Vqa(image=LEFT, question='How many people are in the image?')
ANSWER1=Vqa(image=RIGHT, question='How many people are in the image?')
ANSWER2=Eval(expr='{ANSWER0} + {ANSWER1} == 6')
FINAL=Result(var=ANSWER2)"""
SAID = "no red squares: this image is unlike those the double knows"


def warned(line: int, image: str) -> str:
    return f"line {line}, Vqa on {image}: {SAID}"


@pytest.fixture
def reg():
    return with_double(registry.copy())


class _Planner:
    """Plans PROGRAM for any instruction."""

    def plan(self, instruction, task=None, inputs=None):
        return visprog.parse(PROGRAM)


def test_a_backend_warning_names_its_step_and_image(reg):
    result = visprog.execute(PROGRAM, {"LEFT": square_image(0), "RIGHT": square_image(2)},
                             registry=reg, backend="double")
    assert result.warnings == [warned(1, "LEFT")]
    assert [s.warnings for s in result.trace] == [[warned(1, "LEFT")], [], [], []]
    data = result.to_json()
    assert data["warnings"] == result.warnings and data["steps"][0]["warnings"] == result.warnings


def test_warnings_are_one_line_and_said_once():
    ctx = ToolContext(ImageCache())
    ctx.warn(0, "odd\n  image")
    ctx.warn(0, "odd image")
    ctx.warn(1, "odd image")
    assert ctx.warnings == {0: ["odd image"], 1: ["odd image"]}


def test_checker_warnings_come_first_as_text(reg):
    program = PROGRAM.replace("ANSWER1=", "ANSWER0=").replace("{ANSWER1}", "{ANSWER0}")
    result = visprog.execute(program, {"LEFT": square_image(0), "RIGHT": square_image(2)},
                             registry=reg, backend="double")
    assert [d.line for d in result.diagnostics] == [2]
    assert result.warnings == [str(result.diagnostics[0]), warned(1, "LEFT")]


def test_the_rationale_page_shows_warnings_on_top_and_on_their_step(reg):
    result = visprog.execute(PROGRAM, {"LEFT": square_image(2), "RIGHT": square_image(0)},
                             registry=reg, backend="double")
    page = result.html()
    shown = f"warning: {warned(2, 'RIGHT')}"
    on_top = page.index(shown)
    on_step = page.index(shown, on_top + 1)
    assert on_top < page.index("<b>Inputs</b>") < page.index("2: ANSWER1") < on_step \
        < page.index("3: ANSWER2")
    assert page.count("class='step warnings'") == 2  # the box on top and the step's


@pytest.mark.parametrize("command", ["exec", "run"])
def test_the_cli_prints_warnings_to_stderr_and_in_json(command, reg, tmp_path, capsys, monkeypatch):
    import visprog.api
    import visprog.tools
    from visprog.cli import main
    monkeypatch.setattr(visprog.tools, "default_registry", lambda: reg)
    monkeypatch.setattr(visprog.api, "as_planner", lambda *a, **k: _Planner())
    square_image(0).save(tmp_path / "left.png")
    square_image(2).save(tmp_path / "right.png")
    (tmp_path / "p.vp").write_text(PROGRAM)
    first = [str(tmp_path / "p.vp")] if command == "exec" else ["How many people?"]
    images = [f"LEFT={tmp_path / 'left.png'}", f"RIGHT={tmp_path / 'right.png'}"]
    assert main([command, *first, *images, "--backend", "Vqa=double", "--json"]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"warning: {warned(1, 'LEFT')}"]
    assert json.loads(out)["warnings"] == [warned(1, "LEFT")]


def test_each_program_of_a_batch_gets_only_its_own_warnings(reg):
    jobs = [(PROGRAM, {"LEFT": square_image(left), "RIGHT": square_image(right)})
            for left, right in [(0, 2), (1, 2), (3, 0), (0, 0)]]
    results = execute_many(jobs, registry=reg, backend="double")
    assert [r.warnings for r in results] == [
        [warned(1, "LEFT")], [], [warned(2, "RIGHT")], [warned(1, "LEFT"), warned(2, "RIGHT")]]


def test_evaluation_lines_carry_their_items_warnings(reg, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "data"
    (folder / "images").mkdir(parents=True)
    items = []
    for name, left in [("bare", 0), ("squares", 3)]:
        square_image(left).save(folder / "images" / f"{name}.png")
        square_image(3).save(folder / "images" / f"{name}_right.png")
        items.append({"id": name, "task": "nlvr", "instruction": "six people", "answer": True,
                      "program": PROGRAM, "images": {"LEFT": f"images/{name}.png",
                                                     "RIGHT": f"images/{name}_right.png"}})
    (folder / "data.jsonl").write_text("".join(json.dumps(item) + "\n" for item in items))
    summary = visprog.evaluate(folder, tmp_path / "results.jsonl", programs="gold", registry=reg,
                               backend={"Vqa": "double"}, progress=False)
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {line["id"]: line["warnings"] for line in lines} == {
        "bare": [warned(1, "LEFT")], "squares": []}
    assert summary.warned == 1 and "1 with warnings" in str(summary)
    from visprog.cli import main
    monkeypatch.setattr("visprog.tools.default_registry", lambda: reg)
    assert main(["eval", str(folder), "--programs", "gold", "--backend", "Vqa=double", "--quiet"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "warning: 1 of 2 items warned (each results line lists its own; keep them with --out)"]


def test_the_repl_shows_warnings_as_the_line_runs(reg):
    from visprog.repl import Session
    session = Session({"IMAGE": square_image(0)}, registry=reg, backend="double", inline="")
    reply = session.handle("A=Vqa(image=IMAGE, question='How many squares?')")
    assert reply.ok and f"warning: {warned(1, 'IMAGE')}" in reply.lines
    assert session.result().warnings == [warned(1, "IMAGE")]


def test_langchain_answers_carry_warnings(reg):
    from visprog.integrations.langchain import VisualSession, visprog_tools
    session = VisualSession({"IMAGE": square_image(0)}, registry=reg, backend="double",
                            planner=_Planner())
    tools = {t.name: t for t in visprog_tools(session)}
    answer = json.loads(tools["Vqa"].invoke({"image": "IMAGE", "question": "How many?"}))
    assert answer["warnings"] == [SAID]
    session.add_image(square_image(2), "RIGHT")
    answer = json.loads(tools["visual_program"].invoke(
        {"instruction": "six people", "images": {"LEFT": "IMAGE", "RIGHT": "RIGHT"}}))
    assert answer["warnings"] == [warned(1, "LEFT")]


COUNT = "BOX0=Loc(image=IMAGE, object='{}')\nANSWER0=Count(box=BOX0)\nFINAL=Result(var=ANSWER0)"


@pytest.mark.parametrize("instruction, looked_for, unnamed", [
    ("How many rockets are in the image?", "car", ["car"]),          # a word put in place of another
    ("How many puppies are in the image?", "dog", []),              # a catalogue synonym
    ("How many people are there?", "person", []),
    ("Tag the pets.", "animal", []),                                 # a group word, narrowed later
    ("Point to the farmers.", "animal", ["animal"]),                 # a farmer is no animal
    ("Is there a red car?", "red car", []),
    ("Is there a car?", "red car", ["red car"]),                     # a colour the user never said
    ("Is there a dog on the left?", "LEFT", []),
])
def test_object_words_the_instruction_does_not_name(instruction, looked_for, unnamed):
    from visprog.planners.mentions import unmentioned
    assert unmentioned(instruction, visprog.parse(COUNT.format(looked_for))) == unnamed


def test_a_planners_substitution_is_the_first_warning_of_the_run():
    from visprog.iconworld.render import random_scene
    from visprog.planners.llm import LLMPlanner
    planner = LLMPlanner(lambda prompt: COUNT.format("car"))
    result = visprog.run("How many rockets are in the image?", {"IMAGE": random_scene(3)[0]},
                         planner=planner, backend="oracle")
    assert result.program.warnings and result.warnings[0] == result.program.warnings[0]
    assert result.warnings[0].startswith("the program looks for 'car', which the instruction does not name")
    assert not visprog.run("How many cars are in the image?", {"IMAGE": random_scene(3)[0]},
                           planner=planner, backend="oracle").warnings


def test_loc_warns_about_a_word_it_never_trained_on_and_says_how_it_read_it():
    import numpy as np
    from PIL import Image
    from visprog.iconworld.render import random_scene
    plain = Image.fromarray(np.asarray(random_scene(5)[0].convert("RGB")))  # no annotation: the models
    said = visprog.execute(COUNT.format("teapot"), {"IMAGE": plain}, backend="iconworld").warnings
    assert len(said) == 1 and said[0].startswith("line 1, Loc on IMAGE: 'teapot' never named an object")
    assert "VISPROG_OWLVIT" in said[0]
    assert "read as dog" in visprog.execute(COUNT.format("puppy"), {"IMAGE": plain}, backend="iconworld").warnings[0]
    assert not visprog.execute(COUNT.format("red dog"), {"IMAGE": plain}, backend="iconworld").warnings


FAILING = PROGRAM.replace("'{ANSWER0} + {ANSWER1} == 6'", "'{ANSWER0} / ({ANSWER1} - {ANSWER1})'")


def test_a_failing_run_keeps_the_warnings_before_its_error(reg, tmp_path, capsys, monkeypatch):
    images = {"LEFT": square_image(0), "RIGHT": square_image(2)}
    with pytest.raises(visprog.EvalError, match="line 3") as caught:
        visprog.execute(FAILING, images, registry=reg, backend="double")
    assert caught.value.warnings == (warned(1, "LEFT"),)
    [batched, fine] = execute_many([(FAILING, images), (PROGRAM, images)], registry=reg, backend="double")
    assert isinstance(batched, visprog.EvalError) and batched.warnings == (warned(1, "LEFT"),)
    assert fine.warnings == [warned(1, "LEFT")]
    from visprog.cli import main
    monkeypatch.setattr("visprog.tools.default_registry", lambda: reg)
    square_image(0).save(tmp_path / "left.png")
    square_image(2).save(tmp_path / "right.png")
    (tmp_path / "p.vp").write_text(FAILING)
    assert main(["exec", str(tmp_path / "p.vp"), f"LEFT={tmp_path / 'left.png'}",
                 f"RIGHT={tmp_path / 'right.png'}", "--backend", "Vqa=double"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"warning: {warned(1, 'LEFT')}" and err[1].startswith("error: line 3 (Eval): division by zero")


def test_the_langchain_program_tool_reports_the_warnings_before_an_error(reg):
    from visprog.integrations.langchain import VisualSession, visprog_tools

    class Failing:
        def plan(self, instruction, task=None, inputs=None):
            return visprog.parse(FAILING)

    session = VisualSession({"LEFT": square_image(0), "RIGHT": square_image(2)}, registry=reg,
                            backend="double", planner=Failing())
    tool = {t.name: t for t in visprog_tools(session)}["visual_program"]
    # the agent reads the error (handle_tool_error), with the warnings given before it
    said = tool.invoke({"instruction": "six people", "images": {"LEFT": "LEFT", "RIGHT": "RIGHT"}})
    assert said.splitlines()[0].startswith("line 3 (Eval): division by zero")
    assert said.splitlines()[1:] == [f"warning: {warned(1, 'LEFT')}"]


def test_a_step_that_cannot_be_called_ends_only_its_own_run_in_a_batch(reg):
    # Result passes any value on, so only the call finds that BOX is no image
    bad = ("ANSWER0=Vqa(image=LEFT, question='How many people are in the image?')\nBOX=Result(var=ANSWER0)\n"
           "ANSWER1=Vqa(image=BOX, question='How many?')\nFINAL=Result(var=ANSWER1)")
    images = {"LEFT": square_image(0), "RIGHT": square_image(2)}
    [failed, fine] = execute_many([(bad, images), (PROGRAM, images)], registry=reg, backend="double")
    assert isinstance(failed, visprog.ToolError) and "line 3 (Vqa)" in str(failed)
    assert "another Result" in failed.warnings[0] and failed.warnings[1:] == (warned(1, "LEFT"),)
    assert fine.value in (True, False) and fine.warnings == [warned(1, "LEFT")]
