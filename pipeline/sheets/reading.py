"""Reading a spreadsheet file of any supported kind into text rows."""

from __future__ import annotations

import io
from pathlib import Path

from pipeline.sheets.base import (
    _CFB_MAGIC,
    _ZIP_MAGIC,
    CSV_SUFFIXES,
    WORKBOOK_SUFFIXES,
    Sheet,
    SheetError,
)
from pipeline.sheets.csv_input import _read_csv
from pipeline.sheets.workbook_input import _read_workbook


def read_sheet(
    path: Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    header_row: int | None = None,
) -> Sheet:
    """Read a CSV, XLSX, XLSM or ODS file into text rows.

    ``sheet`` picks a workbook sheet by name (default: the first visible one); ``encoding``
    and ``delimiter`` force how a CSV is decoded and split (default: detected); ``header_row``
    (``input.header_row``, 1-based) says which row is the header (default: found, see
    :func:`pipeline.sheets.base._table`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if header_row is not None and header_row < 1:
        raise SheetError(f"input.header_row is {header_row}; rows are numbered from 1")
    if path.is_dir():
        raise SheetError(f"{path} is a folder; pass the spreadsheet file itself")
    if suffix not in CSV_SUFFIXES + WORKBOOK_SUFFIXES:
        if suffix in (".xls", ".xlsb", ".numbers"):
            raise SheetError(
                f"{path}: {suffix} files are not supported; save it as .xlsx or .csv and retry"
            )
        shown = f"'{suffix}'" if suffix else "no extension"
        raise SheetError(
            f"{path}: unsupported file type ({shown}); use a .csv, .tsv, .txt, .xlsx, .xlsm "
            "or .ods file"
        )
    data = _read_bytes(path)
    if suffix in CSV_SUFFIXES:
        if _looks_like_workbook(data):
            raise SheetError(
                f"{path} is a workbook, not CSV text; rename it to .xlsx (or .ods) and retry"
            )
        result = _read_csv(
            path, data, encoding=encoding, delimiter=delimiter, header_row=header_row
        )
        if sheet is not None:
            result.notes.append(f"sheet {sheet!r} ignored: a CSV file has a single sheet")
        return result
    if encoding is not None:
        encoding_note = f"encoding {encoding!r} ignored: it only applies to CSV files"
    else:
        encoding_note = None
    result = _read_workbook(path, data, suffix[1:], sheet, header_row)
    if encoding_note:
        result.notes.append(encoding_note)
    return result


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SheetError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise SheetError(f"{path} is a folder; pass the spreadsheet file itself") from None
    except OSError as exc:
        raise SheetError(f"cannot read {path}: {exc.strerror or exc}") from None


def _looks_like_workbook(data: bytes) -> bool:
    return data.startswith(_ZIP_MAGIC) or data.startswith(_CFB_MAGIC)


def workbook_sheets(path: Path) -> list[str]:
    """The visible worksheets of a workbook, in order; [] for a CSV file."""
    path = Path(path)
    if path.suffix.lower() not in WORKBOOK_SUFFIXES:
        return []
    from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

    data = _read_bytes(path)
    if not data.startswith(_ZIP_MAGIC):
        return []  # reading it says what is wrong with it
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        return [
            meta.name
            for meta in book.sheets_metadata
            if meta.visible == SheetVisibleEnum.Visible and meta.typ == SheetTypeEnum.WorkSheet
        ]
    except Exception:  # as in _read_workbook: reading the sheet itself reports the damage
        return []
