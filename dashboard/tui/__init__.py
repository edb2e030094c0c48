"""The Textual dashboard. It talks to Redis only through a `dashboard.core.protocol.Backend`."""

from __future__ import annotations

__all__ = ["TbdashApp"]


def __getattr__(name: str):
    if name == "TbdashApp":
        from dashboard.tui.app import TbdashApp

        return TbdashApp
    raise AttributeError(name)
