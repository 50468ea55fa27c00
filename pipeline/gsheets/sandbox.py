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

_started: dict[str, Any] = {}
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

    with _lock:
        if "server" not in _started:
            store = sandbox_store()
            store.parent.mkdir(parents=True, exist_ok=True)
            world = SheetsWorld(seed=seed_from_example, state_file=store)
            server = SheetsServer(world)
            server.__enter__()
            atexit.register(_stop)
            info, public = new_service_account(server.token_uri)
            world.register(str(info["client_email"]), public)
            _started.update(server=server, world=world, info=info)
        server, info = _started["server"], _started["info"]
    account = ServiceAccount(str(info["client_email"]), "the sandbox", info)
    return server.base_url, account


def sandbox_view(spreadsheet_id: str, tab: str) -> Path | None:
    """The sandbox's tab written as a CSV file beside its store, as a person would see it:
    where the user looks at what a sandbox run wrote into its sheet."""
    world = _started.get("world")
    if world is None:
        return None
    shown = world.shown(spreadsheet_id, tab)
    path = sandbox_store().with_name(f"{spreadsheet_id}-{_safe(tab)}.csv")
    out = io.StringIO()
    csv.writer(out).writerows(shown)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "tab"


def _stop() -> None:
    server = _started.pop("server", None)
    if server is not None:
        with contextlib.suppress(Exception):
            server.__exit__(None, None, None)
