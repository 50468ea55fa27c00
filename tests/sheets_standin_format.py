"""What a cell of the Sheets stand-in holds and shows (see ``sheets_standin``): cells and tabs,
number formats and the rendering of a cell under the values API's render options, and A1
notation. Written from Google's public documentation alone; nothing of ``pipeline`` is
imported."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

EPOCH = datetime(1899, 12, 30)  # day 0 of Sheets' serial dates
_DEFAULT_PATTERNS = {
    "NUMBER": "#,##0.00",
    "PERCENT": "0.00%",
    "CURRENCY": '"$"#,##0.00',
    "DATE": "M/d/yyyy",
    "TIME": "h:mm:ss am/pm",
    "DATE_TIME": "M/d/yyyy H:mm:ss",
}

Scalar = str | float | bool


@dataclass(frozen=True)
class Formula:
    """A formula and the value the test says it computes to."""

    text: str
    value: Scalar = ""


@dataclass(frozen=True)
class Number:
    """A number shown through a number format, as a test puts it in a sheet."""

    value: float
    pattern: str = ""
    type: str = "NUMBER"


@dataclass(frozen=True)
class Cell:
    """What a cell stores. Frozen, so that a transaction copies rows and not cells."""

    value: Scalar | Formula | None = None
    number_format: tuple[str, str] | None = None  # (type, pattern)
    link: str | None = None
    bold: bool = False
    background: dict[str, float] | None = None


@dataclass
class Tab:
    """A tab of a spreadsheet: its grid size, and its cells by row (only as far as data goes)."""

    sheet_id: int
    title: str
    row_count: int = 1000
    column_count: int = 26
    rows: list[dict[int, Cell]] = field(default_factory=list)  # only as far as data goes

    def copy(self) -> Tab:
        return replace(self, rows=[dict(r) for r in self.rows])

    def get(self, r: int, c: int) -> Cell | None:
        return self.rows[r].get(c) if r < len(self.rows) else None

    def put(self, r: int, c: int, cell: Cell | None) -> None:
        if cell is None or cell == Cell():
            if r < len(self.rows):
                self.rows[r].pop(c, None)
            return
        while len(self.rows) <= r:
            self.rows.append({})
        self.rows[r][c] = cell


# ---- what a person sees in a cell ---------------------------------------------------------------

_LEX = re.compile(r'"([^"]*)"|\\(.)|\[\$([^\]\-]*)[^\]]*\]|\[[^\]]*\]|([^"\\\[]+)', re.S)
_STRFTIME = {
    "yyyy": "%Y",
    "yy": "%y",
    "mmmm": "%B",
    "mmm": "%b",
    "mm": "%m",
    "dddd": "%A",
    "ddd": "%a",
    "dd": "%d",
    "hh": "%H",
    ":mm": "%M",
    "ss": "%S",
    "am/pm": "%p",
}
_DATE = re.compile(r"yyyy|yy|mmmm|mmm|mm|m|dddd|ddd|dd|d|hh|h|ss|s|am/pm|\.0+", re.I)


def _lex(section: str) -> list[tuple[bool, str]]:
    """(is_code, text): quoted and escaped text is shown as it is; colours show nothing."""
    out = []
    for m in _LEX.finditer(section):
        text = next((g for g in m.groups() if g is not None), None)
        if text is not None:
            out.append((m.group(4) is not None, text))
    return out


def _sections(pattern: str) -> list[str]:
    return re.split(r';(?=(?:[^"]*"[^"]*")*[^"]*$)', pattern)  # positive;negative;zero


def is_date_format(fmt: tuple[str, str] | None) -> bool:
    if fmt is None or fmt[0] in ("DATE", "TIME", "DATE_TIME"):
        return fmt is not None
    code = "".join(t for is_code, t in _lex(_sections(fmt[1])[0]) if is_code).lower()
    return bool(re.search(r"[ydhs]", code) or ("m" in code and not re.search(r"[0#]", code)))


def general(x: float) -> str:
    """Sheets' automatic format: 15 significant digits, 10 decimals, E notation far from 1."""
    if x == 0:
        return "0"
    if abs(x) >= 1e15 or abs(x) < 1e-10:
        mantissa, exp = f"{x:.14E}".split("E")
        return f"{mantissa.rstrip('0').rstrip('.')}E{int(exp):+03d}"
    text = f"{Decimal(f'{x:.15g}').quantize(Decimal('1e-10'), rounding=ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".")


def format_number(x: float, fmt: tuple[str, str] | None) -> str:
    kind, pattern = fmt or ("", "")
    pattern = pattern or _DEFAULT_PATTERNS.get(kind, "")
    if not pattern or kind == "TEXT" or pattern.lower() == "general":
        return general(x)
    sections = _sections(pattern)
    if is_date_format((kind, pattern)):
        return _format_date(x, sections[0])
    section, sign = sections[0], "-" if x < 0 else ""
    if x < 0 and len(sections) > 1:
        section, sign = sections[1], ""
    elif x == 0 and len(sections) > 2:
        section = sections[2]
    text = _format_plain(abs(x), section)
    return sign + text if re.search(r"[1-9]", text) else text


