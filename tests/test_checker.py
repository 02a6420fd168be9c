"""The checker: one test per rule, against the default registry unless said otherwise."""

from typing import Any

import pytest

from visprog.checker import Diagnostic, check
from visprog.program import parse
from visprog.registry import Registry


def errors(text, **kw):
    return [d for d in check(text, **kw) if d.severity == "error"]


def one(text, severity="error", **kw):
    found = [d for d in check(text, **kw) if d.severity == severity]
    assert len(found) == 1, found
    return found[0]


def test_a_good_program_is_clean():
    text = """BOX0=LOC(image=IMAGE,object='TOP')
IMAGE0=CROP(image=IMAGE,box=BOX0)
BOX1=Loc(image=IMAGE0, object='vehicle')
ANSWER0=COUNT(box=BOX1)
ANSWER1=EVAL(expr="'yes' if {ANSWER0} > 0 else 'no'")
ANSWER2=Vqa(image=LEFT, question=ANSWER1)
FINAL=RESULT(var=ANSWER2)"""
    assert check(text) == []
    assert check(parse(text)) == []


def test_diagnostic_text():
    assert str(Diagnostic(3, 12, "error", "bad")) == "line 3, column 12: error: bad"


def test_a_syntax_error_is_one_diagnostic():
    assert check("A=Vqa(image=IMAGE question='q')") == [
        Diagnostic(1, 19, "error", "expected ',' or ')' after the argument, found 'question'")]


def test_an_empty_program_is_an_error():
    assert one("# nothing\n").message == "the program has no steps"


def test_unknown_module_suggests_the_closest():
    d = one("A=Loc(image=IMAGE, object='x')\nIMAGE0=CROP_NOT(image=IMAGE, box=A)")
    assert (d.line, d.column) == (2, 8)
    assert d.message == "unknown module 'CROP_NOT'; did you mean 'Crop'?"


def test_unknown_module_still_reports_undefined_variables_and_defines_its_output():
    found = errors("A=Zzzzz(x=NOPE)\nB=Count(box=A)")
    assert [d.message for d in found] == ["unknown module 'Zzzzz'", "'NOPE' is not defined"]


def test_unknown_argument_suggests_the_closest():
    d = one("A=Vqa(image=IMAGE, question='q', questoin='q')")
    assert d.column == 34 and d.message == "Vqa has no argument 'questoin'; did you mean 'question'?"


def test_missing_required_argument():
    d = one("A=Vqa(image=IMAGE)")
    assert (d.line, d.column) == (1, 3) and "Vqa needs argument 'question' (str)" in d.message
    assert errors("L=List(query='colors')") == []  # max has a default


def test_variable_used_before_it_is_defined():
    d = one("A=Count(box=B)\nB=Loc(image=IMAGE, object='dog')")
    assert (d.line, d.column) == (1, 9)
    assert d.message == "'B' is used before it is defined (on line 2)"


def test_result_of_an_undefined_variable():
    d = one("ANSWER0=Vqa(image=IMAGE, question='q')\nFINAL=RESULT(var=ANSWER)")
    assert (d.line, d.column) == (2, 14) and d.message == "'ANSWER' is not defined"


@pytest.mark.parametrize("text, column, words", [
    ("A=Count(box=IMAGE)", 9, "argument 'box' of Count takes Objects | Points, but IMAGE is Image"),
    ("A=Vqa(image='x.png', question='q')", 7, "argument 'image' of Vqa takes Image, but 'x.png' is str"),
    ("A=List(query='x', max='20')", 19, "takes int, but '20' is str"),
    ("A=List(query='x', max=2.5)", 19, "takes int, but 2.5 is float"),
    ("A=List(query='x', max=True)", 19, "takes int, but True is bool"),
    ("A=Classify(image=IMAGE, object=IMAGE, categories=['a'])", 25, "takes Objects, but IMAGE is Image"),
    ("B=Loc(image=IMAGE, object='x')\nA=Classify(image=IMAGE, object=B, categories=[1, 2])", 35,
     "takes list[str] | str, but [1, 2] is list"),
    ("A=Eval(expr='1')\nB=Loc(image=A, object='x')", 7, "takes Image, but A is bool | float | int | str"),
    ("A=Loc(image=IMAGE, object=None)", 20, "takes str, but None is None"),
])
def test_kind_mismatches(text, column, words):
    d = one(text)
    assert (d.line, d.column) == (text.count("\n") + 1, column) and words in d.message


