"""Loading a config from YAML: every problem found, one located line each, with a hint.

The text is read by a safe YAML loader that keeps keys as written (``on:`` stays "on"), notes
duplicate keys and refuses documents no config is (too large once aliases are expanded, nested
too deep). Then the model (:mod:`pipeline.config.model`) checks it, and each pydantic error
becomes ``file:line: yaml.path: message``: unknown keys with a "did you mean" (a camelCase
spelling, a key of another section, a near miss), and a value YAML 1.1 read as a boolean, a
number or a date where text was meant gets "quote the value".
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_snake

from pipeline.config.messages import (
    ConfigError,
    _describe,
    _line_of,
    _located,
    pydantic_message,
)
from pipeline.config.model import (
    ApiConfig,
    AutoBrollsConfig,
    BackgroundMusicConfig,
    BrollConfig,
    Config,
    InputConfig,
    LimitsConfig,
    MomentConfig,
    SubtitlesConfig,
    VideoConfig,
)

# A config is a page of YAML, far below these. Past them it is an attack or an accident: aliases
# let a few lines expand to billions of values (the "billion laughs"), and deep nesting would
# exhaust the recursion of the YAML composer.
_MAX_CONFIG_BYTES = 1 << 20
_MAX_NODES = 100_000
_MAX_DEPTH = 64


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
    config.read_from(source, lines)
    return config
