"""An `Input` whose editing keys keep their place among the characters typed.

Textual puts a typed character in the text in the input's own key handler, but
runs a bound key (backspace, the arrows, ctrl+u, enter...) only once the key has
bubbled up to the app, through the queue of every container on the way. Keys
that come together (typed fast, or read at once by a loaded machine) then
apply out of order: backspace ×3 then "40" can leave "4" or nothing, the
backspaces still on their way when the digits were already in (Textual issue
#6605; its pull request #6631 does the same as here). This input runs its own
bindings in its key handler, in the order the keys came.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class OrderedInput(Input):
    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable and await self._run_own_binding(event):
            return
        await super()._on_key(event)

    async def _run_own_binding(self, event: events.Key) -> bool:
        """Run this input's (non-priority) binding of the key now; True if one ran."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority and await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()
                return True
        return False
