"""The output's rows, whatever its format: the input's rows in their order and places, the
result columns added; and the output's default path beside the input."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from pipeline.sheets.base import OUTPUT_COLUMNS, Row, Sheet


def default_output_path(input_path: Path) -> Path:
    """Beside the input: leads.csv -> leads.argil.csv; .xlsx/.ods -> .argil.xlsx; a macro
    workbook .xlsm -> .argil.xlsm, its macros kept."""
    input_path = Path(input_path)
    suffix = input_path.suffix.lower()
    if suffix in (".csv", ".tsv", ".xlsm"):
        out_suffix = input_path.suffix
    elif suffix == ".txt":
        out_suffix = ".csv"
    else:
        out_suffix = ".xlsx"
    return input_path.with_name(f"{input_path.stem}.argil{out_suffix}")


def unused_path(path: Path) -> Path:
    """``path`` if no file has that name, else ``NAME-2.EXT``, ``NAME-3.EXT``...: advice must
    never name a file the user has, which following it would replace."""
    candidate, n = path, 1
    while candidate.exists() or candidate.is_symlink():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def output_rows(
    sheet: Sheet, results: Mapping[int, Mapping[str, str]]
) -> tuple[list[str], Callable[[], Iterator[list[str]]]]:
    """The output's header (the named input columns as written, then the result columns) and
    a maker of its data rows, one per row of ``sheet.rows`` (as text, before any formula
    guard): the table a DataFrame gives back."""
    outputs = set(OUTPUT_COLUMNS)
    kept = [h for h in sheet.headers if h not in outputs]
    carried = bool(outputs.intersection(sheet.headers))

    def lines() -> Iterator[list[str]]:
        for row in sheet.rows:
            values = row.values
            yield [values.get(h, "") for h in kept] + _results(values, results, row, carried)

    return [*_written(sheet, kept), *OUTPUT_COLUMNS], lines


class OutputLine(NamedTuple):
    """One row of the output: the user's cells as they came, then the result cells."""

    number: int
    """The row the input spreadsheet shows it on."""
    cells: list[str]
    results: list[str] | None
    """One per :data:`OUTPUT_COLUMNS` ("" when none); their names on the header row; None
    above the header (a title row), which is no row of the table."""


def output_lines(sheet: Sheet, results: Mapping[int, Mapping[str, str]]) -> Iterator[OutputLine]:
    """Every row of the output in the input's order: the rows above the header, the header,
    then each data row with its results and each blank row, kept in place, with none.

    Every column of the input comes back in its place, an unnamed one too, but for a column
    named like a result column (a previous output used as input): it is the result column."""
    outputs = set(OUTPUT_COLUMNS)
    layout = sheet.layout
    carried = bool(outputs.intersection(sheet.headers))
    names: list[str | None]
    if layout is None:
        header = [h for h in sheet.headers if h not in outputs]
        names = list(header)
        above: list[list[str]] = []
        blank: list[int] = []
    else:
        at = {i: h for h, i in (sheet.columns or _first_columns(sheet)).items()}
        names = [at.get(i) for i in range(layout.width) if at.get(i) not in outputs]
        positions = [i for i in range(layout.width) if at.get(i) not in outputs]
        written = layout.header
        header = [written[i] if i < len(written) else "" for i in positions]
        above, blank = layout.above, layout.blank
    first = sheet.header_row - len(above)
    for offset, cells in enumerate(above):
        yield OutputLine(first + offset, cells, None)
    yield OutputLine(sheet.header_row, header, list(OUTPUT_COLUMNS))
    empty = [""] * len(names)
    no_results = [""] * len(OUTPUT_COLUMNS)
    b, gaps = 0, len(blank)
    for row in sheet.rows:
        while b < gaps and blank[b] < row.number:
            yield OutputLine(blank[b], empty, no_results)
            b += 1
        values = row.values
        cells = [values.get(h, "") if h is not None else "" for h in names]
        yield OutputLine(row.number, cells, _results(values, results, row, carried))
    for number in blank[b:]:
        yield OutputLine(number, empty, no_results)


def _results(
    values: Mapping[str, str],
    results: Mapping[int, Mapping[str, str]],
    row: Row,
    carried: bool,
) -> list[str]:
    got = results.get(row.number, _NOTHING)
    line = []
    for column in OUTPUT_COLUMNS:
        value = got.get(column)
        if value is None:
            value = values.get(column, "") if carried else ""
        line.append(str(value))
    return line


_NOTHING: Mapping[str, str] = {}


def _first_columns(sheet: Sheet) -> dict[str, int]:
    return {h: i for i, h in enumerate(sheet.headers)}


def _written(sheet: Sheet, names: list[str]) -> list[str]:
    """``names`` as the header row writes them (``Email `` for ``Email``)."""
    layout = sheet.layout
    if layout is None:
        return names
    at = sheet.columns or _first_columns(sheet)
    written = layout.header
    return [written[at[h]] if at.get(h, len(written)) < len(written) else h for h in names]
