"""batchUpdate requests of the Sheets stand-in (see ``sheets_standin``): request bodies checked
as Google's JSON parser checks them, then applied to the tabs of one transaction, which the
stand-in keeps only if every request succeeded. Written from Google's public documentation
alone; nothing of ``pipeline`` is imported."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sheets_standin_format import Cell, Formula, Scalar, Tab, a1, render

MAX_CELLS = 10_000_000
Json = dict[str, Any]


def names(text: str) -> set[str]:
    """The names of a space-separated list."""
    return set(text.split())


_CELL_DATA = names(
    "userEnteredValue effectiveValue formattedValue userEnteredFormat effectiveFormat hyperlink "
    "note textFormatRuns dataValidation pivotTable dataSourceTable dataSourceFormula chipRuns"
)
_CELL_FORMAT = names(
    "numberFormat backgroundColor backgroundColorStyle borders padding horizontalAlignment "
    "verticalAlignment wrapStrategy textDirection textFormat hyperlinkDisplayType textRotation"
)
_TEXT_FORMAT = names(
    "foregroundColor foregroundColorStyle fontFamily fontSize bold italic strikethrough "
    "underline link"
)
_SHEET_PROPS = names(
    "sheetId title index sheetType gridProperties hidden tabColor tabColorStyle rightToLeft"
)
_GRID_PROPS = names(
    "rowCount columnCount frozenRowCount frozenColumnCount hideGridlines rowGroupControlAfter "
    "columnGroupControlAfter"
)
_NUMBER_TYPES = names("TEXT NUMBER PERCENT CURRENCY DATE TIME DATE_TIME SCIENTIFIC")
_REQUESTS = {
    "updateCells": names("rows fields start range"),
    "appendDimension": names("sheetId dimension length"),
    "insertDimension": names("range inheritFromBefore"),
    "deleteDimension": names("range"),
    "updateSheetProperties": names("properties fields"),
    "sortRange": names("range sortSpecs"),
}


class ApiError(Exception):
    """An error answer in Google's shape: ``{"error": {"code", "message", "status"}}``."""

    def __init__(self, code: int, message: str, status: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status
        self.details: list[Json] = []

    def body(self) -> Json:
        error: Json = {"code": self.code, "message": self.message, "status": self.status}
        return {"error": {**error, "details": self.details} if self.details else error}


# ---- request bodies, checked as Google's JSON parser checks them --------------------------------


def snake(path: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), path)


def json_object(value: Any, allowed: set[str], path: str) -> Json:
    at = f" at '{snake(path)}'" if path else ""
    if not isinstance(value, dict):
        raise ApiError(400, f"Invalid JSON payload received. Expected an object{at}.")
    for key in value:
        if key not in allowed:
            message = f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.'
            raise ApiError(400, message)
    return value


def int_field(obj: Json, key: str, path: str, default: int = 0) -> int:
    v = obj.get(key, default)
    if isinstance(v, str) and re.fullmatch(r"-?\d+", v):
        v = int(v)  # proto3 JSON takes integers as strings too
    if isinstance(v, bool) or not isinstance(v, int):
        raise ApiError(400, f"Invalid value at '{snake(path)}.{snake(key)}' (TYPE_INT32), {v!r}")
    return v


def enum_value(value: Any, allowed: str, path: str, enum: str) -> str:
    if value not in allowed.split():
        kind = f"type.googleapis.com/google.apps.sheets.v4.{enum}"
        raise ApiError(400, f"Invalid value at '{snake(path)}' ({kind}), {json.dumps(value)}")
    return str(value)


def expand_mask(text: Any, where: str) -> list[str]:
    """'a(b,c.d),e' -> ['a.b', 'a.c.d', 'e']: Google's field mask syntax."""
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, f"Invalid {where}: At least one field must be specified in 'fields'.")
    paths, stack, current = [], [""], ""
    for ch in text.replace(" ", "") + ",":
        if ch == "(":
            stack.append(stack[-1] + current + ".")
            current = ""
        elif ch in ",)":
            paths += [stack[-1] + current] if current else []
            current = ""
            if ch == ")" and len(stack) == 1:
                break
            stack = stack[:-1] if ch == ")" else stack
        else:
            current += ch
    if len(stack) != 1 or ch != ",":
        raise ApiError(400, f"Invalid {where}: Invalid field mask: '{text}'")
    return paths


