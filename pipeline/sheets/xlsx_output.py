"""The XLSX output: the user's workbook handed back whole, or a fresh one.

A workbook input (``.xlsx``, ``.xlsm``) comes back as itself: only the tool's own cells, the
``argil_*`` columns and their header, are written into its data sheet's XML, and every other
part of the package is copied as it is (``workbook_parts``, ``worksheet_xml``). The user's
cells keep their formulas and the values their program last computed, so pandas, calamine
and the next run read those values; other sheets, charts, pivot tables, images and an
``.xlsm``'s macros come back too (an ``.xlsx`` output cannot hold macros: they are left out,
with a note before the run).

Why this and not a library's round trip, as measured (``benchmarks/output_write.py``, a
planner of 100,000 rows with a VLOOKUP and a CONCAT on each): openpyxl, which wrote it
before, saves formulas without their values, so calamine and pandas read 0 of the 200,000
(a re-run of a 37-row planner found 0 valid rows), drops what it does not model (charts,
pivot tables, images, macros) and took 27.4 s, 1,013 MB. Computing the values instead (the
``formulas`` package, after that round trip) got them right but took 483 s and 12.3 GB,
and openpyxl still could not store them beside their formulas. Writing the result cells into
the XML took 6.0 s and 444 MB (a re-run on that output, rewriting its own columns, 11.3 s and
641 MB), and every reader sees the 200,000 values.

Any other input (CSV, ODS, a DataFrame) becomes a fresh workbook, streamed in openpyxl's
write-only mode. Cells that came in as text stay text: openpyxl would store a string
starting with "=" as a formula, so such a cell is typed as a string (with Excel's quote
prefix, so that editing it keeps it text). A CSV cell whose text is exactly how a number
shows (``5``, ``12.5``, not ``0042``, ``1.50`` or ``-5``) becomes that number, so prices and
counts sum and sort.

Both ways type the result columns alike (:func:`typed_result`): numbers, a UTC date-time, links,
coloured statuses, a bold header; a result that starts like a formula is text.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.sheets.base import OUTPUT_COLUMNS, Sheet, SheetError
from pipeline.sheets.lines import default_output_path, output_lines, unused_path
from pipeline.sheets.workbook_input import _cell_text
from pipeline.sheets.workbook_parts import PartError, ResultCell, SheetChanges, WorkbookPackage

XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_COLUMNS = 16_384
XLSX_MAX_CELL = 32_767

# XML 1.0 cannot hold these at all (lone surrogates cannot even be encoded).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Unsigned: text starting with "-" or "+" stays text, as the formula guard says, even "-5".
_NUMBER_TEXT = re.compile(r"(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?")
_NUMERIC_RESULTS = frozenset({"argil_moments", "argil_duration", "argil_credits"})
_LINK_RESULTS = frozenset({"argil_preview_url", "argil_video_url"})
_WIDTH_SAMPLE = 2_000
_TIME_FORMAT = 'yyyy-mm-dd hh:mm:ss "UTC"'
_MAX_WIDTH = 60

# Status colours: the fills of Excel's Good / Bad / Neutral cell styles. The names are the
# ones the engine and the API write; sheets sits below them and cannot import them.
_DONE = frozenset({"DONE"})
_FAILED = frozenset({"FAILED", "CONTENT_MODERATED", "INVALID"})
_GOING = frozenset({"IDLE", "GENERATING_AUDIO", "GENERATING_VIDEO", "PENDING", "IN_DOUBT"})

_WORKBOOKS = ("xlsx", "xlsm")


def carry_over_notes(sheet: Sheet, path: Path | None = None) -> list[str]:
    """What the output at ``path`` (an ``.xlsx`` when None) cannot carry over from the input
    workbook, as one note (or none): only macros, which an ``.xlsx`` cannot hold."""
    if sheet.kind not in _WORKBOOKS or _keeps_macros(path):
        return []
    try:
        with zipfile.ZipFile(sheet.path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return []  # the read succeeded moments ago; a later write reports what went wrong
    if not any(name.lower().endswith("vbaproject.bin") for name in names):
        return []
    return [
        f"{sheet.path.name} has macros, which an .xlsx workbook cannot hold: the output "
        "leaves them out (and keeps everything else); keep the original for them, or copy the "
        "argil_* columns into it"
    ]


def _keeps_macros(path: Path | None) -> bool:
    return path is not None and path.suffix.lower() == ".xlsm"


class XlsxOutput:
    """Writes the XLSX output of ``sheet`` (to ``path``, which says whether macros may stay);
    the input workbook's parts are read once and kept between writes."""

    def __init__(self, sheet: Sheet, path: Path | None = None) -> None:
        self.sheet = sheet
        self.path = path
        self.whole = sheet.kind in _WORKBOOKS
        self.notes: list[str] = []
        self._package: WorkbookPackage | None = None

    def write(self, results: Mapping[int, Mapping[str, str]], f: BinaryIO) -> None:
        if self.whole:
            self._write_whole(results, f)
        else:
            _write_fresh(self.sheet, results, f)

    def load(self) -> WorkbookPackage | None:
        """Read and check the input workbook's parts now, so that one that cannot be handed
        back is refused before a run sends anything; None for a fresh workbook."""
        if self.whole and self._package is None:
            self._package = _load(self.sheet, self.path)
        return self._package

    def _write_whole(self, results: Mapping[int, Mapping[str, str]], f: BinaryIO) -> None:
        sheet = self.sheet
        package = self.load()
        assert package is not None
        top = sheet.header_row
        positions = sheet.columns or {h: i for i, h in enumerate(sheet.headers)}
        width = max(positions.values(), default=-1) + 1
        added = [c for c in OUTPUT_COLUMNS if c not in positions]
        where = {**positions, **{c: width + k for k, c in enumerate(added)}}
        if width + len(added) > XLSX_MAX_COLUMNS:
            raise SheetError("the result columns do not fit beside the sheet's columns")
        own = sorted((where[c], c) for c in OUTPUT_COLUMNS)
        header = [(where[c], ResultCell(c, "header")) for c in added]
        nothing: Mapping[str, str] = {}

        def cells(number: int) -> Sequence[tuple[int, ResultCell | None]]:
            if number == top:
                return header
            got = results.get(number, nothing)
            if not got:
                return ()
            # A column with no value for the row is left as it is (a previous output's).
            return [(i, typed_result(c, got[c])) for i, c in own if got.get(c) is not None]

        sample = sheet.rows[:_WIDTH_SAMPLE]
        widths = {
            where[column]: _fit(
                column, (results.get(r.number, nothing).get(column, "") for r in sample)
            )
            for column in added
        }
        numbers = sorted(row.number for row in sheet.rows if row.number != top)
        changes = SheetChanges(
            header_row=top,
            rows=[top, *numbers],
            cells=cells,
            link_columns=frozenset(where[c] for c in _LINK_RESULTS),
            added={where[c]: c for c in added},
            widths=widths,
            first_column=min(positions.values(), default=0),
            last_input_column=width - 1,
            last_column=max(where.values()),
            bottom=max(top + 1, numbers[-1] if numbers else top),
            add_filter=not package.tables,
            styles=package.styles,
            date1904=package.date1904,
        )
        try:
            package.write(changes, f, keep_macros=_keeps_macros(self.path))
        except PartError as exc:
            raise SheetError(_cannot(sheet, self.path, str(exc))) from None


