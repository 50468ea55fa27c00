"""A pandas DataFrame, or a grid of text from elsewhere (a Google Sheet), as a sheet of text
rows, read by the same rules as a file.

Every cell becomes the text a spreadsheet would show (see ``workbook_input._cell_text``):
strings as they are (``0042`` stays ``0042``), a whole number ``5``, a date ``2026-03-01``,
a missing value (None, NaN, NaT) blank. Row numbers count as in a sheet whose header is row 1:
the frame's first row is row 2, so a message about "row 7" is the frame's sixth row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.sheets.base import CellError, Sheet, SheetError, _table
from pipeline.sheets.workbook_input import _cell_text

if TYPE_CHECKING:
    import pandas


def sheet_from_frame(frame: pandas.DataFrame, path: Path) -> Sheet:
    """The frame's rows as a sheet; ``path`` names it (it is never read)."""
    if frame.columns.nlevels != 1:
        raise SheetError("the DataFrame has multi-level columns; flatten them to one header row")
    headers = [_text(name) for name in frame.columns]
    records = [(1, headers)]
    for number, values in enumerate(frame.itertuples(index=False, name=None), 2):
        records.append((number, [_text(value) for value in values]))
    # The frame says which its header is: no title row to look for above it.
    table = _table("the DataFrame", records, letters=False, titles=False)
    return table.to_sheet(Path(path), "dataframe")


# The error values a spreadsheet shows where a formula failed (a sheet read as formatted
# text gives them as these words).
_ERRORS = frozenset({"#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!", "#ERROR!"})


def sheet_from_grid(
    grid: list[list[str]],
    *,
    where: str,
    path: Path,
    kind: str,
    sheet_name: str | None,
    header_row: int | None,
) -> Sheet:
    """The rows of ``grid`` (row 1 first, as a spreadsheet shows them), by a workbook's rules:
    the header found under any title rows (or on ``header_row``), blank rows skipped but
    counted, a cell showing an error (``#N/A``) is its row's error."""
    records = list(enumerate(grid, 1))
    table = _table(where, records, letters=True, header_row=header_row)
    sheet = table.to_sheet(path, kind, sheet_name)
    # As in a workbook, a cell showing an error reads blank: the row is refused for it.
    for row in sheet.rows:
        for header, text in row.values.items():
            if text in _ERRORS:
                error = CellError(row.number, table.columns.get(header, 0), header, text)
                sheet.cell_errors.setdefault(row.number, []).append(error)
                row.values[header] = ""
    return sheet


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return ""
    # numpy and pandas scalars: to the Python value they stand for (a Timestamp is a datetime).
    item = getattr(value, "item", None)
    if not isinstance(value, dt.datetime) and callable(item):
        with contextlib.suppress(TypeError, ValueError):
            value = item()
    if _missing(value):
        return ""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.isoformat(sep=" ")
    return _cell_text(value)


def _missing(value: Any) -> bool:
    import pandas

    try:
        return bool(pandas.isna(value))
    except (TypeError, ValueError):
        return False
