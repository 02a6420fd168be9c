"""Regression tests for the fuzz campaign's findings (issue 21) and their variants: each ends
in a VisprogError or a value, quickly and with bounded memory. `benchmarks/fuzz.py` is the
harness that keeps looking."""

import os
import resource
import signal
import time

import pytest

import visprog
from visprog import EvalError, ImageError, ProgramError, VisprogError
from visprog.expr import MAX_STRING, evaluate
from visprog.iconworld.render import random_scene
from visprog.iconworld.tasks.common import normalise
from visprog.images import MAX_BYTES, load_image
from visprog.program import MAX_CHARS, parse
from visprog.registry import MAX_TEXT

MB = 1024 * 1024


@pytest.fixture
def alarm():
    """A hard stop: a regression to quadratic time fails instead of hanging the suite."""
    def fail(*_):
        raise AssertionError("took over 20 s")
    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def scene():
    return random_scene(5, n_objects=4)[0]


# --- 1. Eval limits computed without overflow -----------------------------------------------

HUGE = "99999999999999999999"


@pytest.mark.parametrize("text, value", [
    (f"'' * {HUGE}", ""), (f"'x' * -{HUGE}", ""), (f"{HUGE} * ''", ""), (f"-{HUGE} * 'ab'", ""),
    (f"'' * -{HUGE}", ""), ("'ab' * True", "ab"), ("'ab' * False", ""), ("'x' * 0", ""),
    ("{A} * {N}", ""), ("{N} * {A}", ""),
])
def test_repetition_by_any_count_is_a_value(text, value):
    assert evaluate(text, {"A": "", "N": int(HUGE)}) == value


@pytest.mark.parametrize("text", [
    f"'x' * {HUGE}", f"{HUGE} * 'x'", f"'x' * {MAX_STRING + 1}", f"'xy' * {MAX_STRING // 2 + 1}",
    "{A} * 2", "{A} + {A}", f"{'9' * 99} * {'9' * 99}", f"{'9' * 99} * 100",
    f"-{'9' * 99} * 11", "1e308 * 10", "1e308 + 1e308", "-1e308 - 1e308", "1e308 / 1e-308",
    "1e308 // 1e-308", "int(1e308)", "round(1e308)", "round(1e300, 100) * 1e300", "abs(-1e308) * 2",
    f"float({'9' * 99}) * 1e300", "'x' * 1.5", "{N} * {N}",
])
def test_limits_end_in_eval_error(text):
    with pytest.raises(EvalError):
        evaluate(text, {"A": "x" * MAX_STRING, "N": 10 ** 99 - 1})


# --- 2. every file-system error becomes an ImageError ---------------------------------------

def broken_paths(tmp_path):
    (tmp_path / "folder.png").mkdir()
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    (tmp_path / "file.png").write_bytes(b"not an image")
    return ["a" * 300 + ".png", "a/" * 3000 + "x.png", "nul\x00byte.png", "nope.png",
            str(tmp_path / "folder.png"), str(tmp_path / "pipe.png"), str(tmp_path / "loop.png"),
            str(tmp_path / "file.png" / "x.png"), "/dev/zero", "/proc/self/mem", "", "\udcff.png"]


def test_file_system_errors_are_image_errors(tmp_path, alarm):
    for path in broken_paths(tmp_path):
        with pytest.raises(ImageError, match="image IMAGE"):
            load_image(path, "IMAGE")
        with pytest.raises(ImageError):
            visprog.execute("B=Loc(image=IMAGE, object='dog')", {"IMAGE": path}, backend="oracle")


def test_error_names_a_long_path_briefly():
    with pytest.raises(ImageError) as caught:
        load_image("a" * 5000 + ".png", "IMAGE")
    assert len(str(caught.value)) < 400 and "5004 characters" in str(caught.value)


# --- 3. text handling in linear time --------------------------------------------------------

@pytest.mark.parametrize("unit", ["?", "!", ".", ",", ";", ":", "?!", ". ", " ", "\t", "?x", "a ",
                                  "\n", "x is left of the ", "point to ", "by pointing "])
