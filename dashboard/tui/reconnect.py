"""Noticing a Redis that is back, within about a second, without hammering one that is not.

While the dashboard is disconnected its polls back off (0.5 s … 10 s). Beside
them, every `PROBE_EVERY` s, a bare TCP connect to the server (opened and
closed at once: no command, no AUTH) asks whether anything accepts there.
Only a change from refused to accepted triggers a poll at once: a server that
accepts connections but does not answer (hung, or a proxy in front of a dead
one) is left to the backoff. Addresses that are not one host (a Cluster, a
Sentinel service before its primary is known) are not probed.
"""

from __future__ import annotations

from typing import Callable

from textual.app import App
from textual.timer import Timer

from dashboard.tui.polling import PROBE_EVERY, probe_address, reachable
from dashboard.tui.state import TuiState


class ReconnectProbe:
    def __init__(self, app: App[None], state: TuiState, *, on_back: Callable[[], None]) -> None:
        self.app = app  # for its timers and workers
        self.state = state
        self.on_back = on_back  # poll now
        self._timer: Timer | None = None
        self._address: tuple[str, int] | str | None = None
        self._saw_down = False  # a probe was refused since probing began
        self._in_flight = False
        self.probes = 0  # probes made (for tests and the curious)

    @property
    def active(self) -> bool:
        return self._timer is not None

    def start(self) -> None:
        if self._timer is not None:
            return
        self._address = probe_address(self.state.info.server)
        if self._address is None:
            return
        self._saw_down = False
        self._timer = self.app.set_interval(PROBE_EVERY, self._tick, name="reconnect probe")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _tick(self) -> None:
        state = self.state
        if state.link != "disconnected" or state.paused or self._address is None:
            self.stop()
        elif not self._in_flight:
            self._in_flight = True
            self.app.run_worker(self._probe(self._address), group="probe", exit_on_error=False, description="probe Redis")

    async def _probe(self, address: tuple[str, int] | str) -> None:
        try:
            up = await reachable(address)
        finally:
            self._in_flight = False
            self.probes += 1
        state = self.state
        if not up:
            self._saw_down = True
        elif self._saw_down and state.link == "disconnected" and not state.paused:
            self._saw_down = False
            self.on_back()
