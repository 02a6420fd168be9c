"""`visprog repl` in a real pseudo-terminal: load, run lines, Tab-complete, diagnose, :save, exec."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pexpect

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def _scene(tmp_path):
    from visprog.iconworld import random_scene, save_png
    image, scene = random_scene(3, n_objects=4, categories=["dog", "cat", "tree"])
    path = tmp_path / "scene.png"
    save_png(image, path)
    return path, scene


def test_repl_in_a_terminal(tmp_path):
    png, scene = _scene(tmp_path)
    category = scene.objects[0].category
    count = sum(o.category == category for o in scene.objects)
    env = dict(os.environ, TERM="xterm", VISPROG_HISTORY=str(tmp_path / "history"),
               VISPROG_INLINE="0", PROMPT_TOOLKIT_NO_CPR="1", PYTHONPATH=str(ROOT), COLUMNS="200", LINES="50")
    env.pop("TERM_PROGRAM", None)
    child = pexpect.spawn(sys.executable, [*["-m", "visprog", "repl"], f"IMAGE={png}", "--backend", "oracle",
                                           "--preview-dir", str(tmp_path / "previews")],
                          env=env, cwd=str(tmp_path), timeout=60, encoding="utf-8",
                          dimensions=(50, 200))
    try:
        child.expect("visprog>")
        child.sendline(f"BOX0=Loc(image=IMAGE, object='{category}')")
        child.expect(r"BOX0 = Objects\[")
        child.expect("preview: ")
        child.expect("visprog>")
        # Tab completes the module name: 'Cou' -> 'Count('
        child.send("ANSWER0=Cou")
        child.send("\t")
        child.send("box=BOX0)\r")
        child.expect(f"ANSWER0 = {count}")
        child.expect("visprog>")
        child.sendline("ANSWER1=Eval(expr='{ANSWER0} * 10')")
        child.expect(f"ANSWER1 = {count * 10}")
        child.expect("visprog>")
        # a bad line: the checker's diagnostic with a caret, and nothing changes
        child.sendline("ANSWER2=Count(box=IMAGE)")
        child.expect("takes Objects")
        child.expect(r"\^")
        child.expect("visprog>")
        child.sendline(":vars")
        child.expect("ANSWER1")
        child.expect("visprog>")
        assert "ANSWER2" not in ANSI.sub("", child.before)
        child.sendline(f":save {tmp_path / 'session.vp'}")
        child.expect("saved 3 line")
        child.expect("visprog>")
        child.sendline(":quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    saved = (tmp_path / "session.vp").read_text()
    assert "ANSWER0=Count(box=BOX0)" in saved
    assert "ANSWER2" not in saved
    proc = subprocess.run([sys.executable, "-m", "visprog",
                           "exec", str(tmp_path / "session.vp"), f"IMAGE={png}",
                           "--backend", "oracle", "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["value"] == count * 10
    assert (tmp_path / "history").read_text().count("ANSWER1=Eval") == 1
