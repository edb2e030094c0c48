"""`ConfigError` and its lines: ``<source>: <field>: <what is wrong>``, secrets never shown."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from dashboard.connection import redact
from dashboard.settings.fields import annotation_at, strip_optional

Sources = Mapping[tuple[Any, ...], list[str]]


class ConfigError(Exception):
    """Bad configuration: one line per problem, ``<source>: <field>: <what is wrong>``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def problems_of(exc: ValidationError, root: type[BaseModel], sources: Sources, path: Path | None) -> list[str]:
    """One line per pydantic error, naming where its value came from."""
    lines = [problem_line(tuple(e["loc"]), describe_error(e, tuple(e["loc"]), root), sources, path) for e in exc.errors()]
    return list(dict.fromkeys(lines))  # a union can repeat one problem


def problem_line(loc: tuple[Any, ...], problem: str, sources: Sources, path: Path | None) -> str:
    return f"{source_of(loc, sources, path)}: {field_path(loc)}: {problem}"


def source_of(loc: tuple[Any, ...], sources: Sources, path: Path | None) -> str:
    """Where the value at ``loc`` came from: the deepest recorded ancestor's source(s)."""
    for depth in range(len(loc), 0, -1):
        labels = sources.get(tuple(loc[:depth]))
        if labels:
            return " + ".join(labels)
    return os.fspath(path) if path is not None else "built-in defaults"


def field_path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


_SIMPLE = {
    "missing": "is required",
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "literal_error": "must be one of {expected}",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "string_too_long": "must be at most {max_length} characters",
    "list_type": "must be a list (a TOML array)",
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "model_attributes_type": "must be a table",
    "path_type": "must be a file path",
}


class _Ctx(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "None"


def describe_error(error: Mapping[str, Any], loc: tuple[Any, ...], root: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_key(loc, root)
    if kind in ("value_error", "assertion_error"):
        return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    ctx = _Ctx({key: _number(value) for key, value in (error.get("ctx") or {}).items()})
    message = _SIMPLE[kind].format_map(ctx) if kind in _SIMPLE else str(error["msg"])
    if kind != "missing":
        message += _got(error.get("input"), loc)
    return message


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _is_secret(loc: tuple[Any, ...]) -> bool:
    return any(isinstance(p, str) and ("password" in p or "secret" in p) for p in loc)


def _got(value: Any, loc: tuple[Any, ...]) -> str:
    if _is_secret(loc) or isinstance(value, (dict, list)):
        return ""
    text = repr(redact(value) if isinstance(value, str) else value)
    return f" (got {text if len(text) <= 60 else text[:57] + '...'})"


def _unknown_key(loc: tuple[Any, ...], root: type[BaseModel]) -> str:
    parent = strip_optional(annotation_at(root, loc[:-1])) if loc else None
    what = "section" if len(loc) == 1 else "key"
    if not (isinstance(parent, type) and issubclass(parent, BaseModel)):
        return f"unknown {what}"
    allowed = list(parent.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {what}{hint} (allowed: {', '.join(allowed)})"