def _cell_mask(fields: Any, where: str) -> set[str]:
    """The Cell attributes that a CellData field mask changes."""
    out: set[str] = set()
    formats = {"number_format", "link", "bold", "background"}
    for path in expand_mask(fields, where):
        head, sub, leaf = [*path.split("."), "", ""][:3]
        if path == "*":
            out |= formats | {"value"}
        elif head == "userEnteredValue":
            out.add("value")
        elif head == "userEnteredFormat" and sub in ("", "numberFormat", "textFormat"):
            picked = {"": formats, "numberFormat": {"number_format"}}.get(sub)
            out |= picked or ({leaf} & {"bold", "link"} if leaf else {"bold", "link"})
            if sub == "textFormat" and leaf and leaf not in _TEXT_FORMAT:
                raise ApiError(400, f"Invalid {where}: Invalid field mask path: '{path}'")
        elif head == "userEnteredFormat" and sub.startswith("backgroundColor"):
            out.add("background")
        elif not (sub in _CELL_FORMAT if head == "userEnteredFormat" else head in _CELL_DATA):
            raise ApiError(400, f"Invalid {where}: Invalid field mask path: '{path}'")
    return out


def formula_value(text: str) -> Scalar:
    m = re.fullmatch(r'=\s*HYPERLINK\(\s*"((?:[^"]|"")*)"\s*(?:,\s*"((?:[^"]|"")*)"\s*)?\)', text)
    return (m.group(2) if m.group(2) is not None else m.group(1)).replace('""', '"') if m else ""


def _cell_data(data: Any, path: str) -> Cell:
    data = json_object(data, _CELL_DATA, path)
    ev = json_object(
        data.get("userEnteredValue", {}),
        names("numberValue stringValue boolValue formulaValue errorValue"),
        path + ".userEnteredValue",
    )
    if len(ev) > 1:
        at = f"'{snake(path)}.user_entered_value' (oneof)"
        message = f"oneof field 'value' is already set. Cannot set '{list(ev)[1]}'"
        raise ApiError(400, f"Invalid value at {at}, {message}")
    value: Scalar | Formula | None = None
    for key, v in ev.items():
        if key == "numberValue" and isinstance(v, (int, float, str)) and not isinstance(v, bool):
            value = (
                float(v) if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", str(v)) else None
            )
        elif key == "boolValue" and isinstance(v, bool):
            value = v
        elif key == "stringValue" and isinstance(v, str):
            value = v or None  # never parsed, even when it starts with '='; "" is an empty cell
        elif key == "formulaValue" and isinstance(v, str):
            value = Formula(v, formula_value(v))
        if value is None and not (key == "stringValue" and v == ""):
            at = f"{snake(path)}.user_entered_value.{snake(key)}"
            raise ApiError(400, f"Invalid value at '{at}', {json.dumps(v)}")
    at = path + ".userEnteredFormat"
    fmt = json_object(data.get("userEnteredFormat", {}), _CELL_FORMAT, at)
    number_format = None
    if "numberFormat" in fmt:
        nf = json_object(fmt["numberFormat"], {"type", "pattern"}, at + ".numberFormat")
        kind = enum_value(
            nf.get("type"), " ".join(_NUMBER_TYPES), at + ".numberFormat.type", "NumberFormatType"
        )
        if not isinstance(nf.get("pattern", ""), str):
            raise ApiError(400, f"Invalid value at '{snake(at)}.number_format.pattern'")
        number_format = (kind, str(nf.get("pattern", "")))
    text = json_object(fmt.get("textFormat", {}), _TEXT_FORMAT, at + ".textFormat")
    link = json_object(text.get("link", {}), {"uri"}, at + ".textFormat.link").get("uri")
    colour = fmt.get("backgroundColor")
    if colour is not None:
        colour = json_object(colour, names("red green blue alpha"), at + ".backgroundColor")
    return Cell(value, number_format, link, text.get("bold") is True, colour)


