"""The YAML column config: its pydantic model and loading with clear, located errors.

A config says how a spreadsheet row becomes a ``POST /videos`` body. Every value under
``video`` and ``moments`` is a Jinja2 template rendered against the row (see
:mod:`pipeline.mapping`); numbers and booleans may also be written as plain YAML values.
``input`` names columns and ``limits``/``api`` hold plain settings. Loading checks everything
that can be checked without a sheet: unknown keys (with a "did you mean"), missing keys,
types, template syntax, constant values of enumerations, numbers and booleans, and the extras
budget.

Exceptions: :class:`ConfigError` is the only one; it carries every problem found, one located
line each (``configs/x.yaml:7: video.subtitle: unknown key; did you mean 'subtitles'?``).
"""

from __future__ import annotations

import difflib
import math
import re
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_snake
from pydantic_core import PydanticCustomError

from pipeline.argil.models import (
    BROLL_TYPES,
    MAX_EXTRA_CHARS,
    MAX_EXTRAS,
    UUID_PATTERN,
    AspectRatio,
    AvatarActionBroll,
    BrollIntensity,
    BrollLayout,
    BrollSource,
    GenerationBroll,
    GoogleImagesBroll,
    StocksVideoBroll,
    SubtitlePosition,
    SubtitleSize,
    UploadBroll,
    VideoModel,
)
from pipeline.batch import BATCH_TAG_EXTRA

BATCH_KEY_EXTRA = "argilBatchKey"
"""The extras key that carries a row's key; reserved, so a config cannot set it."""

MAX_CONFIG_EXTRAS = MAX_EXTRAS - 2
"""The API allows 5 extras: one is always the row key, one the batch tag."""

_TEMPLATE_MARKERS = ("{{", "{%", "{#")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
# A template can build huge values from tiny ones ('x' * 10**9); the sandbox does not stop
# that on its own, so results past these sizes are refused.
_MAX_REPEAT = 100_000
_MAX_EXPONENT = 1_000
# A config is a page of YAML, far below these. Past them it is an attack or an accident: aliases
# let a few lines expand to billions of values (the "billion laughs"), and deep nesting would
# exhaust the recursion of the YAML composer.
_MAX_CONFIG_BYTES = 1 << 20
_MAX_NODES = 100_000
_MAX_DEPTH = 64


