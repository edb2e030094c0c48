"""The app's side of exports, the clipboard and the theme: files written, the config saved, results notified.

A mixin of `TbdashApp` (the controller): screens post `ExportRequested`,
`ScreenshotRequested` and `CopyRequested` (dashboard/tui/messages.py), and
the handlers here do the writing. Files go to ``[dashboard] export_dir`` (or
the current directory) under new names that never replace a file
(`dashboard.core.export.new_file`); the path is shown in a notification.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, TextIO

from textual import work
from textual.app import App

from dashboard.core import export
from dashboard.tui import format as fmt
from dashboard.tui import messages as msg

EXPORT_STEM = "tbdash-buckets"
SCREENSHOT_STEM = "tbdash-screen"


class ViewsControl(App[None]):
    export_dir: str | os.PathLike[str] = "."
    save_theme: Callable[[str], Path] | None = None  # writes [dashboard] theme; None: nothing is saved
    _theme_saved: str | None = None  # the theme the config holds (nothing is written while it is the one shown)
    _theme_ready = False

    # ---- the theme

    def start_theme(self, wanted: str | None) -> None:
        """The configured theme at start (an unknown name is said, not fatal); later changes are saved."""
        if wanted is not None:
            if wanted in self.available_themes:
                self.theme = wanted
            else:
                self.notify(f"Unknown theme {fmt.safe_str(wanted, width=40)} in [dashboard] theme; "
                            f"the default is used (T lists the themes).", severity="warning", timeout=8, markup=False)
        self._theme_saved = self.theme
        self._theme_ready = True

    def watch_theme(self, name: str) -> None:
        if not self._theme_ready or name == self._theme_saved or self.save_theme is None:
            return
        try:
            path = self.save_theme(name)
        except Exception as exc:  # a config that cannot be written must not end the dashboard
            self.notify(f"Theme {name} not saved: {fmt.safe_str(str(exc))}", severity="error", timeout=8, markup=False)
            return
        self._theme_saved = name
        self.notify(f"Theme {name} saved to {fmt.safe_str(str(path))}.", timeout=4, markup=False)

    # ---- exports

    def on_export_requested(self, message: msg.ExportRequested) -> None:
        rows, about, extras = message.rows, message.about, message.extras
        if message.kind == "csv":
            self._export("CSV", ".csv", len(rows), lambda out: export.write_csv(rows, out, extras=extras))
        else:
            self._export("JSON", ".json", len(rows), lambda out: export.write_json(rows, out, extras=extras, **about))

    def on_screenshot_requested(self, message: msg.ScreenshotRequested) -> None:
        svg = self.export_screenshot()  # now, before the notification below covers a corner
        self._export("Screenshot", ".svg", None, lambda out: out.write(svg), stem=SCREENSHOT_STEM)

    @work(thread=True, group="export", exit_on_error=False, description="export")
    def _export(self, what: str, suffix: str, count: int | None, write: Callable[[TextIO], Any], *, stem: str = EXPORT_STEM) -> None:
        try:
            path = export.export_to(self.export_dir, stem, suffix, write)
        except Exception as exc:
            text = f"{what} not written to {fmt.safe_str(os.fspath(self.export_dir))}: {fmt.safe_str(str(exc))}"
            self.call_from_thread(self.notify, text, title="Export failed", severity="error", timeout=8, markup=False)
            return
        rows = "" if count is None else f" ({count} row{'s' if count != 1 else ''})"
        self.call_from_thread(self.notify, f"{what}{rows}: {fmt.safe_str(str(path.resolve()))}", title="Exported", timeout=6, markup=False)

    # ---- the clipboard

    def on_copy_requested(self, message: msg.CopyRequested) -> None:
        self.copy_to_clipboard(message.text)  # the exact id (OSC 52); shown escaped below
        self.notify(f"Copied {fmt.safe_str(message.text, width=60)} to the clipboard (where the terminal allows OSC 52).", timeout=4, markup=False)