def sorted_rows(rows: list[dict[int, Cell]], col: int, descending: bool) -> list[dict[int, Cell]]:
    """Stable; numbers, then text, then booleans, as Sheets sorts; empty cells last either way."""

    def key(row: dict[int, Cell]) -> tuple[int, float, str]:
        v = render(row.get(col), "UNFORMATTED_VALUE")
        if isinstance(v, bool):
            return (2, float(v), "")
        return (0, float(v), "") if isinstance(v, (int, float)) else (1, 0.0, v.lower())

    empty = [render(r.get(col), "UNFORMATTED_VALUE") == "" for r in rows]
    filled = sorted(
        (r for r, e in zip(rows, empty, strict=True) if not e), key=key, reverse=descending
    )
    return filled + [r for r, e in zip(rows, empty, strict=True) if e]


# ---- batchUpdate, applied to the tabs of one transaction ----------------------------------------


def check_size(tabs: list[Tab], where: str) -> None:
    if sum(t.row_count * t.column_count for t in tabs) > MAX_CELLS:
        raise ApiError(
            400,
            f"Invalid {where}: This action would increase the number of cells in the workbook "
            f"above the limit of {MAX_CELLS} cells.",
        )


def batch_update(tabs: list[Tab], body: Any) -> Json:
    fields = "requests includeSpreadsheetInResponse responseRanges responseIncludeGridData"
    requests = json_object(body, names(fields), "").get("requests")
    if not isinstance(requests, list) or not requests:
        raise ApiError(400, "Must specify at least one request.")
    for i, request in enumerate(requests):
        if len(json_object(request, set(_REQUESTS), f"requests[{i}]")) != 1:
            several = "Only one kind of request may be set." if request else "No request set."
            raise ApiError(400, f"Invalid requests[{i}]: {several}")
        ((kind, args),) = request.items()
        where = f"requests[{i}].{kind}"
        _APPLY[kind](tabs, json_object(args, _REQUESTS[kind], where), where)
        check_size(tabs, where)
    return {"replies": [{} for _ in requests]}


def _grid(tabs: list[Tab], sheet_id: int, where: str) -> Tab:
    for tab in tabs:
        if tab.sheet_id == sheet_id:
            return tab
    raise ApiError(400, f"Invalid {where}: No grid with id: {sheet_id}")


def _grid_range(tabs: list[Tab], value: Any, where: str) -> tuple[Tab, int, int, int, int]:
    path = where + ".range"
    g = json_object(
        value, names("sheetId startRowIndex endRowIndex startColumnIndex endColumnIndex"), path
    )
    tab = _grid(tabs, int_field(g, "sheetId", path), where)
    r0, c0 = int_field(g, "startRowIndex", path), int_field(g, "startColumnIndex", path)
    r1, c1 = (
        int_field(g, "endRowIndex", path, tab.row_count),
        int_field(g, "endColumnIndex", path, tab.column_count),
    )
    if min(r0, c0) < 0 or r1 < r0 or c1 < c0:
        raise ApiError(
            400, f"Invalid {where}: Invalid range: a start index is negative or after its end"
        )
    if r1 > tab.row_count or c1 > tab.column_count:
        asked, limits = (
            a1(tab.title, r0, c0, r1, c1),
            f"Max rows: {tab.row_count}, max columns: {tab.column_count}",
        )
        raise ApiError(400, f"Invalid {where}: Range ({asked}) exceeds grid limits. {limits}")
    return tab, r0, r1, c0, c1


def _within(tab: Tab, r: int, c: int, where: str, end: tuple[int, int] | None) -> None:
    if end and r >= end[0]:
        raise ApiError(
            400,
            f"Invalid {where}: Attempting to write row: {r}, beyond the last requested row "
            f"of: {end[0] - 1}",
        )
    if end and c >= end[1]:
        raise ApiError(
            400,
            f"Invalid {where}: Attempting to write column: {c}, beyond the last requested "
            f"column of: {end[1] - 1}",
        )
    if r >= tab.row_count or min(r, c) < 0:
        raise ApiError(
            400,
            f"Invalid {where}: GridCoordinate.rowIndex[{r}] is after last row in "
            f"grid[{tab.row_count - 1}]",
        )
    if c >= tab.column_count:
        raise ApiError(
            400,
            f"Invalid {where}: GridCoordinate.columnIndex[{c}] is after last col in "
            f"grid[{tab.column_count - 1}]",
        )


