"""What the reading and the writing share: the sheet as rows of text, and its one error type.

Every cell is read as the text a person sees: leading zeros and "NA" survive, a whole number
reads "5", a date "2026-03-01", a formula its cached value. Rows keep the numbers the
spreadsheet shows (header row 1, first data row 2; blank rows are not data but still counted),
so a message about "row 7" points at the row the user sees. The header is the first row that
holds text, unless that row is a title (one lone or merged cell) above a row that reads as a
header; ``input.header_row`` says where it is when the guess is wrong.

What the user made beyond the named columns and the data rows (the header as written, unnamed
columns, blank rows, rows above the header, a CSV's own text) is kept in a :class:`Layout`, so
that the output gives every cell back where it was.

A control character in a cell (NUL, the escape, any C0 code but tab and line breaks) is
refused, by whichever reader the cell came through: it is no text a person typed, and it
would reach the API and the terminal as it is.

Exceptions: every failure the user can fix is a :class:`SheetError` whose message is one line
saying what is wrong and what to do. Nothing from calamine, zipfile or the csv module
escapes this package; a bug in the package itself still surfaces as what it is.
"""

from __future__ import annotations

import itertools
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from pipeline.errors import JobError

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
    # The exact price of rendering the row's video (GET /videos/{id}/estimate), and the MP4
    # downloaded (--download): appended likewise.
    "argil_credits",
    "argil_file",
)

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".ods")

_ZIP_MAGIC = b"PK\x03\x04"
# Compound File Binary: legacy .xls, and also every password-protected .xlsx.
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class SheetError(JobError):
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
    """The header's row as the spreadsheet shows it (rows above it are blank, or titles); a
    workbook output writes its result headers on that row."""
    columns: dict[str, int] = field(default_factory=dict)
    """Header -> its 0-based column in the file (empty header cells may sit between them);
    empty when the headers are simply the first columns, in order."""
    layout: Layout | None = None
    """The sheet as the user made it, for the output; None for a sheet built in Python."""
    cell_errors: dict[int, list[CellError]] = field(default_factory=dict)
    """Row number -> the cells of its named columns that hold an error (``#N/A``), which
    read as blank: the row is the user's to fix, not to send."""


@dataclass
class Layout:
    """What the user made beyond the named columns and the data rows, kept so that the output
    gives every cell back in its place (DESIGN: "The user's cells are theirs")."""

    header: list[str]
    """The header row's cells as written: untrimmed, its empty (unnamed) cells kept."""
    width: int
    """How many columns the user's cells span: the result columns come after them."""
    above: list[list[str]] = field(default_factory=list)
    """The rows above the header (titles, blank lines), as written."""
    blank: list[int] = field(default_factory=list)
    """The numbers of the blank rows under the header: never sent, kept in place."""
    counts: dict[int, int] = field(default_factory=dict)
    """CSV: row number -> its number of cells, for the records that have not as many as the
    header (short rows, blank lines)."""
    text: str | None = None
    """CSV: the file's text, which a CSV output in the same delimiter copies record by record,
    so that quoting, spacing and line endings come back as the user's program wrote them."""
    ends: array[int] | None = None
    """CSV: where each record ends in :attr:`text` (record n ends at ``ends[n - 1]``)."""


# What an error value most often means, for the user who has to find its cause.
_ERROR_HINTS = {
    "#N/A": " (a formula that found nothing?)",
    "#REF!": " (a formula whose cells were deleted?)",
    "#DIV/0!": " (a division by zero)",
    "#VALUE!": " (a formula given the wrong kind of value?)",
    "#NAME?": " (a formula naming a function or a range that does not exist?)",
    "#SPILL!": " (a formula whose results have no room?)",
}


@dataclass(frozen=True, slots=True)
class CellError:
    """A workbook cell that holds an error value where a value was meant to be."""

    row: int
    column: int
    """0-based."""
    header: str
    code: str
    """As the spreadsheet shows it: ``#N/A``, ``#REF!``, ``#DIV/0!``..."""

    @property
    def message(self) -> str:
        """``column C (avatar): the cell holds the error #N/A (a formula that found nothing?)``"""
        hint = _ERROR_HINTS.get(self.code.upper(), "")
        column = _column_name(self.column, True)
        return f"{column} ({self.header}): the cell holds the error {self.code}{hint}"

    def __str__(self) -> str:
        return f"row {self.row}, {self.message}"


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
    layout: Layout
    notes: list[str]

    def to_sheet(self, path: Path, kind: str, sheet_name: str | None = None) -> Sheet:
        """The table as the sheet a reader hands back."""
        return Sheet(
            path=path,
            kind=kind,
            headers=self.headers,
            rows=self.rows,
            sheet_name=sheet_name,
            notes=self.notes,
            header_row=self.header_row,
            columns=self.columns,
            layout=self.layout,
        )


# A title and a subtitle at most: a third lone cell in a row is more likely a one-column table.
_MAX_TITLE_ROWS = 2

_Record = tuple[int, list[str]]


