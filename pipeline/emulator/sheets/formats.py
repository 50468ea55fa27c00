"""Number formats of the fake Google Sheets: a value as its cell shows it (FORMATTED_VALUE)
through a number-format pattern, and the patterns of the API's number-format types."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

Value = str | float | bool | None

EPOCH = datetime(1899, 12, 30)  # serial day 0 of Sheets' dates
_DATE_TOKENS = re.compile(
    r'"[^"]*"|\\.|yyyy|yy|mmmm|mmm|mm|m|dddd|ddd|dd|d|hh|h|ss|s|am/pm|\.0+|.', re.IGNORECASE
)
_NUMBER_TOKENS = re.compile(r'"[^"]*"|\\.|[0#?][0#?,]*(?:\.[0#?]*)?|\.[0#?]+|.')
_MONTHS = "January February March April May June July August September October November December"
DEFAULT_PATTERNS = {  # the pattern of a numberFormat that gives only its type
    "NUMBER": "#,##0.00",
    "PERCENT": "0.00%",
    "CURRENCY": '"$"#,##0.00',
    "DATE": "M/d/yyyy",
    "TIME": "h:mm:ss am/pm",
    "DATE_TIME": "M/d/yyyy H:mm:ss",
    "SCIENTIFIC": "0.00E+00",
}
NUMBER_FORMAT_TYPES = {"TEXT", "NUMBER_FORMAT_TYPE_UNSPECIFIED", *DEFAULT_PATTERNS}


def shown_value(value: Value, pattern: str | None) -> str:
    """A value as the cell shows it (FORMATTED_VALUE)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return value
    return format_number(float(value), pattern)


def format_number(value: float, pattern: str | None) -> str:
    if not pattern or pattern.lower() in ("general", "@"):
        return _general(value)
    section = pattern.split(";")[0] if value >= 0 or ";" not in pattern else pattern.split(";")[1]
    bare = re.sub(r'"[^"]*"|\\.', "", section)
    if re.search(r"[ydhs]", bare, re.IGNORECASE) or (
        re.search("m", bare, re.IGNORECASE) and not re.search(r"[0#?]", bare)
    ):
        return _format_date(value, section)
    return _format_numeric(value if ";" not in pattern else abs(value), section)


def _general(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.15g}".upper()


def _format_numeric(value: float, pattern: str) -> str:
    out, number_done = [], False
    scaled = value * (100 if "%" in re.sub(r'"[^"]*"', "", pattern) else 1)
    for token in _NUMBER_TOKENS.findall(pattern):
        if token.startswith('"'):
            out.append(token[1:-1])
        elif token.startswith("\\") and len(token) == 2:
            out.append(token[1])
        elif (token[0] in "0#?." and len(token) > 1) or token in "0#?":
            if number_done:
                continue
            number_done = True
            whole, _, fraction = token.partition(".")
            places, required = len(fraction), fraction.count("0")
            # Half away from zero, as Sheets rounds (2.5 shows 3), not Python's half-even.
            exact = Decimal(repr(abs(scaled))).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
            text = f"{exact:{',' if ',' in whole else ''}f}"
            while places > required and text.endswith("0"):
                text, places = text[:-1], places - 1
            text = text.rstrip(".") if "." in text and not fraction.count("0") else text
            if whole.count("0") == 0 and text.startswith("0") and "." in text:
                text = text[1:]
            # "0000" shows 7 as 0007: as many integer digits as the pattern's zeros at least.
            digits, dot, decimals = text.partition(".")
            if "," not in whole and len(digits) < whole.count("0"):
                text = digits.zfill(whole.count("0")) + dot + decimals
            out.append(("-" if scaled < 0 and float(text.replace(",", "") or 0) else "") + text)
        else:
            out.append(token)
    return "".join(out)


def _format_date(value: float, pattern: str) -> str:
    moment = EPOCH + timedelta(days=value)
    moment = moment.replace(microsecond=0) + timedelta(seconds=round(moment.microsecond / 1e6))
    tokens = _DATE_TOKENS.findall(pattern)
    kinds = [
        t.lower()[0] if t[0].lower() in "ymdhs" and not t.startswith(".") else "" for t in tokens
    ]
    twelve = any(t.lower() == "am/pm" for t in tokens)
    out = []
    for i, token in enumerate(tokens):
        low = token.lower()
        if token.startswith('"'):
            out.append(token[1:-1])
        elif token.startswith("\\") and len(token) == 2:
            out.append(token[1])
        elif low == "yyyy":
            out.append(f"{moment.year:04d}")
        elif low == "yy":
            out.append(f"{moment.year % 100:02d}")
        elif low in ("m", "mm"):
            before = [k for k in kinds[:i] if k]
            after = [k for k in kinds[i + 1 :] if k]
            minute = (before and before[-1] == "h") or (after and after[0] == "s")
            number = moment.minute if minute else moment.month
            out.append(f"{number:02d}" if low == "mm" else str(number))
        elif low in ("mmm", "mmmm"):
            name = _MONTHS.split()[moment.month - 1]
            out.append(name[:3] if low == "mmm" else name)
        elif low in ("d", "dd"):
            out.append(f"{moment.day:02d}" if low == "dd" else str(moment.day))
        elif low in ("ddd", "dddd"):
            out.append(moment.strftime("%a" if low == "ddd" else "%A"))
        elif low in ("h", "hh"):
            hour = (moment.hour % 12 or 12) if twelve else moment.hour
            out.append(f"{hour:02d}" if low == "hh" else str(hour))
        elif low in ("s", "ss"):
            out.append(f"{moment.second:02d}" if low == "ss" else str(moment.second))
        elif low == "am/pm":
            out.append("AM" if moment.hour < 12 else "PM")
        elif low.startswith(".0"):
            out.append("." + "0" * (len(low) - 1))  # whole seconds only: the moment is rounded
        else:
            out.append(token)
    return "".join(out)
