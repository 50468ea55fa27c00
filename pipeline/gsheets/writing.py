"""The results written back into the Google Sheet, in place, by key.

A run lasts hours and colleagues edit the sheet meanwhile: they insert rows, delete them,
sort. So no write trusts a row number remembered from the start. Each one reads the tab as it
is now, finds the header again, works out every row's key from its cells (the same key the
run gave it), and writes a row's results on the row that holds its key now; a result whose
row is gone waits in the state file. Only the ``argil_*`` columns are written (added beside
the header when missing, the grid grown when too narrow), as typed cells: a number, a date, a
link; text is always a string value, never read as a formula. One ``batchUpdate`` a pass,
and only the cells that differ from what the sheet shows; a pass that sent anything is
checked by the next one's read (see :meth:`GoogleSheetOutput.write`).

A cell's text is the same whichever way it is typed, so these results read back as the
file output's do."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from pipeline.errors import JobError
from pipeline.gsheets.client import SheetsClient
from pipeline.gsheets.reading import Tab, read_grid, tab_again
from pipeline.sheets import OUTPUT_COLUMNS, Sheet, SheetError, sheet_from_grid
from pipeline.sheets.xlsx_output import typed_result

KeysOf = Callable[[Sheet], list[str]]

_KEY = "argil_row_key"
_FIELDS = (
    "userEnteredValue,userEnteredFormat.numberFormat,userEnteredFormat.textFormat.link,"
    "userEnteredFormat.backgroundColor"
)
_EPOCH = dt.datetime(1899, 12, 30)
_MOMENT_PATTERN = 'yyyy-mm-dd hh:mm:ss "UTC"'
# The fills of Excel's Good / Bad / Neutral styles, as the XLSX output colours statuses.
_FILLS = {
    "done": {"red": 0.776, "green": 0.937, "blue": 0.808},
    "failed": {"red": 1.0, "green": 0.78, "blue": 0.808},
    "going": {"red": 1.0, "green": 0.922, "blue": 0.612},
}
# How far down a moved header is looked for (rows inserted above it).
_HEADER_SEARCH = 200
# Google: "a 2-MB maximum payload is recommended"; a larger batch is slower, and at 10 MB it
# is refused.
MAX_PAYLOAD = 2_000_000
_ROWS_PER_REQUEST = 500  # about 0.5 MB of results
# The reads of one write: the first, and those that check what the one before sent. A sort
# between a read and its batchUpdate is a fraction of a second; twice in a row is rare, three
# times unseen, and a fifth read would only spend quota on a colleague still sorting.
_READS = 4


class GoogleSheetOutput:
    """The run's output when its sheet is a Google Sheet: the sheet itself.

    ``keys_of`` gives the key of every row of a sheet as the run works them out (the
    config's key columns, or the row's video): how a result finds its row again."""

    in_place = True

    def __init__(self, client: SheetsClient, tab: Tab, sheet: Sheet, keys_of: KeysOf) -> None:
        self.client, self.tab, self.sheet, self.keys_of = client, tab, sheet, keys_of
        self.notes: list[str] = []
        self.unplaced = 0  # results whose row is not in the sheet any more
        # The last write sent cells no read checked since: the sheet changed under each pass.
        self.unsettled = False
        self.writes = 0
        self._user_headers = [h for h in sheet.headers if h not in OUTPUT_COLUMNS]

    def load(self) -> None:
        """The result columns' headers written now: a sheet the service account may only
        view is refused before anything is sent, not at the first write of results."""
        self.write({}, headers_only=True)

    def describe(self) -> str:
        return f"written in place into {self.tab.label}"

    def write(
        self, results: Mapping[int, Mapping[str, str]], *, headers_only: bool = False
    ) -> None:
        """Write ``results`` (by row number at the run's start; each carries its row's key),
        then read again until a read finds nothing to write.

        Google Sheets has no conditional write: a sort that lands between a pass's read and its
        ``batchUpdate`` puts results on the rows the sort brought there. The read after it
        sees them (a row showing another row's key) and the next pass puts each back on its
        own row; a read that finds every row as it should be proves the tab right at that
        moment, and a later sort moves whole rows, results with them. A colleague who keeps
        sorting through every pass leaves the rest to the next write (and says so)."""
        if headers_only:
            self._write_once(results, headers_only=True)
            return
        for _ in range(_READS):
            self.unsettled = self._write_once(results)
            if not self.unsettled:
                return

    def _write_once(
        self, results: Mapping[int, Mapping[str, str]], *, headers_only: bool = False
    ) -> bool:
        """One pass: read the tab, send what differs. Whether any result cell was sent."""
        tab, grid = read_grid(self.client, self.tab)
        self.tab = tab
        header_row = self._header_row(grid)
        header = grid[header_row - 1] if header_row <= len(grid) else []
        positions, added = _result_positions(header, grid)
        requests: list[dict[str, Any]] = []
        widest = max(positions.values()) + 1
        if widest > tab.columns:
            tab = tab_again(self.client, tab)  # grown by someone else meanwhile?
        if widest > tab.columns:
            requests.append(
                {
                    "appendDimension": {
                        "sheetId": tab.gid,
                        "dimension": "COLUMNS",
                        "length": widest - tab.columns,
                    }
                }
            )
        # The result headers missing, or (the first write of a run) all of them, rewritten as
        # they are: the one write that proves, before anything is sent, that the service
        # account may edit the sheet.
        for column in OUTPUT_COLUMNS if headers_only else added:
            requests.append(_update(tab.gid, header_row, positions[column], [_header_cell(column)]))
        rows = [] if headers_only else self._result_requests(grid, header_row, positions, results)
        for chunk in _chunks(_merged(requests + rows)):
            self.client.batch_update(tab.ref.spreadsheet_id, chunk)
            self.writes += 1
        self.tab = replace(tab, columns=max(tab.columns, widest))
        return bool(rows)

    def _header_row(self, grid: list[list[str]]) -> int:
        """The header's row now: where it was, or where rows inserted above it moved it."""
        wanted = set(self._user_headers)
        first = self.sheet.header_row
        order = [first, *range(1, min(len(grid), _HEADER_SEARCH) + 1)]
        for number in order:
            if number <= len(grid) and wanted <= {c.strip() for c in grid[number - 1]}:
                return number
        # Said inside the writer's message, which names the sheet and what to do.
        raise SheetError(
            f"no row holds its header ({', '.join(self._user_headers)}) any more: put it back"
        )

    def _result_requests(
        self,
        grid: list[list[str]],
        header_row: int,
        positions: dict[str, int],
        results: Mapping[int, Mapping[str, str]],
    ) -> list[dict[str, Any]]:
        # Results by key, in the order of the rows they were made for: two rows with one key
        # (a duplicate, refused) take theirs in turn.
        wanted: dict[str, deque[Mapping[str, str]]] = defaultdict(deque)
        for number in sorted(results):
            made = results[number]
            key = made.get(_KEY, "")
            if key:
                wanted[key].append(made)
        try:
            now = sheet_from_grid(
                grid,
                where=self.tab.label,
                path=self.sheet.path,
                kind="google",
                sheet_name=self.tab.title,
                header_row=header_row,
            )
            keys = self.keys_of(now)
        except JobError as exc:
            # A column the config reads renamed, a stray cell: until it is put right, no row
            # can be told by its key, and nothing is written where it might not belong.
            raise SheetError(
                f"it no longer reads as it did when the run started: {exc}; put it back"
            ) from None
        requests: list[dict[str, Any]] = []
        for row, key in zip(now.rows, keys, strict=True):
            queue = wanted.get(key)
            if queue:
                columns: Mapping[str, str] = queue.popleft()
            elif row.values.get(_KEY, "").strip() not in ("", key):
                # Another row's results (a row copied, or edited into another lead since):
                # they are not this row's.
                columns = dict.fromkeys(OUTPUT_COLUMNS, "")
            else:
                continue
            current = grid[row.number - 1] if row.number <= len(grid) else []
            if all(
                _shown(c, columns.get(c, "")) == _cell(current, positions[c])
                for c in OUTPUT_COLUMNS
            ):
                continue
            # The whole row's results, the unchanged too: side by side, and row under row,
            # they merge into one request for a block of rows (see _merged).
            for column in OUTPUT_COLUMNS:
                cell = _result_cell(column, columns.get(column, ""))
                requests.append(_update(self.tab.gid, row.number, positions[column], [cell]))
        self.unplaced = sum(len(queue) for queue in wanted.values())
        return requests


def _result_positions(header: list[str], grid: list[list[str]]) -> tuple[dict[str, int], list[str]]:
    """Each result column's 0-based column: where a previous run put it, or after every
    cell of the tab for the missing ones (which are returned too)."""
    at = {cell.strip(): i for i, cell in enumerate(header) if cell.strip()}
    positions = {c: at[c] for c in OUTPUT_COLUMNS if c in at}
    added = [c for c in OUTPUT_COLUMNS if c not in at]
    nxt = max((len(row) for row in grid), default=0)
    if positions:
        nxt = max(nxt, max(positions.values()) + 1)
    for column in added:
        positions[column] = nxt
        nxt += 1
    return positions, added


def _cell(row: list[str], index: int) -> str:
    return row[index] if index < len(row) else ""


def _shown(column: str, text: str) -> str:
    """The text the cell will show once written (how it is told apart from what it shows)."""
    typed = typed_result(column, text) if text else None
    if typed is None:
        return ""
    value = typed.value
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    return str(value)


def _result_cell(column: str, text: str) -> dict[str, Any]:
    typed = typed_result(column, text) if text else None
    if typed is None:
        return {}  # under the field mask: the cell is emptied
    value = typed.value
    fmt: dict[str, Any] = {}
    if isinstance(value, dt.datetime):
        serial = (value - _EPOCH) / dt.timedelta(days=1)
        entered: dict[str, Any] = {"numberValue": serial}
        fmt["numberFormat"] = {"type": "DATE_TIME", "pattern": _MOMENT_PATTERN}
    elif isinstance(value, (int, float)):
        entered = {"numberValue": value}
    else:
        # A string value is stored as text, whatever it starts with: never a formula.
        entered = {"stringValue": value}
    if typed.link:
        fmt["textFormat"] = {"link": {"uri": typed.link}}
    if typed.style in _FILLS:
        fmt["backgroundColor"] = _FILLS[typed.style]
    cell: dict[str, Any] = {"userEnteredValue": entered}
    if fmt:
        cell["userEnteredFormat"] = fmt
    return cell


def _header_cell(column: str) -> dict[str, Any]:
    return {"userEnteredValue": {"stringValue": column}}


def _update(gid: int, row: int, column: int, cells: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "updateCells": {
            "rows": [{"values": cells}],
            "fields": _FIELDS,
            "start": {"sheetId": gid, "rowIndex": row - 1, "columnIndex": column},
        }
    }


def _merged(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cells side by side on one row in one request, then rows one under the other over the
    same columns in one request: a run's first write of 5,000 rows is one request, not
    45,000, and a fifth smaller."""
    across: list[dict[str, Any]] = []
    for request in requests:
        last = across[-1].get("updateCells") if across else None
        this = request.get("updateCells")
        if last is not None and this is not None and len(last["rows"]) == 1:
            start, width = last["start"], len(last["rows"][0]["values"])
            if (
                this["start"]["rowIndex"] == start["rowIndex"]
                and this["start"]["columnIndex"] == start["columnIndex"] + width
            ):
                last["rows"][0]["values"].extend(this["rows"][0]["values"])
                continue
        across.append(request)
    down: list[dict[str, Any]] = []
    for request in across:
        last = down[-1].get("updateCells") if down else None
        this = request.get("updateCells")
        if last is not None and this is not None:
            start, height = last["start"], len(last["rows"])
            if (
                this["start"]["columnIndex"] == start["columnIndex"]
                and this["start"]["rowIndex"] == start["rowIndex"] + height
                and len(this["rows"][0]["values"]) == len(last["rows"][0]["values"])
            ):
                last["rows"].extend(this["rows"])
                continue
        down.append(request)
    return down


def _chunks(requests: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The requests in batches of at most about 2 MB, the payload Google advises at most (a
    5,000-row first write is about 5 MB): each batch is applied whole, and a write cut
    between two is finished by the next, which sends only what still differs."""
    chunks: list[list[dict[str, Any]]] = []
    size = MAX_PAYLOAD
    for request in _split_rows(requests):
        cost = len(json.dumps(request, separators=(",", ":")))
        if size + cost > MAX_PAYLOAD and (not chunks or chunks[-1]):
            chunks.append([])
            size = 0
        chunks[-1].append(request)
        size += cost
    return chunks


def _split_rows(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A request of many rows cut into requests of at most ``_ROWS_PER_REQUEST`` rows, so
    that no one request is over the payload alone."""
    out: list[dict[str, Any]] = []
    for request in requests:
        update = request.get("updateCells")
        if update is None or len(update["rows"]) <= _ROWS_PER_REQUEST:
            out.append(request)
            continue
        start = update["start"]
        for first in range(0, len(update["rows"]), _ROWS_PER_REQUEST):
            rows = update["rows"][first : first + _ROWS_PER_REQUEST]
            at = {**start, "rowIndex": start["rowIndex"] + first}
            out.append({"updateCells": {"rows": rows, "fields": update["fields"], "start": at}})
    return out
