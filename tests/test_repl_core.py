"""The REPL core (visprog.repl.Session) without a terminal."""

from html import escape

import numpy as np
import pytest
from PIL import Image

import visprog
from visprog import Obj, Objects, Points
from visprog.errors import VisprogError
from visprog.repl import Session, completions, inline_image, value_kind
from visprog.tools import registry

from vqa_double import square_image


@pytest.fixture
def reg():
    """A private registry with doubles: Vqa counts red squares, Loc finds one fixed box."""
    reg = registry.copy()

    def answer(calls, ctx):
        out = []
        for i, c in enumerate(calls):
            n = int((np.asarray(c["image"].convert("RGB")) == (220, 20, 20)).all(-1).sum()) // 100
            ctx.note(i, f"counted {n}")
            out.append(str(n))
        return out

    def loc(calls, ctx):
        return [Objects([Obj((10, 10, 40, 40), c["object"], 0.9)]) for c in calls]

    def point(calls, ctx):
        return [Points([(20, 20), (60, 30)]) for _ in calls]

    reg.lookup("Vqa").backend("double")(answer)
    reg.lookup("Loc").backend("double")(loc)
    reg.lookup("Point").backend("double")(point)
    return reg


@pytest.fixture
def session(reg, tmp_path):
    path = tmp_path / "three.png"
    square_image(3).save(path)
    return Session({"IMAGE": str(path)}, registry=reg, backend="double",
                   preview_dir=tmp_path / "previews", inline="")


def test_lines_run_at_once_and_show_values(session, tmp_path):
    reply = session.handle("ANSWER0=Vqa(image=IMAGE, question='How many squares?')")
    assert reply.ok and "ANSWER0 = '3'" in reply.text and "note: counted 3" in reply.text
    reply = session.handle("ANSWER1=Eval(expr='{ANSWER0} * 2')")
    assert reply.ok and session.variables["ANSWER1"] == 6
    reply = session.handle("BOX0=Loc(image=IMAGE, object='square')")
    assert reply.ok and "preview:" in reply.text
    preview = tmp_path / "previews" / "BOX0.png"
    assert reply.images == [str(preview)] and Image.open(preview).size == (128, 128)
    reply = session.handle("P=Point(image=IMAGE, object='square')")
    assert reply.ok and (tmp_path / "previews" / "P.png").exists()
    reply = session.handle("IMAGE0=Crop(image=IMAGE, box=BOX0)")
    assert reply.ok and "IMAGE0 = image 46x46" in reply.text
    assert [s.line for s in session.steps] == [1, 2, 3, 4, 5]


def test_bad_line_shows_diagnostic_with_caret_and_changes_nothing(session):
    session.handle("BOX0=Loc(image=IMAGE, object='square')")
    before = (dict(session.variables), list(session.steps), len(session.trace))
    for line, message, column in [
        ("N=Count(box=IMAGE)", "takes Objects | Points", 9),
        ("N=Lox(image=IMAGE)", "did you mean 'Loc'", 3),
        ("N=Count(box=BOX9)", "'BOX9' is not defined", 9),
        ("N=Count(box=BOX0", "expected ',' or ')'", 17),
        ("N=Count(object=BOX0)", "Count has no argument 'object'", 9),
        ("N=Eval(expr='{IMAGE} + 1')", "cannot be used in an expression", 8),
    ]:
        reply = session.handle(line)
        assert not reply.ok, line
        assert message in reply.text, reply.text
        source, caret = reply.lines[0].split("\n")[-2:]
        assert source.strip() == line
        assert caret.index("^") - 4 == column - 1, reply.text
    assert (dict(session.variables), list(session.steps), len(session.trace)) == before


def test_failing_tool_changes_nothing(session):
    reply = session.handle("A=Vqa(image=IMAGE, question='x')")
    assert reply.ok
    session.backend = {"Vqa": "nope"}
    reply = session.handle("B=Vqa(image=IMAGE, question='x')")
    assert not reply.ok and "nope" in reply.text
    assert "B" not in session.variables and len(session.steps) == 1


