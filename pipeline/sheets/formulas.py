"""Formula cells that hold no saved value, which calamine (like any reader) reads as blank.

Excel and LibreOffice save each formula with the value it last computed; a workbook written
by a script (openpyxl, many exports) holds the formula alone, so its cells read as blank and
a transcript silently loses its greeting. The worksheet's XML says which cells those are: a
``<f>`` with no ``<v>``, or an empty one that is not a formula's empty text (``t="str"``).
calamine gives no access to formulas, hence this scan of the part it reads.
"""

from __future__ import annotations

import io
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator

from pipeline.sheets.base import Sheet, _column_name
from pipeline.sheets.extent import _column_number

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"
# A cell with content (not self-closed), its reference and attributes, and its content.
_CELL = re.compile(rb'<c\s([^>]*?\br="([A-Z]+)([0-9]+)"[^>]*?)(?<!/)>(.*?)</c>', re.S)
_VALUE = re.compile(rb"<v>[^<]|<v\s[^>]*>[^<]")
_TEXT_TYPE = re.compile(rb'\bt="str"')
_CHUNK = 1 << 23
_SHOWN_ROWS = 5


def formula_notes(sheet: Sheet, data: bytes) -> list[str]:
    """One note per column whose data rows hold formulas without a saved value."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        part = _sheet_part(archive, sheet.sheet_name or "")
        if part is None:
            return []
        gaps = _gaps(archive, part, sheet.header_row)
    except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError, ValueError):
        return []  # calamine read the file; what this scan cannot read, it does not judge
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
    return notes


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


def _gaps(archive: zipfile.ZipFile, part: str, header_row: int) -> dict[int, list[int]]:
    gaps: dict[int, list[int]] = {}
    for chunk in _cells(archive, part):
        if b"<f" not in chunk:
            continue
        for match in _CELL.finditer(chunk):
            attributes, letters, row, content = match.groups()
            if b"<f" not in content or _VALUE.search(content):
                continue
            if b"<v" in content and _TEXT_TYPE.search(attributes):
                continue  # a formula whose saved value is empty text
            number = int(row)
            if number > header_row:
                gaps.setdefault(_column_number(letters.decode()) - 1, []).append(number)
    return gaps


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
