"""The dataset run index: one page per item, an index linking them, failures first."""

import re

from visprog import Obj, Objects, Points, execute
from visprog.rationale import render_value, write_index
from visprog.tools import registry

from vqa_double import square_image


def _reg():
    reg = registry.copy()
    reg.lookup("Vqa").backend("double")(lambda calls, ctx: [str(3) for _ in calls])
    return reg


def test_write_index_links_every_item_failures_first(tmp_path):
    reg = _reg()
    program = "A=Vqa(image=IMAGE, question='How many?')\nB=Eval(expr='{A} + 1')"
    good = execute(program, {"IMAGE": square_image(3)}, registry=reg, backend="double")
    wrong = execute(program, {"IMAGE": square_image(1)}, registry=reg, backend="double")
    results = [
        ("item/1", True, good, {"question": "how many plus one?", "expected": 4}),
        ("item 2", False, wrong, {"question": "q2", "expected": 2}),
        ("item-3", False, "line 1 (Vqa): ToolError: boom\nmore detail"),
        ("item/1", True, good),  # a repeated id still gets its own page
    ]
    index = write_index(results, tmp_path / "run", title="my run")
    assert index == tmp_path / "run" / "index.html"
    page = index.read_text()
    assert "2 of 4 passed" in page and "my run" in page
    links = re.findall(r"href='(items/[^']+)'", page)
    assert len(links) == 4 and len(set(links)) == 4
    for link in links:
        assert (tmp_path / "run" / link).is_file()
    # failures first, in the order given; then passes
    order = [m for m in re.findall(r">(item[^<]*)</a>", page)]
    assert order == ["item 2", "item-3", "item/1", "item/1"]
    assert page.index("fail") < page.index("class='ok'")
    assert "expected" in page and "how many plus one?" in page
    assert "boom" in page
    item_pages = {p.name: p.read_text() for p in (tmp_path / "run" / "items").iterdir()}
    error_page = next(t for t in item_pages.values() if "more detail" in t)
    assert "../index.html" in error_page
    result_page = next(t for t in item_pages.values() if "Eval" in t)
    assert "../index.html" in result_page and "data:image/png;base64," in result_page


def test_write_index_empty(tmp_path):
    page = write_index([], tmp_path).read_text()
    assert "0 of 0 passed" in page


def test_points_and_masks_are_drawn():
    import numpy as np
    image = square_image(2)
    mask = np.zeros((128, 128), bool)
    mask[10:30, 10:30] = True
    html = render_value(Objects([Obj((10, 10, 30, 30), "square", 0.9, mask)]), image)
    assert "data:image/png;base64," in html and "+mask" in html
    html = render_value(Points([(20, 20)]), image)
    assert "data:image/png;base64," in html and "(20, 20)" in html