def test_pasted_program_runs_in_order_and_stops_at_first_bad_line(session):
    reply = session.handle("A=Eval(expr='1 + 1')\nB=Eval(expr='{A} * 3')\n\nC=Count(box=A)\nD=Eval(expr='2')")
    assert not reply.ok
    assert session.variables["B"] == 6 and "C" not in session.variables and "D" not in session.variables
    reply = session.handle("E=Eval(expr='5')\nF=Bad(\nG=Eval(expr='1')")
    assert not reply.ok and "session line 4" in reply.text and session.variables["E"] == 5
    assert "G" not in session.variables
    reply = session.handle("X=Eval(expr='1')\nY=Count(box=X)")
    assert not reply.ok and "session line 5, column 9" in reply.text and "X" in session.variables
    # commands may be pasted among lines
    reply = session.handle("H=Eval(expr='{E} + 1')\n:vars")
    assert reply.ok and reply.lines[0] == "H = 6" and "H " in reply.lines[-1]


def test_undo(session):
    session.handle("A=Eval(expr='1')")
    session.handle("B=Eval(expr='2')")
    reply = session.handle(":undo")
    assert reply.ok and "B" in reply.text and "B" not in session.variables
    assert [s.output for s in session.steps] == ["A"]
    session.handle(":undo")
    assert list(session.variables) == ["IMAGE"] and not session.handle(":undo").ok
    session.handle(f":load LEFT={session.sources['IMAGE']}")
    assert session.handle(":undo").ok and list(session.variables) == ["IMAGE"]


def test_save_gives_same_value_with_execute(session, reg, tmp_path):
    session.handle("ANSWER0=Vqa(image=IMAGE, question='How many?')\n"
                   "BOX0=Loc(image=IMAGE, object='x')\n"
                   "ANSWER1=Eval(expr='{ANSWER0} + 10')")
    session.handle("BAD=Count(box=IMAGE)")
    reply = session.handle(f":save {tmp_path / 's.vp'}")
    assert reply.ok and "visprog exec" in reply.text and "--backend double" in reply.text
    text = (tmp_path / "s.vp").read_text()
    assert "BAD" not in text and text.count("=") >= 3
    result = visprog.execute(text, {"IMAGE": session.sources["IMAGE"]}, registry=reg, backend="double")
    assert result.value == session.variables["ANSWER1"] == 13


def test_html_and_result(session, tmp_path):
    session.handle("A=Vqa(image=IMAGE, question='How many?')\nF=Result(var=A)\nB=Eval(expr='1')")
    assert session.result().value == "3"
    reply = session.handle(f":html {tmp_path / 'r.html'}")
    assert reply.ok
    page = (tmp_path / "r.html").read_text()
    assert "counted 3" in page
    for source in ("A=Vqa(image=IMAGE, question='How many?')", "F=Result(var=A)", "B=Eval(expr='1')"):
        assert escape(source) in page


def test_load_and_show_and_vars(session, tmp_path):
    path = tmp_path / "one.png"
    square_image(1).save(path)
    assert session.handle(f":load LEFT={path}").ok
    assert session.variables["LEFT"].size == (128, 128)
    assert session.handle("A=Vqa(image=LEFT, question='How many?')").text == "A = '1'\n  note: counted 1"
    reply = session.handle(f":load LEFT={path}")
    assert not reply.ok and "used by session line(s) 1" in reply.text
    assert not session.handle(f":load A={path}").ok
    reply = session.handle(":load NOPE=/does/not/exist.png")
    assert not reply.ok and reply.text == "error: image NOPE: no such file: /does/not/exist.png"
    assert "NOPE" not in session.variables
    reply = session.handle(":vars")
    assert "LEFT" in reply.text and "A " in reply.text and "input" in reply.text
    reply = session.handle(":show LEFT")
    assert reply.ok and "image 128x128" in reply.text and reply.images
    reply = session.handle(":show a")
    assert not reply.ok and "did you mean A" in reply.text


def test_backend_command(session):
    assert "double" in session.handle(":backend").text
    assert not session.handle(":backend nosuch").ok
    assert session.handle(":backend Vqa=double").ok and session.backend == {"Vqa": "double"}
    assert not session.handle(":backend Vqa=nosuch").ok
    assert session.handle(":backend double").ok and session.backend == "double"


