"""Properties over generated input: only our own errors escape, and programs round-trip."""

from hypothesis import given, settings
from hypothesis import strategies as st

from visprog.checker import Diagnostic, check
from visprog.errors import EvalError, ProgramError
from visprog.expr import evaluate
from visprog.program import Arg, Program, Step, Var, parse
from visprog.tools import registry

SETTINGS = settings(derandomize=True, max_examples=200, deadline=None)

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: n not in ("True", "False", "None"))
scalars = st.one_of(st.text(max_size=20), st.integers(-10 ** 30, 10 ** 30),
                    st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none())
values = st.one_of(scalars, st.lists(scalars, max_size=4), names.map(Var))


@st.composite
def programs(draw, modules=names, arg_names=names):
    steps = []
    for _ in range(draw(st.integers(0, 6))):
        args = draw(st.lists(st.tuples(arg_names, values), max_size=4, unique_by=lambda a: a[0]))
        steps.append(Step(draw(names), draw(modules), tuple(Arg(n, v) for n, v in args)))
    return Program(tuple(steps))


# Program-ish text: fragments of the language glued together, and valid programs with a few
# characters inserted somewhere, so that errors come from every parser state.
fragments = st.sampled_from(["A", "=", "Vqa", "(", ")", ",", "image", "IMAGE", "'q'", '"', "'''",
                             "[", "]", "-1", "2.5e3", "True", "None", "#", "\n", " ", "\\", "é"])
mutated = st.tuples(programs().map(str), st.integers(0, 300), st.text(max_size=3)).map(
    lambda m: m[0][:m[1]] + m[2] + m[0][m[1]:])
program_text = st.one_of(st.text(max_size=200), st.lists(fragments, max_size=40).map("".join), mutated)


@SETTINGS
@given(program_text)
def test_parse_raises_only_program_errors(text):
    try:
        program = parse(text)
    except ProgramError as error:
        assert error.line >= 0 and error.column >= 0
    else:
        assert parse(str(program)) == program


@SETTINGS
@given(programs())
def test_programs_round_trip(program):
    assert parse(str(program)) == program


module_names = st.one_of(st.sampled_from([n for t in registry for n in (t.name, *t.aliases)]), names)
param_names = st.one_of(st.sampled_from(sorted({p.name for t in registry for p in t.params})), names)


@SETTINGS
@given(programs(module_names, param_names), st.lists(names, max_size=3))
def test_check_never_raises(program, inputs):
    for diagnostics in (check(program, inputs=inputs), check(str(program))):
        assert all(isinstance(d, Diagnostic) for d in diagnostics)


# Expression-ish text: a small grammar that also produces things the language refuses.
atoms = st.one_of(st.integers(-10 ** 6, 10 ** 6).map(str), st.floats(allow_nan=False).map(repr),
                  st.text(max_size=8).map(repr), st.sampled_from(["{A}", "{B}", "{C}", "True",
                                                                  "None", "x", "''", "{}"]))
operators = st.sampled_from([" + ", " - ", " * ", " / ", " // ", " % ", " ** ", " == ", " < ", " >= ",
                             " and ", " or ", " xor ", " if 1 else ", ".", "[0]", ", "])
expressions = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.tuples(inner, operators, inner).map("".join),
        inner.map(lambda e: f"({e})"),
        inner.map(lambda e: f"not {e}"),
        inner.map(lambda e: f"-{e}"),
        st.tuples(st.sampled_from(["len", "min", "max", "abs", "int", "float", "str", "round",
                                   "bool", "eval"]), st.lists(inner, max_size=3))
        .map(lambda c: f"{c[0]}({', '.join(c[1])})"),
    ),
    max_leaves=12,
)
bound = st.one_of(scalars, st.sampled_from(["yes", "No", "three", " 4 ", "1e400", "nan"]),
                  st.lists(st.integers(), max_size=3), st.builds(object))


@SETTINGS
@given(st.one_of(expressions, st.text(max_size=60)),
       st.dictionaries(st.sampled_from(["A", "B", "C"]), bound))
def test_evaluate_raises_only_eval_errors(text, variables):
    try:
        result = evaluate(text, variables)
    except EvalError:
        return
    assert type(result) in (bool, int, float, str)
