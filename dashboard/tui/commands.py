"""Command palette entries: one per dashboard action, as the bindings allow them right now."""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterator

from textual.command import DiscoveryHit, Hit, Hits, Provider

from dashboard.tui import actions
from dashboard.tui.screens.dashboard import DashboardScreen


class TbdashCommands(Provider):
    """Every action of the action table that `check_action` allows (so none that write in read-only mode)."""

    def _available(self) -> Iterator[tuple[actions.Action, Callable[[], object]]]:
        app = self.app
        dashboard = next((s for s in reversed(app.screen_stack) if isinstance(s, DashboardScreen)), None)
        for action in actions.DASHBOARD:
            if dashboard is None or self.screen is not dashboard:
                break
            if dashboard.check_action(action.name, ()) is not True:
                continue
            yield action, partial(app.run_action, action.name, dashboard)
        for action in actions.APP:
            if action.name == "quit" or (dashboard is not None and self.screen is dashboard and action in actions.DASHBOARD):
                continue  # the system provider has Quit
            if app.check_action(action.name, ()) is not True:
                continue
            yield action, partial(app.run_action, action.name, app)

    async def discover(self) -> Hits:
        for action, run in self._available():
            yield DiscoveryHit(f"{action.title}  ({actions.first_key(action)})", run, help=action.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action, run in self._available():
            label = f"{action.title}  ({actions.first_key(action)})"
            score = matcher.match(f"{action.title} {action.help}")
            if score > 0:
                yield Hit(score, matcher.highlight(label), run, help=action.help, text=label)
