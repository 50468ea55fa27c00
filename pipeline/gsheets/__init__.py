"""A Google Sheet as the sheet of a run: read as the sheet shows it, its results written back
into it in place, by key, while colleagues edit it (see :mod:`.writing`).

``ref`` names a sheet by its browser URL and keeps its state in the user's state folder;
``auth`` is the service account (google-auth signs, httpx carries); ``client`` the few Sheets
API calls, within Google's per-minute quotas; ``reading`` and ``writing`` the two ways; and
``sandbox`` the project's own fake of the Sheets API, started for ``--sandbox``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipeline.errors import JobError
from pipeline.gsheets.auth import ServiceAccount, Tokens, load_service_account
from pipeline.gsheets.client import SheetsApiError, SheetsClient, sheets_url
from pipeline.gsheets.reading import Tab, read_tab
from pipeline.gsheets.ref import (
    GoogleSheetRef,
    google_state_path,
    google_states,
    parse_sheet_url,
    state_folder,
)
from pipeline.gsheets.writing import GoogleSheetOutput
from pipeline.sheets import Sheet

__all__ = [
    "GoogleSheet",
    "GoogleSheetOutput",
    "GoogleSheetRef",
    "SheetsApiError",
    "SheetsClient",
    "Tab",
    "connect",
    "google_state_path",
    "google_states",
    "parse_sheet_url",
    "read_google_sheet",
    "sheet_source",
    "state_folder",
]

_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=None)


def sheet_source(given: str | Path) -> Path | GoogleSheetRef:
    """What names a sheet on the command line or in the Python API: a file, or a Google
    Sheet's URL as the browser shows it; JobError for a URL that names no Google Sheet."""
    if isinstance(given, Path):
        return given
    try:
        ref = parse_sheet_url(given)
    except ValueError as exc:
        raise JobError(str(exc)) from None
    return Path(given) if ref is None else ref


@dataclass
class GoogleSheet:
    """A tab read, and the client that reads and writes it."""

    client: SheetsClient
    tab: Tab

    @property
    def ref(self) -> GoogleSheetRef:
        return self.tab.ref


def connect(*, sandbox: bool, sleep: Callable[[float], None] | None = None) -> SheetsClient:
    """A client of the Sheets API: ``ARGIL_BATCH_SHEETS_URL`` (else Google's) as the service
    account of ``GOOGLE_APPLICATION_CREDENTIALS``; or, for ``sandbox``, the project's fake
    started in this process, with a service account of its own."""
    account: ServiceAccount
    if sandbox:
        from pipeline.gsheets.sandbox import sandbox_sheets

        base_url, account = sandbox_sheets()
    else:
        base_url = sheets_url()
        account = load_service_account()
    http = httpx.Client(timeout=_TIMEOUT, follow_redirects=False)
    tokens = Tokens(account, http)
    return SheetsClient(base_url, tokens, http=http, sleep=sleep or time.sleep)


def read_google_sheet(
    ref: GoogleSheetRef,
    *,
    sandbox: bool,
    sheet_name: str | None,
    header_row: int | None,
    sleep: Callable[[float], None] | None = None,
) -> tuple[Sheet, GoogleSheet]:
    """The tab's rows as a sheet, and the tab with its client (kept to write it back)."""
    client = connect(sandbox=sandbox, sleep=sleep)
    try:
        sheet, tab = read_tab(client, ref, sheet_name=sheet_name, header_row=header_row)
    except BaseException:
        client.close()
        raise
    return sheet, GoogleSheet(client, tab)
