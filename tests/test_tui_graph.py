"""The braille chart (no widgets): dots land where the values say, y is fixed 0 … ceiling, stale labels count from now."""

from __future__ import annotations

from dashboard.tui.widgets.braille import Canvas
from dashboard.tui.widgets.token_graph import Series, chart, nice_ticks, tick_label

RED, BLUE = (255, 0, 0), (0, 0, 255)


def test_dots_fill_braille_cells_from_the_bottom_left() -> None:
    canvas = Canvas(2, 1, x_range=(0, 3), y_range=(0, 3))
    canvas.dot(0, 0, RED)  # bottom-left dot of the first cell: dot 7
    canvas.dot(3, 3, BLUE)  # top-right dot of the second cell: dot 4
    assert canvas.rows() == [[("\u2840", RED), ("\u2808", BLUE)]]


def test_a_line_joins_its_points_and_runs_keep_one_colour() -> None:
    canvas = Canvas(4, 2, x_range=(0.0, 1.0), y_range=(0.0, 1.0))
    canvas.plot([0.0, 1.0], [0.0, 1.0], RED)
    rows = canvas.rows()
    assert len(rows) == 2 and all(colour in (RED, None) for row in rows for _, colour in row)
    dots = sum(bin(ord(ch) - 0x2800).count("1") for row in rows for text, _ in row for ch in text if ch != " ")
    assert dots >= 8  # one per pixel column at least: a diagonal across 8 x 8 pixels
    assert rows[1][0][0][0] != " " and rows[0][-1][0][-1] != " "  # from the bottom-left to the top-right


def test_chart_is_fixed_from_zero_to_the_ceiling_and_labels_now() -> None:
    s = Series("alice", ago=[10.0, 5.0, 0.0], tokens=[10, 5, 10], ceiling=10, slot=0)
    lines = chart([s], span=10.0, width=40, height=10).plain.splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("10┤") and lines[-3].startswith(" 0┤")
    assert lines[-1].rstrip().endswith("now") and "-10s" in lines[-1]


def test_stale_chart_counts_from_now() -> None:
    s = Series("alice", ago=[0.0], tokens=[3], ceiling=10, slot=0)
    last = chart([s], span=60.0, width=60, height=8, age=28).plain.splitlines()[-1]
    assert last.rstrip().endswith("-28s") and "now" not in last


def test_ticks() -> None:
    assert nice_ticks(10) == [0, 2, 4, 6, 8, 10]
    assert [tick_label(t) for t in (0, 30, 120, 7200)] == ["now", "-30s", "-2m", "-2h"]


def test_a_preview_is_a_second_dashed_line_in_its_own_tint_on_one_axis_up_to_the_larger_ceiling() -> None:
    from dashboard.tui.colours import SERIES, shadow_colour

    flat = Series("alice", ago=[10.0, 5.0, 0.0], tokens=[0, 0, 0], ceiling=10, slot=0,
                  shadow=[None, 30, 30], shadow_ceiling=40)
    assert flat.top == 40 and flat.shadow_runs() == [([-5.0, 0.0], [30, 30])]
    text = chart([flat], span=10.0, width=41, height=10)
    assert text.plain.splitlines()[0].startswith("40┤")  # the axis runs to the preview's ceiling
    tint = shadow_colour(0)
    assert tint != SERIES[0]
    tinted = "".join(text.plain[span.start:span.end] for span in text.spans if str(span.style) == f"rgb({tint[0]},{tint[1]},{tint[2]})")
    assert tinted  # the preview's line and ceiling are drawn in the tint, not the user's colour

    canvas = Canvas(20, 1, x_range=(0.0, 1.0), y_range=(0.0, 1.0))
    canvas.plot([0.0, 1.0], [0.0, 0.0], RED, dashed=True)
    solid = Canvas(20, 1, x_range=(0.0, 1.0), y_range=(0.0, 1.0))
    solid.plot([0.0, 1.0], [0.0, 0.0], RED)
    dots = lambda c: sum(bin(ord(ch) - 0x2800).count("1") for row in c.rows() for t, _ in row for ch in t if ch != " ")  # noqa: E731
    assert 0 < dots(canvas) < dots(solid)  # dashed: gaps in the same line
