"""The data of the fake Google Sheets: :class:`Cell`, :class:`Formula` (a formula cell as tests
give it), :class:`Tab` (a grid of cells, with its row and column edits and its sort) and
:class:`Spreadsheet`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.emulator.sheets.formats import Value, shown_value


@dataclass(frozen=True)
class Formula:
    """A formula cell for :meth:`SheetsWorld.add_spreadsheet`: its text and computed value."""

    text: str
    value: Value = None


@dataclass
class Cell:
    value: Value = None
    formula: str | None = None
    number_format: str | None = None
    link: str | None = None
    bold: bool = False
    background: dict[str, float] | None = None

    @property
    def shown(self) -> str:
        return shown_value(self.value, self.number_format)

    def is_blank(self) -> bool:
        return self.formula is None and self.value in (None, "")


_EMPTY = Cell()


@dataclass
class Tab:
    gid: int
    title: str
    index: int
    rows: int
    columns: int
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)

    def put(self, row: int, col: int, cell: Cell) -> None:
        if cell == _EMPTY:
            self.cells.pop((row, col), None)
        else:
            self.cells[(row, col)] = cell

    def get(self, row: int, col: int) -> Cell:
        return self.cells.get((row, col), _EMPTY)

    def insert(self, rows: bool, start: int, count: int) -> None:
        axis = 0 if rows else 1
        moved = {}
        for key, cell in self.cells.items():
            if key[axis] >= start:
                key = (key[0] + count, key[1]) if rows else (key[0], key[1] + count)
            moved[key] = cell
        self.cells = moved
        if rows:
            self.rows += count
        else:
            self.columns += count

    def delete(self, rows: bool, start: int, end: int) -> None:
        axis, count = (0 if rows else 1), end - start
        kept = {}
        for key, cell in self.cells.items():
            if start <= key[axis] < end:
                continue
            if key[axis] >= end:
                key = (key[0] - count, key[1]) if rows else (key[0], key[1] - count)
            kept[key] = cell
        self.cells = kept
        if rows:
            self.rows -= count
        else:
            self.columns -= count

    def resize(self, rows: int, columns: int) -> None:
        self.rows, self.columns = rows, columns
        self.cells = {k: c for k, c in self.cells.items() if k[0] < rows and k[1] < columns}

    def sort(self, rows: range, cols: range, specs: list[tuple[int, bool]]) -> None:
        """Reorder ``rows``, moving only the cells within ``cols``; blanks sort last."""
        lines = [{c: self.get(r, c) for c in cols} for r in rows]

        def compare(a: dict[int, Cell], b: dict[int, Cell]) -> int:
            for col, descending in specs:
                x, y = a.get(col, _EMPTY), b.get(col, _EMPTY)
                if x.is_blank() or y.is_blank():
                    if x.is_blank() != y.is_blank():
                        return 1 if x.is_blank() else -1
                    continue
                order = _compare_values(x.value, y.value)
                if order:
                    return -order if descending else order
            return 0

        lines.sort(key=functools.cmp_to_key(compare))
        for r, line in zip(rows, lines, strict=True):
            for c, cell in line.items():
                self.put(r, c, cell)

    def grid(self, rows: range, cols: range, render: Callable[[Cell], object]) -> list[list[Any]]:
        """The area as the API answers it: trailing blanks of rows and trailing empty rows cut."""
        out: list[list[Any]] = []
        for r in rows:
            line = [render(self.get(r, c)) for c in cols]
            while line and line[-1] in ("", None):
                line.pop()
            out.append(line)
        while out and not out[-1]:
            out.pop()
        return out


def _compare_values(a: Value, b: Value) -> int:
    # Google orders numbers before text before booleans, text without regard to case.
    def key(v: Value) -> tuple[int, Any]:
        if isinstance(v, bool):
            return (2, v)
        if isinstance(v, float | int):
            return (0, v)
        return (1, str(v).lower())

    x, y = key(a), key(b)
    return (x > y) - (x < y)


@dataclass
class Spreadsheet:
    sid: str
    title: str
    tabs: list[Tab]
    editors: set[str] = field(default_factory=set)
    viewers: set[str] = field(default_factory=set)

    def tab(self, title: str) -> Tab:
        for tab in self.tabs:
            if tab.title == title:
                return tab
        raise KeyError(f"no tab {title!r} in spreadsheet {self.sid!r}")


def to_cell(value: object) -> Cell:
    """A cell from a Python value as :meth:`SheetsWorld.add_spreadsheet` takes them."""
    if isinstance(value, Cell):
        return value  # typed by the caller: a number with its format, a link
    if isinstance(value, Formula):
        return Cell(value=value.value, formula=value.text)
    if value is None or isinstance(value, bool | str):
        return Cell(value=value)
    if isinstance(value, int | float):
        return Cell(value=float(value))
    raise TypeError(f"a cell holds str, number, bool, None, Formula or Cell, not {value!r}")