def _update_cells(tabs: list[Tab], a: Json, where: str) -> None:
    mask = _cell_mask(a.get("fields"), where)
    if not isinstance(a.get("rows", []), list):
        raise ApiError(400, f"Invalid value at '{snake(where)}.rows'")
    rows = [
        json_object(row, {"values"}, f"{where}.rows[{i}]").get("values", [])
        for i, row in enumerate(a.get("rows", []))
    ]
    cells = [
        [_cell_data(d, f"{where}.rows[{i}].values[{j}]") for j, d in enumerate(row)]
        for i, row in enumerate(rows)
    ]
    if ("start" in a) == ("range" in a):
        raise ApiError(
            400,
            f"Invalid {where}: "
            + ("Only one of start or range may be set." if "start" in a else "No area specified."),
        )
    end = None
    if "start" in a:
        s = json_object(a["start"], {"sheetId", "rowIndex", "columnIndex"}, where + ".start")
        tab = _grid(tabs, int_field(s, "sheetId", where + ".start"), where)
        r0, c0 = (
            int_field(s, "rowIndex", where + ".start"),
            int_field(s, "columnIndex", where + ".start"),
        )
    else:
        tab, r0, r1, c0, c1 = _grid_range(tabs, a["range"], where)
        end = (r1, c1)
    _within(tab, r0, c0, where, None)
    for i, row in enumerate(cells):
        for j, new in enumerate(row):
            _within(tab, r0 + i, c0 + j, where, end)
            old = tab.get(r0 + i, c0 + j) or Cell()
            tab.put(r0 + i, c0 + j, replace(old, **{k: getattr(new, k) for k in mask}))
    if end:  # what the rows leave of the range has the masked fields cleared, as documented
        for r in range(r0, min(end[0], len(tab.rows))):
            for c in [c for c in tab.rows[r] if c0 <= c < end[1]]:
                if r - r0 >= len(cells) or c - c0 >= len(cells[r - r0]):
                    tab.put(r, c, replace(tab.rows[r][c], **{k: getattr(Cell(), k) for k in mask}))


def _dimension(tabs: list[Tab], a: Json, where: str) -> tuple[Tab, bool]:
    tab = _grid(tabs, int_field(a, "sheetId", where), where)
    rows = (
        enum_value(a.get("dimension"), "ROWS COLUMNS", where + ".dimension", "Dimension") == "ROWS"
    )
    return tab, rows


def _append_dimension(tabs: list[Tab], a: Json, where: str) -> None:
    tab, rows = _dimension(tabs, a, where)
    length = int_field(a, "length", where)
    if length < 1:
        raise ApiError(400, f"Invalid {where}: length must be greater than zero")
    if rows:
        tab.row_count += length
    else:
        tab.column_count += length


def _span(tabs: list[Tab], a: Json, where: str, deleting: bool) -> tuple[Tab, bool, int, int]:
    d = json_object(
        a.get("range"), {"sheetId", "dimension", "startIndex", "endIndex"}, where + ".range"
    )
    tab, rows = _dimension(tabs, d, where)
    start, end = (
        int_field(d, "startIndex", where + ".range"),
        int_field(d, "endIndex", where + ".range"),
    )
    count = tab.row_count if rows else tab.column_count
    if not 0 <= start < end or (end if deleting else start) > count:
        raise ApiError(
            400,
            f"Invalid {where}: Invalid dimension range [{start}, {end}) in a grid of "
            f"{count} {'rows' if rows else 'columns'}",
        )
    if deleting and end - start == count:
        raise ApiError(
            400,
            f"Invalid {where}: You can't delete all the {'rows' if rows else 'columns'} "
            "on the sheet.",
        )
    return tab, rows, start, end


def _insert_dimension(tabs: list[Tab], a: Json, where: str) -> None:
    tab, rows, start, end = _span(tabs, a, where, False)
    n = end - start
    if rows:
        tab.rows[start:start] = [{} for _ in range(n)] if start < len(tab.rows) else []
        tab.row_count += n
    else:
        tab.rows = [{c + n if c >= start else c: v for c, v in row.items()} for row in tab.rows]
        tab.column_count += n


