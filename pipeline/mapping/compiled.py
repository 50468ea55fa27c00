"""The compiled config: each value as a leaf, grouped as the body's parts, and a row's reading.

A :class:`_Leaf` is one config value ready for any row: a constant, a bare column read straight
from the cells, or a compiled Jinja2 template. :class:`_Zoom`, :class:`_Broll` and
:class:`_Moment` group them as the body is shaped; a part whose leaves are all constant is
built once per sheet (its ``static``). :class:`_Row` evaluates leaves against one row's cells
and converts them (text, choice, number, flag), recording each problem as a
:class:`~pipeline.mapping.plan.FieldError` instead of raising.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.config import (
    TemplateLimitError,
    bool_problem,
    choices_text,
    number_problem,
    parse_bool,
    parse_number,
    render,
)
from pipeline.mapping.plan import FieldError

# A row's cells to the Jinja2 context its templates render in (the mapper's).
ContextOf = Callable[[Mapping[str, str]], dict[str, Any]]

# --- compiled templates ------------------------------------------------------------------

_CONST, _COLUMN, _TEMPLATE = 0, 1, 2


@dataclass(slots=True)
class _Leaf:
    """One config value, ready to evaluate against a row.

    Most templates are a bare column (``{{ script }}``), read straight from the cells instead
    of through Jinja2: identical output, a fraction of the cost, and this runs per cell.
    """

    kind: int
    value: Any  # the constant, the header, or the compiled Template
    wire: str  # where errors point, as a wire path
    where: str = ""  # where the value is in the config (file:line: yaml.path)
    # A template that reads no column renders alike for every row: once it has passed a limit
    # of the sandbox, the later rows are told so without spending the render again.
    row_free: bool = False
    refused: str | None = None


class _Row:
    """Per-row evaluation state: the cells, a lazily built Jinja2 context, the errors."""

    __slots__ = ("context", "context_of", "errors", "values")

    def __init__(self, context_of: ContextOf, values: Mapping[str, str]) -> None:
        self.context_of = context_of
        self.values = values
        self.context: dict[str, Any] | None = None
        self.errors: list[FieldError] = []

    def raw(self, leaf: _Leaf) -> Any:
        """The leaf's value: a constant as loaded, or the rendered text stripped; None on a
        template error (recorded)."""
        kind = leaf.kind
        if kind == _COLUMN:
            return self.values.get(leaf.value, "").strip()
        if kind == _CONST:
            return leaf.value
        if leaf.refused is not None:
            self.errors.append(FieldError(leaf.wire, leaf.refused, config=leaf.where))
            return None
        if self.context is None:
            self.context = self.context_of(self.values)
        try:
            return render(leaf.value, self.context).strip()
        except TemplateLimitError as exc:
            # The config's doing: said once for it (pipeline.validation), kept by every row.
            message = f"template error: {exc}"
            if leaf.row_free:
                leaf.refused = message
            self.errors.append(FieldError(leaf.wire, message, config=leaf.where))
            return None
        except Exception as exc:  # a row's template failure is that row's error, whatever it is
            self.errors.append(FieldError(leaf.wire, f"template error: {exc}"))
            return None

    def text(self, leaf: _Leaf | None, required: bool = False) -> str | None:
        """Rendered text, or None when blank (an error when ``required``)."""
        if leaf is None:
            return None
        value = self.raw(leaf)
        if value is None:
            return None
        value = str(value)
        if not value:
            if required:
                self.fault(leaf, "is blank")
            return None
        return value

    def fault(self, leaf: _Leaf, message: str) -> None:
        """A problem of this row's value; one of the config when the value is the same on
        every row (a constant, a template that reads no column): said once, for the config,
        by :mod:`pipeline.validation`, not once a row and a moment."""
        alike = leaf.kind == _CONST or leaf.row_free
        self.errors.append(FieldError(leaf.wire, message, config=leaf.where if alike else ""))

    def choice(self, leaf: _Leaf | None, lookup: dict[str, str], required: bool = False) -> Any:
        value = self.text(leaf, required)
        if value is None or leaf is None:
            return None
        canonical = lookup.get(value.lower())
        if canonical is None:
            self.fault(leaf, f"must be one of {choices_text(lookup.values())}, got {value!r}")
        return canonical

    def number(self, leaf: _Leaf | None, required: bool = False) -> int | float | None:
        if leaf is None:
            return None
        value = self.raw(leaf)
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            return value
        if not value:
            if required:
                self.fault(leaf, "is blank")
            return None
        parsed = parse_number(value)
        if parsed is None:
            self.fault(leaf, number_problem(value))
        return parsed

    def flag(self, leaf: _Leaf | None) -> bool | None:
        if leaf is None:
            return None
        value = self.raw(leaf)
        if value is None or isinstance(value, bool):
            return value
        if not value:
            return None
        parsed = parse_bool(value)
        if parsed is None:
            self.errors.append(FieldError(leaf.wire, bool_problem(value)))
        return parsed


_DYNAMIC: Any = object()
"""Marks a part of the body that depends on the row (the opposite: built once, reused)."""


@dataclass(slots=True)
class _Zoom:
    keyframes: list[tuple[_Leaf, _Leaf, list[_Leaf] | _Leaf | None]]
    static: Any = _DYNAMIC


@dataclass(slots=True)
class _Broll:
    type: _Leaf
    fields: list[tuple[str, _Leaf, str]]  # wire name, leaf, conversion: text/flag/layout
    zoom: _Zoom | None
    static: Any = _DYNAMIC


def _constant(*parts: Any) -> bool:
    """Whether every leaf under ``parts`` is a constant, so that part of the body can be
    built once per sheet instead of once per row."""
    for part in parts:
        if part is None:
            continue
        if isinstance(part, _Leaf):
            if part.kind != _CONST:
                return False
        elif isinstance(part, list | tuple):
            if not _constant(*part):
                return False
        elif isinstance(part, _Zoom | _Broll) and part.static is _DYNAMIC:
            return False
    return True


@dataclass(slots=True)
class _Moment:
    index: int
    when: _Leaf | None
    # ("transcript", leaf) and/or ("audioUrl", leaf): with both, each row sends the one that
    # renders non-blank.
    sources: list[tuple[str, _Leaf]]
    avatar: _Leaf
    texts: list[tuple[str, _Leaf]]  # voiceId, voiceModel, gestureSlug
    zoom: _Zoom | None
    broll: _Broll | None
    broll_on_all: bool
