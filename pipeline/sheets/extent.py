"""The guard against workbooks built to exhaust memory, run before calamine reads one."""

from __future__ import annotations

import contextlib
import functools
import io
import re
import xml.parsers.expat
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from pipeline.sheets.base import SheetError

# calamine reads a sheet's XML whole into memory, then builds a dense grid from its first to its
# last cell: a 2 KB file naming cell XFD1048576 asks for half a terabyte and the process aborts
# (no exception to catch), a small zip can inflate to gigabytes, and ODS repeats a cell by
# count. So the parts are scanned first, streamed. Regular expressions on the XML every known
# writer produces (<row r="7"><c r="B7" ...>) are three times faster than an XML parser;
# anything written otherwise takes the exact path, through expat.
# All the entries of a workbook, uncompressed. A real sheet of 100,000 leads, each with a script
# of some 850 characters (a minute of speech), unpacks to about 144 MiB (1.5 KB a row, measured
# on one written by openpyxl); 256 MiB leaves room for scripts twice as long. calamine takes
# about twice the size in memory and a minute a gigabyte, so a zip bomb of 0.95 GiB took 62 s
# and 2 GB; now it is refused before any of it is unpacked. A bigger sheet reads as CSV.
_MAX_UNZIPPED_BYTES = 256 << 20
_MAX_GRID_CELLS = 10_000_000  # rows x columns spanned by one sheet
_SCAN_PIECE = 1 << 23
# One match per row or cell tag; the group is empty when the tag is not written the plain way.
_ROW_TAG = re.compile(rb'<row(?=[\s/>])(?: r="([0-9]+)"(?=[\s/>]))?')
_CELL_TAG = re.compile(rb'<c(?=[\s/>])(?: r="([A-Z]+)[0-9]+"(?=[\s/>]))?')
# A cell below every row seen so far (%s: the pattern of the numbers above the last row).
_CELL_BELOW = rb'<c r="[A-Z]+%s"'
_PREFIX_HINT = re.compile(rb":(?:c|row)[\s/>]")
_PREFIXED_TAG = re.compile(rb"<[^\s<>/!?:]+:(?:c|row)[\s/>]")
_CELL_REF = re.compile(r"([A-Za-z]+)([0-9]+)")
# Attribute values may hold ">" (XML allows it), hence the quoted alternatives; never "<",
# which keeps a tag left open from making every later match scan to the end (quadratic).
_ODS_TAG = re.compile(
    rb"<table:(table|table-row|table-cell|covered-table-cell)(?=[\s/>])"
    rb"""((?:[^<>"']|"[^<"]*"|'[^<']*')*?)(/?)>"""
)
_ODS_REPEAT = re.compile(rb"""table:number-(?:rows|columns)-repeated\s*=\s*["']([0-9]+)""")


def _check_extent(path: Path, data: bytes, kind: str) -> None:
    """SheetError when reading the workbook would take far more memory than its data needs."""
    damaged = SheetError(
        f"{path} cannot be read as a .{kind} workbook (a damaged zip); open it in its "
        f"program and save it as .{kind} again"
    )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # zipfile raises many types on a damaged archive; all mean the same
        raise damaged from None
    # Every entry counts: calamine reads more than the XML parts (an ODS's mimetype, say).
    unzipped = sum(info.file_size for info in archive.infolist())
    if unzipped > _MAX_UNZIPPED_BYTES:
        raise SheetError(
            f"{path} unpacks to {unzipped / (1 << 20):,.0f} MiB, more than the "
            f"{_MAX_UNZIPPED_BYTES >> 20} MiB allowed for a workbook (a zip bomb?); if the "
            "sheet is genuine, save it as CSV UTF-8 and pass the .csv file"
        )
    scan = _ods_extent if kind == "ods" else _xlsx_extent
    rows = columns = 0
    for info in archive.infolist():
        if not info.filename.lower().endswith((".xml", ".rels")):
            continue
        try:
            part_rows, part_columns = scan(functools.partial(archive.open, info))
        except _Damaged:
            # Whatever calamine would make of a part that cannot be checked, it is not read.
            raise damaged from None
        except _DeclaresDtd:
            part = info.filename.rpartition("/")[2]
            raise SheetError(
                f"{path}: the workbook's {part} declares a DTD (<!DOCTYPE or <!ENTITY), which "
                "is refused for safety; open it in Excel or LibreOffice and save it as "
                f".{kind} again, or save it as CSV"
            ) from None
        if part_rows * part_columns > rows * columns:
            rows, columns = part_rows, part_columns
    if rows * columns > _MAX_GRID_CELLS:
        raise SheetError(
            f"{path}: a sheet spans {rows:,} rows by {columns:,} columns, more than "
            f"{_MAX_GRID_CELLS:,} cells; delete the stray cells far from the data, or save "
            "the sheet as .csv and retry"
        )


class _Damaged(Exception):
    """A part of the archive cannot be decompressed."""


class _DeclaresDtd(Exception):
    """A part declares a DTD: its entities could expand to gigabytes (a billion laughs) or
    name a file to read (XXE). No spreadsheet program writes one."""


