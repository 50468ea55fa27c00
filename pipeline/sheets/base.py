"""What the reading and the writing share: the sheet as rows of text, and its one error type.

Every cell is read as the text a person sees: leading zeros and "NA" survive, a whole number
reads "5", a date "2026-03-01", a formula its cached value. Rows keep the numbers the
spreadsheet shows (header row 1, first data row 2; blank rows are skipped but still counted),
so a message about "row 7" points at the row the user sees.

A control character in a cell (NUL, the escape, any C0 code but tab and line breaks) is
refused, by whichever reader the cell came through: it is no text a person typed, and it
would reach the API and the terminal as it is.

Exceptions: every failure the user can fix is a :class:`SheetError` whose message is one line
saying what is wrong and what to do. Nothing from calamine, zipfile or the csv module
escapes this package; a bug in the package itself still surfaces as what it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

OUTPUT_COLUMNS: tuple[str, ...] = (
    "argil_row_key",
    "argil_video_id",
    "argil_status",
    "argil_error",
    "argil_moments",
    "argil_preview_url",
    "argil_video_url",
    "argil_updated_at",
    # Appended after the first eight so that readers of those by position keep working.
    "argil_duration",
)

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".ods")

_ZIP_MAGIC = b"PK\x03\x04"
# Compound File Binary: legacy .xls, and also every password-protected .xlsx.
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class SheetError(Exception):
    """A problem with an input or output sheet; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Row:
    number: int
    """The row number the spreadsheet shows (header is row 1)."""
    values: dict[str, str]
    """Header -> cell text; every header is present ("" for an empty cell)."""


@dataclass
class Sheet:
    path: Path
    kind: str
    """"csv", "xlsx", "xlsm" or "ods"."""
    headers: list[str]
    rows: list[Row]
    sheet_name: str | None = None
    encoding: str | None = None
    """CSV only: "utf-8", "utf-8-sig" (the file starts with a BOM), "cp1252", "utf-16", ..."""
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)
    """Things the user should be told about how the file was read."""
    header_row: int = 1
    """Where the header is (rows above it are blank); a workbook output adds its columns there."""
    columns: dict[str, int] = field(default_factory=dict)
    """Header -> its 0-based column in the file (empty header cells may sit between them);
    empty when the headers are simply the first columns, in order."""


# What no cell's text holds: the C0 controls and DEL. Not tab and the line breaks (\n \r, and
# \v \f, which Word and PowerPoint write for a line break inside a paragraph); not the C1
# controls either, which a file read with --encoding latin-1 holds where the user chose it.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


# --- from records to a table ------------------------------------------------------------


def _column_name(index: int, letters: bool) -> str:
    """How a column is called in messages: "column 3" in CSV, "column C" in a workbook."""
    if not letters:
        return f"column {index + 1}"
    name = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        name = chr(65 + rem) + name
    return f"column {name}"


class _Table(NamedTuple):
    headers: list[str]
    rows: list[Row]
    header_row: int
    columns: dict[str, int]


def _table(where: object, records: Iterable[tuple[int, list[str]]], *, letters: bool) -> _Table:
    """Headers and rows from numbered records: finds the header, checks it, drops blanks."""
    it: Iterator[tuple[int, list[str]]] = iter(records)
    # The header is the first non-blank row; rows above it (a blank top) keep their numbers.
    found = next(((n, cells) for n, cells in it if "".join(cells).strip()), None)
    if found is None:
        raise SheetError(f"{where} is empty; it needs a header row followed by data rows")
    header_number, header_cells = found
    _refuse_controls(where, header_number, header_cells, "".join(header_cells), letters)

    raw = [cell.strip() for cell in header_cells]
    named = [i for i, h in enumerate(raw) if h]
    headers = [raw[i] for i in named]
    width = named[-1] + 1  # empty header cells past the last name are not columns
    gaps = [i for i in range(width) if not raw[i]]

    seen: dict[str, int] = {}
    for i in named:
        first = seen.setdefault(raw[i], i)
        if first != i:
            raise SheetError(
                f"{where}: header {raw[i]!r} appears twice ({_column_name(first, letters)} and "
                f"{_column_name(i, letters)}); rename one of them"
            )

    rows: list[Row] = []
    append = rows.append
    empty = [""] * width
    for number, cells in it:
        joined = "".join(cells)
        if not joined.strip():
            continue
        _refuse_controls(where, number, cells, joined, letters, raw)
        n = len(cells)
        stray = -1
        for i in gaps:
            if i < n and cells[i].strip():
                stray = i
                break
        if stray < 0 and n > width and "".join(cells[width:]).strip():
            stray = next(i for i in range(width, n) if cells[i].strip())
        if stray >= 0:
            raise SheetError(
                f"{where}: {_column_name(stray, letters)} has data (row {number}) but no "
                f"header; add a header in row {header_number} or delete the stray cells"
            )
        if n < width:
            cells = cells + empty[n:]
        if gaps:
            append(Row(number, {raw[i]: cells[i] for i in named}))
        else:
            # zip stops at the last header, past any (empty) trailing cells.
            append(Row(number, dict(zip(headers, cells, strict=False))))
    return _Table(headers, rows, header_number, {raw[i]: i for i in named})


def _refuse_controls(
    where: object,
    number: int,
    cells: list[str],
    joined: str,
    letters: bool,
    headers: list[str] | None = None,
) -> None:
    """SheetError naming the first cell of a row that holds a control character."""
    # Most rows are printable throughout (no line break, tab or odd space): isprintable() says
    # so twice as fast as the search, which counts on every row of a big sheet.
    if joined.isprintable() or not _CONTROL.search(joined):
        return
    for index, cell in enumerate(cells):
        found = _CONTROL.search(cell)
        if found is None:
            continue
        code = ord(found.group())
        column = _column_name(index, letters)
        if headers is not None and index < len(headers) and headers[index]:
            column += f" ({headers[index]})"
        raise SheetError(
            f"{where}: row {number}, {column}: the cell holds the control character "
            f"U+{code:04X}, which is not text; delete it from the cell and retry"
        )
