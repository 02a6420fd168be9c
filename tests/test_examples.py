"""Every example runs offline; the notebook's code cells run; docs/tools.md is up to date."""

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SKIP = {"main_job.py"}  # the lead runs it separately
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if p.name not in SKIP)

# How each example is run here, as a user would (`python examples/X.py --out DIR ...`), and
# what it must print. `model_backends()` loads the in-repo models, seconds per process; with
# ORACLE (VISPROG_WEIGHTS pointing at an empty folder) it picks the icon-world oracle for every
# model tool instead, so an example runs in about a second and its written program (`--program`)
# must give the exact answer. knowledge_tag runs as shipped: the in-repo planner writes the
# program and the in-repo models run it, so only that an answer came out is checked (the models
# themselves are tested in test_iconworld_backends.py and beside them).
ORACLE = "oracle"
RUNS = {
    "chat_model_planner.py": ([], None, "Are there more cats than dogs? -> yes"),
    "custom_tool.py": ([], None, "did you mean 'Brightness'"),
    "dataset_eval.py": (["--n", "8", "--program"], None, "gqa: 8/8 correct"),
    "gqa_question.py": (["--program"], ORACLE, "Is the cat to the right of the tree? -> yes"),
    "image_edit.py": (["--program", "--edit", "emoji"], ORACLE, "emoji: \"Hide the ninja's face"),
    "knowledge_tag.py": ([], None, "Tag the people in uniform. -> tagged ["),
    "nlvr_pair.py": (["--program"], ORACLE, "'The left and right image contain a total of six people.' -> True"),
}
STEP_LINE = re.compile(r"^[A-Z_]+[0-9]*=[A-Za-z_]+\(.*\)$", re.M)  # a printed program's steps
PAGE_STEP = re.compile(r"<div class='src'>\d+: (.*?)</div>")


def _env(weights=None):
    env = dict(os.environ, MPLBACKEND="Agg")  # no PYTHONPATH: visprog is installed (pip install -e .)
    for name in ("VISPROG_BACKEND", "VISPROG_WEIGHTS", "PYTHONPATH"):
        env.pop(name, None)
    if weights is not None:
        env["VISPROG_WEIGHTS"] = str(weights)
    return env


def test_every_example_is_covered():
    assert sorted(RUNS) == SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script, tmp_path):
    args, backends, expected = RUNS[script]
    out, weights = tmp_path / "out", None
    if backends == ORACLE:
        weights = tmp_path / "no-weights"
        weights.mkdir()
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--out", str(out), *args],
                          capture_output=True, text=True, cwd=tmp_path, env=_env(weights), timeout=300)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert expected in proc.stdout, proc.stdout[-3000:]
    if backends == ORACLE:
        assert "backend iconworld" not in "".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))

    # One rationale page per run, each showing every step of its program and the result.
    pages = [p for p in out.rglob("*.html") if p.name != "index.html"]
    assert pages, f"{script} wrote no rationale page"
    shown = set()
    for page in pages:
        text = page.read_text(encoding="utf-8")
        steps = [html.unescape(s) for s in PAGE_STEP.findall(text)]
        assert steps and "class='step final'>Result: " in text, page.name
        shown.update(steps)
    printed = STEP_LINE.findall(proc.stdout)  # the examples that plan or run one print its program
    assert printed or script in ("custom_tool.py", "dataset_eval.py"), proc.stdout[-3000:]
    assert set(printed) <= shown, set(printed) - shown
    if script == "dataset_eval.py":
        assert len(pages) == 8 and (out / "pages" / "index.html").exists()
    if script == "image_edit.py":  # the edit changed the image
        from PIL import Image, ImageChops
        with Image.open(out / "input.png") as before, Image.open(out / "emoji.png") as after:
            assert ImageChops.difference(before.convert("RGB"), after.convert("RGB")).getbbox()


# Runs the code cells in order, as Jupyter would: when a cell ends in an expression,
# its value is displayed, so objects with _repr_html_ are rendered (and checked) here.
NOTEBOOK_RUNNER = r"""
import ast, json, sys
notebook = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__main__"}
shown = []
for index, cell in enumerate(notebook["cells"]):
    if cell["cell_type"] != "code":
        continue
    source = "".join(cell["source"])
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, f"<cell {index}>", "exec"), namespace)
    if last is not None:
        value = eval(compile(ast.Expression(last.value), f"<cell {index}>", "eval"), namespace)
        if hasattr(value, "_repr_html_"):
            html = value._repr_html_()
            assert html.lstrip().lower().startswith("<!doctype html"), html[:100]
            shown.append(("html", len(html), html.count("data:image/png;base64,")))
        elif hasattr(value, "_repr_png_"):
            shown.append(("png", len(value._repr_png_()), 1))
        else:
            shown.append(("text", repr(value)))
print(json.dumps(shown))
"""


def test_notebook_code_cells_run_and_render_rationales(tmp_path):
    notebook = EXAMPLES / "rationale.ipynb"
    data = json.loads(notebook.read_text(encoding="utf-8"))
    assert data["nbformat"] == 4 and any(c["cell_type"] == "markdown" for c in data["cells"])
    proc = subprocess.run([sys.executable, "-c", NOTEBOOK_RUNNER, str(notebook)], capture_output=True,
                          text=True, cwd=tmp_path, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shown = json.loads(proc.stdout.strip().splitlines()[-1])
    pages = [s for s in shown if s[0] == "html"]
    assert len(pages) >= 2 and all(images >= 2 for _, _, images in pages)


def test_docs_tools_md_is_generated_from_the_registry():
    proc = subprocess.run([sys.executable, "-m", "visprog.docs", "--check"], capture_output=True,
                          text=True, cwd=ROOT, env=_env(), timeout=120)
    assert proc.returncode == 0, (proc.stdout + proc.stderr
                                  + "\nregenerate with: python -m visprog.docs")


def test_docs_render_includes_a_custom_tool():
    from visprog.docs import render_tools_markdown
    from visprog.registry import Image
    from visprog.tools import registry
    reg = registry.copy()

    @reg.tool(example="ANSWER0=Brightness(image=IMAGE)")
    def Brightness(image: Image) -> float:
        """How bright the image is."""
        return 0.5

    text = render_tools_markdown(reg)
    assert "### Brightness" in text and "## Other tools" in text
    assert "`Brightness(image: Image) -> float`" in text
    for tool in registry:
        assert f"### {tool.name}\n" in text and tool.example in text
    assert text == render_tools_markdown(reg)  # deterministic
