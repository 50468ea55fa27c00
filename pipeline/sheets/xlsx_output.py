"""The XLSX output through openpyxl: the user's workbook handed back whole, or a fresh one.

A workbook input is loaded once, whole (other sheets, formulas, number formats, widths, cell
types), and each write sets only the result columns of its data sheet before saving it again;
the user's own cells are never rewritten. Any other input (CSV, ODS, a DataFrame, a workbook
too large to hold) becomes a fresh workbook, streamed in openpyxl's write-only mode.

Cells that came in as text stay text: openpyxl would store a string starting with "=" as a
formula, so such a cell is typed as a string (with Excel's quote prefix, so that editing it
keeps it text). A CSV cell whose text is exactly how a number shows (``5``, ``12.5``, not
``0042``, ``1.50`` or ``-5``) becomes that number, so prices and counts sum and sort.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from pipeline.sheets.base import OUTPUT_COLUMNS, Sheet, SheetError
from pipeline.sheets.workbook_input import _cell_text

XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_COLUMNS = 16_384
XLSX_MAX_CELL = 32_767
# The sheets' XML (uncompressed) above which a workbook is not loaded whole: openpyxl holds
# about ten times that in memory (a 100,000-row, 14-column sheet of 70 MB took 700 MB).
MAX_WHOLE_WORKBOOK_XML = 150 << 20

# XML 1.0 cannot hold these at all (lone surrogates cannot even be encoded).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Unsigned: text starting with "-" or "+" stays text, as the formula guard says, even "-5".
_NUMBER_TEXT = re.compile(r"(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?")
_NUMERIC_RESULTS = frozenset({"argil_moments", "argil_duration"})
_LINK_RESULTS = frozenset({"argil_preview_url", "argil_video_url"})
_WIDTH_SAMPLE = 2_000
_MAX_WIDTH = 60

# Status colours: the fills of Excel's Good / Bad / Neutral cell styles. The names are the
# ones runner.py and the API write; sheets sits below them and cannot import them.
_DONE = frozenset({"DONE"})
_FAILED = frozenset({"FAILED", "CONTENT_MODERATED", "INVALID"})
_GOING = frozenset({"IDLE", "GENERATING_AUDIO", "GENERATING_VIDEO", "PENDING", "IN_DOUBT"})

# Parts of a workbook that openpyxl reads partly or not at all, and what to call them.
_FRAGILE_PARTS = (
    ("xl/charts/", "charts"),
    ("xl/media/", "images"),
    ("xl/drawings/", "drawings"),
    ("xl/pivotTables/", "pivot tables"),
    ("xl/slicers/", "slicers"),
    ("xl/timelines/", "timelines"),
    ("xl/ctrlProps/", "form controls"),
    ("xl/vbaProject.bin", "macros"),
)


def carry_over_notes(sheet: Sheet) -> list[str]:
    """What the output cannot carry over from the input workbook, as one note (or none)."""
    if not _whole(sheet):
        if sheet.kind in ("xlsx", "xlsm"):
            return [
                f"{sheet.path.name} is too large to hand back whole; the output workbook holds "
                "its data sheet only, values without formulas or formats"
            ]
        return []
    try:
        with zipfile.ZipFile(sheet.path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return []  # the read succeeded moments ago; a later write reports what went wrong
    found = [what for prefix, what in _FRAGILE_PARTS if any(n.startswith(prefix) for n in names)]
    if ("charts" in found or "images" in found) and "drawings" in found:
        found.remove("drawings")  # what the drawings hold is named already
    if not found:
        return []
    listed = ", ".join(found)
    return [
        f"{sheet.path.name} has {listed}: openpyxl, which writes the output workbook, may drop "
        "or simplify them; check the output, or copy the argil_* columns into the original"
    ]


def _whole(sheet: Sheet) -> bool:
    """True when the output is the input workbook itself with the result columns added."""
    if sheet.kind not in ("xlsx", "xlsm"):
        return False
    try:
        with zipfile.ZipFile(sheet.path) as archive:
            size = sum(
                info.file_size
                for info in archive.infolist()
                if info.filename.startswith(("xl/worksheets/", "xl/sharedStrings"))
            )
    except (OSError, zipfile.BadZipFile):
        return True  # loading it then says what is wrong
    return size <= MAX_WHOLE_WORKBOOK_XML


class XlsxOutput:
    """Writes the XLSX output of ``sheet``; the loaded input workbook is kept between writes."""

    def __init__(self, sheet: Sheet) -> None:
        self.sheet = sheet
        self.whole = _whole(sheet)
        self.notes: list[str] = []
        self._book: Any = None

    def write(self, results: Mapping[int, Mapping[str, str]], f: BinaryIO) -> None:
        if self.whole:
            self._write_whole(results, f)
        else:
            _write_fresh(self.sheet, results, f)

    def load(self) -> None:
        if self.whole and self._book is None:
            self._book, dropped = _load(self.sheet)
            if dropped:
                self.notes.append(
                    f"{self.sheet.path.name}: openpyxl, which writes the output workbook, left "
                    f"out what it does not support: {'; '.join(dropped)}"
                )

    def _write_whole(self, results: Mapping[int, Mapping[str, str]], f: BinaryIO) -> None:
        from openpyxl.styles import Font

        sheet = self.sheet
        self.load()
        book = self._book
        ws = book[sheet.sheet_name] if sheet.sheet_name else book.worksheets[0]
        top = sheet.header_row
        positions = sheet.columns or {h: i for i, h in enumerate(sheet.headers)}
        width = max(positions.values(), default=-1) + 1
        added = [c for c in OUTPUT_COLUMNS if c not in positions]
        where = {**positions, **{c: width + k for k, c in enumerate(added)}}
        if width + len(added) > XLSX_MAX_COLUMNS:
            raise SheetError("the result columns do not fit beside the sheet's columns")
        bold = Font(bold=True)
        for column in added:
            cell = ws.cell(top, where[column] + 1, column)
            cell.font = bold
        styles = _Styles(ws)
        nothing: Mapping[str, str] = {}
        for row in sheet.rows:
            got = results.get(row.number, nothing)
            for column in OUTPUT_COLUMNS:
                value = got.get(column)
                if value is None and column in positions:
                    continue  # a previous output's column, and nothing newer: kept as it is
                cell = ws.cell(row.number, where[column] + 1)
                _set_result(cell, column, value or "", styles)
        last = max(where.values()) + 1
        first = min(positions.values(), default=0) + 1
        if ws.freeze_panes is None:
            ws.freeze_panes = f"A{top + 1}"
        if not ws.auto_filter.ref and not ws.tables:
            bottom = max(top + 1, sheet.rows[-1].number if sheet.rows else top)
            ws.auto_filter.ref = f"{_letter(first)}{top}:{_letter(last)}{bottom}"
        for column in added:
            sample = sheet.rows[:_WIDTH_SAMPLE]
            samples = (results.get(r.number, nothing).get(column, "") for r in sample)
            ws.column_dimensions[_letter(where[column] + 1)].width = _fit(column, samples)
        # openpyxl saves the user's formulas without the values Excel last computed: have
        # Excel compute them on opening (LibreOffice does anyway).
        if book.calculation is None:
            from openpyxl.workbook.properties import CalcProperties

            book.calculation = CalcProperties()
        book.calculation.fullCalcOnLoad = True
        book.save(f)


def _load(sheet: Sheet) -> tuple[Any, list[str]]:
    """The workbook, and what openpyxl said it drops (its warnings, which must not print)."""
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # Formulas as written (not their cached values), so the user's formulas stay theirs.
            book = load_workbook(sheet.path, keep_links=True)
    except Exception as exc:  # openpyxl raises many types; all mean "cannot load this file"
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise SheetError(
            f"{sheet.path} cannot be loaded to hand it back as a workbook ({text}); "
            f"write the output as .csv instead (-o {sheet.path.with_suffix('.csv').name})"
        ) from None
    dropped = []
    for warning in caught:
        text = " ".join(str(warning.message).split()).rstrip(".")
        # "... is not supported and will be removed"; not the notices about defaults applied.
        if "removed" in text or "not supported" in text:
            dropped.append(text)
    return book, list(dict.fromkeys(dropped))


def _write_fresh(sheet: Sheet, results: Mapping[int, Mapping[str, str]], f: BinaryIO) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    outputs = set(OUTPUT_COLUMNS)
    kept = [h for h in sheet.headers if h not in outputs]
    header = [*kept, *OUTPUT_COLUMNS]
    if len(header) > XLSX_MAX_COLUMNS:
        raise SheetError(f"{len(header):,} columns do not fit in an XLSX sheet")
    if len(sheet.rows) + 1 > XLSX_MAX_ROWS:
        raise SheetError(f"{len(sheet.rows):,} rows do not fit in an XLSX sheet")
    _check_lengths(sheet, results)
    book = Workbook(write_only=True)
    ws = book.create_sheet(_sheet_title(sheet.sheet_name))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{_letter(len(header))}{len(sheet.rows) + 1}"
    nothing: Mapping[str, str] = {}

    def merged(row_values: Mapping[str, str], got: Mapping[str, str]) -> Iterator[str]:
        for column in OUTPUT_COLUMNS:
            value = got.get(column)
            yield row_values.get(column, "") if value is None else value

    sample = sheet.rows[:_WIDTH_SAMPLE]
    for index, name in enumerate(header):
        if name in outputs:
            texts = (results.get(r.number, nothing).get(name, "") for r in sample)
        else:
            texts = (r.values.get(name, "") for r in sample)
        ws.column_dimensions[_letter(index + 1)].width = _fit(name, texts)
    bold = Font(bold=True)
    cells = []
    for name in header:
        cell = WriteOnlyCell(ws, _clean(name))
        cell.data_type = "s"
        cell.font = bold
        cells.append(cell)
    ws.append(cells)
    styles = _Styles(ws)
    for row in sheet.rows:
        values = row.values
        line: list[Any] = [_input_value(ws, values.get(h, "")) for h in kept]
        for column, value in zip(
            OUTPUT_COLUMNS, merged(values, results.get(row.number, nothing)), strict=True
        ):
            cell = WriteOnlyCell(ws)
            _set_result(cell, column, value, styles)
            line.append(cell)
        ws.append(line)
    book.save(f)


def _check_lengths(sheet: Sheet, results: Mapping[int, Mapping[str, str]]) -> None:
    """Before the first row is written: openpyxl's write-only writer cannot stop cleanly."""
    for row in sheet.rows:
        for value in row.values.values():
            if len(value) > XLSX_MAX_CELL:
                raise SheetError(
                    f"row {row.number} has a cell of {len(value):,} characters, more than an "
                    f"XLSX cell holds ({XLSX_MAX_CELL:,}); write the output as .csv"
                )
    for number, got in results.items():
        for column, value in got.items():
            if len(value) > XLSX_MAX_CELL:
                raise SheetError(
                    f"row {number} {column} has {len(value):,} characters, more than an "
                    f"XLSX cell holds ({XLSX_MAX_CELL:,}); write the output as .csv"
                )


