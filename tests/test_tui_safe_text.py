"""`format.safe_text` / `safe_str`: how the screens show text tbdash did not write (no Redis needed)."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from dashboard.tui import format as fmt


def rendered(text: Text, width: int = 80) -> str:
    """The bytes a terminal would get for ``text``."""
    console = Console(width=width, force_terminal=True, color_system="truecolor", record=False, file=open("/dev/null", "w"))
    with console.capture() as capture:
        console.print(text, end="")
    return capture.get()


def test_escapes_are_styled_apart_so_a_literal_backslash_cannot_pass_for_one() -> None:
    real = fmt.safe_text("a\x1bb")
    literal = fmt.safe_text("a\\x1bb")
    assert real.plain == literal.plain == "a\\x1bb"
    assert [span.style for span in real.spans if "reverse" in str(span.style)]
    assert not [span for span in literal.spans if "reverse" in str(span.style)]
    assert rendered(real) != rendered(literal)


@pytest.mark.parametrize(
    "raw",
    ["\x1b[31mredu\x1b[0m", "\x1b]0;PWNED\x07x", "\x1b]52;c;UFdORUQ=\x07", "a\u202eb", "a\u200bb", "a\x00b", "a\nb", "a\x9bb"],
)
def test_nothing_that_acts_reaches_the_terminal(raw: str) -> None:
    out = rendered(fmt.safe_text(raw, style="bold"))
    assert "\x07" not in out and "\x00" not in out and "\n" not in out and "\x9b" not in out
    assert "\u202e" not in out and "\u200b" not in out
    assert "\x1b]" not in out and "\x1b[31m" not in out  # only the console's own styling is escape sequences


def test_markup_is_shown_literally() -> None:
    text = fmt.safe_text("[bold red]x[/] [link=https://evil.example]y[/link]")
    assert text.plain == "[bold red]x[/] [link=https://evil.example]y[/link]"
    assert not text.spans or all(span.style in ("",) for span in text.spans)
    assert "\x1b]8;" not in rendered(text)  # no hyperlink


@pytest.mark.parametrize("width", range(0, 14))
def test_clipping_counts_cells_and_never_cuts_an_escape(width: int) -> None:
    for raw in ("用户名用户名", "ab\x1bcdef\u202e", "\x1b]0;PWNED\x07x", "emoji🙂🙂🙂🙂"):
        text = fmt.safe_text(raw, width=width)
        assert text.cell_len <= width
        whole = fmt.safe_text(raw)
        if whole.cell_len <= width:
            assert text.plain == whole.plain
        elif width:
            assert text.plain.endswith("…")
            kept = text.plain[:-1]
            assert whole.plain.startswith(kept)
            # the clip falls between escapes, never inside one ("\x1" could read as another escape)
            assert not kept.endswith(("\\", "\\x", "\\x1", "\\u", "\\u2", "\\u20", "\\u202"))


def test_safe_str_is_plain_and_clipped_by_cells() -> None:
    assert fmt.safe_str("a\x1b]0;t\x07") == "a\\x1b]0;t\\x07"
    clipped = fmt.safe_str("用户名" * 10, width=7)
    assert cell_len(clipped) <= 7 and clipped.endswith("…")
