"""Walking the settings models: which type a dotted path names (for env values and "did you mean")."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, SecretStr


def strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def annotation_at(root: type[BaseModel], path: tuple[str | int, ...]) -> Any:
    """The type of the field at ``path`` under ``root``, or None if there is no such field."""
    annotation: Any = root
    for part in path:
        annotation = strip_optional(annotation)
        if isinstance(part, int):
            args = typing.get_args(annotation)
            if typing.get_origin(annotation) is not list or not args:
                return None
            annotation = args[0]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            if field is None:
                return None
            annotation = field.annotation
        else:
            return None
    return annotation


def kind(annotation: Any) -> str:
    """"str" (text as typed), "list", "secret" (exactly as set) or "other"."""
    annotation = strip_optional(annotation)
    if annotation is SecretStr:
        return "secret"
    if annotation in (str, Path) or typing.get_origin(annotation) is Literal:
        return "str"
    if typing.get_origin(annotation) is list:
        return "list"
    return "other"
