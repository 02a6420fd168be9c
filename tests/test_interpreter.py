import pytest
from PIL import Image

import visprog
from visprog import CheckError, Execution, Obj, Objects, ToolError, execute
from visprog.interpreter import run_calls
from visprog.tools import registry

import vqa_double
from vqa_double import square_image

NLVR = """
ANSWER0=VQA(image=LEFT,question='How many people are in the image?')
ANSWER1=VQA(image=RIGHT,question='How many people are in the image?')
ANSWER2=EVAL(expr='{ANSWER0} + {ANSWER1} == 6')
FINAL_ANSWER=RESULT(var=ANSWER2)
"""


@pytest.fixture
def reg():
    """A private registry with test doubles, so the default registry stays as shipped."""
    reg = registry.copy()

    def answer(calls, ctx):
        return [str(vqa_double.count_squares(c["image"])) for c in calls]

    def loc(calls, ctx):
        return [Objects([Obj((10, 10, 30, 30), c["object"], 0.9)]) for c in calls]

    reg.lookup("Vqa").backend("double")(answer)
    reg.lookup("Loc").backend("double")(loc)
    return reg


def test_nlvr_program_runs_with_trace(reg):
    images = {"LEFT": square_image(2), "RIGHT": square_image(4)}
    result = execute(NLVR, images, registry=reg, backend="double")
    assert result.value is True
    assert [t.module for t in result.trace] == ["Vqa", "Vqa", "Eval", "Result"]
    assert [t.backend for t in result.trace] == ["double", "double", "builtin", "builtin"]
    assert result.trace[0].line == 2 and result.trace[0].value == "2"
    assert all(t.seconds >= 0 for t in result.trace)
    assert result.program == visprog.parse(NLVR)


def test_last_step_is_the_result_without_result_step(reg):
    result = execute("A=Eval(expr='1 + 2')\nB=Eval(expr='{A} * 2')", {}, registry=reg)
    assert result.value == 6


def test_checker_errors_stop_before_anything_runs(reg):
    calls = []
    reg.lookup("Vqa").backend("spy")(lambda c, ctx: calls.append(c) or ["1"] * len(c))
    with pytest.raises(CheckError) as info:
        execute("A=Vqa(image=IMAGE, question='q')\nB=Count(box=IMAGE)", {"IMAGE": square_image(1)},
                registry=reg, backend="spy")
    assert calls == [] and info.value.diagnostics[0].line == 2


def test_tool_crash_becomes_tool_error_naming_the_line(reg):
    def broken(calls, ctx):
        raise ZeroDivisionError("boom")
    reg.lookup("Vqa").backend("broken")(broken)
    with pytest.raises(ToolError, match=r"line 2 \(Vqa.*ZeroDivisionError"):
        execute(NLVR, {"LEFT": square_image(1), "RIGHT": square_image(1)}, registry=reg,
                backend="broken")


def test_wrong_number_of_outputs_is_reported(reg):
    reg.lookup("Vqa").backend("short")(lambda calls, ctx: [])
    with pytest.raises(ToolError, match="one output per call"):
        execute(NLVR, {"LEFT": square_image(1), "RIGHT": square_image(1)}, registry=reg,
                backend="short")


def test_unknown_backend_choice_names_the_choices(reg):
    with pytest.raises(visprog.VisprogError, match="unknown backend 'nope'; known: double"):
        execute(NLVR, {"LEFT": square_image(1), "RIGHT": square_image(1)}, registry=reg,
                backend={"Vqa": "nope"})


def test_hostile_answer_is_a_plain_string_and_escaped_in_html(reg):
    reg.lookup("Vqa").backend("evil")(lambda calls, ctx: ["<script>alert(1)</script>' or 1 or '"] * len(calls))
    result = execute("A=Vqa(image=IMAGE, question='q')\nB=Eval(expr=\"{A} == 'yes'\")",
                     {"IMAGE": square_image(0)}, registry=reg, backend="evil")
    assert result.value is False
    page = result.html()
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_steps_with_objects_render_on_their_image(reg):
    program = "BOX0=Loc(image=IMAGE, object='dog')\nIMAGE0=Crop(image=IMAGE, box=BOX0)\nN=Count(box=BOX0)"
    result = execute(program, {"IMAGE": square_image(3)}, registry=reg, backend="double")
    assert result.value == 1
    assert result.trace[1].value.size == (30, 30)
    assert result._repr_html_().count("<img") >= 4


def test_executions_can_be_batched_across_programs(reg):
    seen = []

    def batch(calls, ctx):
        seen.append(len(calls))
        return ["3"] * len(calls)
    reg.lookup("Vqa").backend("batch")(batch)
    runs = [Execution(NLVR, {"LEFT": square_image(1), "RIGHT": square_image(2)}, registry=reg,
                      backend="batch") for _ in range(5)]
    while any(r.pending() for r in runs):
        live = [r for r in runs if r.pending()]
        calls = [r.pending() for r in live]
        groups = {}
        for r, c in zip(live, calls):
            groups.setdefault((c.tool.name, c.backend.name), []).append((r, c))
        for members in groups.values():
            outputs = run_calls([c for _, c in members], members[0][0].cache)
            for (r, c), output in zip(members, outputs):
                r.complete(c, output)
    assert [r.result().value for r in runs] == [True] * 5
    assert seen == [5, 5]


def test_image_cache_is_keyed_by_content():
    from visprog.registry import ImageCache
    cache, computed = ImageCache(), []
    a, b = square_image(2), square_image(2)
    for img in (a, b, square_image(3)):
        cache.get(img, "features", lambda: computed.append(1))
    assert len(computed) == 2


def test_the_checker_warnings_travel_with_the_result():
    result = execute("A=Eval(expr='1 + 1')\nA=Eval(expr='{A} * 3')", {})
    assert result.value == 6
    assert [(d.line, d.severity) for d in result.diagnostics] == [(2, "warning")]
    assert "'A' is redefined" in result.diagnostics[0].message
    assert result.warnings == [str(result.diagnostics[0])]  # as text, beside the backends'