def _input_value(ws: Any, text: str) -> Any:
    """An input cell that was text: a number when the text is exactly how it shows, else text."""
    if not text:
        return None
    if _NUMBER_TEXT.fullmatch(text):
        number: int | float = float(text) if "." in text else int(text)
        if _cell_text(number) == text:
            return number
    if text[0] == "=" or _XML_ILLEGAL.search(text):
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(ws, _clean(text))
        _as_text(cell)
        return cell
    return text


class _Styles:
    """The result cells' styles, built once per write on cells of ``ws``'s workbook and
    copied as openpyxl's own style arrays: setting a font or a fill on each cell hashes it
    anew, which made the styling of 100,000 rows cost more than writing them."""

    def __init__(self, ws: Any) -> None:
        from openpyxl.cell import Cell
        from openpyxl.styles import Font, PatternFill

        def styled(**attributes: Any) -> Any:
            cell = Cell(ws)
            for name, value in attributes.items():
                setattr(cell, name, value)
            return cell._style

        def fill(colour: str) -> PatternFill:
            return PatternFill(fill_type="solid", start_color=colour, end_color=colour)

        self.plain = styled()
        self.quoted = styled(quotePrefix=True)
        self.done = styled(fill=fill("C6EFCE"))
        self.failed = styled(fill=fill("FFC7CE"))
        self.going = styled(fill=fill("FFEB9C"))
        self.link = styled(font=Font(color="0563C1", underline="single"))
        self.moment = styled(number_format='yyyy-mm-dd hh:mm:ss "UTC"')


