"""A tab of a Google Sheet read as the sheet shows it: the same rows, by the same rules, as a
file (the header found under its titles, blank rows skipped but counted, ``0042`` kept as it
shows, a formula read as its value)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.gsheets.client import SheetsApiError, SheetsClient
from pipeline.gsheets.ref import GoogleSheetRef
from pipeline.sheets import Sheet, SheetError, sheet_from_grid


@dataclass(frozen=True)
class Tab:
    """One tab of a spreadsheet, as its properties say now."""

    ref: GoogleSheetRef
    """The spreadsheet and this tab's gid."""
    spreadsheet_title: str
    title: str
    rows: int
    columns: int

    @property
    def gid(self) -> int:
        assert self.ref.gid is not None
        return self.ref.gid

    @property
    def label(self) -> str:
        """How messages name it: the Google Sheet 'Leads 2026', tab 'Leads'."""
        return f"the Google Sheet {self.spreadsheet_title!r}, tab {self.title!r}"


def tabs(client: SheetsClient, ref: GoogleSheetRef) -> tuple[str, list[Tab]]:
    """The spreadsheet's title and its grid tabs, in order."""
    answer = client.spreadsheet(ref.spreadsheet_id)
    title = str((answer.get("properties") or {}).get("title") or ref.spreadsheet_id)
    found = []
    for entry in answer.get("sheets") or []:
        props: dict[str, Any] = entry.get("properties") or {}
        if props.get("sheetType", "GRID") != "GRID":
            continue  # a chart or a data-source sheet holds no rows
        grid = props.get("gridProperties") or {}
        found.append(
            Tab(
                ref.with_gid(int(props.get("sheetId", 0))),
                title,
                str(props.get("title", "")),
                int(grid.get("rowCount", 0)),
                int(grid.get("columnCount", 0)),
            )
        )
    return title, found


def find_tab(client: SheetsClient, ref: GoogleSheetRef, name: str | None) -> Tab:
    """The tab ``name`` picks (``--sheet``, ``input.sheet``), else the URL's ``gid``, else the
    first; SheetError listing the tabs when there is no such tab."""
    title, found = tabs(client, ref)
    listed = ", ".join(f"{t.title!r} (gid {t.gid})" for t in found) or "none"
    if name is not None:
        for tab in found:
            if tab.title == name:
                return tab
        folded = [t for t in found if t.title.strip().casefold() == name.strip().casefold()]
        if len(folded) == 1:
            return folded[0]
        raise SheetError(
            f"the Google Sheet {title!r} has no tab named {name!r}; its tabs: {listed}"
        )
    if ref.gid is not None:
        for tab in found:
            if tab.gid == ref.gid:
                return tab
        raise SheetError(
            f"the Google Sheet {title!r} has no tab with gid {ref.gid} (deleted?); its tabs: "
            f"{listed}; copy the tab's URL from the browser again"
        )
    if not found:
        raise SheetError(f"the Google Sheet {title!r} has no tab of cells to read")
    return found[0]


def tab_again(client: SheetsClient, tab: Tab) -> Tab:
    """The tab as its properties say now (renamed, grown), found by its gid."""
    return find_tab(client, tab.ref, None)


def read_grid(client: SheetsClient, tab: Tab) -> tuple[Tab, list[list[str]]]:
    """The tab's cells as shown; a tab renamed since its properties were read is found again
    by its gid."""
    try:
        return tab, client.values(tab.ref.spreadsheet_id, tab.title)
    except SheetsApiError as exc:
        if exc.status != 400:
            raise
    tab = tab_again(client, tab)
    return tab, client.values(tab.ref.spreadsheet_id, tab.title)


def read_tab(
    client: SheetsClient, ref: GoogleSheetRef, *, sheet_name: str | None, header_row: int | None
) -> tuple[Sheet, Tab]:
    """The tab's rows as a sheet, and the tab."""
    tab = find_tab(client, ref, sheet_name)
    tab, grid = read_grid(client, tab)
    sheet = sheet_from_grid(
        grid,
        where=tab.label,
        # What names the sheet where a file's path would: its title (a starter config's
        # campaign name comes from it).
        path=Path(tab.spreadsheet_title.replace("/", "-").strip() or tab.ref.spreadsheet_id),
        kind="google",
        sheet_name=tab.title,
        header_row=header_row,
    )
    return sheet, tab
