"""A1 notation for the fake Google Sheets: ranges such as ``'It''s'!A1:B2`` parsed into an
:class:`Area` of a tab, and written back as Google writes them in its answers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.emulator.sheets.errors import SheetsError, invalid
from pipeline.emulator.sheets.grid import Tab

_REF = re.compile(r"([A-Za-z]*)(\d*)(?::([A-Za-z]*)(\d*))?")


@dataclass(frozen=True)
class Area:
    """A rectangle of a tab, 0-based, ends exclusive; an end is None when left open."""

    tab: Tab
    r0: int
    r1: int | None
    c0: int
    c1: int | None

    def bounded(self) -> tuple[int, int, int, int]:
        rows, cols = self.tab.rows, self.tab.columns
        return (
            self.r0,
            rows if self.r1 is None else self.r1,
            self.c0,
            cols if self.c1 is None else self.c1,
        )


def letters(col: int) -> str:
    out = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        out = chr(65 + rest) + out
    return out


def _col(text: str) -> int:
    number = 0
    for char in text.upper():
        number = number * 26 + ord(char) - 64
    return number - 1


def quoted(title: str) -> str:
    # Unquoted only when it cannot be read as anything else (a cell such as ABC12).
    if re.fullmatch(r"[A-Za-z_]\w*", title) and not re.fullmatch(r"[A-Za-z]{1,3}\d+", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def a1(tab: Tab, r0: int, r1: int, c0: int, c1: int) -> str:
    first = f"{letters(c0)}{r0 + 1}"
    last = f"{letters(c1 - 1)}{r1}"
    return f"{quoted(tab.title)}!{first}" + ("" if first == last else f":{last}")


def parse_range(text: str, tabs: list[Tab]) -> Area:
    """``Sheet1``, ``'It''s'!A1:B2``, ``Tab!1:1``, ``Tab!A:A``, ``A1:B2`` (the first tab)."""
    fail = invalid(f"Unable to parse range: {text}")
    by_title = {tab.title: tab for tab in tabs}
    if text.startswith("'"):
        match = re.fullmatch(r"'((?:[^']|'')*)'(?:!(.*))?", text, re.DOTALL)
        if match is None:
            raise fail
        title, ref = match.group(1).replace("''", "'"), match.group(2)
    elif text in by_title:
        title, ref = text, None
    elif "!" in text:
        title, _, ref = text.partition("!")
    else:
        title, ref = tabs[0].title, text
    tab = by_title.get(title)
    if tab is None:
        raise fail
    if ref is None:
        return Area(tab, 0, None, 0, None)
    parts = _REF.fullmatch(ref)
    if parts is None or not ref:
        raise fail
    col0, row0, col1, row1 = parts.groups()
    if parts.group(3) is None and not (col0 and row0):
        raise fail  # a lone cell needs both its column and its row
    if col1 is None:
        col1, row1 = col0, row0
    if (not col0 and not row0) or (not col1 and not row1):
        raise fail
    if (bool(col0) != bool(col1) and not row0) or (row0 and not row1 and not col1):
        raise fail
    c0, c1 = (_col(col0) if col0 else 0), (_col(col1) + 1 if col1 else None)
    r0, r1 = (int(row0) - 1 if row0 else 0), (int(row1) if row1 else None)
    if r0 < 0 or (r1 is not None and r1 < 1):
        raise fail
    if r1 is not None and r1 <= r0:
        r0, r1 = r1 - 1, r0 + 1
    if c1 is not None and c1 <= c0:
        c0, c1 = c1 - 1, c0 + 1
    return Area(tab, r0, r1, c0, c1)


def grid_fault(area: Area, r1: int, c1: int) -> SheetsError:
    tab = area.tab
    return invalid(
        f"Range ({a1(tab, area.r0, r1, area.c0, c1)}) exceeds grid limits. "
        f"Max rows: {tab.rows}, max columns: {tab.columns}"
    )