# calamine refuses a DTD too, but says "Cannot detect file format" or "unrecognized entity",
# which sends the user looking for another fault. There is no "<" inside the marker, so no
# piece ever splits it.
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _without_dtd(piece: bytes) -> bytes:
    if _DTD.search(piece):
        raise _DeclaresDtd
    return piece


def _pieces(open_part: Callable[[], IO[bytes]]) -> Iterator[bytes]:
    """The part in pieces of at least _SCAN_PIECE bytes, each cut before a tag, so that no
    tag is ever split (a tag holds no "<": whatever its length, it ends in the same piece).
    _DeclaresDtd if the part declares a DTD."""
    pending: list[bytes] = []
    try:
        stream = open_part()
    except Exception as exc:  # as above: bad CRC, unknown method, encryption, bad offsets...
        raise _Damaged from exc
    with stream:
        while True:
            try:
                block = stream.read(_SCAN_PIECE)
            except Exception as exc:
                raise _Damaged from exc
            if not block:
                break
            cut = block.rfind(b"<")
            if cut < 0:
                pending.append(block)
                continue
            pending.append(block[:cut])
            yield _without_dtd(b"".join(pending))
            pending = [block[cut:]]
    if pending:
        yield _without_dtd(b"".join(pending))


def _column_number(letters: str) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number


def _above(limit: int) -> bytes:
    """A pattern of the digit strings greater than ``limit``, or longer (leading zeros)."""
    digits = str(limit).encode()
    options = [rb"[0-9]{%d,}" % (len(digits) + 1)]
    for i, char in enumerate(digits):
        if char != ord("9"):
            options.append(digits[:i] + rb"[%c-9][0-9]{%d}" % (char + 1, len(digits) - i - 1))
    return b"(?:" + b"|".join(options) + b")"


def _xlsx_extent(open_part: Callable[[], IO[bytes]]) -> tuple[int, int]:
    """(rows, columns) of the grid calamine would build from this part, or more."""
    rows = columns = 0
    for piece in _pieces(open_part):
        numbers = set(_ROW_TAG.findall(piece))
        letters = set(_CELL_TAG.findall(piece))
        if (
            b"" in numbers
            or b"" in letters
            or (_PREFIX_HINT.search(piece) and _PREFIXED_TAG.search(piece))
        ):
            return _xlsx_extent_exact(open_part)
        if numbers:
            rows = max(rows, *map(int, numbers))
        if re.search(_CELL_BELOW % _above(rows), piece):
            return _xlsx_extent_exact(open_part)
        if letters:
            columns = max(columns, *(_column_number(c.decode()) for c in letters))
    return rows, columns


class _Stop(Exception):
    pass


def _xlsx_extent_exact(open_part: Callable[[], IO[bytes]]) -> tuple[int, int]:
    """As calamine places cells: a row without r follows the previous row, a cell without r
    follows the previous cell of its row."""
    rows = columns = row = column = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal rows, columns, row, column
        local = name.rpartition(":")[2]
        if local == "row":
            ref = attributes.get("r", "").strip()
            row = int(ref) if ref.isascii() and ref.isdigit() else row + 1
            rows, column = max(rows, row), 0
        elif local == "c":
            match = _CELL_REF.fullmatch(attributes.get("r", "").strip())
            if match:
                column = _column_number(match[1])
                rows = max(rows, int(match[2]))
            else:
                column += 1
            columns = max(columns, column)

    def no_entities(*_: object) -> None:
        raise _Stop  # calamine refuses entities too; what was seen so far is the extent

    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EntityDeclHandler = no_entities
    # LookupError: a declaration naming an encoding Python does not know ("UTA-8"): the
    # reading that follows says what is wrong with the file.
    with contextlib.suppress(_Stop, xml.parsers.expat.ExpatError, LookupError):
        for piece in _pieces(open_part):
            parser.Parse(piece, False)
        parser.Parse(b"", True)
    return rows, columns


def _ods_extent(open_part: Callable[[], IO[bytes]]) -> tuple[int, int]:
    """(rows, columns) spanned by the cells that hold something, in the largest table.

    ODS repeats rows and cells by count (LibreOffice ends each sheet with a million empty rows
    that way); only the repeats of cells with content make calamine's grid grow."""
    worst = (0, 0)
    rows = columns = before = repeat = position = used = 0

    def end_row() -> None:
        nonlocal rows, columns, before, position, used
        if used:
            rows, columns = before + repeat, max(columns, used)
        before += repeat
        position = used = 0

    for piece in _pieces(open_part):
        for name, attributes, empty in _ODS_TAG.findall(piece):
            if name == b"table-cell" or name == b"covered-table-cell":
                position += _repeat(attributes)
                if not empty or b"office:value" in attributes:
                    used = position
                continue
            end_row()
            if name == b"table":
                if rows * columns > worst[0] * worst[1]:
                    worst = (rows, columns)
                rows = columns = before = 0
                repeat = 0
            else:
                repeat = _repeat(attributes)
    end_row()
    return max(worst, (rows, columns), key=lambda extent: extent[0] * extent[1])


def _repeat(attributes: bytes) -> int:
    match = _ODS_REPEAT.search(attributes)
    return int(match.group(1)) if match else 1
