"""Molmo's pointing format: writing and forgiving parsing; pointing on overlapping crops."""

import pytest

from visprog.pointing import (NONE_TEXT, crop_boxes, format_count, format_points, median_tiling,
                              merge_crop_points, parse_count, parse_percent, parse_points,
                              points_in_boxes)


def test_one_point():
    text = format_points([(157.0, 104.0)], 256, 256, "dog")
    assert text == '<point x="61.3" y="40.6" alt="dog">dog</point>'
    (x, y), = parse_points(text, 256, 256)
    assert abs(x - 157) < 0.2 and abs(y - 104) < 0.2


def test_many_points_sorted_by_x_then_y():
    text = format_points([(100, 50), (20, 90), (20, 10)], 200, 100, "dog", "dogs")
    assert text == ('<points x1="10.0" y1="10.0" x2="10.0" y2="90.0" x3="50.0" y3="50.0" '
                    'alt="dogs">dogs</points>')
    assert parse_points(text, 200, 100) == [(20.0, 10.0), (20.0, 90.0), (100.0, 50.0)]


def test_none():
    assert format_points([], 256, 256, "dogs") == NONE_TEXT
    assert parse_points(NONE_TEXT, 256, 256) == []
    assert parse_count(NONE_TEXT) == 0


def test_molmo_example_and_other_frames():
    text = '<point x="61.5" y="40.6" alt="dog">dog</point>'
    assert parse_points(text, 100, 200) == [(61.5, 81.2)]
    assert parse_percent(text) == [(61.5, 40.6)]


@pytest.mark.parametrize("text, expected", [
    ('<points x1="10" y1="20" x2="30" alt="a">a</points>', [(10.0, 20.0)]),          # x2 has no y2
    ('<points x1="10" y1="20" x2="abc" y2="5" alt="a">a</points>', [(10.0, 20.0)]),  # not a number
    ('<points x1="120.0" y1="20" x2="30" y2="40" alt="a">a</points>', [(30.0, 40.0)]),  # out of range
    ('<point x="-1" y="5">a</point>', []),
    ('<point x="nan" y="5">a</point>', []),
    ('<point x="inf" y="5">a</point>', []),
    ("<point x='12.5' y='7'>a</point>", [(12.5, 7.0)]),                               # single quotes
    ("<point x=12.5 y=7>a</point>", [(12.5, 7.0)]),                                   # unquoted
    ('<POINT X="1" Y="2">a</POINT>', [(1.0, 2.0)]),
    ('<point x="1" y="2"', []),                                                       # unclosed tag
    ('<point y="2" x="1">a</point>', [(1.0, 2.0)]),                                   # order
    ('blah <point x="1" y="2">a</point> and <point x="3" y="4">b</point>', [(1.0, 2.0), (3.0, 4.0)]),
    ("", []),
    (None, []),
    ("There are 3 dogs.", []),
    ('<points x1="100" y1="0" alt="edge">edge</points>', [(100.0, 0.0)]),
])
def test_parse_edge_cases(text, expected):
    assert parse_percent(text) == expected


def test_points_clipped_to_the_image_when_formatting():
    text = format_points([(300, -5)], 256, 256, "x")
    assert parse_percent(text) == [(100.0, 0.0)]


def test_counting_by_pointing():
    text = format_count([(10, 10), (50, 60), (90, 20)], 100, 100, "dog", "dogs")
    assert text.startswith("Counting the <points ") and text.endswith("shows a total of 3.")
    assert parse_count(text) == 3
    assert len(parse_points(text, 100, 100)) == 3
    assert parse_count('<points x1="1" y1="2" x2="3" y2="4">d</points>') == 2
    assert parse_count("I cannot tell.") is None
    assert format_count([], 10, 10, "dog") == NONE_TEXT


def test_molmo2_coords_in_thousandths():
    # Molmo2: coords="<image index> <point index> <x> <y> ...", x and y in thousandths
    text = '<points coords="1 1 946 029">dog</points>'
    assert parse_percent(text) == [(94.6, 2.9)]
    assert parse_points(text, 1000, 500) == [(946.0, 14.5)]
    many = ('Counting the <points alt="dogs" coords="1 1 100 250 2 500 500 3 1000 000">dogs</points> '
            'shows a total of 3.')
    assert parse_points(many, 200, 100) == [(20.0, 25.0), (100.0, 50.0), (200.0, 0.0)]
    assert parse_count(many) == 3
    assert parse_count('<points coords="1 1 100 250 2 500 500">dogs</points>') == 2


