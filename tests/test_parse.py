"""The program language: parse(), str() and syntax errors."""

import pytest

from visprog.errors import ProgramError
from visprog.program import MAX_CHARS, MAX_LINES, Arg, Program, Step, Var, parse


def only_step(text):
    (step,) = parse(text).steps
    return step


def test_a_step_has_output_module_and_arguments():
    step = only_step("ANSWER0=VQA(image=LEFT,question='Is there a dog?')")
    assert step == Step("ANSWER0", "VQA", (Arg("image", Var("LEFT")), Arg("question", "Is there a dog?")))
    assert step.line == 1
    assert step.text == "ANSWER0=VQA(image=LEFT,question='Is there a dog?')"
    assert [a.column for a in step.args] == [13, 24]
    assert step.arg("image") == Var("LEFT") and step.arg("missing") is None


def test_comments_blank_lines_and_free_whitespace():
    program = parse("""
# a full-line comment

  BOX0 = Loc ( image = IMAGE , object = 'dog' )   # trailing comment
\t
ANSWER0=Count(box=BOX0)# no space before the comment
""")
    assert [s.output for s in program.steps] == ["BOX0", "ANSWER0"]
    assert [s.line for s in program.steps] == [4, 6]
    assert program.steps[0].args[1] == Arg("object", "dog")


def test_empty_text_is_an_empty_program():
    assert parse("") == Program(())
    assert parse("\n# only a comment\n\n") == Program(())


def test_no_arguments_and_trailing_comma():
    assert only_step("OBJ0=FaceDet()").args == ()
    assert only_step("A=B(x=1,)").args == (Arg("x", 1),)


def test_module_name_is_kept_as_written():
    assert only_step("A=vQa(image=IMAGE)").module == "vQa"


def test_crlf_line_endings():
    program = parse("A=B(x=1)\r\nC=D(y='z')\r\n")
    assert [s.line for s in program.steps] == [1, 2]
    assert program.steps[1].arg("y") == "z"


@pytest.mark.parametrize("literal, value", [
    ("'single'", "single"),
    ('"double"', "double"),
    ("'''triple'''", "triple"),
    ('"""triple"""', "triple"),
    ('"it\'s"', "it's"),
    ("'it\\'s'", "it's"),
    ("'say \"hi\"'", 'say "hi"'),
    ("'''it's \"fine\"'''", "it's \"fine\""),
    ("'a\\nb\\tc\\\\d'", "a\nb\tc\\d"),
    ("'\\a\\b\\f\\v\\r'", "\a\b\f\v\r"),
    ("'\\x41\\u00e9\\U0001F600'", "Aé😀"),
    ("'\\101\\0'", "A\0"),
    ("'\\N{BULLET}'", "•"),
    ("'\\d stays'", "\\d stays"),
    ("'café ☕ 日本'", "café ☕ 日本"),
    ("r'raw\\n'", "raw\\n"),
    ("R'\\x41'", "\\x41"),
    ("u'unicode'", "unicode"),
    ("''", ""),
    ('""""""', ""),
    ("'''two\nlines'''", "two\nlines"),
    ("'joined \\\nline'", "joined line"),
])
def test_string_literals(literal, value):
    assert only_step(f"A=B(x={literal})").arg("x") == value


@pytest.mark.parametrize("literal, value", [
    ("0", 0), ("42", 42), ("-7", -7), ("+3", 3), ("2.5", 2.5), ("-0.5", -0.5), (".5", 0.5),
    ("5.", 5.0), ("1e3", 1000.0), ("-1.5E-2", -0.015),
    ("True", True), ("False", False), ("None", None),
    ("['a', 'b']", ["a", "b"]), ("[1, -2.5, None, True, 'x',]", [1, -2.5, None, True, "x"]),
    ("[]", []),
])
def test_number_constant_and_list_literals(literal, value):
    got = only_step(f"A=B(x={literal})").arg("x")
    assert got == value and type(got) is type(value)


