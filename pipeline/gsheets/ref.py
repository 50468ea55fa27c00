"""A Google Sheet named by the URL a person copies from the browser, and where its run keeps
its state: in the user's state folder (XDG), one file per spreadsheet and tab, since a sheet
in the cloud has no folder beside it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# /spreadsheets/d/<ID>/..., also under /u/0/ (a second signed-in account) and /a/<domain>/.
_PATH = re.compile(r"^/(?:a/[^/]+/)?spreadsheets/(?:u/\d+/)?d/([A-Za-z0-9_-]+)(?:/.*)?$")
_HOSTS = ("docs.google.com",)


@dataclass(frozen=True)
class GoogleSheetRef:
    """A spreadsheet and, when the URL names one, its tab (``gid``)."""

    spreadsheet_id: str
    gid: int | None = None

    @property
    def url(self) -> str:
        """The sheet's address as the browser shows it (the tab's when known)."""
        base = f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit"
        return base if self.gid is None else f"{base}#gid={self.gid}"

    def with_gid(self, gid: int) -> GoogleSheetRef:
        return GoogleSheetRef(self.spreadsheet_id, gid)

    def __str__(self) -> str:
        return self.url


def looks_like_url(text: str) -> bool:
    return "://" in text or text.startswith("docs.google.com/")


def parse_sheet_url(text: str) -> GoogleSheetRef | None:
    """The sheet a Google Sheets URL names; None when ``text`` is no such URL (a file path).
    ValueError for a URL that is not a Google Sheet's, or that names no spreadsheet."""
    text = text.strip()
    if not looks_like_url(text):
        return None
    parts = urlsplit(text if "://" in text else "https://" + text)
    if parts.hostname not in _HOSTS:
        raise ValueError(
            f"{text} is not a Google Sheets URL; pass a file, or the URL of a Google Sheet "
            "as the browser shows it (https://docs.google.com/spreadsheets/d/.../edit#gid=0)"
        )
    found = _PATH.match(parts.path)
    if found is None:
        raise ValueError(
            f"{text} names no spreadsheet; copy the sheet's URL from the browser's address "
            "bar (https://docs.google.com/spreadsheets/d/.../edit#gid=0)"
        )
    gid = _gid(parts.fragment)
    return GoogleSheetRef(found[1], _gid(parts.query) if gid is None else gid)


def _gid(text: str) -> int | None:
    # "gid=123" in the fragment (#gid=123) or the query (?gid=123), as the browser writes it.
    values = parse_qs(text).get("gid")
    if values and values[0].isdigit():
        return int(values[0])
    return None


def state_folder() -> Path:
    """``$XDG_STATE_HOME/argil-batch`` (``~/.local/state/argil-batch`` when unset)."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "argil-batch"


def google_state_path(ref: GoogleSheetRef, gid: int, sandbox: bool) -> Path:
    """The default state file of a run over a tab: keyed by spreadsheet and tab (its gid,
    which a renamed tab keeps), a sandbox's apart."""
    name = f"{ref.spreadsheet_id}-gid{gid}" + (".sandbox-state" if sandbox else ".state")
    return state_folder() / "google-sheets" / name


def google_states(ref: GoogleSheetRef, sandbox: bool) -> list[Path]:
    """The state files of runs over any tab of the spreadsheet (``status`` given a URL
    without its tab)."""
    folder = state_folder() / "google-sheets"
    end = ".sandbox-state" if sandbox else ".state"
    return sorted(folder.glob(f"{glob_escape(ref.spreadsheet_id)}-gid*{end}"))


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