def _table(
    where: object,
    records: Iterable[_Record],
    *,
    letters: bool,
    header_row: int | None = None,
    titles: bool = True,
    literal: bool = False,
) -> _Table:
    """Headers and rows from numbered records: finds the header, checks it, sets blanks apart.

    ``header_row`` says where the header is (``input.header_row``); else it is found, under
    title rows when ``titles``. ``literal``: the records are a CSV's, whose every cell counts,
    even an empty one past the last header (a workbook's grid is padded by the reader)."""
    above: list[list[str]] = []
    notes: list[str] = []
    if header_row is None:
        found, title_rows, it = _find_header(iter(records), above, titles)
        if found is None:
            raise SheetError(f"{where} is empty; it needs a header row followed by data rows")
        if title_rows:
            under = "a title row" if title_rows == 1 else f"{title_rows} title rows"
            notes.append(
                f"header found on row {found[0]}, under {under}; if it is elsewhere, set "
                "input.header_row in the config"
            )
    else:
        it = iter(records)
        found = _header_at(where, it, header_row, above)
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

    # The columns the table's cells span: a CSV's every cell (an unnamed trailing column is
    # one), a workbook's up to its last filled cell (its grid is as wide as its widest row).
    # Rows above the header go back as they are: they do not widen the table.
    span = max(len(header_cells) if literal else _extent(header_cells), width)
    header_count = len(header_cells)
    rows: list[Row] = []
    blank: list[int] = []
    counts: dict[int, int] = {}
    append = rows.append
    empty = [""] * width
    for number, cells in it:
        n = len(cells)
        if literal and n != header_count:
            counts[number] = n
            span = max(span, n)
        joined = "".join(cells)
        if not joined.strip():
            blank.append(number)
            continue
        _refuse_controls(where, number, cells, joined, letters, raw)
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
    layout = Layout(
        header=list(header_cells),
        width=span,
        above=above,
        blank=blank,
        counts=counts if literal else {},
    )
    return _Table(headers, rows, header_number, {raw[i]: i for i in named}, layout, notes)


def _extent(cells: list[str]) -> int:
    """1 + the index of the last cell that holds something; 0 for a blank row."""
    for i in range(len(cells) - 1, -1, -1):
        if cells[i].strip():
            return i + 1
    return 0


def _filled(cells: list[str]) -> int:
    return sum(1 for cell in cells if cell.strip())


# A cell that starts like a number (an amount, a date, a count) is data, not a column's name.
_NUMBER_START = re.compile(r"[-+$€£(]*[0-9]")
_LONGEST_NAME = 64


def _reads_as_header(cells: list[str]) -> bool:
    """Names of columns: two or more, all different, short, on one line, none a number."""
    names = [cell.strip() for cell in cells if cell.strip()]
    return (
        len(names) >= 2
        and len(set(names)) == len(names)
        and not any(
            len(name) > _LONGEST_NAME or "\n" in name or _NUMBER_START.match(name) for name in names
        )
    )


def _find_header(
    it: Iterator[_Record], above: list[list[str]], titles: bool
) -> tuple[_Record | None, int, Iterator[_Record]]:
    """The header record, how many title rows are above it, and the records after it; the
    records above it go into ``above``.

    The header is the first record that holds text, unless that one holds a single cell (a
    title, merged across the table or not) and the next one that holds text reads as a
    header (see :func:`_reads_as_header`): then that one, under its title. A one-column
    sheet keeps its first row as its header: no row under it reads as one. Only a sheet that
    could not be read otherwise (its second row would have cells without a header) is read
    another way, and a note says so."""
    head: list[_Record] = []
    filled: list[int] = []  # indexes in head of the records that hold text
    limit = _MAX_TITLE_ROWS + 1 if titles else 1
    for record in it:
        head.append(record)
        count = _filled(record[1])
        if count:
            filled.append(len(head) - 1)
            if count != 1 or len(filled) == limit:
                break
    if not filled:
        above.extend(cells for _, cells in head)
        return None, 0, it
    pick = 0
    for k, index in enumerate(filled):
        cells = head[index][1]
        if k and _reads_as_header(cells):
            pick = k
            break
        if _filled(cells) != 1:
            break
    at = filled[pick]
    above.extend(cells for _, cells in head[:at])
    return head[at], pick, itertools.chain(head[at + 1 :], it)


def _header_at(
    where: object, it: Iterator[_Record], header_row: int, above: list[list[str]]
) -> _Record:
    """The record on ``header_row`` (``input.header_row``); the records above go into
    ``above``. SheetError when that row is blank or missing."""
    for number, cells in it:
        if number == header_row:
            if _filled(cells):
                return number, cells
            break
        above.append(cells)
    else:
        raise SheetError(
            f"{where} has no row {header_row}, where input.header_row puts the header; set it "
            "to the row the header is on"
        )
    raise SheetError(
        f"{where}: row {header_row} is blank, but input.header_row puts the header there; set "
        "it to the row the header is on"
    )


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
