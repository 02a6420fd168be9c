"""108 known sandbox escapes and denial-of-service payloads, as Eval expressions and as answers.

Each must end as a VisprogError or a plain bool/int/float/str, quickly, without running a
command, reading a file, growing memory, or leaking an internal object into a string.
"""

import builtins
import io
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from visprog.errors import VisprogError
from visprog.expr import compile_expr, evaluate
from visprog.program import format_value, parse

from visprog.interpreter import execute

DATA = Path(__file__).resolve().parent / "data"  # copied from shared/security; see data/README.md
LEAKS = ("<function", "<class", "<module", "<built-in", "<bound", "<code", "<frame", " object at 0x")
MB = 1024 * 1024


def load_payloads():
    # split on "\n" only: a payload may hold other characters that str.splitlines() breaks on
    payloads = (DATA / "escape_payloads.txt").read_text(encoding="utf-8").split("\n")
    payloads = payloads[:-1] if payloads[-1] == "" else payloads
    rows = (DATA / "escape_payloads_sources.tsv").read_text(encoding="utf-8").split("\n")[1:]
    categories = {int(r.split("\t")[0]): r.split("\t")[1] for r in rows if r.strip()}
    assert len(payloads) == len(categories) == 108
    return [pytest.param(p, id=f"{n}-{categories[n]}") for n, p in enumerate(payloads, 1)]


PAYLOADS = load_payloads()


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def baseline_rss():
    compile_expr("1")  # build the parsers (they read their grammar files) before watching
    parse("")
    return rss()


@pytest.fixture
def guarded(monkeypatch, baseline_rss):
    """Records any attempt to run a command or open a file; a hard alarm stops a hang."""
    attempts = []

    def record(name):
        def blocked(*args, **kwargs):
            attempts.append((name, args))
            raise PermissionError(f"{name} is blocked in this test")
        return blocked

    for module, name in [(os, "system"), (os, "popen"), (os, "execv"), (os, "execve"), (os, "fork"),
                         (os, "posix_spawn"), (os, "open"), (subprocess, "Popen"),
                         (builtins, "open"), (io, "open")]:
        monkeypatch.setattr(module, name, record(f"{module.__name__}.{name}"))
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("payload took over 10 s"))
    signal.alarm(10)
    yield attempts
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
    monkeypatch.undo()  # before reading /proc
    assert attempts == []
    assert rss() - baseline_rss < 100 * MB


def outcome(payload, run):
    """Run one attempt: a VisprogError or a plain value, within a second, leaking nothing."""
    start = time.perf_counter()
    try:
        result = run()
    except VisprogError:
        result = None
    assert time.perf_counter() - start < 1.0
    if result is None:
        return
    assert type(result) in (bool, int, float, str)
    if isinstance(result, str):
        assert not any(leak in result for leak in LEAKS), result[:200]
        # a dunder name in the result must come from the payload itself, not from Python's internals
        assert set(re.findall(r"__\w+?__", result)) <= set(re.findall(r"__\w+?__", payload))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_as_eval_expression(payload, guarded):
    source = f"A=Eval(expr={format_value(payload)})"
    step = parse(source).steps[0]
    assert step.arg("expr") == payload  # the quoting round-trips exactly
    outcome(payload, lambda: evaluate(step.arg("expr"), {"ANSWER0": "yes", "LEFT": "3"}))
    outcome(payload, lambda: execute(source, {}).value)


@pytest.mark.parametrize("template", ["{A} == 'yes'", "{A}", "{A} + 1", "'x' + {A}",
                                      "'yes' if {A} else 'no'", "len(str({A}))"])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_as_an_answer(payload, template, guarded):
    outcome(payload, lambda: evaluate(template, {"A": payload}))