def test_kinds_that_fit():
    assert errors("""B=Loc(image=IMAGE, object='x')
A=Select(image=IMAGE, object=B, query='q', category=None)
L=List(query='x', max=3)
C=Classify(image=IMAGE, object=A, categories=L)
D=Classify(image=IMAGE, object=A, categories='cat,dog')
E=Classify(image=IMAGE, object=A, categories=[])
N=Count(box=C)
Q=Eval(expr='{N} > 1')
V=Vqa(image=IMAGE, question=Q)
R=Result(var=V)
S=Count(box=R)""") == []


def test_an_int_is_accepted_as_a_float():
    registry = Registry()

    @registry.declare(example="A=Scale(factor=2.0)")
    def Scale(factor: float) -> Any:
        """Scale."""

    assert check("A=Scale(factor=2)", registry) == []
    assert one("A=Scale(factor='2')", registry=registry).message.startswith("argument 'factor'")


def test_eval_expressions_are_compiled():
    text = "ANSWER0=Vqa(image=IMAGE, question='q')\nANSWER1=EVAL(expr=\"'yes' if {ANSWER0} > 0 and else 'no'\")"
    d = one(text)
    assert (d.line, d.column) == (2, 14)
    assert d.message == "invalid Eval expression: unexpected 'else' at column 28"
    assert one("A=Eval(expr='__import__(\"os\")')").message.startswith(
        "invalid Eval expression: unknown function '__import__'")


def test_eval_placeholders_must_be_defined_before():
    d = one("A=Eval(expr='{B} + 1')\nB=Eval(expr='2')")
    assert (d.line, d.column) == (1, 8)
    assert d.message == "in the expression, 'B' is used before it is defined (on line 2)"
    assert one("A=Eval(expr='{NOPE}')").message == "in the expression, 'NOPE' is not defined"


def test_eval_placeholders_cannot_be_images():
    d = one("A=Eval(expr='{IMAGE} == 1')")
    assert d.message == "{IMAGE} is Image, which cannot be used in an expression"
    assert errors("B=Loc(image=IMAGE, object='x')\nA=Eval(expr='{B} > 0')") == []


def test_redefinition_is_a_warning():
    d = one("A=Eval(expr='1')\n  A=Eval(expr='2')", severity="warning")
    assert (d.line, d.column) == (2, 3) and d.message == "'A' is redefined (it was line 1)"
    d = one("IMAGE=Crop(image=IMAGE, box=B)", severity="warning", inputs=["IMAGE", "B"])
    assert d.message == "'IMAGE' is redefined (it was an input image)"


def test_more_than_one_result_is_a_warning():
    d = one("A=Eval(expr='1')\nR=Result(var=A)\nS=RESULT(var=A)", severity="warning")
    assert d.line == 3 and "another Result (the first is on line 2)" in d.message


def test_inputs_can_be_named():
    assert check("A=Vqa(image=PHOTO, question='q')", inputs=["PHOTO"]) == []
    assert one("A=Vqa(image=IMAGE, question='q')", inputs=["PHOTO"]).message == "'IMAGE' is not defined"


@pytest.mark.parametrize("text", ["", "\x00", "A=B(", "(((", "A=Eval(expr=1)", "A=Eval(expr=[])",
                                  "A=Result()", "A=Count(box=[1, 'a'])", "A=Eval(expr='{A}')"])
def test_check_never_raises(text):
    assert all(isinstance(d, Diagnostic) for d in check(text))
