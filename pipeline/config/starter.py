"""A starter config guessed from a sheet (``argil-batch init``): its headers and its values.

The guess only has to be a good first draft, but a draft that validates: the script is the
longest column of prose (never a date, a number, an id or a code such as "EMEA"), the key a
column whose values are unique and never blank, the video's name a column never blank.
``validate`` tells the user what is still wrong; the avatar id is the one thing a sheet cannot
tell.

Exceptions: :class:`~pipeline.sheets.SheetError` from reading the sheet.
"""

from __future__ import annotations

import json
import keyword
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.mapping import snake_case
from pipeline.sheets import Sheet, SheetError, read_sheet, workbook_sheets

# Header names, best first: what a column is for when its values cannot tell.
_GUESSES: dict[str, tuple[str, ...]] = {
    "key": ("id", "uuid", "key", "sku", "lead_id", "contact_id", "email", "e_mail"),
    "transcript": ("script", "transcript", "intro", "message", "text", "pitch", "body"),
    "name": ("name", "full_name", "title", "product", "company", "first_name", "contact"),
    "avatar": ("avatar", "avatar_id"),
    "voice": ("voice", "voice_id"),
    "gesture": ("gesture", "gesture_slug"),
}
_ID_HEADER = re.compile(r"(?:^|_)(?:id|uuid|guid|key|sku|ref|reference|code)$")
_NOTES_SHEET = re.compile(
    r"\s*(?:read\s*me|notes?|instructions?|about|info|help|cover|legend|how\s+to\b.*)\s*", re.I
)
# Whole-cell patterns. Regular expressions rather than a date parser: dateutil reads "12" as
# the 12th of this month and "May" as a date, and a column of those is not a date column.
_DATE = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}(?: \d{1,2}:\d{2}(?::\d{2})?(?: ?[AaPp][Mm])?)?"
    r"|\d{1,2}:\d{2}(?::\d{2})?(?: ?[AaPp][Mm])?"
    r"|(?:\d{1,2} )?[A-Za-z]{3,9}\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}|\d{1,2} [A-Za-z]{3,9} \d{4}"
)
# Amounts, counts, percentages, phone numbers.
_NUMBER = re.compile(r"[+-]?[$€£¥]?\s?\(?\d[\d\s,.'()-]*(?:\s?(?:%|[$€£¥]|[kKmM]))?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_URL = re.compile(r"(?:https?|ftp)://\S+", re.I)
_TOKEN = re.compile(r"[\w.:#/-]*\d[\w.:#/-]*")  # no spaces and a digit: an id, a code
_FLAGS = frozenset({"true", "false", "yes", "no", "y", "n", "x", "0", "1", "on", "off"})
# Names a template cannot use for a column: the row itself, and words Jinja reads as its own.
_JINJA_NAMES = frozenset({"row", "true", "false", "none", *(k.lower() for k in keyword.kwlist)})
# A column is of a kind when this share of its filled cells is.
_MOSTLY = 0.9
# Characters: longer values are prose, not what identifies a row.
_SHORT = 40
# A column's kind is judged on its first values: enough to tell, and a huge sheet stays quick.
_SAMPLE = 1000
# Key pairs are tried among this many short columns at most.
_PAIR_COLUMNS = 12
# Words a value of a script has at least, for most values: what tells prose from a column of
# codes, tiers or names, which a lookup tab holds and no avatar should read out.
_PROSE_WORDS = 3


@dataclass
class Column:
    header: str
    values: list[str]  # the filled cells, stripped
    blanks: int
    kind: str  # "empty", "date", "number", "email", "url", "flag", "id", "text"

    @property
    def never_blank(self) -> bool:
        return bool(self.values) and self.blanks == 0

    @property
    def unique(self) -> bool:
        return self.never_blank and len(set(self.values)) == len(self.values)

    @property
    def mean_length(self) -> float:
        return sum(map(len, self.values)) / len(self.values) if self.values else 0.0

    @property
    def prose(self) -> bool:
        """Free text that reads as sentences: at least half its values have a few words."""
        if self.kind != "text":
            return False
        sample = self.values[:_SAMPLE]
        return 2 * sum(len(v.split()) >= _PROSE_WORDS for v in sample) >= len(sample)


def profile(sheet: Sheet) -> list[Column]:
    columns = []
    for header in sheet.headers:
        cells = [row.values.get(header, "").strip() for row in sheet.rows]
        values = [cell for cell in cells if cell]
        kind = _kind(header, values[:_SAMPLE])
        columns.append(Column(header, values, len(cells) - len(values), kind))
    return columns


def _kind(header: str, values: list[str]) -> str:
    if not values:
        return "empty"

    def mostly(test: Iterable[bool]) -> bool:
        return sum(test) >= _MOSTLY * len(values)

    if mostly(v.lower() in _FLAGS for v in values):
        return "flag"
    if mostly(bool(_DATE.fullmatch(v)) for v in values):
        return "date"
    if mostly(bool(_NUMBER.fullmatch(v)) for v in values):
        return "number"
    if mostly(bool(_EMAIL.fullmatch(v)) for v in values):
        return "email"
    if mostly(bool(_URL.fullmatch(v)) for v in values):
        return "url"
    if _ID_HEADER.search(snake_case(header)) or mostly(bool(_TOKEN.fullmatch(v)) for v in values):
        return "id"
    return "text"


def _by_name(columns: list[Column], kind: str) -> Column | None:
    """The column a header names for ``kind``: an exact snake_case name first, then a part."""
    by_snake = {snake_case(c.header): c for c in columns}
    for wanted in _GUESSES[kind]:
        if wanted in by_snake:
            return by_snake[wanted]
    for wanted in _GUESSES[kind]:
        for snake, column in by_snake.items():
            if wanted in snake.split("_"):
                return column
    return None


def _script(columns: list[Column]) -> Column | None:
    texts = [c for c in columns if c.prose]
    if texts:
        return max(texts, key=lambda c: c.mean_length)
    if not any(c.values for c in columns):  # a header-only sheet: go by the names
        return _by_name(columns, "transcript")
    return None


def _key(columns: list[Column], script: Column | None) -> list[Column]:
    """An id or an e-mail first; else two short columns unique together (sku and market);
    else a short unique column (a name). Never the script: an edited script is the same row."""
    candidates = [c for c in columns if c.unique and c is not script]
    for wanted in (
        lambda c: c.kind in ("id", "number") and bool(_ID_HEADER.search(snake_case(c.header))),
        lambda c: c.kind == "email",
        lambda c: c.kind == "id",
    ):
        found = [c for c in candidates if wanted(c)]
        if found:
            return found[:1]
    short = [
        c
        for c in columns
        if c.never_blank
        and c is not script
        and c.kind in ("id", "text", "number", "email")
        and c.mean_length <= _SHORT
    ]
    # Id-like columns first: "sku and market" before "product and market".
    short.sort(key=lambda c: c.kind != "id")
    short = short[:_PAIR_COLUMNS]
    for i, first in enumerate(short):
        for second in short[i + 1 :]:
            if _unique_pairs(first.values, second.values):
                return sorted((first, second), key=columns.index)
    return [c for c in candidates if c.mean_length <= _SHORT][:1]


def _unique_pairs(left: list[str], right: list[str]) -> bool:
    seen: set[tuple[str, str]] = set()
    for pair in zip(left, right, strict=True):
        if pair in seen:
            return False  # most pairs fail within a few rows
        seen.add(pair)
    return True


def _name(columns: list[Column], key: list[Column], script: Column | None) -> Column | None:
    usable = [c for c in columns if c.never_blank and c is not script and c.kind != "empty"]
    named = _by_name(usable, "name")
    if named is not None:
        return named
    texts = [c for c in usable if c.kind == "text"]
    return texts[0] if texts else key[0] if key else (usable[0] if usable else None)


def _ref(header: str, headers: list[str]) -> str:
    """``{{ first_name }}`` when the snake_case form reaches the column alone, else
    ``{{ row["First Name"] }}``."""
    snake = snake_case(header)
    alone = sum(snake_case(h) == snake for h in headers) == 1
    if alone and re.fullmatch(r"[a-z_][a-z0-9_]*", snake) and snake not in _JINJA_NAMES:
        return f"{{{{ {snake} }}}}"
    return f"{{{{ row[{json.dumps(header, ensure_ascii=False)}] }}}}"


# --- which sheet holds the data ------------------------------------------------------------


def _looks_like_data(columns: list[Column], sheet: Sheet) -> bool:
    filled = [c for c in columns if c.values]
    return len(filled) >= 2 and len(sheet.rows) >= 2


def _data_sheet(path: Path, names: list[str], encoding: str | None) -> Sheet:
    """The first sheet when it is a table with a script in it; else the biggest table among
    the others that has a script; else the first sheet when it is a table, else the biggest.

    A sheet that reads as notes (a "Read me", prose in one column) is no table. A table
    without a script is a lookup tab (tiers to avatars, regions to voices): the data is
    beside it, and is picked over it even when the lookup comes first."""
    first: Sheet | None = None
    unreadable: SheetError | None = None
    try:
        first = read_sheet(path, sheet=names[0], encoding=encoding)
    except SheetError as exc:
        unreadable = exc  # notes laid out freely are no table at all
    first_is_table = False
    if first is not None and not _NOTES_SHEET.fullmatch(names[0]):
        columns = profile(first)
        first_is_table = _looks_like_data(columns, first)
        if first_is_table and any(c.prose for c in columns):
            return first
    # (has a script, cells): the better table is the greater.
    best: Sheet | None = None
    best_rank = (False, -1)
    for name in names[1:]:
        try:
            sheet = read_sheet(path, sheet=name, encoding=encoding)
        except SheetError:
            continue  # not a table (stray notes, blank): not the data either
        columns = profile(sheet)
        if not _looks_like_data(columns, sheet):
            continue
        rank = (any(c.prose for c in columns), sum(len(c.values) for c in columns))
        if rank > best_rank:
            best, best_rank = sheet, rank
    if first is not None and (best is None or (first_is_table and not best_rank[0])):
        return first
    if best is None:
        assert unreadable is not None
        raise unreadable
    return best


# --- the config ----------------------------------------------------------------------------


# A date or a time in a file name: what changes from one night's export to the next.
_STAMP = re.compile(
    r"\d{4}[-_.]?\d{1,2}[-_.]?\d{1,2}(?:[T_ -]?\d{1,2}[-_.:h]?\d{2}(?:[-_.:]?\d{2})?)?"
    r"|\d{1,2}[-_.]\d{1,2}[-_.]\d{2,4}|\d{8,}"
)


def campaign_name(path: Path) -> str:
    """The sheet's file name without what changes from export to export (dates, times,
    copy numbers): ``hubspot-crm-exports-all-contacts-2026-12-05.csv`` is the campaign
    ``hubspot-crm-exports-all-contacts``."""
    stem = _STAMP.sub(" ", path.stem.casefold())
    stem = re.sub(r"\(\d+\)|\bcopy\b", " ", stem)
    return re.sub(r"[^0-9a-z]+", "-", stem).strip("-")[:64] or "campaign"


def starter_for(
    path: Path, *, sheet: str | None = None, encoding: str | None = None
) -> tuple[str, list[str]]:
    """The starter config of the sheet at ``path`` (``sheet`` picks a workbook sheet), and the
    notes of reading it (an encoding guessed, say), as ``run`` would show them."""
    names = workbook_sheets(path)
    if sheet is not None or len(names) < 2:
        data = read_sheet(path, sheet=sheet, encoding=encoding)
        write_sheet = sheet is not None and bool(names)
    else:
        data = _data_sheet(path, names, encoding)
        write_sheet = data.sheet_name != names[0]
    return starter_config(data, sheets=names, write_sheet=write_sheet), data.notes


def starter_config(
    sheet: Sheet,
    *,
    sheets: list[str] | None = None,
    write_sheet: bool = False,
    named: str | None = None,
) -> str:
    """The starter config's text; ``named``: how the sheet is given on the command line
    when it is no file (a Google Sheet's URL)."""
    columns = profile(sheet)
    script = _script(columns)
    key = _key(columns, script)
    name = _name(columns, key, script)
    avatar = _by_name(columns, "avatar")
    voice = _by_name(columns, "voice")
    gesture = _by_name(columns, "gesture")

    headers = sheet.headers

    def ref(column: Column) -> str:
        return _ref(column.header, headers)

    transcript = ref(script) if script else "Hello! This is my first Argil video."
    moment: dict[str, object] = {"transcript": transcript, "avatar_id": ""}
    if avatar:
        moment["avatar_id"] = ref(avatar)
    if voice:
        moment["voice_id"] = ref(voice)
    if gesture:
        moment["gesture_slug"] = ref(gesture)
    section: dict[str, object] = {"namespace": campaign_name(sheet.path)}
    if write_sheet and sheet.sheet_name:
        section["sheet"] = sheet.sheet_name
    if key:
        section["key"] = [c.header for c in key]
    if script and script.blanks:
        # A row without a script is left out (SKIPPED), not an error.
        section["skip_when_blank"] = [script.header]
    config: dict[str, object] = {
        "input": section,
        "video": {
            "name": f"Video for {ref(name)}" if name else "My video",
            "aspect_ratio": "9:16",
            "subtitles": {"enable": True, "position": "Bottom", "size": "Medium"},
        },
        "moments": [moment],
        "limits": {"transcript_chars": 500},
        "api": {"rpm": 60, "concurrency": 4},
    }
    lines = [
        f"# Starter config for {named or sheet.path.name}, guessed from its headers and values."
    ]
    if sheets and len(sheets) > 1:
        listed = ", ".join(repr(n) for n in sheets)
        lines.append(f"# The workbook's sheets: {listed}; the data is in {sheet.sheet_name!r}.")
    lines += [
        "# input.namespace names this campaign: its videos are found again by it, so keep it",
        "# when the sheet is renamed (a dated export); a new campaign gets a new one.",
        '# Every string is a template: {{ column }} or {{ row["Column With Spaces"] }}.',
        f"# Check it with: argil-batch validate {shlex.quote(named or str(sheet.path))} "
        "-c THIS_FILE",
        "# A budget: api.max_credits: N (a run estimated over N sends nothing).",
    ]
    if sheet.header_row != 1:
        lines.append(
            f"# The header is on row {sheet.header_row}; rows keep the numbers the sheet shows."
        )
    if script is None:
        lines.append("# transcript: no column of prose found; write the script or name a column.")
    else:
        lines.append(f"# transcript: {script.header!r}, the longest column of prose.")
    if not key:
        lines += [
            "# input.key: no column has unique values on every row; a row is then known by",
            "# its content, so an edited row counts as a new one. Name the columns that identify",
            "# a row.",
        ]
    body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
    if not avatar:
        # The one thing a sheet cannot tell: left blank, so validate says so on every row.
        body = body.replace(
            "  avatar_id: ''\n",
            "  avatar_id: ''  # your avatar's id: `argil-batch avatars` lists them\n",
            1,
        )
    return "\n".join(lines) + "\n" + body
