"""Reading XLSX, XLSM and ODS workbooks through calamine, each cell as the text it shows."""

from __future__ import annotations

import codecs
import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.sheets.base import _CFB_MAGIC, _ZIP_MAGIC, Sheet, SheetError, _one_line, _table
from pipeline.sheets.extent import _check_extent
from pipeline.sheets.formulas import scan_cells


def _read_workbook(
    path: Path, data: bytes, kind: str, sheet: str | None, header_row: int | None = None
) -> Sheet:
    # python-calamine directly rather than pandas.read_excel(engine="calamine"): pandas turns
    # dates into midnight Timestamps (losing date vs datetime) and "NA" into NaN unless told
    # otherwise, and the DataFrame is only an intermediate step here; the typed cells from
    # calamine itself let every value be formatted the way the spreadsheet shows it.
    from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

    if not data:
        raise SheetError(f"{path} is empty (0 bytes); export the workbook again")
    if data.startswith(_CFB_MAGIC):
        raise SheetError(
            f"{path} is password-protected or an old .xls file; save it as .{kind} "
            "without a password"
        )
    if not data.startswith(_ZIP_MAGIC):
        if _is_text(data):
            raise SheetError(f"{path} is text, not a .{kind} workbook; rename it to .csv and retry")
        raise SheetError(
            f"{path} is not a .{kind} workbook (damaged or another format); open it in its "
            f"program and save it as .{kind} again"
        )
    _check_extent(path, data, kind)
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        visible = [
            meta.name
            for meta in book.sheets_metadata
            if meta.visible == SheetVisibleEnum.Visible and meta.typ == SheetTypeEnum.WorkSheet
        ]
        names = list(book.sheet_names)
    except Exception as exc:  # calamine raises many types; all mean "cannot read this file"
        raise SheetError(
            f"{path} cannot be read as a .{kind} workbook ({_one_line(exc)}); open it in its "
            f"program and save it as .{kind} again"
        ) from None
    if sheet is None:
        if not names:
            raise SheetError(f"{path} has no sheets")
        name = (visible or names)[0]
    else:
        name = _pick_sheet(path, names, sheet)
    try:
        grid = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except Exception as exc:  # as above: a damaged part of the file
        raise SheetError(
            f"{path}: sheet {name!r} cannot be read ({_one_line(exc)}); open the file and "
            "save it again"
        ) from None
    where = f"{path} sheet {name!r}"
    records = ((number, _texts(cells)) for number, cells in enumerate(grid, 1))
    table = _table(where, records, letters=True, header_row=header_row)
    result = table.to_sheet(path, kind, name)
    if kind != "ods":
        scan = scan_cells(result, data)
        result.notes.extend(scan.notes)
        result.cell_errors = scan.errors
    return result


def _pick_sheet(path: Path, names: list[str], wanted: str) -> str:
    if wanted in names:
        return wanted
    folded = [n for n in names if n.strip().casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    listed = ", ".join(repr(n) for n in names) or "none"
    raise SheetError(f"{path} has no sheet {wanted!r}; pass --sheet with one of: {listed}")


def _is_text(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head:
        return head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the 4096-byte window is still text.
        return exc.start >= len(head) - 3
    return True


def _texts(cells: Sequence[Any]) -> list[str]:
    return [c if type(c) is str else _cell_text(c) for c in cells]


def _cell_text(value: Any) -> str:
    """The text a spreadsheet shows for a typed cell in its default (General) format."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        # Excel keeps 15 significant digits: 0.1+0.2 shows 0.3, not 0.30000000000000004.
        return format(value, ".15g")
    if isinstance(value, dt.datetime):
        value = _round_ms(value)
        if value.time() == dt.time(0):
            return value.date().isoformat()
        spec = "seconds" if value.microsecond == 0 else "milliseconds"
        return value.isoformat(sep=" ", timespec=spec)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        spec = "seconds" if value.microsecond == 0 else "milliseconds"
        return value.isoformat(timespec=spec)
    if isinstance(value, dt.timedelta):
        # Durations show as [h]:mm:ss, hours not wrapping at 24.
        total = round(value.total_seconds())
        sign = "-" if total < 0 else ""
        hours, rest = divmod(abs(total), 3600)
        return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return str(value)


def _round_ms(value: dt.datetime) -> dt.datetime:
    # Serial-number dates carry float noise (14:29:59.999998); round to Excel's millisecond.
    micro = round(value.microsecond, -3)
    return value.replace(microsecond=0) + dt.timedelta(microseconds=micro)