def test_commands_help_quit_unknown(session):
    assert ":save" in session.handle(":help").text
    assert session.handle(":quit").quit and session.handle(":q").quit
    assert not session.handle(":frobnicate").ok
    assert session.handle(":prog").ok  # unique prefixes work


class FakePlanner:
    def __init__(self):
        self.calls = []

    def plan(self, instruction, task=None, inputs=None):
        self.calls.append((instruction, inputs))
        return visprog.parse("ANSWER0=Vqa(image=IMAGE, question='How many squares?')")


def test_plan_offers_program_for_editing(session):
    session.planner = FakePlanner()
    reply = session.handle(":plan count the squares")
    assert reply.ok and reply.edit == "ANSWER0=Vqa(image=IMAGE, question='How many squares?')"
    assert session.planner.calls == [("count the squares", ["IMAGE"])]
    assert "ANSWER0" not in session.variables  # nothing runs until the edited text comes back
    assert session.handle(reply.edit).ok and session.variables["ANSWER0"] == "3"


def test_plan_without_planner_says_so(session, monkeypatch):
    import visprog.api

    def none(planner=None, **options):
        raise VisprogError("no planner here")
    monkeypatch.setattr(visprog.api, "as_planner", none)
    reply = session.handle(":plan count the squares")
    assert not reply.ok and "no planner is configured" in reply.text


def test_completions(session):
    session.handle("BOX0=Loc(image=IMAGE, object='x')\nN=Count(box=BOX0)")
    assert ("Loc(", -2, registry.lookup("Loc").summary[:60]) in completions(session, "B=Lo")
    assert [c[0] for c in completions(session, "B=COU")] == ["Count(", "COUNT("] or \
        "Count(" in [c[0] for c in completions(session, "B=COU")]
    assert [c[0] for c in completions(session, "B=Loc(")] == ["image=", "object="]
    assert [c[0] for c in completions(session, "B=Loc(image=IMAGE, ")] == ["object="]
    assert [c[0] for c in completions(session, "B=Select(image=IMAGE, object=")][0] == "BOX0"
    assert [c[0] for c in completions(session, "B=Loc(image=")][0] == "IMAGE"
    assert completions(session, "B=Loc(image=IMAGE, object='do") == []
    assert [c[0] for c in completions(session, ":sa")] == [":save"]
    assert [c[0] for c in completions(session, ":show B")] == ["BOX0"]


def test_value_kinds_and_inline_escapes(tmp_path):
    path = tmp_path / "p.png"
    square_image(1).save(path)
    assert value_kind(Image.open(path)) == "Image" and value_kind(Objects()) == "Objects"
    assert value_kind(["a"]) == "list[str]" and value_kind(3) == "int"
    assert inline_image(path, "iterm").startswith("\x1b]1337;File=")
    assert inline_image(path, "kitty").startswith("\x1b_Ga=T,f=100")


def test_lexer_highlights_a_line():
    from pygments.token import Keyword, Name, String
    from visprog.repl.highlight import program_lexer
    tokens = list(program_lexer()().get_tokens("BOX0=Loc(image=IMAGE, object='dog')"))
    kinds = {text: kind for kind, text in tokens}
    assert kinds["BOX0"] in Name.Variable and kinds["Loc"] in Name.Function
    assert kinds["image"] in Name.Attribute and kinds["'dog'"] in String
    assert list(program_lexer()().get_tokens(":save x"))[0][0] in Keyword


def test_plan_with_an_llm_planner_over_a_fake_chat_model(session):
    import itertools
    pytest.importorskip("langchain_core")
    from visprog.planners import LLMPlanner
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    program = "ANSWER0=Vqa(image=IMAGE, question='How many squares?')\nFINAL=Result(var=ANSWER0)"
    chat = GenericFakeChatModel(messages=itertools.repeat(AIMessage(content=program)))
    session.planner = LLMPlanner(chat, k=0)
    reply = session.handle(":plan how many squares are there?")
    assert reply.ok and reply.edit is not None and "Vqa(" in reply.edit
    assert session.handle(reply.edit).ok and session.result().value == "3"


def test_a_misspelled_backend_fails_when_the_session_starts():
    with pytest.raises(VisprogError, match="unknown backend 'oracel' \\(did you mean 'oracle'\\?\\)"):
        Session(backend="oracel")
