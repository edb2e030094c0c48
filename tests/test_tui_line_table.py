"""The line-API table under the bucket table (dashboard/tui/widgets/line_table.py), on its own.

A tiny app holds a `LineTable` over a dict of rows (no Redis here: the bucket
table's poll path is tested against real servers in test_tui_bucket_table.py).
What could go wrong: a change repainting more than its line, a cached strip
shown after its text changed, the cursor leaving the screen or the rows, a
click on the wrong column, stale caches after a resize.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region

from dashboard.tui.widgets.line_table import HEADER, LineTable
from tui_support import repaints

COLUMNS = (("name", 8), ("count", 5))


class Rows(LineTable):
    DEFAULT_CSS = "Rows { height: 1fr; }"

    def __init__(self, rows: dict[str, int]) -> None:
        super().__init__()
        self.data = rows
        self.colours: dict[str, str] = {}  # a row's count in this style (the text stays the same)
        self.asked: list[str] = []  # the rows rendered from their data, in order
        self.events: list[Any] = []

    def on_mount(self) -> None:
        self.set_columns([(key, width, Text(key)) for key, width in COLUMNS])
        self.set_keys(list(self.data))

    def row_cells(self, key: Any) -> list[Text]:
        self.asked.append(key)
        cells = {"name": Text(key), "count": Text(str(self.data[key]).rjust(5), style=self.colours.get(key, ""))}
        return [cells[column] for column in self.column_keys]

    def on_line_table_row_highlighted(self, event: LineTable.RowHighlighted) -> None:
        self.events.append(("highlighted", event.cursor_row))

    def on_line_table_row_selected(self, event: LineTable.RowSelected) -> None:
        self.events.append(("selected", event.cursor_row))

    def on_line_table_header_selected(self, event: LineTable.HeaderSelected) -> None:
        self.events.append(("header", event.column))


class TableApp(App[None]):
    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = {f"r{i:03}": i for i in range(rows)}

    def compose(self) -> ComposeResult:
        yield Rows(self.rows)


def text_of(table: LineTable, y: int) -> str:
    return table.render_line(y).text


async def test_a_change_in_one_row_renders_and_repaints_that_line_only(monkeypatch: Any) -> None:
    app = TableApp(30)
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(Rows)
        await pilot.pause()
        before = {y: t.render_line(y) for y in range(t.size.height)}
        t.data["r002"] = 99
        seen = repaints(t, monkeypatch)
        t.mark_stale()
        t.refresh_visible()
        assert seen == [Region(0, 3, 40, 1)]  # r002 is the third row, under the header
        after = {y: t.render_line(y) for y in range(t.size.height)}
        assert [y for y in after if after[y] is not before[y]] == [3]  # every other line: the same cached strip
        assert "99" in text_of(t, 3)
        t.asked.clear()
        await pilot.pause()  # the repaint itself renders nothing from the data again
        assert t.asked == []


async def test_a_cell_that_changes_colour_only_is_drawn_again() -> None:
    app = TableApp(5)
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(Rows)
        await pilot.pause()
        t.colours["r002"] = "bold red"  # Rich's Text == ignores the base style; the table must not
        t.mark_stale()
        t.refresh_visible()
        assert {s.style.color.name for s in t.render_line(3) if s.text.strip() == "2" and s.style and s.style.color} == {"red"}


async def test_rows_off_screen_are_rendered_only_when_they_come_into_view() -> None:
    app = TableApp(300)
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(Rows)
        await pilot.pause()
        page = t.size.height - 1
        t.asked.clear()
        t.mark_stale()
        t.refresh_visible()
        assert t.asked == list(t.keys[:page])  # the rows on screen, not the 300
        t.move_cursor(row=200)
        await pilot.pause()
        assert t.cursor_row == 200 and "r200" in [text_of(t, y).split()[0] for y in range(1, t.size.height)]
        assert len(t.asked) <= 2 * page


async def test_cursor_keys_stop_at_the_edges_and_keep_the_cursor_on_screen() -> None:
    app = TableApp(40)
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(Rows)
        t.focus()
        await pilot.pause()
        page = t.size.height - 1

        def on_screen() -> bool:
            return int(t.scroll_y) <= t.cursor_row < int(t.scroll_y) + page

        await pilot.press("up")
        assert t.cursor_row == 0 and t.events == []  # already at the top: nothing moved, nothing posted
        await pilot.press("down", "down")
        assert t.cursor_row == 2 and t.events == [("highlighted", 1), ("highlighted", 2)]
        await pilot.press("pagedown")
        assert t.cursor_row == 2 + page and on_screen()
        await pilot.press("end")
        assert t.cursor_row == 39 and on_screen() and int(t.scroll_y) == t.max_scroll_y
        assert text_of(t, t.size.height - 1).split()[0] == "r039"  # the last row sits on the last line
        await pilot.press("down", "pagedown")
        assert t.cursor_row == 39
        await pilot.press("pageup")
        assert t.cursor_row == 39 - page and on_screen()
        await pilot.press("home")
        assert t.cursor_row == 0 and t.scroll_y == 0
        await pilot.press("pageup", "up")
        assert t.cursor_row == 0
        assert text_of(t, 0).split() == ["name", "count"]  # the header stays on top while scrolling


async def test_a_click_on_the_header_names_its_column_and_on_a_row_moves_then_selects() -> None:
    app = TableApp(10)
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(Rows)
        await pilot.pause()
        await pilot.click(Rows, offset=(t.column_x("count") + 1, 0))
        await pilot.click(Rows, offset=(t.column_x("name"), 0))
        await pilot.click(Rows, offset=(35, 0))  # beyond the last column: no column
        assert t.events == [("header", "count"), ("header", "name")]
        t.events.clear()
        await pilot.click(Rows, offset=(3, 4))  # the fourth row
        assert t.cursor_row == 3 and t.events == [("highlighted", 3)]
        await pilot.click(Rows, offset=(3, 4))
        assert t.events == [("highlighted", 3), ("selected", 3)]
        await pilot.click(Rows, offset=(3, 11))  # below the rows: nothing
        assert t.cursor_row == 3 and len(t.events) == 2


async def test_the_cursor_and_the_hover_are_the_row_in_their_style_and_go_with_them() -> None:
    app = TableApp(10)
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(Rows)
        t.focus()
        await pilot.pause()
        cursor = (t.rich_style + t.get_component_rich_style("datatable--cursor")).bgcolor
        hover = (t.rich_style + t.get_component_rich_style("datatable--hover")).bgcolor

        def backgrounds(y: int) -> set[Any]:
            return {segment.style.bgcolor for segment in t.render_line(y) if segment.style}

        assert backgrounds(1) == {cursor} and cursor not in backgrounds(2)
        await pilot.hover(Rows, offset=(3, 3))
        await pilot.pause()
        assert hover in backgrounds(3) and hover not in backgrounds(2)
        await pilot.press("down")  # a key hides the hover (as DataTable's)
        assert backgrounds(2) == {cursor} and hover not in backgrounds(3) and cursor not in backgrounds(1)
        t.data["r001"] = 7
        t.mark_stale()
        t.refresh_visible()
        assert "7" in text_of(t, 2) and backgrounds(2) == {cursor}  # the cursor's strip follows the new text


async def test_a_resize_and_new_columns_draw_every_line_to_the_new_width() -> None:
    app = TableApp(10)
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(Rows)
        await pilot.pause()
        assert {t.render_line(y).cell_length for y in range(t.size.height)} == {40}
        await pilot.resize_terminal(60, 12)
        await pilot.pause()
        assert {t.render_line(y).cell_length for y in range(t.size.height)} == {60}
        t.set_columns([("count", 5, Text("n")), ("name", 8, Text("who"))])
        await pilot.pause()
        assert text_of(t, 0).split() == ["n", "who"] and text_of(t, 1).split() == ["0", "r000"]
        assert t.cell("r000", "count").plain.strip() == "0" and t.cell(HEADER, "name").plain == "who"


async def test_lines_are_kept_for_the_rows_held_only() -> None:
    app = TableApp(50)
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(Rows)
        await pilot.pause()
        for start in range(0, 400, 20):  # rows come and go
            t.data = {f"x{i:03}": i for i in range(start, start + 30)}
            t.set_keys(list(t.data))
            t.mark_stale()
            t.refresh_visible()
            await pilot.pause()
        assert set(t._lines) - {HEADER} <= set(t.keys) and len(t._lines) <= t.size.height


async def test_a_new_theme_or_focus_draws_the_lines_in_the_new_styles() -> None:
    app = TableApp(5)
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(Rows)
        await pilot.pause()

        def drawn() -> set[Any]:
            """The cursor line's looks: background, colour, boldness of its text."""
            return {(s.style.bgcolor, s.style.color, s.style.bold) for s in t.render_line(1) if s.style and s.text.strip()}

        def wanted() -> set[Any]:
            style = t.rich_style + t.get_component_rich_style("datatable--cursor")
            return {(style.bgcolor, style.color, style.bold)}

        assert app.focused is t  # the app focuses it on mount
        focused = drawn()
        assert focused == wanted()
        app.set_focus(None)
        await pilot.pause()
        blurred = drawn()
        assert blurred != focused and blurred == wanted()
        app.theme = "textual-light"
        await pilot.pause()
        assert drawn() not in (focused, blurred) and drawn() == wanted()
