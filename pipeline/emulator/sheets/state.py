"""The fake Google Sheets' state and rules, without HTTP: :class:`SheetsWorld` and its state file.

:class:`SheetsWorld` is what tests and the sandbox hold. Every change made over HTTP goes
through :meth:`SheetsWorld.write`, which applies it to a copy of the spreadsheet's tabs and
keeps the copy only if all of it succeeded: Google's batch updates are atomic. Colleague edits
(:meth:`SheetsWorld.insert_rows` and friends) change the sheet behind the client's back. Its
accounts, tokens and quotas are kept by :class:`~pipeline.emulator.sheets.quotas.Gatekeeper`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from pipeline.emulator.settings import StateFileError
from pipeline.emulator.sheets.errors import SheetsError
from pipeline.emulator.sheets.grid import Cell, Spreadsheet, Tab, to_cell
from pipeline.emulator.sheets.quotas import Gatekeeper

MAX_CELLS = 10_000_000

T = TypeVar("T")
Seed = Callable[[str], "tuple[str, dict[str, list[list[object]]]] | None"]


class SheetsWorld(Gatekeeper):
    """Spreadsheets, service accounts, tokens and quotas of one fake Google (thread-safe).

    ``clock`` (seconds) drives token expiry and the quota windows; ``window`` seconds long,
    ``user_reads``/``user_writes`` per service account and ``project_reads``/``project_writes``
    for the whole fake. Counters: ``reads`` and ``writes`` count successful requests,
    ``rate_limited`` the 429s, ``tokens`` the tokens issued; ``write_log`` the bodies of the
    successful writes.
    """

    def __init__(
        self,
        *,
        seed: Seed | None = None,
        state_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        token_lifetime: float = 3599,
        window: float = 60.0,
        user_reads: int = 60,
        user_writes: int = 60,
        project_reads: int = 300,
        project_writes: int = 300,
        max_cells: int = MAX_CELLS,
    ) -> None:
        self.seed, self.state_file, self.clock = seed, state_file, clock
        self.token_lifetime, self.window, self.max_cells = token_lifetime, window, max_cells
        self.limits = {
            ("user", False): user_reads,
            ("user", True): user_writes,
            ("project", False): project_reads,
            ("project", True): project_writes,
        }
        self._lock = threading.RLock()
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.accounts: dict[str, str] = {}
        self._tokens = {}
        self._windows = {}
        self._hooks: dict[int, list[Callable[[], None]]] = {}
        self._read_hooks: dict[int, list[Callable[[], None]]] = {}
        self.reads = self.writes = self.rate_limited = self.tokens = 0
        self.write_log: list[Any] = []
        if state_file is not None and state_file.exists():
            self.load(state_file)

    # --- requests -------------------------------------------------------------------------

    def read(self, sid: str, email: str, look: Callable[[Spreadsheet], T]) -> T:
        with self._lock:
            result = look(self._open(sid, email, write=False))
            self.reads += 1
            for hook in self._read_hooks.pop(self.reads, []):
                hook()
            return result

    def write(self, sid: str, email: str, body: Any, change: Callable[[list[Tab]], T]) -> T:
        """Apply ``change`` to a copy of the tabs, kept only if it raised nothing."""
        with self._lock:
            sheet = self._open(sid, email, write=True)
            tabs = copy.deepcopy(sheet.tabs)
            result = change(tabs)
            sheet.tabs = tabs
            self.writes += 1
            self.write_log.append(body)
            self._changed()
            for hook in self._hooks.pop(self.writes, []):
                hook()
            return result

    def after_write(self, n: int, fn: Callable[[], None]) -> None:
        """Run ``fn()`` right after the ``n``-th successful write request is applied."""
        with self._lock:
            self._hooks.setdefault(n, []).append(fn)

    def after_read(self, n: int, fn: Callable[[], None]) -> None:
        """Run ``fn()`` right after the ``n``-th successful read request is answered from the
        tabs, before the answer leaves: a colleague's edit between a read and the write the
        reader bases on it."""
        with self._lock:
            self._read_hooks.setdefault(n, []).append(fn)

    def _open(self, sid: str, email: str, write: bool) -> Spreadsheet:
        sheet = self.spreadsheets.get(sid)
        if sheet is None and self.seed is not None:
            seeded = self.seed(sid)
            if seeded is not None:
                title, tabs = seeded
                self.add_spreadsheet(sid, title, tabs, editors=tuple(self.accounts))
                sheet = self.spreadsheets[sid]
        if sheet is None:
            raise SheetsError(404, "Requested entity was not found.", "NOT_FOUND")
        if email not in sheet.editors and (write or email not in sheet.viewers):
            raise SheetsError(403, "The caller does not have permission", "PERMISSION_DENIED")
        return sheet

    # --- the spreadsheets, for tests --------------------------------------------------------

    def add_spreadsheet(
        self,
        sid: str,
        title: str,
        tabs: dict[str, list[list[object]]],
        editors: tuple[str, ...] | list[str] = (),
        viewers: tuple[str, ...] | list[str] = (),
        rows: int = 1000,
        columns: int = 26,
    ) -> dict[str, int]:
        """Create (or replace) a spreadsheet; returns each tab's gid by title."""
        made: list[Tab] = []
        for index, (name, lines) in enumerate(tabs.items()):
            gid = 0 if index == 0 else 1 + zlib.crc32(f"{sid}/{name}".encode()) % 2_000_000_000
            width = max([columns, *(len(line) for line in lines)])
            tab = Tab(gid, name, index, max(rows, len(lines)), width)
            for r, line in enumerate(lines):
                for c, value in enumerate(line):
                    tab.put(r, c, to_cell(value))
            made.append(tab)
        with self._lock:
            self.spreadsheets[sid] = Spreadsheet(sid, title, made, set(editors), set(viewers))
            self._changed()
        return {tab.title: tab.gid for tab in made}

    def shown(self, sid: str, tab: str) -> list[list[str]]:
        """The tab as a person sees it, trimmed as the API trims."""
        with self._lock:
            grid = self.spreadsheets[sid].tab(tab)
            return grid.grid(range(grid.rows), range(grid.columns), lambda cell: cell.shown)

    def cell(self, sid: str, tab: str, row: int, col: int) -> Cell:
        """A copy of one cell (0-based row and column)."""
        with self._lock:
            return replace(self.spreadsheets[sid].tab(tab).get(row, col))

    def insert_rows(self, sid: str, tab: str, at: int, rows: list[list[object]]) -> None:
        """A colleague inserts ``rows`` before the 0-based row ``at``."""
        with self._lock:
            grid = self.spreadsheets[sid].tab(tab)
            grid.insert(True, at, len(rows))
            for r, line in enumerate(rows):
                for c, value in enumerate(line):
                    if c >= grid.columns:
                        grid.insert(False, grid.columns, c + 1 - grid.columns)
                    grid.put(at + r, c, to_cell(value))
            self._changed()

    def delete_rows(self, sid: str, tab: str, at: int, count: int = 1) -> None:
        """A colleague deletes ``count`` rows from the 0-based row ``at``."""
        with self._lock:
            self.spreadsheets[sid].tab(tab).delete(True, at, at + count)
            self._changed()

    def sort_rows(
        self, sid: str, tab: str, first_row: int, column: int, descending: bool = False
    ) -> None:
        """A colleague sorts rows ``first_row``.. (0-based) by a 0-based column, whole rows."""
        with self._lock:
            grid = self.spreadsheets[sid].tab(tab)
            grid.sort(range(first_row, grid.rows), range(grid.columns), [(column, descending)])
            self._changed()

    # --- the state file -----------------------------------------------------------------------

    def _changed(self) -> None:
        if self.state_file is not None:
            self.save(self.state_file)

    def save(self, path: Path) -> None:
        """Write the spreadsheets as JSON, atomically (a reader sees the old or the new)."""
        with self._lock:
            data = {
                "version": 1,
                "spreadsheets": [_sheet_json(s) for s in self.spreadsheets.values()],
            }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    def load(self, path: Path) -> None:
        """Replace the spreadsheets with those saved in ``path``."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            sheets = {s["id"]: _sheet_from_json(s) for s in data["spreadsheets"]}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateFileError(
                f"cannot read the fake Google Sheets' state file {path} ({type(exc).__name__}); "
                "delete it to start them afresh"
            ) from None
        with self._lock:
            self.spreadsheets = sheets


_CELL_KEYS = {"value": "v", "formula": "f", "number_format": "n", "link": "l", "bold": "b"}


def _sheet_json(sheet: Spreadsheet) -> dict[str, Any]:
    def cell(c: Cell) -> dict[str, Any]:
        out = {
            k: getattr(c, a) for a, k in _CELL_KEYS.items() if getattr(c, a) not in (None, False)
        }
        if c.value is False:
            out["v"] = False
        if c.background is not None:
            out["bg"] = c.background
        return out

    tabs = [
        {
            **{"gid": t.gid, "title": t.title, "index": t.index},
            **{"rows": t.rows, "columns": t.columns},
            "cells": [[r, c, cell(v)] for (r, c), v in sorted(t.cells.items())],
        }
        for t in sheet.tabs
    ]
    return {
        **{"id": sheet.sid, "title": sheet.title, "tabs": tabs},
        **{"editors": sorted(sheet.editors), "viewers": sorted(sheet.viewers)},
    }


def _sheet_from_json(data: dict[str, Any]) -> Spreadsheet:
    tabs = []
    for t in data["tabs"]:
        tab = Tab(t["gid"], t["title"], t["index"], t["rows"], t["columns"])
        for r, c, raw in t["cells"]:
            value = raw.get("v")
            if isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            attrs = {a: raw[k] for a, k in _CELL_KEYS.items() if k in raw and a != "value"}
            tab.put(r, c, Cell(value=value, background=raw.get("bg"), **attrs))
        tabs.append(tab)
    return Spreadsheet(data["id"], data["title"], tabs, set(data["editors"]), set(data["viewers"]))
