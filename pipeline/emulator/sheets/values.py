"""Value reads and writes of the fake Google Sheets (``values.get``, ``values.update`` and
``values.batchUpdate``): cells rendered as the API answers them, and values written as sent
(RAW) or as if typed (USER_ENTERED), a literal formula's value computed."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from pipeline.emulator.sheets.errors import invalid
from pipeline.emulator.sheets.formats import EPOCH
from pipeline.emulator.sheets.grid import Cell, Spreadsheet, Tab
from pipeline.emulator.sheets.ranges import a1, grid_fault, letters, parse_range

_NUMBER = re.compile(r"[+-]?(\d[\d,]*(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


# --- reads ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value == int(value) and abs(value) < 2**53:
        return int(value)
    return value


def _renderer(option: str, dates: str) -> Any:
    def render(cell: Cell) -> Any:
        if option == "FORMULA" and cell.formula is not None:
            return cell.formula
        if option == "FORMATTED_VALUE":
            return cell.shown
        if cell.value is None:
            return ""
        if dates == "FORMATTED_STRING" and re.search(r"[yd]", cell.number_format or "", re.I):
            return cell.shown
        return _plain(cell.value)

    if option not in ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"):
        raise invalid(f"Invalid value at 'value_render_option' ({option})")
    return render


def read_values(sheet: Spreadsheet, text: str, query: Any) -> dict[str, Any]:
    area = parse_range(text, sheet.tabs)
    r0, r1, c0, c1 = area.bounded()
    if r1 > area.tab.rows or c1 > area.tab.columns or r0 >= r1 or c0 >= c1:
        raise grid_fault(area, r1, c1)
    render = _renderer(
        query.get("valueRenderOption", "FORMATTED_VALUE"),
        query.get("dateTimeRenderOption", "SERIAL_NUMBER"),
    )
    major = query.get("majorDimension", "ROWS")
    if major == "COLUMNS":
        cols = [[render(area.tab.get(r, c)) for r in range(r0, r1)] for c in range(c0, c1)]
        grid = _trim(cols)
    elif major == "ROWS":
        grid = area.tab.grid(range(r0, r1), range(c0, c1), render)
    else:
        raise invalid(f"Invalid value at 'major_dimension' ({major})")
    answer: dict[str, Any] = {"range": a1(area.tab, r0, r1, c0, c1), "majorDimension": major}
    if grid:
        answer["values"] = grid
    return answer


def _trim(lines: list[list[Any]]) -> list[list[Any]]:
    for line in lines:
        while line and line[-1] in ("", None):
            line.pop()
    while lines and not lines[-1]:
        lines.pop()
    return lines


# --- value writes -----------------------------------------------------------------------------


def _entered(value: Any, user_entered: bool) -> Cell:
    """The value and formula a written JSON value leaves in a cell (its format kept apart)."""
    if isinstance(value, bool):
        return Cell(value=value)
    if isinstance(value, int | float):
        return Cell(value=float(value))
    if not isinstance(value, str):
        raise invalid(f"Invalid values: {json.dumps(value)} is not a cell value")
    if not user_entered or value == "":
        return Cell(value=value or None)
    if value.startswith("="):
        return Cell(value=evaluate(value), formula=value)
    if value.startswith("'"):
        return Cell(value=value[1:])
    if value.upper() in ("TRUE", "FALSE"):
        return Cell(value=value.upper() == "TRUE")
    if _NUMBER.fullmatch(value.strip()):
        return Cell(value=float(value.strip().replace(",", "")))
    for pattern, form in (("%Y-%m-%d", "yyyy-mm-dd"), ("%Y-%m-%d %H:%M:%S", "yyyy-mm-dd hh:mm:ss")):
        try:
            moment = datetime.strptime(value.strip(), pattern)
        except ValueError:
            continue
        return Cell(value=(moment - EPOCH).total_seconds() / 86400, number_format=form)
    return Cell(value=value)


def evaluate(formula: str) -> str | float | None:
    """The value of the few formulas worth computing: a literal, or HYPERLINK's label."""
    body = formula[1:].strip()
    link = re.fullmatch(
        r'HYPERLINK\(\s*"((?:[^"]|"")*)"\s*(?:[,;]\s*"((?:[^"]|"")*)"\s*)?\)', body, re.I
    )
    if link:
        return (link.group(2) if link.group(2) is not None else link.group(1)).replace('""', '"')
    if re.fullmatch(r'"(?:[^"]|"")*"', body):
        return body[1:-1].replace('""', '"')
    if _NUMBER.fullmatch(body):
        return float(body.replace(",", ""))
    return None


def write_values(tabs: list[Tab], item: Any, user_entered: bool) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("range"), str):
        raise invalid("Invalid data: each item needs a range and values")
    area = parse_range(item["range"], tabs)
    if area.r1 == area.r0 + 1 and area.c1 == area.c0 + 1 and ":" not in item["range"][-12:]:
        # One cell names where the block starts, as Google takes it, not its size.
        area = replace(area, r1=None, c1=None)
    rows = item.get("values") or []
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise invalid("Invalid values: a list of lists is expected")
    if item.get("majorDimension", "ROWS") == "COLUMNS":
        width = max((len(col) for col in rows), default=0)
        rows = [[col[i] if i < len(col) else None for col in rows] for i in range(width)]
    height, width = len(rows), max((len(row) for row in rows), default=0)
    r1, c1 = area.r0 + max(height, 1), area.c0 + max(width, 1)
    if area.r1 is not None and r1 > area.r1:
        raise invalid(
            f"Requested writing within range [{item['range']}], but tried writing to row [{r1}]"
        )
    if area.c1 is not None and c1 > area.c1:
        raise invalid(
            f"Requested writing within range [{item['range']}], but tried writing to "
            f"column [{letters(c1 - 1)}]"
        )
    if r1 > area.tab.rows or c1 > area.tab.columns:
        raise grid_fault(area, r1, c1)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if value is None:
                continue  # null leaves the cell as it is
            r, c = area.r0 + i, area.c0 + j
            new = _entered(value, user_entered)
            old = area.tab.get(r, c)
            form = old.number_format if new.number_format is None else new.number_format
            area.tab.put(
                r, c, replace(old, value=new.value, formula=new.formula, number_format=form)
            )
    return {
        "spreadsheetId": "",
        "updatedRange": a1(area.tab, area.r0, r1, area.c0, c1),
        "updatedRows": height,
        "updatedColumns": width,
        "updatedCells": sum(len(row) for row in rows),
    }


def input_option(value: Any) -> bool:
    if value is None:
        raise invalid("'valueInputOption' is required but not specified")
    if value not in ("RAW", "USER_ENTERED"):
        raise invalid(f"Invalid value at 'value_input_option' ({value})")
    return bool(value == "USER_ENTERED")