class ConfigError(Exception):
    """The config cannot be used. ``problems`` holds one located line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# --- templates -----------------------------------------------------------------------------


class TemplateEnvironment(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, strict about undefined names, plus a cap on repetition."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is too large")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(count, int)
                    and len(seq) * count > _MAX_REPEAT
                ):
                    raise SecurityError("repetition result is too large")
        return super().call_binop(context, operator, left, right)


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


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, datetime | date):
        return f"the date {value.isoformat()}"
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


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


# --- the model ---------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputConfig(_Section):
    sheet: Text | None = None
    key: Annotated[Columns, Field(min_length=1)] | None = None
    skip_when_blank: Columns = Field(default_factory=list)
    namespace: Text = ""

    @field_validator("namespace")
    @classmethod
    def _namespace_fits(cls, value: str) -> str:
        # It is also the batch tag every video carries in its extras.
        if len(value.strip()) > MAX_EXTRA_CHARS:
            raise _fail(
                "namespace_length",
                f"the namespace is over {MAX_EXTRA_CHARS} characters: it is also the batch tag "
                "every video carries in its extras",
            )
        return value


class SubtitlesConfig(_Section):
    enable: Flag = True
    style_id: Template | None = None
    position: PositionChoice | None = None
    size: SizeChoice | None = None


class AutoBrollsConfig(_Section):
    enable: Flag = True
    source: SourceChoice
    intensity: IntensityChoice
    layout: LayoutChoice | None = None


class BackgroundMusicConfig(_Section):
    asset_id: Template
    volume: Number | None = None


class KeyframeConfig(_Section):
    time: Number
    scale: Number
    # Four numbers, or one template rendering four numbers ("0.42, 0, 0.58, 1").
    easing: Easing | None = None


class ZoomConfig(_Section):
    keyframes: Annotated[list[KeyframeConfig], Field(min_length=1, max_length=20)]


_BROLL_MODELS: dict[str, type[BaseModel]] = {
    "AVATAR_ACTION": AvatarActionBroll,
    "GENERATION": GenerationBroll,
    "STOCKS_VIDEO": StocksVideoBroll,
    "GOOGLE_IMAGES": GoogleImagesBroll,
    "UPLOAD": UploadBroll,
}
BROLL_FIELDS: dict[str, frozenset[str]] = {
    kind: frozenset(model.model_fields) - {"type"} for kind, model in _BROLL_MODELS.items()
}
"""Which broll settings each broll type takes (snake_case)."""
_broll_type = _one_of({kind.lower(): kind for kind in BROLL_TYPES})


class BrollConfig(_Section):
    type: Annotated[str, PlainValidator(_broll_type)]
    prompt: Template | None = None
    motion_prompt: Template | None = None
    query: Template | None = None
    animate: Flag | None = None
    asset_id: Template | None = None
    layout: LayoutChoice | None = None
    zoom: ZoomConfig | None = None

    @model_validator(mode="after")
    def _fields_fit_type(self) -> BrollConfig:
        if is_template(self.type):
            return self  # known per row only; the body validation checks it then
        allowed = BROLL_FIELDS[self.type]
        given = [name for name in self.model_fields_set if name != "type"]
        wrong = sorted(name for name in given if name not in allowed)
        if wrong:
            raise _fail(
                "broll_fields",
                f"{', '.join(wrong)} does not apply to broll type {self.type} "
                f"(it takes: {', '.join(sorted(allowed))})",
            )
        if self.type == "UPLOAD" and self.asset_id is None:
            raise _fail("broll_fields", "broll type UPLOAD needs asset_id")
        return self


class MomentConfig(_Section):
    transcript: Template | None = None
    audio_url: Template | None = None
    avatar_id: Template
    voice_id: Template | None = None
    voice_model: Template | None = None
    gesture_slug: Template | None = None
    zoom: ZoomConfig | None = None
    broll: BrollConfig | None = None
    when: Template | None = None
    broll_on: Literal["first", "all"] = "first"

    @model_validator(mode="after")
    def _a_source(self) -> MomentConfig:
        # Both may be given: a campaign where some rows bring a recorded voice-over and the
        # others a script. The spec's "exactly one" then holds per row, after blanks.
        if self.transcript is None and self.audio_url is None:
            raise _fail("moment_source", "a moment needs a transcript or an audio_url")
        return self


def _check_extras(value: dict[str, str]) -> dict[str, str]:
    if BATCH_KEY_EXTRA in value:
        raise _fail(
            "extras_reserved", f"{BATCH_KEY_EXTRA} is reserved: it always carries the row key"
        )
    if BATCH_TAG_EXTRA in value:
        raise _fail(
            "extras_reserved", f"{BATCH_TAG_EXTRA} is reserved: it always carries the batch tag"
        )
    if len(value) > MAX_CONFIG_EXTRAS:
        raise _fail(
            "extras_count",
            f"{len(value)} extras given, at most {MAX_CONFIG_EXTRAS}: the API takes {MAX_EXTRAS} "
            f"pairs and two are always set: {BATCH_KEY_EXTRA} (the row key) and "
            f"{BATCH_TAG_EXTRA} (the batch tag)",
        )
    for key in value:
        if len(key) > MAX_EXTRA_CHARS:
            raise _fail("extras_key", f"an extras name is over {MAX_EXTRA_CHARS} characters")
    return value


class VideoConfig(_Section):
    name: Template
    aspect_ratio: AspectRatioChoice | None = None
    model: VideoModelChoice | None = None
    subtitles: SubtitlesConfig | None = None
    auto_brolls: AutoBrollsConfig | None = None
    enable_auto_brolls: Flag | None = None
    background_music: BackgroundMusicConfig | None = None
    extras: dict[str, Template] | None = None

    @field_validator("extras")
    @classmethod
    def _extras_budget(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _check_extras(value)


# The transcript limit the API's documentation gives (older docs said 250): a higher one is
# allowed, since the limit has moved before, but warned about on every run.
PUBLISHED_TRANSCRIPT_CHARS = 500


class LimitsConfig(_Section):
    transcript_chars: Annotated[StrictInt, Field(ge=1)] = PUBLISHED_TRANSCRIPT_CHARS
    max_moments: Annotated[StrictInt, Field(ge=1)] | None = None


class ApiConfig(_Section):
    rpm: Rpm = 60.0
    # Reads (status polls, listings, the catalogue) have a gate of their own, so that they never
    # slow the creates; Argil documents 600 reads a minute beside 60 writes for its newer API.
    read_rpm: PositiveNumber = 600.0
    concurrency: Annotated[StrictInt, Field(ge=1)] = 4
    max_credits: Annotated[float, PlainValidator(_plain_number), Field(ge=0)] | None = None


def config_warnings(config: Config) -> list[str]:
    """What the config allows but the API most likely refuses: one line each, for every run."""
    limit = config.limits.transcript_chars
    if limit <= PUBLISHED_TRANSCRIPT_CHARS:
        return []
    return [
        f"limits.transcript_chars is {limit}, above the published limit of "
        f"{PUBLISHED_TRANSCRIPT_CHARS} characters a moment: the API may refuse every longer "
        f"moment (set it to {PUBLISHED_TRANSCRIPT_CHARS} unless Argil has raised it)"
    ]


class Config(_Section):
    input: InputConfig = Field(default_factory=InputConfig)
    video: VideoConfig
    moments: Annotated[list[MomentConfig], Field(min_length=1)]
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)

    _source: str = PrivateAttr(default="config")
    _lines: dict[tuple[str | int, ...], int] = PrivateAttr(default_factory=dict)

    @property
    def source(self) -> str:
        """The file the config was read from (or the name given to ``parse_config``)."""
        return self._source

    def locate(self, loc: Sequence[str | int]) -> str:
        """``file:line: yaml.path`` for a place in this config, as errors show it."""
        return _located(self._source, self._lines, tuple(loc))


# --- loading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scalar:
    line: int
    text: str
    surprising: bool  # written plainly, yet YAML 1.1 read it as something other than text


class _Loader(yaml.SafeLoader):
    """A safe loader whose mapping keys stay the text written (``on:`` stays "on")."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be plain text", key_node.start_mark
                )
            key = key_node.value
            if key in mapping:
                self.duplicates.append((key_node.start_mark.line + 1, key))
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _index_nodes(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: dict[tuple[str | int, ...], int],
    scalars: dict[tuple[str | int, ...], _Scalar],
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _index_nodes(value_node, (*path, key_node.value), lines, scalars)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_nodes(item, (*path, index), lines, scalars)
    elif isinstance(node, yaml.ScalarNode):
        surprising = node.style is None and node.tag != "tag:yaml.org,2002:str" and node.value != ""
        scalars[path] = _Scalar(node.start_mark.line + 1, node.value, surprising)


def format_path(loc: Sequence[str | int]) -> str:
    """``("moments", 0, "zoom")`` -> ``moments[0].zoom``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(lines: Mapping[tuple[str | int, ...], int], loc: tuple[str | int, ...]) -> int | None:
    for end in range(len(loc), -1, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return None


def _located(
    source: str, lines: Mapping[tuple[str | int, ...], int], loc: tuple[str | int, ...]
) -> str:
    line = _line_of(lines, loc)
    where = f"{source}:{line}" if line is not None else source
    path = format_path(loc)
    return f"{where}: {path}" if path else where


def _unwrap(annotation: Any) -> Any:
    """The model (or None) that a field's annotation holds, through Optional/list/Annotated."""
    for _ in range(8):
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            models = [a for a in get_args(annotation) if _unwrap(a) is not None]
            if not models:
                return None
            annotation = models[0]
        elif origin is list:
            annotation = get_args(annotation)[0]
        else:
            break
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Config
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        model = _unwrap(model.model_fields[part].annotation)
    return model


_SECTIONS: dict[str, type[BaseModel]] = {
    "input": InputConfig,
    "video": VideoConfig,
    "moments[]": MomentConfig,
    "limits": LimitsConfig,
    "api": ApiConfig,
    "video.subtitles": SubtitlesConfig,
    "video.auto_brolls": AutoBrollsConfig,
    "video.background_music": BackgroundMusicConfig,
    "moments[].broll": BrollConfig,
}


def _unknown_key_message(loc: tuple[str | int, ...]) -> str:
    key = str(loc[-1])
    model = _model_at(loc[:-1])
    if model is None:
        return "unknown key"
    names = list(model.model_fields)
    snake = to_snake(key)
    if snake != key and snake in names:
        return f"unknown key; did you mean {snake!r}? (keys are snake_case)"
    homes = [where for where, section in _SECTIONS.items() if key in section.model_fields]
    if homes:
        return f"unknown key here; {key!r} belongs under {homes[0]}"
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key (expected one of: {', '.join(names)})"


def show_value(value: Any) -> str:
    """A value as messages quote it: 4.0 as 4, text in quotes."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return repr(value[:80] + "…" if len(value) > 80 else value)
    return _describe(value)


_BOUNDS = {
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "greater than"),
}


def pydantic_message(error: Mapping[str, Any]) -> str:
    """A short human message for one pydantic error (without its location)."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = error.get("input")
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"must be {words} {show_value(ctx.get(key))}, got {show_value(got)}"
    if kind in ("enum", "literal_error"):
        return f"must be one of {ctx.get('expected')}, got {show_value(got)}"
    if kind == "union_tag_invalid":
        return f"must be one of {ctx.get('expected_tags')}, got {show_value(ctx.get('tag'))}"
    if kind in ("missing", "union_tag_not_found"):
        return "is required"
    if kind == "extra_forbidden":
        return "is not allowed here"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')}, got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"takes at most {ctx.get('max_length')}, got {ctx.get('actual_length')}"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == UUID_PATTERN:
            return f"must be a UUID, got {show_value(got)}"
        return f"must match {ctx.get('pattern')}, got {show_value(got)}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])


def _problem(
    error: Any,
    source: str,
    lines: Mapping[tuple[str | int, ...], int],
    scalars: Mapping[tuple[str | int, ...], _Scalar],
) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        message = _unknown_key_message(loc)
    elif kind == "missing":
        message = "missing required key"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a mapping, got {_describe(error.get('input'))}"
    elif kind == "list_type":
        message = f"expected a list, got {_describe(error.get('input'))}"
    elif kind == "too_short" and loc == ("moments",):
        message = "needs at least one moment"
    elif kind in ("int_type", "int_from_float", "int_parsing"):
        message = f"expected a whole number, got {_describe(error.get('input'))}"
    else:
        message = pydantic_message(error)
    scalar = scalars.get(loc)
    surprising = scalar is not None and scalar.surprising and error.get("input") is not None
    if kind in ("text_type", "choice") and scalar is not None and surprising:
        message += (
            f" (YAML 1.1 reads {scalar.text} unquoted as a {_yaml_kind(error.get('input'))}); "
            f"quote the value: '{scalar.text}'"
        )
    return f"{_located(source, lines, loc)}: {message}"


def _yaml_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, datetime | date):
        return "date"
    return "non-text value"


