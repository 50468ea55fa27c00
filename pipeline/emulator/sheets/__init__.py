"""A fake of the Google Sheets API v4 (and Google's token endpoint), for tests and ``--sandbox``.

As hard as Google where the client can trip: per-minute read and write quotas per service
account and per project, grid limits, the 10-million-cell ceiling, tokens that expire, sharing
(403), atomic batch updates, and colleagues inserting, deleting and sorting rows between two of
the client's writes.

- ``state.py``: :class:`SheetsWorld` (spreadsheets, colleague edits, the state file).
- ``quotas.py``: the world's tokens and per-minute quotas (``POST /token``, bearer tokens, 429s).
- ``grid.py``: the data: :class:`Cell`, :class:`Formula`, tabs and spreadsheets.
- ``formats.py``: number formats, a value as its cell shows it.
- ``errors.py``: :class:`SheetsError` (Google's error shape) and the refused token grant.
- ``app.py``: the Starlette app: routes each call, in Google's shapes.
- ``ranges.py``: A1 ranges, parsed and written.
- ``values.py``: value reads and writes (``values.get``, ``values.update``, ``values.batchUpdate``).
- ``updates.py``: the ``spreadsheets:batchUpdate`` requests.
- ``server.py``: :class:`SheetsServer`, uvicorn in a background thread on loopback.
- ``accounts.py``: :func:`new_service_account` (key files like Google's) and the JWT check.
"""

from __future__ import annotations

import csv
from pathlib import Path

from pipeline.emulator.sheets.accounts import DEFAULT_EMAIL, new_service_account
from pipeline.emulator.sheets.errors import SheetsError
from pipeline.emulator.sheets.grid import Cell, Formula
from pipeline.emulator.sheets.server import SheetsServer
from pipeline.emulator.sheets.state import SheetsWorld

LEADS_CSV = Path(__file__).with_name("leads.csv")
NOTES = [
    ["This tab is not the input: argil-batch only reads and writes the tab it is pointed at."],
    ["Anything written here stays as it is."],
]


def seed_from_example(sid: str) -> tuple[str, dict[str, list[list[object]]]]:
    """The sandbox's spreadsheet, whatever its id: the shipped example leads in a tab "Leads"
    (every cell text, as pasted), and a tab "Notes" that nothing should ever touch."""
    with LEADS_CSV.open(newline="", encoding="utf-8") as file:
        leads: list[list[object]] = [list(row) for row in csv.reader(file)]
    return "Sandbox leads", {"Leads": leads, "Notes": [list(line) for line in NOTES]}


__all__ = [
    "DEFAULT_EMAIL",
    "Cell",
    "Formula",
    "SheetsError",
    "SheetsServer",
    "SheetsWorld",
    "new_service_account",
    "seed_from_example",
]