def _delete_dimension(tabs: list[Tab], a: Json, where: str) -> None:
    tab, rows, start, end = _span(tabs, a, where, True)
    n = end - start
    if rows:
        del tab.rows[start:end]
        tab.row_count -= n
    else:
        kept = [{c: v for c, v in row.items() if not start <= c < end} for row in tab.rows]
        tab.rows = [{c - n if c >= end else c: v for c, v in row.items()} for row in kept]
        tab.column_count -= n


def _sort_range(tabs: list[Tab], a: Json, where: str) -> None:
    tab, r0, r1, c0, c1 = _grid_range(tabs, a.get("range"), where)
    specs = a.get("sortSpecs") or []
    keys = []
    for k, spec in enumerate(specs if isinstance(specs, list) else [specs]):
        at = f"{where}.sortSpecs[{k}]"
        spec = json_object(
            spec,
            names(
                "dimensionIndex sortOrder foregroundColor backgroundColor "
                "foregroundColorStyle backgroundColorStyle dataSourceColumnReference"
            ),
            at,
        )
        col = int_field(spec, "dimensionIndex", at)
        if not c0 <= col < c1:
            raise ApiError(
                400,
                f"Invalid {where}: sortSpecs[{k}].dimensionIndex {col} is outside the range",
            )
        order = enum_value(
            spec.get("sortOrder", "ASCENDING"),
            "ASCENDING DESCENDING",
            at + ".sortOrder",
            "SortOrder",
        )
        keys.append((col, order == "DESCENDING"))
    end = min(r1, len(tab.rows))  # the rows past the data are empty, and empty rows sort last
    block = [{c: v for c, v in tab.rows[r].items() if c0 <= c < c1} for r in range(r0, end)]
    for col, descending in reversed(keys):
        block = sorted_rows(block, col, descending)
    for r, part in zip(range(r0, end), block, strict=True):
        tab.rows[r] = {**{c: v for c, v in tab.rows[r].items() if not c0 <= c < c1}, **part}


def _update_sheet_properties(tabs: list[Tab], a: Json, where: str) -> None:
    at = where + ".properties"
    props = json_object(a.get("properties", {}), _SHEET_PROPS, at)
    grid = json_object(props.get("gridProperties", {}), _GRID_PROPS, at + ".gridProperties")
    tab = _grid(tabs, int_field(props, "sheetId", at), where)
    for path in expand_mask(a.get("fields"), where):
        head, _, leaf = path.partition(".")
        for name in ["title", "index", "gridProperties"] if path == "*" else [head]:
            if name == "title":
                title = props.get("title")
                if not isinstance(title, str) or not title.strip():
                    raise ApiError(400, f"Invalid {where}: The sheet name cannot be empty.")
                if any(t.title.lower() == title.lower() for t in tabs if t is not tab):
                    raise ApiError(
                        400,
                        f'Invalid {where}: A sheet with the name "{title}" already exists. '
                        "Please enter another name.",
                    )
                tab.title = title
            elif name == "index":
                tabs.remove(tab)
                tabs.insert(min(max(0, int_field(props, "index", at)), len(tabs)), tab)
            elif name == "gridProperties" and leaf in ("", "rowCount", "columnCount"):
                for key in [leaf] if leaf else ["rowCount", "columnCount"]:
                    count = int_field(grid, key, at + ".gridProperties")
                    if count < 1:
                        raise ApiError(
                            400,
                            f"Invalid {where}: You can't delete all the "
                            f"{'rows' if key == 'rowCount' else 'columns'} on the sheet.",
                        )
                    if key == "rowCount":
                        tab.row_count, tab.rows = count, tab.rows[:count]
                    else:
                        tab.column_count = count
                        tab.rows = [{c: v for c, v in row.items() if c < count} for row in tab.rows]
            elif name not in _SHEET_PROPS or (name == "gridProperties" and leaf not in _GRID_PROPS):
                raise ApiError(400, f"Invalid {where}: Invalid field mask path: '{path}'")


_APPLY: dict[str, Callable[[list[Tab], Json, str], None]] = {
    "updateCells": _update_cells,
    "appendDimension": _append_dimension,
    "insertDimension": _insert_dimension,
    "deleteDimension": _delete_dimension,
    "updateSheetProperties": _update_sheet_properties,
    "sortRange": _sort_range,
}