def _set_result(cell: Any, column: str, text: str, styles: _Styles) -> None:
    """A result column's cell, typed: numbers, a date-time, a link, a coloured status."""
    value: Any = _clean(text) if text else None
    style = styles.plain
    if not text:
        pass
    elif column in _NUMERIC_RESULTS:
        value = _number(text)
    elif column == "argil_updated_at":
        moment = _utc(text)
        if moment is not None:
            value, style = moment, styles.moment
    elif column == "argil_status":
        if text in _DONE:
            style = styles.done
        elif text in _FAILED:
            style = styles.failed
        elif text in _GOING:
            style = styles.going
    elif column in _LINK_RESULTS and text.startswith(("https://", "http://")):
        style = styles.link
        cell.hyperlink = text
    if column in _LINK_RESULTS and style is not styles.link and cell.hyperlink is not None:
        cell.hyperlink = None
    if isinstance(value, str):
        if len(value) > XLSX_MAX_CELL:
            raise SheetError(
                f"{column} has {len(value):,} characters, more than an XLSX cell holds "
                f"({XLSX_MAX_CELL:,}); write the output as .csv"
            )
        if value[0] in _FORMULA_START and style is styles.plain:
            style = styles.quoted
    cell.value = value
    if isinstance(value, str):
        # openpyxl stores a string starting with "=" as a formula; a value that came in as
        # text (an API answer) must never run as one, whatever it starts with.
        cell.data_type = "s"
    cell._style = copy.copy(style)


