"""Every example runs offline; the notebook's code cells run; docs/tools.md is up to date."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SKIP = {"main_job.py"}  # the lead runs it separately
# Extra arguments that keep an example small; every example takes --out DIR.
ARGS = {"dataset_eval.py": ["--n", "4"]}
# What each example must print (a sign that it did its job, not just exit 0): the right
# answer when it ran its written program; when the default planner wrote the program,
# only that an answer came out (a trained planner may get one wrong).
EXPECT = {
    "custom_tool.py": ("did you mean 'Brightness'", "did you mean 'Brightness'"),
    "nlvr_pair.py": ("-> True", "-> "),
    "gqa_question.py": ("-> 2", "-> "),
    "image_edit.py": ("emoji:", "emoji:"),
    "knowledge_tag.py": ("police officer", "-> tagged"),
    "chat_model_planner.py": ("Are there more cats than dogs? -> yes", "Are there more cats than dogs? -> yes"),
    "dataset_eval.py": ("4/4 correct", "index:"),
}
WRITTEN = ("using the written program", "gold programs")

SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if p.name not in SKIP)


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    env.pop("VISPROG_BACKEND", None)
    return env


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script, tmp_path):
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--out", str(tmp_path),
                           *ARGS.get(script, [])],
                          capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=600)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    if script in EXPECT:
        strict, loose = EXPECT[script]
        planned = not any(w in proc.stdout for w in WRITTEN) and script != "custom_tool.py"
        assert (loose if planned else strict) in proc.stdout, proc.stdout[-3000:]
    assert list(tmp_path.glob("**/*.html")), f"{script} wrote no rationale page"


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
