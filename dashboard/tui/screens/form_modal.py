"""`FormModal`: the look shared by the dashboard's form dialogs (edit settings, fire load)."""

from __future__ import annotations

from typing import TypeVar

from textual.screen import ModalScreen

ResultT = TypeVar("ResultT")


class FormModal(ModalScreen[ResultT]):
    """A centred dialog (``#dialog``) of labelled fields with hints, inline errors and buttons.

    Subclasses set their own widths and border colour; everything else is here.
    """

    DEFAULT_CSS = """
    FormModal {
        align: center middle;
    }
    FormModal > #dialog {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $primary 80%;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    FormModal #about {
        height: auto;
        color: $text-muted;
        margin-bottom: 1;
    }
    FormModal .field {
        height: auto;
    }
    FormModal .field Input {
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    FormModal .field Input:focus {
        background: $primary 30%;
    }
    FormModal .field Input.-invalid {
        background: $error 30%;
    }
    FormModal .hint {
        width: 1fr;
        padding-left: 2;
        color: $text-muted;
    }
    FormModal .error {
        height: auto;
        color: $text-error;
        display: none;
    }
    FormModal .error.-shown {
        display: block;
    }
    FormModal #buttons {
        height: auto;
        margin-top: 1;
        align-horizontal: right;
    }
    """