def _yaml_problem(source: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{context}: {problem}" if context else str(problem)
    hint = "; indent with spaces, not tabs" if "'\\t'" in text else ""
    return f"{where}: invalid YAML: {text}{hint}"


def load_config(path: Path) -> Config:
    """Read and check a YAML config; :class:`ConfigError` lists every problem found."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{source}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{source}: is a directory, not a config file"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {exc.strerror or exc}"]) from None
    if len(raw) > _MAX_CONFIG_BYTES:
        raise ConfigError(
            [f"{source}: {len(raw):,} bytes is not a config (at most {_MAX_CONFIG_BYTES:,})"]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [f"{source}: not UTF-8 text (byte {exc.start}); save the config as UTF-8"]
        ) from None
    return parse_config(text, source=source)


def _check_size(node: yaml.Node, source: str) -> None:
    """ConfigError if the document, aliases expanded, is larger or deeper than any config."""
    seen = 0
    stack: list[tuple[yaml.Node, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        seen += 1
        if seen > _MAX_NODES:
            raise ConfigError(
                [f"{source}: more than {_MAX_NODES:,} values once its aliases (*name) are expanded"]
            )
        if depth > _MAX_DEPTH:
            line = current.start_mark.line + 1
            raise ConfigError([f"{source}:{line}: nested more than {_MAX_DEPTH} levels deep"])
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack += ((key, depth + 1), (value, depth + 1))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in current.value)


def parse_config(text: str, *, source: str = "config") -> Config:
    """Check a config given as YAML text; ``source`` names it in messages."""
    try:
        # The reader checks the whole text as it is built: a control character is refused here.
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else 0
        raise ConfigError(
            [f"{source}:{line}: invalid YAML: character U+{code:04X} cannot appear in YAML"]
        ) from None
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_size(node, source)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(source, exc)]) from None
    except RecursionError:
        raise ConfigError([f"{source}: nested more than {_MAX_DEPTH} levels deep"]) from None
    finally:
        loader.dispose()
    if node is None or data is None:
        raise ConfigError([f"{source}: the config is empty; it needs at least video and moments"])
    if not isinstance(data, dict):
        raise ConfigError(
            [
                f"{source}:1: the config must be a mapping (input, video, moments, limits, api), "
                f"got {_describe(data)}"
            ]
        )
    lines: dict[tuple[str | int, ...], int] = {}
    scalars: dict[tuple[str | int, ...], _Scalar] = {}
    _index_nodes(node, (), lines, scalars)
    problems = [f"{source}:{line}: duplicate key {key!r}" for line, key in loader.duplicates]
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        located = [
            (_line_of(lines, tuple(error["loc"])) or 0, _problem(error, source, lines, scalars))
            for error in exc.errors()
        ]
        located.sort(key=lambda item: item[0])
        problems += [message for _, message in located]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    config._source = source
    config._lines = lines
    return config