def _load(sheet: Sheet, path: Path | None) -> WorkbookPackage:
    try:
        data = sheet.path.read_bytes()
    except OSError as exc:
        raise SheetError(f"cannot read {sheet.path}: {exc.strerror or exc}") from None
    try:
        return WorkbookPackage(data, sheet.sheet_name)
    except PartError as exc:
        raise SheetError(_cannot(sheet, path, str(exc))) from None


def _cannot(sheet: Sheet, path: Path | None, reason: str) -> str:
    text = " ".join(reason.split())[:200]
    target = path if path is not None else default_output_path(sheet.path)
    instead = unused_path(target.with_suffix(".csv")).name
    return (
        f"{sheet.path} cannot be handed back as a workbook ({text}); write the output as "
        f".csv instead (-o {instead})"
    )


def _write_fresh(sheet: Sheet, results: Mapping[int, Mapping[str, str]], f: BinaryIO) -> None:
    """A new workbook of the sheet (a CSV, ODS or DataFrame input): every row where the input
    has it (title rows, blank rows), every column (an unnamed one too), headers as written."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    lines = list(output_lines(sheet, results))
    header = next(line for line in lines if line.number == sheet.header_row)
    width = len(header.cells) + len(OUTPUT_COLUMNS)
    if width > XLSX_MAX_COLUMNS:
        raise SheetError(f"{width:,} columns do not fit in an XLSX sheet")
    if lines[-1].number > XLSX_MAX_ROWS:
        raise SheetError(f"{lines[-1].number:,} rows do not fit in an XLSX sheet")
    _check_lengths(sheet, results)
    book = Workbook(write_only=True)
    ws = book.create_sheet(_sheet_title(sheet.sheet_name))
    ws.freeze_panes = f"A{sheet.header_row + 1}"
    ws.auto_filter.ref = f"A{sheet.header_row}:{_letter(width)}{lines[-1].number}"
    sample = [line for line in lines if line.number > sheet.header_row][:_WIDTH_SAMPLE]
    names = [*header.cells, *OUTPUT_COLUMNS]
    for index, name in enumerate(names):
        texts = (_cell_of(line, index) for line in sample)
        ws.column_dimensions[_letter(index + 1)].width = _fit(name, texts)
    bold = Font(bold=True)
    styles = _Styles(ws)
    at = lines[0].number
    for _ in range(1, at):
        ws.append([])  # an ODS or DataFrame input starts on row 1; this keeps any offset
    for line in lines:
        if line is header:
            cells = []
            for name in names:
                cell = WriteOnlyCell(ws, _clean(name))
                cell.data_type = "s"
                cell.font = bold
                cells.append(cell)
            ws.append(cells)
            continue
        row: list[Any] = [_input_value(ws, text) for text in line.cells]
        if line.results is not None and line.number > sheet.header_row:
            row += [
                _fresh_cell(ws, typed_result(column, value), styles)
                for column, value in zip(OUTPUT_COLUMNS, line.results, strict=True)
            ]
        ws.append(row)
    book.save(f)


def _cell_of(line: Any, index: int) -> str:
    cells = line.cells
    if index < len(cells):
        return str(cells[index])
    results = line.results or []
    at = index - len(cells)
    return str(results[at]) if at < len(results) else ""


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
    """The result cells' styles in a fresh workbook, built once per write on cells of
    ``ws``'s workbook and copied as openpyxl's own style arrays: setting a font or a fill on
    each cell hashes it anew, which made the styling of 100,000 rows cost more than writing
    them."""

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

        self.by_key = {
            None: styled(),
            "quoted": styled(quotePrefix=True),
            "done": styled(fill=fill("C6EFCE")),
            "failed": styled(fill=fill("FFC7CE")),
            "going": styled(fill=fill("FFEB9C")),
            "link": styled(font=Font(color="0563C1", underline="single")),
            "moment": styled(number_format=_TIME_FORMAT),
        }


def _fresh_cell(ws: Any, typed: ResultCell | None, styles: _Styles) -> Any:
    from openpyxl.cell import WriteOnlyCell

    if typed is None:
        return None
    cell = WriteOnlyCell(ws, typed.value)
    if isinstance(typed.value, str):
        # openpyxl stores a string starting with "=" as a formula; a value that came in as
        # text (an API answer) must never run as one, whatever it starts with.
        cell.data_type = "s"
    if typed.link is not None:
        cell.hyperlink = typed.link
    cell._style = copy.copy(styles.by_key[typed.style])
    return cell


def typed_result(column: str, text: str) -> ResultCell | None:
    """A result column's cell, typed: numbers, a date-time, a link, a coloured status; None
    when blank. A text that starts like a formula is text, quoted as Excel quotes it."""
    if not text:
        return None
    style: str | None = None
    if column in _NUMERIC_RESULTS:
        number = _number(text)
        if number is not None:
            return ResultCell(number)
    elif column == "argil_updated_at":
        moment = _utc(text)
        if moment is not None:
            return ResultCell(moment, "moment")
    elif column == "argil_status":
        if text in _DONE:
            style = "done"
        elif text in _FAILED:
            style = "failed"
        elif text in _GOING:
            style = "going"
    elif column in _LINK_RESULTS and text.startswith(("https://", "http://")):
        url = _clean(text)
        _check_length(column, url)
        return ResultCell(url, "link", url)
    value = _clean(text)
    _check_length(column, value)
    if style is None and value[0] in _FORMULA_START:
        style = "quoted"
    return ResultCell(value, style)


def _check_length(column: str, value: str) -> None:
    if len(value) > XLSX_MAX_CELL:
        raise SheetError(
            f"{column} has {len(value):,} characters, more than an XLSX cell holds "
            f"({XLSX_MAX_CELL:,}); write the output as .csv"
        )


_FORMULA_START = frozenset("=+-@\t\r")


def _as_text(cell: Any) -> None:
    # openpyxl stores a string starting with "=" as a formula; a value that came in as text
    # (a CSV cell, an API answer) must never run as one, whatever it starts with.
    cell.data_type = "s"
    if cell.value and cell.value[0] in _FORMULA_START:
        cell.quotePrefix = True


def _number(text: str) -> int | float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None  # "nan", "inf": no cell holds them as numbers
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