@pytest.mark.parametrize("coords, expected", [
    ("1 1 100 200;2 1 300 400", [(10.0, 20.0), (30.0, 40.0)]),        # two images, ';' (html-v2)
    ("1 1 100 200\t2 1 300 400", [(10.0, 20.0), (30.0, 40.0)]),       # two images, tab (html-v1)
    ("0.5 1 100 200", [(10.0, 20.0)]),                                 # a video frame's timestamp
    ("1  1  0100  0200", [(10.0, 20.0)]),                              # extra spaces, 4 digits
    ("1 1 946", []),                                                   # no y
    ("1 1 946 029 2 480", [(94.6, 2.9)]),                              # the second point has no y
    ("1 1 1200 500 2 480 520", [(48.0, 52.0)]),                        # x above 1000
    ("1 1 500 1001", []),                                              # y above 1000
    ("1 1 -100 200 2 480 520", [(48.0, 52.0)]),                        # negative
    ("1 1 -100 200 300 2 480 520", [(48.0, 52.0)]),                    # not 100 200 300
    ("1 1 abc 500 2 480 520", [(48.0, 52.0)]),                         # not a number
    ("1 1 94.6 50.0", []),                                             # not thousandths
    ("1 1 12345 500", []),                                             # part of a longer number
    ("946 029", []),                                                   # no image index
    ("", []),
])
def test_molmo2_malformed_points_are_dropped(coords, expected):
    assert parse_percent(f'<points coords="{coords}">x</points>') == expected


def test_molmo2_unclosed_or_foreign_tags():
    assert parse_percent('<points coords="1 1 946 029') == []           # reply cut short
    assert parse_percent('coords="1 1 946 029"') == []                  # not inside a tag
    assert parse_percent('<points coords1="1 1 946 029">x</points>') == []
    # both formats in one reply, in text order
    assert parse_percent('<point x="1" y="2">a</point> <points coords="1 1 100 200">b</points>') == [
        (1.0, 2.0), (10.0, 20.0)]


def test_crop_boxes_cover_the_image_edge_to_edge():
    assert crop_boxes(256, 256, 1, 1.0) == [(0, 0, 256, 256)]
    boxes = crop_boxes(256, 128, 3, 0.625)
    assert len(boxes) == 9 and boxes[0] == (0, 0, 160, 80) and boxes[-1] == (96, 48, 256, 128)
    assert {b[2] - b[0] for b in boxes} == {160} and {b[3] - b[1] for b in boxes} == {80}
    assert [b[0] for b in boxes[:3]] == [0, 48, 96]


def test_merge_crop_points_drops_inner_edges_and_merges_duplicates():
    boxes = crop_boxes(256, 256, 2, 0.75)  # x and y ranges [0, 192) and [64, 256)
    left, right = boxes[0], boxes[1]
    # one object at (128, 40): both crops see it whole; a cut-off object at the left crop's
    # inner edge (190, 40) is dropped there and found by the right crop; a point at the
    # image's own border (2, 5) is kept
    merged = merge_crop_points(256, 256, [left, right], [[(128, 40), (190, 40), (2, 5)],
                                                         [(129.5, 41), (200, 40)]])
    assert merged == [(2, 5), (128, 40), (200, 40)]
    # points of one crop closer than MERGE_RADIUS are one object too
    assert len(merge_crop_points(256, 256, [(0, 0, 256, 256)], [[(50, 50), (52, 50)]])) == 1


def test_median_tiling():
    assert median_tiling([[(1, 1)] * 5, [(1, 1)] * 6, [(1, 1)] * 5]) == 0
    assert median_tiling([[], [(1, 1)] * 3, [(1, 1)] * 9]) == 1
    assert median_tiling([[(1, 1)]]) == 0


def test_points_in_boxes_pairs_them_off_one_to_one():
    a, b = (0, 0, 10, 10), (5, 0, 20, 10)  # overlapping: (7, 5) is in both, (2, 5) only in a
    assert points_in_boxes([(7, 5), (2, 5)], [a, b])  # greedy would give (7, 5) box a and fail
    assert not points_in_boxes([(7, 5), (8, 5)], [a, (30, 30, 40, 40)])
    assert not points_in_boxes([(2, 5), (3, 5)], [a, b])  # both only in a
    assert not points_in_boxes([(2, 5)], [a, b]) and not points_in_boxes([(2, 5), (7, 5)], [a])
    assert points_in_boxes([], [])
