"""Reading spreadsheets into rows of text, and writing the output sheet atomically.

The package is split by concern: ``base`` (the shared types and the one error), ``reading``
with ``csv_input``, ``workbook_input`` and ``extent`` (the guard run before a workbook is
read), and ``output`` with ``xlsx_output`` (openpyxl). Everything the rest of the code uses
is importable from here.
"""

from pipeline.sheets.base import (
    CSV_SUFFIXES,
    OUTPUT_COLUMNS,
    WORKBOOK_SUFFIXES,
    CellError,
    Layout,
    Row,
    Sheet,
    SheetError,
)
from pipeline.sheets.frame import sheet_from_grid
from pipeline.sheets.lines import OutputLine, default_output_path, output_lines, output_rows
from pipeline.sheets.output import (
    OutputFile,
    check_output_fits,
    output_kind,
    output_notes,
    write_output,
)
from pipeline.sheets.reading import read_sheet, workbook_sheets

__all__ = [
    "CSV_SUFFIXES",
    "OUTPUT_COLUMNS",
    "WORKBOOK_SUFFIXES",
    "CellError",
    "Layout",
    "OutputFile",
    "OutputLine",
    "Row",
    "Sheet",
    "SheetError",
    "check_output_fits",
    "default_output_path",
    "output_kind",
    "output_lines",
    "output_notes",
    "output_rows",
    "read_sheet",
    "sheet_from_grid",
    "workbook_sheets",
    "write_output",
]
