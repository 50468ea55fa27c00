"""The two Sheets servers the Google Sheets tests run against, behind one small interface: the
project's own fake (``pipeline.emulator.sheets``) and the stand-in written apart from it and
from the client (``sheets_standin``). Each runs on a virtual clock that the client's waits
advance, so a test meets Google's per-minute quota without waiting a minute."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import VirtualTime

SHEET_ID = "1Bx9LeadsQ3outboundSheetIdAbCdEfGhIjKlMnOp"


@dataclass(frozen=True)
class Num:
    """A number cell shown through a number format (a date is a number of days)."""

    value: float
    pattern: str
    kind: str = "NUMBER"


@dataclass(frozen=True)
class Calc:
    """A formula cell and the value it shows."""

    text: str
    value: object


TITLE = "Leads 2026"


@dataclass
class Sheets:
    """One running Sheets server with one spreadsheet (``SHEET_ID``) and one service account."""

    base_url: str
    key_file: Path
    email: str
    clock: VirtualTime
    backend: Any
    kind: str
    gids: dict[str, int] = field(default_factory=dict)

    def sleep(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # --- set-up ---------------------------------------------------------------------------

    def _cell(self, value: object) -> object:
        if self.kind == "own":
            from pipeline.emulator.sheets import Cell, Formula

            if isinstance(value, Num):
                return Cell(value=value.value, number_format=value.pattern)
            if isinstance(value, Calc):
                return Formula(value.text, value.value)  # type: ignore[arg-type]
            return value
        from sheets_standin import Formula as StandinFormula
        from sheets_standin import Number

        if isinstance(value, Num):
            return Number(value.value, value.pattern, value.kind)
        if isinstance(value, Calc):
            return StandinFormula(value.text, value.value)  # type: ignore[arg-type]
        return value

    def add(
        self, tabs: dict[str, list[list[object]]], *, editors: list[str], columns: int | None = None
    ) -> None:
        tabs = {name: [[self._cell(v) for v in row] for row in rows] for name, rows in tabs.items()}
        if self.kind == "own":
            grid = {} if columns is None else {"columns": columns}
            self.gids = self.backend.add_spreadsheet(SHEET_ID, TITLE, tabs, editors=editors, **grid)
            return
        sizes = {} if columns is None else {name: (1000, columns) for name in tabs}
        made = self.backend.add_spreadsheet(SHEET_ID, TITLE, tabs, shared_with=editors, grid=sizes)
        self.gids = dict(zip(tabs, made, strict=True))

    def share(self, editors: list[str], viewers: list[str] = []) -> None:  # noqa: B006
        if self.kind == "own":
            book = self.backend.spreadsheets[SHEET_ID]
            book.editors, book.viewers = set(editors), set(viewers)
            return
        self.backend.unshare(SHEET_ID)
        for email in editors:
            self.backend.share(SHEET_ID, email, editor=True)
        for email in viewers:
            self.backend.share(SHEET_ID, email, editor=False)

    def limit(self, *, reads: int, writes: int) -> None:
        """Per-minute quotas of the service account, far below Google's 60."""
        if self.kind == "own":
            self.backend.limits[("user", False)] = reads
            self.backend.limits[("user", True)] = writes
        else:
            self.backend.limits[("read", True)] = reads
            self.backend.limits[("write", True)] = writes

    # --- a colleague's edits ----------------------------------------------------------------

    def rename_tab(self, tab: str, title: str) -> None:
        if self.kind == "own":
            self.backend.spreadsheets[SHEET_ID].tab(tab).title = title
        else:
            self.backend.rename_tab(SHEET_ID, tab, title)

    def insert_row(self, tab: str, at: int, row: list[object]) -> None:
        self.backend.insert_rows(SHEET_ID, tab, at, [row])

    def delete_row(self, tab: str, at: int) -> None:
        if self.kind == "own":
            self.backend.delete_rows(SHEET_ID, tab, at)
        else:
            self.backend.delete_row(SHEET_ID, tab, at)

    def sort(self, tab: str, first_row: int, *, column: int, descending: bool) -> None:
        self.backend.sort_rows(SHEET_ID, tab, first_row, column, descending=descending)

    def after_write(self, n: int, fn: Callable[[], None]) -> None:
        if self.kind == "own":
            self.backend.after_write(n, fn)
        else:
            self.backend.after_writes(n, fn)

    def after_next_read(self, fn: Callable[[], None]) -> None:
        """``fn()`` once the next read is answered from the tabs, before the client has it."""
        if self.kind == "own":
            self.backend.after_read(self.backend.reads + 1, fn)
        else:
            self.backend.after_reads(self.backend.successful_reads + 1, fn)

    # --- what is there ----------------------------------------------------------------------

    def shown(self, tab: str) -> list[list[str]]:
        if self.kind == "own":
            return [list(map(str, row)) for row in self.backend.shown(SHEET_ID, tab)]
        return self.backend.cells(SHEET_ID, tab)

    def raw(self, tab: str, row: int, col: int) -> dict[str, Any]:
        """What a cell stores: {"string": ...} | {"number": ..., "pattern": ...} |
        {"formula": ...}, and its "link" when it has one."""
        if self.kind == "own":
            cell = self.backend.cell(SHEET_ID, tab, row, col)
            value, formula, pattern, link = cell.value, cell.formula, cell.number_format, cell.link
        else:
            cell = self.backend.raw_cell(SHEET_ID, tab, row, col)
            if cell is None:
                return {}
            from sheets_standin import Formula

            value = cell.value
            formula = value.text if isinstance(value, Formula) else None
            pattern = cell.number_format[1] if cell.number_format else None
            link = cell.link
        found: dict[str, Any] = {}
        if formula:
            found["formula"] = formula
        elif isinstance(value, str):
            found["string"] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found["number"] = float(value)
        if pattern:
            found["pattern"] = pattern
        if link:
            found["link"] = link
        return found

    @property
    def writes(self) -> int:
        """Writes applied."""
        if self.kind == "own":
            return int(self.backend.writes)
        return int(self.backend.successful_writes)

    @property
    def tokens(self) -> int:
        """Access tokens issued."""
        return int(self.backend.tokens if self.kind == "own" else self.backend.tokens_issued)

    @property
    def rate_limited(self) -> int:
        return int(self.backend.rate_limited)

    def formulas_written(self) -> int:
        """Formulas in the bodies of the client's writes (any, anywhere)."""
        bodies = self.backend.write_log
        return sum(json.dumps(body).count("formulaValue") for body in bodies)


@contextlib.contextmanager
def make_sheets(kind: str, folder: Path) -> Iterator[Sheets]:
    clock = VirtualTime()
    key_file = folder / "service-account.json"
    if kind == "own fake":
        from pipeline.emulator.sheets import SheetsServer, SheetsWorld, new_service_account

        world = SheetsWorld(clock=clock)
        with SheetsServer(world) as server:
            info, public = new_service_account(server.token_uri)
            world.register(info["client_email"], public)
            key_file.write_text(json.dumps(info), encoding="utf-8")
            yield Sheets(server.base_url, key_file, info["client_email"], clock, world, "own")
        return
    from sheets_standin import SheetsStandin

    with SheetsStandin(clock=clock) as standin:
        info = standin.make_service_account(
            "argil-batch-runner@acme-marketing.iam.gserviceaccount.com"
        )
        key_file.write_text(json.dumps(info), encoding="utf-8")
        yield Sheets(standin.url, key_file, info["client_email"], clock, standin, "standin")
