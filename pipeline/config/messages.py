"""How config problems are worded and located, for the loader and the mapper alike.

:class:`ConfigError` carries every problem found, one line each; :func:`format_path` writes a
location the way messages show it (``moments[0].zoom``), and :func:`_located` prefixes it with
``file:line``. :func:`pydantic_message` turns one pydantic error into a short sentence that says
what to write instead; the mapper uses it for the API models' errors on a row's body too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from pipeline.argil.models import UUID_PATTERN
from pipeline.errors import JobError


class ConfigError(JobError):
    """The config cannot be used. ``problems`` holds one located line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, datetime | date):
        return f"the date {value.isoformat()}"
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def format_path(loc: Sequence[str | int]) -> str:
    """``("moments", 0, "zoom")`` -> ``moments[0].zoom``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(lines: Mapping[tuple[str | int, ...], int], loc: tuple[str | int, ...]) -> int | None:
    for end in range(len(loc), -1, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return None


def _located(
    source: str, lines: Mapping[tuple[str | int, ...], int], loc: tuple[str | int, ...]
) -> str:
    line = _line_of(lines, loc)
    where = f"{source}:{line}" if line is not None else source
    path = format_path(loc)
    return f"{where}: {path}" if path else where


def show_value(value: Any) -> str:
    """A value as messages quote it: 4.0 as 4, text in quotes."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return repr(value[:80] + "…" if len(value) > 80 else value)
    return _describe(value)


_BOUNDS = {
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "greater than"),
}


def pydantic_message(error: Mapping[str, Any]) -> str:
    """A short human message for one pydantic error (without its location)."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = error.get("input")
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"must be {words} {show_value(ctx.get(key))}, got {show_value(got)}"
    if kind in ("enum", "literal_error"):
        return f"must be one of {ctx.get('expected')}, got {show_value(got)}"
    if kind == "union_tag_invalid":
        return f"must be one of {ctx.get('expected_tags')}, got {show_value(ctx.get('tag'))}"
    if kind in ("missing", "union_tag_not_found"):
        return "is required"
    if kind == "extra_forbidden":
        return "is not allowed here"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')}, got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"takes at most {ctx.get('max_length')}, got {ctx.get('actual_length')}"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == UUID_PATTERN:
            return f"must be a UUID, got {show_value(got)}"
        return f"must match {ctx.get('pattern')}, got {show_value(got)}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])
