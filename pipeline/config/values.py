"""How one config value is read: templates, numbers, booleans, choices, easings.

The parsers here (:func:`parse_number`, :func:`parse_bool`, :func:`parse_easing`,
:func:`choice_lookup`) are shared with the mapper, which applies them to rendered cells with the
same words in its messages. The one Jinja2 environment (:data:`TEMPLATE_ENV`, the bounded sandbox
of :mod:`pipeline.config.templates`) is shared too. On top of them, the pydantic field types of the
config model (``Template``, ``Number``, ``Flag``, the ``...Choice`` types): a constant is
checked and converted at load time, a template only for its syntax (its value is known per row).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Annotated, Any

from jinja2 import TemplateSyntaxError
from pydantic import BeforeValidator, Field, PlainValidator
from pydantic_core import PydanticCustomError

from pipeline.argil.models import (
    AspectRatio,
    BrollIntensity,
    BrollLayout,
    BrollSource,
    SubtitlePosition,
    SubtitleSize,
    VideoModel,
)
from pipeline.config.messages import _describe
from pipeline.config.templates import TemplateEnvironment

_TEMPLATE_MARKERS = ("{{", "{%", "{#")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})

TEMPLATE_ENV = TemplateEnvironment()
"""The one environment: parsing at load time and compiling in the mapper share its cache."""


def is_template(text: str) -> bool:
    """Whether ``text`` holds Jinja2 syntax; anything else is a constant."""
    return any(marker in text for marker in _TEMPLATE_MARKERS)


def parse_number(text: str) -> int | float | None:
    """A decimal number written in a cell or a config, or None when ``text`` is not one.

    Stricter than ``float()`` on purpose: no ``nan``/``inf``, no ``1_000``.
    """
    text = text.strip()
    if not _NUMBER_RE.fullmatch(text):
        return None
    if "." in text or "e" in text or "E" in text:
        value = float(text)
        return value if math.isfinite(value) else None
    return int(text)


def parse_bool(text: str) -> bool | None:
    """true/false, yes/no, 1/0, on/off (any case), or None when ``text`` is none of them."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return None


def number_problem(text: str) -> str:
    """Why ``text`` is not a number, for a message."""
    if re.fullmatch(r"\s*[+-]?\d+,\d+\s*", text):
        return f"{text!r} is not a number (use a dot as the decimal separator)"
    return f"{text!r} is not a number"


def choice_lookup(enum: type[Enum]) -> dict[str, str]:
    """Lower-cased spelling -> the API's spelling, so 'bottom' is accepted for 'Bottom'."""
    return {str(member.value).lower(): str(member.value) for member in enum}


def choices_text(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in values)


def _fail(kind: str, message: str) -> PydanticCustomError:
    # The message goes in as a value, never as the template: it may quote user text with braces.
    return PydanticCustomError(kind, "{message}", {"message": message})


def bool_problem(text: str) -> str:
    """Why ``text`` is not a boolean, for a message."""
    return f"{text!r} is not true/false, yes/no, 1/0 or on/off"


def _check_template(text: str) -> None:
    try:
        TEMPLATE_ENV.parse(text)
    except TemplateSyntaxError as exc:
        where = f" (template line {exc.lineno})" if "\n" in text.strip() else ""
        raise _fail("template_syntax", f"template error: {exc.message}{where}") from None


# --- leaf types --------------------------------------------------------------------------
# Plain validators keep pydantic's error locations clean (no union member names in them) and
# let every message say what the user should write.


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("text_type", f"expected text, got {_describe(value)}")
    return value


def _template(value: Any) -> str:
    text = _text(value)
    if is_template(text):
        _check_template(text)
    return text


def _number(value: Any) -> int | float | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail("number_type", f"expected a number or a template, got {_describe(value)}")
    if isinstance(value, str):
        if is_template(value):
            _check_template(value)
            return value
        parsed = parse_number(value)
        if parsed is None:
            raise _fail("number_parsing", number_problem(value))
        return parsed
    if not math.isfinite(value):
        raise _fail("number_type", "expected a finite number")
    return value


def _flag(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if not isinstance(value, str):
        raise _fail("bool_type", f"expected true or false, got {_describe(value)}")
    if is_template(value):
        _check_template(value)
        return value
    parsed = parse_bool(value)
    if parsed is None:
        raise _fail("bool_parsing", bool_problem(value))
    return parsed


def _choice(enum: type[Enum]) -> Callable[[Any], str]:
    return _one_of(choice_lookup(enum))


def _one_of(lookup: dict[str, str]) -> Callable[[Any], str]:
    """A validator of a fixed value, any case (a template is checked, not resolved, here)."""

    def check(value: Any) -> str:
        text = _text(value)
        if is_template(text):
            _check_template(text)
            return text
        canonical = lookup.get(text.strip().lower())
        if canonical is None:
            raise _fail("choice", f"must be one of {choices_text(lookup.values())}, got {text!r}")
        return canonical

    return check


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Text = Annotated[str, PlainValidator(_text)]
Template = Annotated[str, PlainValidator(_template)]
Number = Annotated[int | float | str, PlainValidator(_number)]
Flag = Annotated[bool | str, PlainValidator(_flag)]
Columns = Annotated[list[Text], BeforeValidator(_one_or_many)]


def _easing(value: Any) -> list[int | float | str] | str:
    if isinstance(value, str):
        text = _template(value)
        if is_template(text):
            return text
        numbers = parse_easing(text)
        if numbers is None:
            raise _fail("easing", f"{text!r} is not four numbers (x1, y1, x2, y2)")
        return list(numbers)
    if not isinstance(value, list):
        raise _fail("easing", f"expected four numbers [x1, y1, x2, y2], got {_describe(value)}")
    if len(value) != 4:
        raise _fail("easing", f"expected four numbers [x1, y1, x2, y2], got {len(value)}")
    return [_number(item) for item in value]


def _plain_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail("number_type", f"expected a number, got {_describe(value)}")
    return float(value)


def parse_easing(text: str) -> tuple[int | float, ...] | None:
    """Four numbers separated by commas or spaces (brackets allowed), or None."""
    parts = [part for part in re.split(r"[\s,]+", text.strip().strip("[]").strip()) if part]
    if len(parts) != 4:
        return None
    numbers = [parse_number(part) for part in parts]
    if any(number is None for number in numbers):
        return None
    return tuple(number for number in numbers if number is not None)


AspectRatioChoice = Annotated[str, PlainValidator(_choice(AspectRatio))]
VideoModelChoice = Annotated[str, PlainValidator(_choice(VideoModel))]
PositionChoice = Annotated[str, PlainValidator(_choice(SubtitlePosition))]
SizeChoice = Annotated[str, PlainValidator(_choice(SubtitleSize))]
SourceChoice = Annotated[str, PlainValidator(_choice(BrollSource))]
IntensityChoice = Annotated[str, PlainValidator(_choice(BrollIntensity))]
LayoutChoice = Annotated[str, PlainValidator(_choice(BrollLayout))]
Easing = Annotated[list[int | float | str] | str, PlainValidator(_easing)]
PositiveNumber = Annotated[float, PlainValidator(_plain_number), Field(gt=0)]


def _rpm(value: Any) -> float | str:
    if value == "auto":
        return "auto"
    number = _plain_number(value)
    if not number > 0:
        raise _fail("rpm", f"must be greater than 0 (or auto), got {_describe(value)}")
    return number


# A number of requests a minute, or "auto": find the limit.
Rpm = Annotated[float | str, PlainValidator(_rpm)]