def test_multiline_step_keeps_its_lines_and_later_line_numbers():
    program = parse("A=B(x='''one\ntwo''')\nC=D(y=A)")
    assert program.steps[0].text == "A=B(x='''one\ntwo''')"
    assert program.steps[1].line == 3


@pytest.mark.parametrize("text, line, column, words", [
    ("A=B(x=1 y=2)", 1, 9, "expected ',' or ')' after the argument"),
    ("A=B(x=1", 1, 8, "expected ',' or ')' after the argument, found the end of the line"),
    ("A=B(x='unclosed)", 1, 7, "unterminated string literal"),
    ("A=B(x='''unclosed)", 1, 7, "unterminated string literal"),
    ("\n\nA B", 3, 3, "expected '=' after the name"),
    ("A=(x=1)", 1, 3, "expected a module name after '='"),
    ("A=B x=1", 1, 5, "expected '(' after the module name"),
    ("A=B(1)", 1, 5, "expected an argument name or ')'"),
    ("A=B(x=)", 1, 7, "expected a value"),
    ("A=B(x=[1 2])", 1, 10, "expected ',' or ']' in the list"),
    ("A=B(x=[[1]])", 1, 8, "expected a literal"),
    ("A=B(x=1) C", 1, 10, "expected the end of the line after ')'"),
    ("ok=B()\n(", 2, 1, "expected a step"),
    ("A=B(x=@)", 1, 7, "unexpected character '@'"),
    ("A=B(x=1, x=2)", 1, 10, "argument 'x' is given twice"),
    ("A=B(x='\\x4')", 1, 7, "malformed escape"),
    ("A=B(x='\\N{NO SUCH NAME}')", 1, 7, "unknown unicode character name"),
    ("A=B(x=1e999)", 1, 7, "out of range"),
    ("A=B(x=" + "9" * 101 + ")", 1, 7, "more than 100 digits"),
])
def test_syntax_errors_say_what_was_expected_and_where(text, line, column, words):
    with pytest.raises(ProgramError) as caught:
        parse(text)
    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert words in error.message
    source = text.split("\n")[line - 1]
    assert error.source_line == source
    assert f"\n    {source}\n    {' ' * (column - 1)}^" in str(error)


def test_frozen_program_fails_at_the_unescaped_quote():
    text = "ANSWER0=VQA(image=LEFT,question='Does the image have a bag from Disney's Frozen on it?')"
    with pytest.raises(ProgramError) as caught:
        parse(text)
    assert caught.value.line == 1 and caught.value.column == text.index("s Frozen") + 1


def test_input_size_is_bounded():
    with pytest.raises(ProgramError, match="too long"):
        parse("A=B(x='" + "a" * MAX_CHARS + "')")
    with pytest.raises(ProgramError, match="too many lines"):
        parse("\n" * MAX_LINES)


def test_str_prints_one_line_per_step_and_reads_back():
    program = parse("A = vqa( image = IMAGE,question=\"it's\" )  # c\n\nB=Eval(expr='{A} == 1',n=[1, 'a'],f=-2.5)")
    assert str(program) == ("A=vqa(image=IMAGE, question=\"it's\")\n"
                            "B=Eval(expr='{A} == 1', n=[1, 'a'], f=-2.5)")
    assert parse(str(program)) == program


@pytest.mark.parametrize("value", [
    "", "it's", 'say "hi"', "both ' and \"", "back\\slash", "new\nline", "tab\t", "\x00\x7f",
    "é☕😀", "\u200b\ufeff", "\ud800", "'''", '"""', "\\N{BULLET}", "{ANSWER0}",
    0, -1, 10 ** 50, 0.1, -2.5e-300, 1e300, True, False, None, [], ["a", "b"], [1, 2.5, None, "x"],
    Var("IMAGE"),
])
def test_values_round_trip(value):
    program = Program((Step("OUT", "Module", (Arg("a", value), Arg("b", 1))),))
    assert parse(str(program)) == program
    assert str(parse(str(program))) == str(program)
