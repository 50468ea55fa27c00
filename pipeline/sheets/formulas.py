"""Cells that calamine reads as blank though they are not: formulas without a saved value,
and error values.

Excel and LibreOffice save each formula with the value it last computed; a workbook written
by a script (openpyxl, many exports) holds the formula alone, so its cells read as blank and
a transcript silently loses its greeting. The worksheet's XML says which cells those are: a
``<f>`` with no ``<v>``, or an empty one that is not a formula's empty text (``t="str"``).

An error value (``#N/A`` from a VLOOKUP that found nothing, ``#REF!``) is saved as a cell of
type ``e``; python-calamine turns it into an empty cell, so a row whose avatar lookup failed
would read "avatarId: is blank" and the user would look in the wrong place.

calamine gives no access to formulas or errors, hence this scan of the part it reads.
"""

from __future__ import annotations

import io
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from typing import NamedTuple
from xml.sax.saxutils import unescape

from pipeline.sheets.base import CellError, Sheet, _column_name
from pipeline.sheets.extent import _column_number

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"
# A cell with content (not self-closed), its reference and attributes, and its content.
_CELL = re.compile(rb'<c\s([^>]*?\br="([A-Z]+)([0-9]+)"[^>]*?)(?<!/)>(.*?)</c>', re.S)
_VALUE = re.compile(rb"<v>[^<]|<v\s[^>]*>[^<]")
_TEXT_TYPE = re.compile(rb'\bt="str"')
_ERROR_TYPE = re.compile(rb'\bt="e"')
_ERROR_VALUE = re.compile(rb"<v(?:\s[^>]*)?>([^<]+)</v>")
_CHUNK = 1 << 23
_SHOWN_ROWS = 5


class CellScan(NamedTuple):
    notes: list[str]
    """One per column whose data rows hold formulas without a saved value."""
    errors: dict[int, list[CellError]]
    """Row number -> its cells (under a header) that hold an error value."""


def scan_cells(sheet: Sheet, data: bytes) -> CellScan:
    """What the sheet's XML says about the cells of its data rows that read as blank."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        part = _sheet_part(archive, sheet.sheet_name or "")
        if part is None:
            return CellScan([], {})
        gaps, found = _scan(archive, part, sheet.header_row)
    except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError, ValueError):
        # calamine read the file; what this scan cannot read, it does not judge
        return CellScan([], {})
    by_index = {i: h for h, i in (sheet.columns or {}).items()}
    notes = []
    for index, rows in sorted(gaps.items()):
        header = by_index.get(index)
        if header is None:
            continue
        shown = ", ".join(str(r) for r in rows[:_SHOWN_ROWS])
        more = f" and {len(rows) - _SHOWN_ROWS} more" if len(rows) > _SHOWN_ROWS else ""
        if len(rows) == 1:
            what, where, reads = "1 formula has", "row", "it reads"
        else:
            what, where, reads = f"{len(rows)} formulas have", "rows", "they read"
        notes.append(
            f"{header!r} ({_column_name(index, True)}): {what} no saved value ({where} {shown}"
            f"{more}), so {reads} as blank; the workbook was probably written by a script: "
            "open it in Excel or LibreOffice, save it, and run again"
        )
    errors: dict[int, list[CellError]] = {}
    if found:
        # A row that holds nothing but errors is blank to every reader: not a data row.
        data_rows = {row.number for row in sheet.rows}
        for number, index, code in sorted(found):
            header = by_index.get(index)
            if header is not None and number in data_rows:
                errors.setdefault(number, []).append(CellError(number, index, header, code))
    return CellScan(notes, errors)


def _sheet_part(archive: zipfile.ZipFile, name: str) -> str | None:
    book = ET.fromstring(archive.read("xl/workbook.xml"))
    rel_id = next(
        (
            s.get(f"{_REL}id")
            for s in book.iter(f"{_MAIN}sheet")
            if s.get("name") == name or not name
        ),
        None,
    )
    if rel_id is None:
        return None
    rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    for rel in rels.iter(f"{_PKG}Relationship"):
        if rel.get("Id") == rel_id:
            target = rel.get("Target", "")
            if target.startswith("/"):
                return target.lstrip("/")
            return posixpath.normpath(posixpath.join("xl", target))
    return None


def _scan(
    archive: zipfile.ZipFile, part: str, header_row: int
) -> tuple[dict[int, list[int]], list[tuple[int, int, str]]]:
    """Column -> rows of its formulas without a saved value; (row, column, code) of each
    error cell; both under the header."""
    gaps: dict[int, list[int]] = {}
    errors: list[tuple[int, int, str]] = []
    for chunk in _cells(archive, part):
        if b"<f" not in chunk and b't="e"' not in chunk:
            continue
        for match in _CELL.finditer(chunk):
            attributes, letters, row, content = match.groups()
            number = int(row)
            if number <= header_row:
                continue
            if _ERROR_TYPE.search(attributes):
                value = _ERROR_VALUE.search(content)
                if value is not None:
                    code = unescape(value.group(1).decode("utf-8", "replace")).strip()
                    errors.append((number, _column_number(letters.decode()) - 1, code))
                continue
            if b"<f" not in content or _VALUE.search(content):
                continue
            if b"<v" in content and _TEXT_TYPE.search(attributes):
                continue  # a formula whose saved value is empty text
            gaps.setdefault(_column_number(letters.decode()) - 1, []).append(number)
    return gaps, errors


def _cells(archive: zipfile.ZipFile, part: str) -> Iterator[bytes]:
    """The part in chunks that each end after a whole cell, so no cell is split."""
    pending = b""
    with archive.open(part) as stream:
        while block := stream.read(_CHUNK):
            pending += block
            cut = pending.rfind(b"</c>")
            if cut < 0:
                continue
            yield pending[: cut + 4]
            pending = pending[cut + 4 :]
    if pending:
        yield pending