def _format_plain(v: float, section: str) -> str:
    chars = [(code, ch) for code, text in _lex(section) for ch in (text if code else [text])]
    core = [i for i, (code, ch) in enumerate(chars) if code and ch in "0#?.,"]
    if not core or any(code and ch in "Ee" for code, ch in chars):
        return general(v)  # scientific patterns are shown in the automatic form
    if any(code and ch == "%" for code, ch in chars):
        v *= 100
    spec = "".join(ch for _, ch in chars[core[0] : core[-1] + 1])
    int_spec, dot, frac_spec = spec.partition(".")
    # Sheets rounds half away from zero, not to even.
    step = Decimal(1).scaleb(-sum(ch in "0#?" for ch in frac_spec))
    whole, _, frac = f"{Decimal(repr(v)).quantize(step, rounding=ROUND_HALF_UP):f}".partition(".")
    while len(frac) > sum(ch in "0?" for ch in frac_spec) and frac.endswith("0"):
        frac = frac[:-1]  # '#' places show no trailing zero
    whole = whole.lstrip("0").rjust(int_spec.count("0"), "0")
    if "," in int_spec and whole:
        whole = f"{int(whole):,}".rjust(len(whole), "0")
    before = "".join(ch for _, ch in chars[: core[0]])
    return (
        before
        + whole
        + (dot + frac if dot else "")
        + "".join(ch for _, ch in chars[core[-1] + 1 :])
    )


def _format_date(x: float, section: str) -> str:
    items: list[tuple[bool, str]] = []  # (is_token, text)
    for is_code, text in _lex(section):
        pos = 0
        for m in _DATE.finditer(text) if is_code else ():
            items += [(False, text[pos : m.start()]), (True, m.group(0).lower())]
            pos = m.end()
        items.append((False, text[pos:]))
    toks = [t for is_tok, t in items if is_tok]
    unit = timedelta(seconds=10 ** -max((len(t) - 1 for t in toks if t[0] == "."), default=0))
    d = EPOCH + round(timedelta(days=x) / unit) * unit
    hours = "%I" if "am/pm" in toks else "%H"
    out, n = [], 0
    for is_tok, text in items:
        if is_tok:
            before, after = toks[n - 1] if n else "", toks[n + 1] if n + 1 < len(toks) else ""
            n += 1
            # 'm' is minutes right after hours or right before seconds, months elsewhere.
            if text in ("m", "mm") and (before in ("h", "hh") or after[:1] == "s"):
                text = ":" + text
            if text[0] == ".":
                text = f".{d.microsecond:06d}"[: len(text)]
            else:  # one letter is the two-letter form without its leading zero
                double = text if text in _STRFTIME else text + text[-1]
                shown = d.strftime(_STRFTIME[double].replace("%H", hours))
                text = shown if double == text else shown.lstrip("0") or "0"
        out.append(text)
    return "".join(out)


def render(cell: Cell | None, option: str, dates: str = "SERIAL_NUMBER") -> Scalar | int:
    """A cell as values.get answers it under valueRenderOption and dateTimeRenderOption."""
    v = cell.value if cell else None
    if isinstance(v, Formula):
        v = v.text if option == "FORMULA" else v.value
    if v is None or cell is None:
        return ""
    if isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if option == "FORMATTED_VALUE" or (
        dates == "FORMATTED_STRING" and isinstance(v, float) and is_date_format(cell.number_format)
    ):
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        return format_number(v, cell.number_format) if isinstance(v, float) else v
    return int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 2**53 else v


# ---- A1 notation --------------------------------------------------------------------------------


def col_letters(index: int) -> str:
    text, index = "", index + 1
    while index:
        index, rem = divmod(index - 1, 26)
        text = chr(65 + rem) + text
    return text


def quote_title(title: str) -> str:
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title)
    if plain and not re.fullmatch(r"[A-Za-z]{1,3}\d+|[Rr]\d+[Cc]\d+", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def a1(title: str, r0: int, c0: int, r1: int, c1: int) -> str:
    start, end = f"{col_letters(c0)}{r0 + 1}", f"{col_letters(c1 - 1)}{r1}"
    return f"{quote_title(title)}!{start}" + ("" if (r1 - r0, c1 - c0) == (1, 1) else f":{end}")


def split_range(text: str) -> tuple[str | None, str]:
    """(tab title or None, cells part); ValueError when the quoting is broken."""
    if not text.startswith("'"):
        title, bang, cells = text.rpartition("!")
        return (title, cells) if bang else (None, text)
    m = re.fullmatch(r"'((?:[^']|'')*)'(?:!(.*))?", text, re.S)
    if m is None:
        raise ValueError(text)
    return m.group(1).replace("''", "'"), m.group(2) or ""


def parse_cells(cells: str) -> tuple[int, int, int | None, int | None] | None:
    """(first row, first column, end row, end column): zero-based, ends exclusive, None open."""
    m = re.fullmatch(r"([A-Za-z]{0,3})([1-9]\d{0,6})?(?:(:)([A-Za-z]{0,3})([1-9]\d{0,6})?)?", cells)
    if m is None:
        return None
    ca, ra, colon, cb, rb = m.groups()
    if not colon and not (ca and ra):
        return None
    cb, rb = (cb, rb) if colon else (ca, ra)
    if not (ca or ra) or not (cb or rb):
        return None

    def col(letters: str) -> int:
        return sum((ord(ch) - 64) * 26**k for k, ch in enumerate(reversed(letters.upper()))) - 1

    return (
        int(ra) - 1 if ra else 0,
        col(ca) if ca else 0,
        int(rb) if rb else None,
        col(cb) + 1 if cb else None,
    )
