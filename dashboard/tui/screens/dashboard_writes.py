"""The main screen's writing actions: each opens its form or question and posts the request up to the app.

The base of `DashboardScreen` (its `check_action`, the state's read-only rule,
lets none of these run in read-only mode); nothing here writes to Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

from dashboard.core.protocol import BucketRow
from dashboard.tui import format as fmt
from dashboard.tui import messages as msg
from dashboard.tui.screens import confirm
from dashboard.tui.screens.confirm import ConfirmModal
from dashboard.tui.screens.edit import open_edit
from dashboard.tui.screens.load import LoadModal

if TYPE_CHECKING:
    from dashboard.tui.state import TuiState
    from limiter.config import BucketConfig


class WriteActions(Screen[None]):
    """Load, edit, reset, defaults, delete, promote and discard for the row under the cursor."""

    state: TuiState
    default: BucketConfig | None  # what `unconfigure` applies, shown in its confirmation

    def _current(self) -> BucketRow | None:
        raise NotImplementedError  # the row under the cursor (DashboardScreen)

    def _bucket(self, user: str) -> BucketRow | None:
        raise NotImplementedError  # a user's row in the table (DashboardScreen)

    def action_load(self) -> None:
        run = self.state.load_run
        if run is not None and run.running:
            self.app.push_screen(LoadModal(self.state, self._bucket(run.spec.user)))
            return
        row = self._current()
        if row is not None:
            self.app.push_screen(LoadModal(self.state, row))

    def action_edit(self) -> None:
        row = self._current()
        if row is None:
            return
        open_edit(self, self.state, row)

    def _confirm_then(self, verb: str, row: BucketRow, question: ConfirmModal) -> None:
        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self.post_message(msg.ChangeRequested(verb, row.user))

        self.app.push_screen(question, decided)

    def action_reset(self) -> None:
        row = self._current()
        if row is not None:
            self._confirm_then("reset", row, confirm.reset_confirmation(row))

    def action_unconfigure(self) -> None:
        row = self._current()
        if row is not None:
            self._confirm_then("unconfigure", row, confirm.unconfigure_confirmation(row, self.default))

    def action_delete(self) -> None:
        row = self._current()
        if row is not None:
            self._confirm_then("delete", row, confirm.delete_confirmation(row))

    def action_promote(self) -> None:
        row = self._in_preview("promote")
        if row is not None:
            self._confirm_then("promote", row, confirm.promote_confirmation(row))

    def action_discard_shadow(self) -> None:
        row = self._in_preview("discard")
        if row is not None:
            self._confirm_then("discard_shadow", row, confirm.discard_confirmation(row))

    def _in_preview(self, verb: str) -> BucketRow | None:
        """The bucket under the cursor if it is in preview; else say there is nothing to ``verb`` (nothing is written)."""
        row = self._current()
        if row is not None and row.shadow is None:
            self.notify(f"{fmt.safe_str(row.user, width=40)} has no preview settings: nothing to {verb}, nothing changed. "
                        "e, then ctrl+t, previews settings.", title="No preview", severity="warning", timeout=4, markup=False)
            return None
        return row