def test_normalise_is_linear(unit, alarm):
    text = "how many " + unit * (400_000 // len(unit)) + "x"
    start = time.perf_counter()
    normalise(text)
    assert time.perf_counter() - start < 2.0  # quadratic would take hours


@pytest.mark.parametrize("tool, arg", [("Vqa", "question"), ("Loc", "object"), ("Point", "object"),
                                       ("List", "query")])
@pytest.mark.parametrize("unit", ["?", ".", " ", "!", ",", "x is left of the ", "\t"])
def test_longest_text_arguments_run_quickly_on_the_oracle(tool, arg, unit, scene, alarm):
    text = "how many " + unit * ((MAX_TEXT - 10) // len(unit)) + "x"
    image = "" if tool == "List" else "image=IMAGE, "
    start = time.perf_counter()
    try:
        visprog.execute(f"A={tool}({image}{arg}={text!r})", {"IMAGE": scene}, backend="oracle")
    except VisprogError:
        pass
    assert time.perf_counter() - start < 2.0


def test_text_over_the_limit_is_refused_by_the_checker(scene):
    question = "?" * 100_000 + "x"
    diagnostics = visprog.check(f"A=Vqa(image=IMAGE, question={question[:MAX_CHARS - 40]!r})")
    assert any("at most 2,000" in d.message for d in diagnostics)
    with pytest.raises(VisprogError, match="at most 2,000"):  # built at run time: refused then
        visprog.execute("A=Eval(expr=\"'?' * 5000\")\nB=Vqa(image=IMAGE, question=A)",
                        {"IMAGE": scene}, backend="oracle")


def test_run_time_kinds_are_checked(scene):
    with pytest.raises(visprog.ToolError, match="argument 'box' takes Objects, but A is Image"):
        visprog.execute("A=Result(var=IMAGE)\nB=CropLeft(image=IMAGE, box=A)", {"IMAGE": scene})


# --- 4. printer and parser agree ------------------------------------------------------------

@pytest.mark.parametrize("body", [
    "\t" * 60_000, "\x01" * 30_000, "\x7f" * 30_000, "\u200b" * 20_000, "\\n" * 40_000,
    "\\x01" * 20_000, "'" * 30_000, "\\\\" * 30_000, "\u00e9" * 90_000, "\U0001f436" * 90_000,
])
def test_round_trip_of_long_strings(body):
    quote = '"' if "'" in body else "'"
    text = f"A=Vqa(image=IMAGE, question={quote}{body}{quote})"
    try:
        program = parse(text)
    except ProgramError as exc:
        assert "too long" in str(exc)
        return
    assert parse(str(program)) == program


@pytest.mark.parametrize("text", [
    "A=B(x=1,y=2)\n" * 8000, "A=B(x=1.)\n" * 9000, "A=B(x=1e5)\n" * 9000, "A=B(x=[1,2,3])\n" * 6500,
    "A=B(x='''a\nb''')\n" * 5000, "A=B(x=r'\\d')\n" * 8000, "A=B(x=0001)\n" * 9000,
])
def test_round_trip_of_dense_programs(text):
    text = text[:MAX_CHARS]
    text = text[:text.rfind("\n")]
    try:
        program = parse(text)
    except ProgramError as exc:
        assert "too long" in str(exc) or "too many lines" in str(exc)
        return
    assert parse(str(program)) == program


# --- 5. image size checked before reading ---------------------------------------------------

def peak_growth(fn) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before


def test_large_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as f:
        f.truncate(300 * MB)  # sparse

    def refused():
        with pytest.raises(ImageError, match="over the limit"):
            load_image(str(huge), "IMAGE")
    assert peak_growth(refused) < 100 * MB
    monkeypatch.setenv("VISPROG_MAX_IMAGE_BYTES", str(400 * MB))  # allowed: decoded lazily

    def undecodable():
        with pytest.raises(ImageError, match="not an image"):
            load_image(str(huge), "IMAGE")
    assert peak_growth(undecodable) < 100 * MB


def test_byte_limit_applies_to_bytes_and_is_configurable(monkeypatch):
    with pytest.raises(ImageError, match="over the limit"):
        load_image(b"\x00" * (MAX_BYTES + 1), "IMAGE")
    monkeypatch.setenv("VISPROG_MAX_IMAGE_BYTES", "10")
    with pytest.raises(ImageError, match="VISPROG_MAX_IMAGE_BYTES"):
        load_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "IMAGE")
    monkeypatch.setenv("VISPROG_MAX_IMAGE_BYTES", "ten")
    with pytest.raises(ImageError, match="positive whole number"):
        load_image(b"x", "IMAGE")


# --- Result.html() encodes each distinct image once -----------------------------------------

def test_html_encodes_each_image_once(scene, monkeypatch):
    from visprog import rationale
    program = "\n".join(f"B{i}=Loc(image=IMAGE, object='dog')" for i in range(100))
    result = visprog.execute(program, {"IMAGE": scene}, backend="oracle")
    encoded = []
    real = rationale.image_data_uri
    monkeypatch.setattr(rationale, "image_data_uri", lambda im, size: encoded.append(size) or real(im, size))
    page = result.html()
    # the input at two sizes (Inputs, and beside every step), and each step's objects drawn on it
    assert len(encoded) == 2 + 100
    assert page.count("<div class='step'>") == 101


def text_parsers():
    """Every function that runs a regex over user or model text: the planner's task rules and
    request parser, the VQA backends' question forms and answers, pointing, REPL completion."""
    from visprog.backends.vqa import (asked_about, attribute_question, count_target, exists_target,
                                      relation_by_points, short_answer, what_related)
    from visprog.models.llava import pointing_kind, pointing_object
    from visprog.planners.local import parse_request
    from visprog.planners.tasks import rule_task
    from visprog.pointing import parse_count, parse_points
    from visprog.repl.completion import completions
    from visprog.repl.session import Session
    session = Session()
    return [rule_task, parse_request, count_target, exists_target, attribute_question, asked_about, what_related,
            short_answer,
            pointing_kind, pointing_object,
            lambda t: relation_by_points(t, []), lambda t: parse_points(t, 100, 100), parse_count,
            lambda t: completions(session, t)]


@pytest.mark.parametrize("unit", ["on the left ", "find ", " ", "?", ".", "count x", "a", "x=",
                                  "Instruction: x\n", "   \t", "1 ", "<point x="])
def test_other_text_parsers_are_linear(unit, alarm):
    # 50,000 characters: ~10 ms for a linear parser; a backtracking one takes seconds to hours
    for prefix in ("how many ", "is the ", "count ", "A=Loc(", "<point "):
        text = prefix + unit * (50_000 // len(unit)) + "x\n?"
        for fn in text_parsers():
            start = time.perf_counter()
            fn(text)
            assert time.perf_counter() - start < 1.0, (fn, prefix)


def test_instruction_over_the_limit_is_a_planner_error(scene):
    with pytest.raises(visprog.PlannerError, match="at most 2,000"):
        visprog.run("How many dogs? " * 200, {"IMAGE": scene})
