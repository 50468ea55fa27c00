"""``spreadsheets:batchUpdate`` of the fake Google Sheets: each request checked and applied to
the tabs the :class:`~pipeline.emulator.sheets.state.SheetsWorld` hands over (a copy, kept
only if the whole batch succeeded)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from pipeline.emulator.sheets.errors import invalid
from pipeline.emulator.sheets.formats import DEFAULT_PATTERNS, NUMBER_FORMAT_TYPES
from pipeline.emulator.sheets.grid import Cell, Tab
from pipeline.emulator.sheets.state import SheetsWorld
from pipeline.emulator.sheets.values import evaluate

_CELL_FIELDS = {  # the CellData paths this fake keeps, by Cell attribute
    "value": "userEnteredValue",
    "number_format": "userEnteredFormat.numberFormat",
    "bold": "userEnteredFormat.textFormat.bold",
    "link": "userEnteredFormat.textFormat.link",
    "background": "userEnteredFormat.backgroundColor",
}
_CELL_DATA_ROOTS = {
    *("userEnteredValue", "userEnteredFormat", "note", "hyperlink", "textFormatRuns"),
    *("dataValidation", "pivotTable", "dataSourceFormula", "chipRuns"),
}


class _Bad(Exception):
    """One batchUpdate request is invalid; the batch answers ``Invalid requests[i].kind: why``."""


def batch_update(world: SheetsWorld, tabs: list[Tab], body: Any) -> list[dict[str, Any]]:
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list):
        raise invalid("Invalid JSON payload received. 'requests' must be a list")
    for i, request in enumerate(requests):
        kind = next(iter(request), "") if isinstance(request, dict) and len(request) == 1 else ""
        apply = _KINDS.get(kind)
        if apply is None:
            raise invalid(f"Invalid requests[{i}]: exactly one known request kind is expected")
        try:
            params = request[kind]
            if not isinstance(params, dict):
                raise _Bad("the request must be an object")
            apply(world, tabs, params)
        except _Bad as exc:
            raise invalid(f"Invalid requests[{i}].{kind}: {exc}") from exc
    return [{} for _ in requests]


def _by_gid(tabs: list[Tab], gid: Any) -> Tab:
    for tab in tabs:
        if tab.gid == (gid or 0):
            return tab
    raise _Bad(f"No grid with id: {gid}")


def _within(tab: Tab, row: int, col: int) -> None:
    if row < 0 or col < 0:
        raise _Bad(f"GridCoordinate cannot be negative: row {row}, column {col}")
    if row >= tab.rows:
        raise _Bad(f"GridCoordinate.rowIndex[{row}] is after last row in grid[{tab.rows - 1}]")
    if col >= tab.columns:
        raise _Bad(
            f"GridCoordinate.columnIndex[{col}] is after last col in grid[{tab.columns - 1}]"
        )


def _grid_range(tabs: list[Tab], grid: Any) -> tuple[Tab, range, range]:
    if not isinstance(grid, dict):
        raise _Bad("a GridRange is required")
    tab = _by_gid(tabs, grid.get("sheetId"))
    r0, r1 = grid.get("startRowIndex", 0), grid.get("endRowIndex", tab.rows)
    c0, c1 = grid.get("startColumnIndex", 0), grid.get("endColumnIndex", tab.columns)
    if r0 > r1 or c0 > c1:
        raise _Bad("the range's start is after its end")
    if r1 > r0 and c1 > c0:
        _within(tab, r0, c0)
        _within(tab, r1 - 1, c1 - 1)
    return tab, range(r0, r1), range(c0, c1)


def _covered(mask: list[str], path: str) -> bool:
    return any(
        m == "*" or path == m or path.startswith(m + ".") or m.startswith(path + ".") for m in mask
    )


def _cell_data(data: Any) -> Cell:
    """A CellData as the cell it would make were every field applied."""
    if not isinstance(data, dict):
        raise _Bad("a CellData must be an object")
    entered = data.get("userEnteredValue")
    cell = Cell()
    if entered is not None:
        if not isinstance(entered, dict) or len(entered) != 1:
            raise _Bad("userEnteredValue must hold exactly one of its value kinds")
        ((kind, value),) = entered.items()
        if kind == "stringValue" and isinstance(value, str):
            cell.value = value  # never a formula, whatever it starts with
        elif (
            kind == "numberValue" and isinstance(value, int | float) and not isinstance(value, bool)
        ):
            cell.value = float(value)
        elif kind == "boolValue" and isinstance(value, bool):
            cell.value = value
        elif kind == "formulaValue" and isinstance(value, str) and value.startswith("="):
            cell.value, cell.formula = evaluate(value), value
        else:
            raise _Bad(f"Invalid value at userEnteredValue.{kind} ({json.dumps(value)})")
    style = data.get("userEnteredFormat") or {}
    number = style.get("numberFormat")
    if number is not None:
        kind = number.get("type", "NUMBER_FORMAT_TYPE_UNSPECIFIED")
        if kind not in NUMBER_FORMAT_TYPES:
            raise _Bad(f"Invalid value at userEnteredFormat.numberFormat.type ({kind})")
        cell.number_format = number.get("pattern") or DEFAULT_PATTERNS.get(kind)
    text = style.get("textFormat") or {}
    cell.bold = bool(text.get("bold", False))
    cell.link = (text.get("link") or {}).get("uri")
    cell.background = style.get("backgroundColor")
    return cell


def _update_cells(world: SheetsWorld, tabs: list[Tab], params: dict[str, Any]) -> None:
    mask = [m.strip() for m in str(params.get("fields") or "").split(",") if m.strip()]
    if not mask:
        raise _Bad("At least one field must be specified in 'fields'.")
    for m in mask:
        if m != "*" and m.split(".")[0] not in _CELL_DATA_ROOTS:
            raise _Bad(f"Invalid field mask: {m} is not a field of CellData")
    rows = [row.get("values") or [] for row in params.get("rows") or [] if isinstance(row, dict)]
    changes: list[tuple[int, int, Cell]] = []
    if ("start" in params) == ("range" in params):
        raise _Bad("Exactly one of start or range must be set")
    if "start" in params:
        start = params["start"]
        tab = _by_gid(tabs, start.get("sheetId"))
        r0, c0 = start.get("rowIndex", 0), start.get("columnIndex", 0)
        for i, row in enumerate(rows):
            for j, data in enumerate(row):
                _within(tab, r0 + i, c0 + j)
                changes.append((r0 + i, c0 + j, _cell_data(data)))
    else:
        tab, row_span, col_span = _grid_range(tabs, params["range"])
        for i, r in enumerate(row_span):
            for j, c in enumerate(col_span):
                data = rows[i][j] if i < len(rows) and j < len(rows[i]) else {}
                changes.append((r, c, _cell_data(data)))
    names = [name for name, path in _CELL_FIELDS.items() if _covered(mask, path)]
    for r, c, new in changes:
        update = {name: getattr(new, name) for name in names}
        if "value" in update:
            update["formula"] = new.formula
        tab.put(r, c, replace(tab.get(r, c), **update))


def _check_cells(world: SheetsWorld, tabs: list[Tab]) -> None:
    if sum(tab.rows * tab.columns for tab in tabs) > world.max_cells:
        raise _Bad(
            "This action would increase the number of cells in the workbook above the limit "
            f"of {world.max_cells} cells."
        )


def _dimension(params: dict[str, Any]) -> bool:
    dimension = params.get("dimension")
    if dimension not in ("ROWS", "COLUMNS"):
        raise _Bad(f"Invalid dimension: {dimension}")
    return bool(dimension == "ROWS")


def _append_dimension(world: SheetsWorld, tabs: list[Tab], params: dict[str, Any]) -> None:
    tab, rows, length = (
        _by_gid(tabs, params.get("sheetId")),
        _dimension(params),
        params.get("length"),
    )
    if not isinstance(length, int) or length < 1:
        raise _Bad("length must be at least 1")
    tab.insert(rows, tab.rows if rows else tab.columns, length)
    _check_cells(world, tabs)


def _dimension_range(tabs: list[Tab], params: dict[str, Any]) -> tuple[Tab, bool, int, int, int]:
    span = params.get("range")
    if not isinstance(span, dict):
        raise _Bad("range is required")
    tab, rows = _by_gid(tabs, span.get("sheetId")), _dimension(span)
    start, end = span.get("startIndex", 0), span.get("endIndex")
    size = tab.rows if rows else tab.columns
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
        raise _Bad("range needs 0 <= startIndex < endIndex")
    return tab, rows, start, end, size


def _insert_dimension(world: SheetsWorld, tabs: list[Tab], params: dict[str, Any]) -> None:
    tab, rows, start, end, size = _dimension_range(tabs, params)
    if start > size:
        raise _Bad(f"startIndex[{start}] is after the end of the grid[{size}]")
    tab.insert(rows, start, end - start)
    _check_cells(world, tabs)


def _delete_dimension(world: SheetsWorld, tabs: list[Tab], params: dict[str, Any]) -> None:
    tab, rows, start, end, size = _dimension_range(tabs, params)
    if end > size:
        raise _Bad(f"endIndex[{end}] is after the end of the grid[{size}]")
    if start == 0 and end == size:
        raise _Bad(f"You can't delete all the {'rows' if rows else 'columns'} on the sheet.")
    tab.delete(rows, start, end)


def _update_sheet_properties(world: SheetsWorld, tabs: list[Tab], params: dict[str, Any]) -> None:
    props, fields = params.get("properties") or {}, str(params.get("fields") or "")
    if not fields:
        raise _Bad("At least one field must be specified in 'fields'.")
    tab, grid = _by_gid(tabs, props.get("sheetId")), props.get("gridProperties") or {}
    rows, columns = tab.rows, tab.columns
    for path in (p.strip() for p in fields.split(",")):
        if _covered([path], "gridProperties.rowCount"):
            rows = grid.get("rowCount", 0)
        if _covered([path], "gridProperties.columnCount"):
            columns = grid.get("columnCount", 0)
        if _covered([path], "title"):
            if not props.get("title") or any(
                t.title == props["title"] for t in tabs if t is not tab
            ):
                raise _Bad(f'A sheet with the name "{props.get("title")}" already exists.')
            tab.title = props["title"]
    if not isinstance(rows, int) or not isinstance(columns, int) or rows < 1 or columns < 1:
        raise _Bad("gridProperties.rowCount and columnCount must be at least 1")
    tab.resize(rows, columns)
    _check_cells(world, tabs)


def _sort_range(world: SheetsWorld, tabs: list[Tab], params: dict[str, Any]) -> None:
    tab, rows, cols = _grid_range(tabs, params.get("range"))
    specs = []
    for spec in params.get("sortSpecs") or []:
        column, order = spec.get("dimensionIndex", 0), spec.get("sortOrder", "ASCENDING")
        if column not in cols or order not in ("ASCENDING", "DESCENDING"):
            raise _Bad(f"Invalid sort spec: {json.dumps(spec)}")
        specs.append((column, order == "DESCENDING"))
    if not specs:
        raise _Bad("At least one sortSpec is required")
    tab.sort(rows, cols, specs)


_KINDS = {
    "updateCells": _update_cells,
    "appendDimension": _append_dimension,
    "insertDimension": _insert_dimension,
    "deleteDimension": _delete_dimension,
    "updateSheetProperties": _update_sheet_properties,
    "sortRange": _sort_range,
}
