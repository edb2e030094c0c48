"""Hostile user ids never reach the terminal raw: the real `tbdash` in a pty, every screen, the bytes checked.

User ids, audit fields and foreign key names come from production traffic
(tests/hostile_corpus.py: ANSI SGR, OSC title, OSC 52 clipboard, bidi override,
zero-width, NUL, newline, C1, Rich markup and links, bytes that are not UTF-8).
They are written into a real redis-server, then one run of ``tbdash --url``
in a pseudo-terminal (TERM=xterm-256color, 80x24, then resized to 160x45)
visits every screen with them: the table with the cursor on each hostile row,
the graph with them selected, zoom, filter, the invalid-keys panel, the audit
screen, the edit form and its confirmation, the load form and report, the
reset / delete / drop-settings confirmations, help, and the notifications.

Asserted on what reached the terminal: no payload byte sequence in the raw
stream (no OSC title, no OSC 52, no bidi or zero-width character, no NUL, no
SGR of an id, no hyperlink made from markup), no window title set, and the
escaped form visible on the emulated screen wherever the id is shown.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import redis

from hostile_corpus import AUDIT_USER, AUDIT_WHO, FORBIDDEN, HOSTILE_IDS, INVALID_KEY, SHOWN, seed
from pty_terminal import PtyProgram

ALLOWED_OSC = {b"22"}  # Textual's own pointer-shape sequence; nothing else may set terminal state
DETAILS = re.compile(r"╰─+ (.+?) max \d+\+\d+ ·")  # the graph's details line: the bucket under the cursor


def tbdash_command() -> list[str]:
    """The installed `tbdash` console script of this interpreter (the same entry point as ``python -m dashboard``)."""
    script = Path(sys.executable).with_name("tbdash")
    if script.exists():
        return [str(script)]
    found = shutil.which("tbdash")
    return [found] if found else [sys.executable, "-m", "dashboard"]


def escaped(raw: str) -> str:
    return SHOWN[next(name for name, value in HOSTILE_IDS.items() if value == raw)]


class Operator:
    """Drives the dashboard through the pty the way a person at the keyboard would."""

    def __init__(self, program: PtyProgram) -> None:
        self.program = program
        self.order: list[str] = []  # names of the corpus (and "alice") in table order

    def details(self, screen: str) -> str | None:
        match = DETAILS.search(screen)
        return match.group(1) if match else None

    def name_of(self, shown: str) -> str:
        """The corpus name whose escaped id starts the details line (it is clipped to 20 cells)."""
        if shown.startswith("alice"):
            return "alice"
        prefix = shown.rstrip("…")
        return next(name for name, value in SHOWN.items() if value.startswith(prefix))

    def visit_every_row(self, select: bool) -> None:
        """Cursor on each row in turn (each hostile one picked for the graph with space)."""
        p = self.program
        screen = p.wait_for(lambda s: self.details(s) is not None, what="the details line")
        while True:
            current = self.details(screen)
            assert current is not None
            name = self.name_of(current)
            if name in self.order:
                break  # the cursor stayed on the last row
            self.order.append(name)
            if select and name != "alice":
                p.send("space")
                p.wait_for(lambda s: "● " + (SHOWN[name][:8]) in s, what=f"{name} picked for the graph")
            p.send("down")
            if len(self.order) == len(HOSTILE_IDS) + 1:
                break
            screen = p.wait_for(lambda s: self.details(s) not in (None, current), what="the cursor to move")
        assert sorted(self.order) == sorted([*HOSTILE_IDS, "alice"])

    def fill(self, field: str, value: str) -> None:
        """Type ``value`` into the focused form field (whatever it held), and see it there."""
        p = self.program
        p.send(*["backspace"] * 12)
        p.wait_for(lambda s: re.search(rf"{field}\s+✗ ", s) is not None, what=f"{field} emptied (marked wrong)")
        p.send(*value)
        p.wait_for(lambda s: re.search(rf"{field}\s+{re.escape(value)}\s", s) is not None, what=f"{field} = {value}")

    def go_to(self, name: str) -> None:
        """Move the cursor one row at a time (each move seen on screen) until it is on ``name``."""
        p = self.program
        while True:
            shown = p.wait_for(lambda s: self.details(s) is not None, what="the details line")
            here = self.details(shown) or ""
            if self.name_of(here) == name:
                return
            p.send("down" if self.order.index(name) > self.order.index(self.name_of(here)) else "up")
            p.wait_for(lambda s: self.details(s) not in (None, here), what=f"the cursor to move towards {name}")


@pytest.fixture
def hostile_url(redis_server, redis_client: redis.Redis) -> str:
    seed(redis_client)
    return redis_server.url


def test_hostile_ids_never_reach_the_terminal_raw_on_any_screen(hostile_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLORTERM", "TEXTUAL", "NO_COLOR"))}
    env.update(TERM="xterm-256color", LC_ALL="C.UTF-8", LANG="C.UTF-8")
    program = PtyProgram([*tbdash_command(), "--url", hostile_url], size=(80, 24), env=env, cwd=str(tmp_path))
    with program as p:
        op = Operator(p)
        screen = p.wait_for("LIVE", what="the first poll")

        # The main table at 80x24, the cursor on each row; the invalid-keys panel.
        op.visit_every_row(select=True)
        screen = p.wait_for(f"token_bucket:{{{SHOWN['osc-title'][:-1]}inv}}", what="the invalid key, escaped")
        for name, shown in SHOWN.items():
            assert shown[:10] in screen or name in op.order[9:], name  # the first rows are in view, clipped to the column
        # The graph has them picked: its legend names them, escaped.
        assert re.search(r"tokens ● " + re.escape(SHOWN[op.order[0]][:8]), screen) or op.order[0] == "alice"

        # Zoom the graph and back.
        p.send("z")
        p.wait_for(lambda s: "user▲" not in s, what="the zoomed graph")
        p.send("z")
        p.wait_for("user▲", what="the table back")

        # Filter to the SGR id.
        p.send("/")
        p.wait_for(lambda s: "filter users:" in s and "Clear filter" in s, what="the filter bar")
        p.send(*"redu")
        p.wait_for("filter redu 1 match", what="the filter as typed")
        p.send("enter")
        screen = p.wait_for(lambda s: "filter redu 1 match" in s and "Clear filter" not in s, what="the filter kept")
        assert SHOWN["sgr"][:10] in screen
        p.send("/")
        p.wait_for("Clear filter", what="the filter bar")
        p.send("escape")
        p.wait_for(lambda s: "filter redu" not in s, what="the filter cleared")

        # The audit screen: who, action, user and values written by another tool.
        p.send("a")
        screen = p.wait_for("Audit log — 2 changes", what="the audit screen")
        assert "\\x1b]0;PW" in screen and "\\x1b[31mr" in screen and "ad\\u200bm" in screen
        assert "delete…" in screen  # the bidi override escaped, then clipped whole to the column
        assert "[link=x]y[/link]" in screen or "[link=x]" in screen
        p.send("escape")
        p.wait_for("user▲", what="the dashboard")

        # Edit the SGR bucket: the form, its confirmation, the notification.
        op.go_to("sgr")
        p.send("e")
        p.wait_for(f"Edit bucket {SHOWN['sgr']}", what="the edit form")
        op.fill("max_tokens", "30")
        p.wait_for("ceiling 30", what="the preview")
        p.send("ctrl+s")
        p.wait_for(f"Change bucket {SHOWN['sgr']}?", what="the edit confirmation")
        p.send("y")
        screen = p.wait_for("Applied", what="the notification")
        assert "\\x1b[31mredu" in screen

        # The SGR bucket in detail: its id in the title (escaped), its fields, back.
        p.send("enter")
        p.wait_for(lambda s: f"bucket {SHOWN['sgr'][:20]}" in s and "esc Back" in s, what="the detail screen")
        p.wait_for(lambda s: "max_tokens       30" in s and "operator" in s, what="the detail after the edit's poll")
        p.send("escape")
        p.wait_for("user▲", what="the dashboard")

        # Fire load at the OSC-title bucket: the form, the report, the notification.
        op.go_to("osc-title")
        p.send("l")
        p.wait_for(f"Fire load at {SHOWN['osc-title']}", what="the load form")
        op.fill("rate", "40")
        p.send("tab")
        op.fill("duration", "0.3")
        p.send("ctrl+s")
        screen = p.wait_for(lambda s: "Close (esc)" in s and "done" in s, what="the load report")
        assert f"→ {SHOWN['osc-title']}" in screen
        p.wait_for(f"Load on {SHOWN['osc-title']}", what="the load notification")
        p.send("escape")
        p.wait_for(lambda s: "Close (esc)" not in s, what="the load dialog closed")

        # Reset and delete: asked, refused.
        op.go_to("bidi")
        p.send("x")
        p.wait_for(f"Reset bucket {SHOWN['bidi']}?", what="the reset question")
        p.send("n")
        p.wait_for(lambda s: "Reset bucket" not in s, what="the question closed")
        op.go_to("nul")
        p.send("d")
        p.wait_for(f"Delete bucket {SHOWN['nul']}?", what="the delete question")
        p.send("n")
        p.wait_for(lambda s: "Delete bucket" not in s, what="the question closed")
        # Drop the operator settings of the SGR bucket: old → new shown, applied, notified.
        op.go_to("sgr")
        p.send("u")
        screen = p.wait_for(f"Drop operator settings of {SHOWN['sgr']}?", what="the drop-settings question")
        assert re.search(r"max_tokens\s+30\s+→\s+\d+", screen)
        p.send("y")
        p.wait_for(lambda s: re.search(re.escape(SHOWN["sgr"]) + r" max \d+\+\d+ · .* · default", s) is not None, what="the defaults in force")

        # Help.
        p.send("?")
        p.wait_for("Keys", what="the help")
        p.send("escape")
        p.wait_for("user▲", what="the dashboard")

        # 160x45: the ids in full where the column allows, the audit and a dialog again.
        p.resize(160, 45)
        p.wait_for("grant/s", what="the wide layout")
        # Every id, escaped, as far as the wider user column shows it (the table fills its rows as they come into view).
        p.wait_for(lambda s: all(shown[:20] in s for shown in SHOWN.values()), what="every id in the wide table")
        p.send("a")
        # The entries load after the title: wait for them (shown escaped), not just the screen.
        p.wait_for(
            lambda s: "made through tbdash" in s and "\\x1b]0;PWNED\\x07ops@[" in s and SHOWN["sgr"] in s,
            what="the audit screen with its entries, escaped",
        )
        p.send("escape")
        p.wait_for("grant/s", what="the dashboard")
        p.send("l")
        p.wait_for("Fire load at ", what="the load form")
        p.send("escape")
        p.wait_for(lambda s: "Fire load at " not in s, what="the load form closed")

        # Preview settings on the OSC-title bucket (issue 10): the question, the notification, the
        # details line and the promote / discard questions, all with the id escaped.
        op.go_to("osc-title")
        p.send("e")
        p.wait_for(f"Edit bucket {SHOWN['osc-title']}", what="the edit form")
        op.fill("max_tokens", "2")
        p.send("ctrl+t")
        p.wait_for(f"Preview settings on {SHOWN['osc-title']}?", what="the preview question")
        p.send("y")
        screen = p.wait_for(lambda s: "preview settings set" in s and "◐ preview 2/2" in s, what="the preview shown")
        assert SHOWN["osc-title"][:20] in screen
        p.send("P")
        p.wait_for(f"Promote the preview of {SHOWN['osc-title']}?", what="the promote question")
        p.send("n")
        p.wait_for(lambda s: "Promote the preview" not in s, what="the question closed")
        p.send("D")
        p.wait_for(f"Discard the preview of {SHOWN['osc-title']}?", what="the discard question")
        p.send("y")
        p.wait_for(lambda s: "preview settings discarded" in s and "◐ preview" not in s, what="the preview discarded")

        p.send("q")
        assert p.wait_exit() == 0

    raw = bytes(p.raw)
    assert b"\x1b[?2026h" in raw  # synchronized output was in use: every screen read above was a whole frame
    for what, payload in FORBIDDEN.items():
        assert payload not in raw, f"{what} reached the terminal raw"
    oscs = set(re.findall(rb"\x1b\](\d*)", raw))
    assert oscs <= ALLOWED_OSC, f"operating system commands sent: {oscs}"
    assert not [t for t in p.titles if "PWNED" in t or "redu" in t]
    raw.decode("utf-8")  # every byte the terminal got is valid UTF-8 (the id's \xff is shown as an escape)
