"""``--sandbox`` with a Google Sheet: the project's fake of the Sheets API, started in this
process with a service account of its own, so the whole Google Sheets run can be tried with no
Google account. Any spreadsheet id opens a copy of the shipped example leads (tab "Leads",
gid 0, and a tab "Notes" that is never touched), kept in the state folder so that a second
run sees what the first one wrote, as it would in a real sheet."""

from __future__ import annotations

import atexit
import contextlib
import csv
import io
import threading
from pathlib import Path
from typing import Any

from pipeline.gsheets.auth import ServiceAccount
from pipeline.gsheets.ref import state_folder

# The fake started in this process, by where it keeps its spreadsheets (one per state folder).
_started: dict[Path, tuple[Any, Any, dict[str, Any]]] = {}
_lock = threading.Lock()


def sandbox_store() -> Path:
    """Where the sandbox keeps its spreadsheets between runs."""
    return state_folder() / "sandbox" / "google-sheets.json"


def sandbox_sheets() -> tuple[str, ServiceAccount]:
    """(base URL, service account) of the sandbox's Sheets API, started on first use and
    stopped when the process ends."""
    from pipeline.emulator.sheets import (
        SheetsServer,
        SheetsWorld,
        new_service_account,
        seed_from_example,
    )

    store = sandbox_store()
    with _lock:
        if store not in _started:
            store.parent.mkdir(parents=True, exist_ok=True)
            world = SheetsWorld(seed=seed_from_example, state_file=store)
            server = SheetsServer(world)
            server.__enter__()
            if not _started:
                atexit.register(_stop)
            info, public = new_service_account(server.token_uri)
            world.register(str(info["client_email"]), public)
            _started[store] = (server, world, info)
        server, _, info = _started[store]
    account = ServiceAccount(str(info["client_email"]), "the sandbox", info)
    return server.base_url, account


def sandbox_view(spreadsheet_id: str, tab: str) -> Path | None:
    """The sandbox's tab written as a CSV file beside its store, as a person would see it:
    where the user looks at what a sandbox run wrote into its sheet."""
    started = _started.get(sandbox_store())
    if started is None:
        return None
    world = started[1]
    shown = world.shown(spreadsheet_id, tab)
    path = sandbox_store().with_name(f"{spreadsheet_id}-{_safe(tab)}.csv")
    out = io.StringIO()
    csv.writer(out).writerows(shown)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "tab"


def _stop() -> None:
    for server, _, _ in _started.values():
        with contextlib.suppress(Exception):
            server.__exit__(None, None, None)
    _started.clear()