_FORMULA_START = frozenset("=+-@\t\r")


def _as_text(cell: Any) -> None:
    # openpyxl stores a string starting with "=" as a formula; a value that came in as text
    # (a CSV cell, an API answer) must never run as one, whatever it starts with.
    cell.data_type = "s"
    if cell.value and cell.value[0] in _FORMULA_START:
        cell.quotePrefix = True


def _number(text: str) -> int | float | str:
    try:
        number = float(text)
    except ValueError:
        return _clean(text)
    return int(number) if number.is_integer() and abs(number) < 1e15 else number


def _utc(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        # Excel has no time zones: the cell holds UTC and its format says so.
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def _clean(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text) if _XML_ILLEGAL.search(text) else text


def _fit(header: str, texts: Iterator[str] | Any) -> float:
    longest = len(header) + 2  # room for the filter button
    for text in texts:
        longest = max(longest, len(text))
        if longest >= _MAX_WIDTH:
            return _MAX_WIDTH
    return max(8, longest + 1)


def _letter(column: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(column))


def _sheet_title(name: str | None) -> str:
    if not name:
        return "Sheet1"
    # Excel's rules for sheet names: at most 31 characters, none of []:*?/\ .
    cleaned = re.sub(r"[\[\]:*?/\\]", "_", name).strip("'")[:31]
    return cleaned or "Sheet1"
