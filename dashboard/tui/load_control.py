"""The app's side of the load fired from the dashboard: start it, follow its progress, stop it.

A mixin of `TbdashApp` (the controller): the load form posts `LoadRequested`
and `LoadStopRequested`; the worker here posts `LoadProgressed` / `LoadFailed`
back, and the handlers apply them to the state (`TuiState.load_run`).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from textual import work
from textual.app import App

from dashboard.core.protocol import Backend, LoadProgress, LoadSpec, LoadStream
from dashboard.tui import format as fmt
from dashboard.tui import messages as msg
from dashboard.tui.notices import load_ended
from dashboard.tui.polling import describe
from dashboard.tui.state import Change, LoadRun, TuiState


class LoadControl(App[None]):
    state: TuiState
    backend: Backend
    _load_stream: LoadStream | None = None

    def changed(self, change: Change) -> None:  # the app's (it tells the screens)
        raise NotImplementedError

    def poll_now(self) -> None:  # the app's
        raise NotImplementedError

    def on_load_requested(self, message: msg.LoadRequested) -> None:
        state, spec = self.state, message.spec
        if not state.permits("load"):
            return
        if state.load_running:
            self.notify("A load is already running.", severity="warning")
            return
        state.load_run = LoadRun(spec)
        self._load(spec)
        self.changed(Change.LOAD | Change.STATUS)

    def on_load_stop_requested(self, message: msg.LoadStopRequested) -> None:
        """Stop the running load: gracefully first (in-flight requests answer), at once when asked again."""
        run = self.state.load_run
        if run is None or not run.running:
            return
        stream, stopping = self._load_stream, run.stopping
        run.stopping = True
        if stream is not None and not stopping:
            stream.cancel()
        else:
            for worker in self.workers:
                if worker.group == "load" and not worker.is_finished:
                    worker.cancel()
        self.changed(Change.LOAD | Change.STATUS)

    @work(exclusive=True, group="load", exit_on_error=False, description="fire load")
    async def _load(self, spec: LoadSpec) -> None:
        def ended(last: LoadProgress | None, *, cancelled: bool) -> LoadProgress:
            if stream is not None and stream.final is not None:
                return stream.final
            if last is not None:
                return replace(last, done=True, cancelled=cancelled)
            return LoadProgress(spec, 0.0, 0, 0, 0, 0, None, None, 0.0, done=True, cancelled=cancelled)

        stream: LoadStream | None = None
        last: LoadProgress | None = None
        try:
            # Refuses what can never succeed, before any request; the bucket it returns makes the
            # load use the bucket's own stored settings, so a test load never rewrites a service's.
            bucket = await self.backend.check_load(spec)
            stream = self._load_stream = self.backend.load(spec, bucket=bucket)
            async for progress in stream:
                last = progress
                self.post_message(msg.LoadProgressed(progress))
                if progress.done:
                    break
            if last is None or not last.done:
                self.post_message(msg.LoadProgressed(ended(last, cancelled=False)))
        except asyncio.CancelledError:
            self.post_message(msg.LoadProgressed(ended(last, cancelled=True)))
            raise
        except Exception as exc:
            self.post_message(msg.LoadFailed(describe(exc)))
        finally:
            self._load_stream = None
            if stream is not None:
                try:
                    await stream.aclose()
                except Exception:
                    pass

    def on_load_progressed(self, message: msg.LoadProgressed) -> None:
        run = self.state.load_run
        if run is None:
            return
        run.progress = message.progress
        if message.progress.done:
            run.running = False
            self.notify(load_ended(message.progress), title="Load", timeout=6, markup=False)
            self.poll_now()
        self.changed(Change.LOAD | Change.STATUS)

    def on_load_failed(self, message: msg.LoadFailed) -> None:
        run = self.state.load_run
        if run is None:
            return
        run.error = fmt.redact_message(message.error)
        run.running = False
        self.notify(f"Load failed: {fmt.safe_str(run.error)}", severity="error", timeout=8, markup=False)
        self.changed(Change.LOAD | Change.STATUS)
