"""One spreadsheet row + the config -> one ``POST /videos`` body (or the row's errors).

Templates are compiled once per sheet by :class:`Mapper`; ``map_row`` renders them against a
row's cells and builds the body: blank optional fields are left out, numbers and booleans are
converted, long transcripts are split into several moments, the row key goes into
``extras.argilBatchKey``, and the result is checked with the API models
(:class:`~pipeline.argil.models.VideoCreateArgs`), whose errors become :class:`FieldError`\\ s
located by their wire path (``moments[1].zoom.keyframes[0].scale``; a moment's index is its
place in the config, shared by the parts of a split moment). A row never raises: every problem
of a row is in its :class:`RowPlan`.

A moment whose ``when`` renders blank (or false, no, 0, off, none: what a condition such as
``{{ market == "US" }}`` renders) is left out.

Columns are reachable in templates as ``{{ row["First Name"] }}`` and by their snake_case form
``{{ first_name }}`` (lowercase, runs of other characters -> ``_``, stripped). When two headers
share a snake_case form, that name is not defined and only ``row["..."]`` reaches them. A
header that is already a valid name (``Email``) is reachable as written, too. ``row`` itself is
reserved.

Exceptions: ``map_row`` raises none; :class:`Mapper` raises
:class:`~pipeline.config.ConfigError` when the config names columns the sheet lacks.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Template, meta, nodes
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from pipeline.argil.models import (
    BROLL_TYPES,
    AspectRatio,
    BrollIntensity,
    BrollLayout,
    BrollSource,
    SubtitlePosition,
    SubtitleSize,
    VideoCreateArgs,
    VideoModel,
    utf16_len,
)
from pipeline.batch import BATCH_TAG_EXTRA
from pipeline.chunking import split_transcript
from pipeline.config import (
    BATCH_KEY_EXTRA,
    TEMPLATE_ENV,
    BrollConfig,
    Config,
    ConfigError,
    KeyframeConfig,
    MomentConfig,
    ZoomConfig,
    bool_problem,
    choice_lookup,
    choices_text,
    format_path,
    is_template,
    number_problem,
    parse_bool,
    parse_easing,
    parse_number,
    pydantic_message,
)
from pipeline.sheets import Row

VALID = "valid"
INVALID = "invalid"
SKIPPED = "skipped"

KEY_PREFIX = "k-"
_KEY_HEX = 40
# A `when` rendering one of these leaves its moment out, like blank: a condition such as
# {{ market == "US" }} renders "False", which must not count as "present".
_FALSY_WHEN = frozenset({"", "false", "no", "0", "off", "none"})
# Names Jinja2 reads as literals or operators: a column named so is reachable only as row[...].
_JINJA_WORDS = frozenset(
    {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if"}
    | {"else", "row", "loop", "self", "super", "varargs", "kwargs"}
)
_NON_WORD = re.compile(r"[\W_]+")


def snake_case(header: str) -> str:
    """``"First Name"`` -> ``"first_name"``: the name a column has in templates."""
    return _NON_WORD.sub("_", header.lower()).strip("_")


@dataclass(slots=True)
class FieldError:
    """One problem of a row. ``field`` is a wire path (``moments[1].avatarId``) or ``""``
    for a problem of the whole row."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(slots=True)
class RowPlan:
    """What a row becomes: a valid body to send, or why not."""

    row: int
    key: str
    status: str
    body: dict[str, Any] | None
    payload_hash: str | None
    errors: list[FieldError] = field(default_factory=list)
    moments: int = 0
    chars: int = 0
    reason: str = ""


# --- compiled templates ------------------------------------------------------------------

_CONST, _COLUMN, _TEMPLATE = 0, 1, 2


@dataclass(slots=True)
class _Leaf:
    """One config value, ready to evaluate against a row.

    Most templates are a bare column (``{{ script }}``), read straight from the cells instead
    of through Jinja2: identical output, a fraction of the cost, and this runs per cell.
    """

    kind: int
    value: Any  # the constant, the header, or the compiled Template
    wire: str  # where errors point, as a wire path


def _wire_path(loc: Sequence[str | int]) -> str:
    """Config location -> the body's path: ``("video", "subtitles", "style_id")`` ->
    ``subtitles.styleId``. Extras names are the user's own and stay as written."""
    parts: list[str | int] = list(loc[1:]) if loc and loc[0] == "video" else list(loc)
    if parts and parts[0] == "extras":
        return format_path(parts)
    return format_path([p if isinstance(p, int) else to_camel(p) for p in parts])


_LOOKUPS: dict[str, dict[str, str]] = {
    "aspect_ratio": choice_lookup(AspectRatio),
    "model": choice_lookup(VideoModel),
    "position": choice_lookup(SubtitlePosition),
    "size": choice_lookup(SubtitleSize),
    "source": choice_lookup(BrollSource),
    "intensity": choice_lookup(BrollIntensity),
    "layout": choice_lookup(BrollLayout),
}
_BROLL_LOOKUP = {kind.lower(): kind for kind in BROLL_TYPES}


class _Row:
    """Per-row evaluation state: the cells, a lazily built Jinja2 context, the errors."""

    __slots__ = ("context", "errors", "mapper", "values")

    def __init__(self, mapper: Mapper, values: Mapping[str, str]) -> None:
        self.mapper = mapper
        self.values = values
        self.context: dict[str, Any] | None = None
        self.errors: list[FieldError] = []

    def raw(self, leaf: _Leaf) -> Any:
        """The leaf's value: a constant as loaded, or the rendered text stripped; None on a
        template error (recorded)."""
        kind = leaf.kind
        if kind == _COLUMN:
            return self.values.get(leaf.value, "").strip()
        if kind == _CONST:
            return leaf.value
        if self.context is None:
            self.context = self.mapper._context(self.values)
        template = leaf.value
        try:
            # What Template.render does, minus copying the variables and the globals into a
            # fresh dict for every template: the row's context already holds both. A quarter
            # of the cost, and this runs for every templated cell.
            context = template.new_context(self.context, shared=True)
            return "".join(template.root_render_func(context)).strip()
        except Exception as exc:  # a row's template failure is that row's error, whatever it is
            self.errors.append(FieldError(leaf.wire, f"template error: {exc}"))
            return None

    def text(self, leaf: _Leaf | None, required: bool = False) -> str | None:
        """Rendered text, or None when blank (an error when ``required``)."""
        if leaf is None:
            return None
        value = self.raw(leaf)
        if value is None:
            return None
        value = str(value)
        if not value:
            if required:
                self.errors.append(FieldError(leaf.wire, "is blank"))
            return None
        return value

    def choice(self, leaf: _Leaf | None, lookup: dict[str, str], required: bool = False) -> Any:
        value = self.text(leaf, required)
        if value is None or leaf is None:
            return None
        canonical = lookup.get(value.lower())
        if canonical is None:
            self.errors.append(
                FieldError(
                    leaf.wire,
                    f"must be one of {choices_text(lookup.values())}, got {value!r}",
                )
            )
        return canonical

    def number(self, leaf: _Leaf | None, required: bool = False) -> int | float | None:
        if leaf is None:
            return None
        value = self.raw(leaf)
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            return value
        if not value:
            if required:
                self.errors.append(FieldError(leaf.wire, "is blank"))
            return None
        parsed = parse_number(value)
        if parsed is None:
            self.errors.append(FieldError(leaf.wire, number_problem(value)))
        return parsed

    def flag(self, leaf: _Leaf | None) -> bool | None:
        if leaf is None:
            return None
        value = self.raw(leaf)
        if value is None or isinstance(value, bool):
            return value
        if not value:
            return None
        parsed = parse_bool(value)
        if parsed is None:
            self.errors.append(FieldError(leaf.wire, bool_problem(value)))
        return parsed


_DYNAMIC: Any = object()
"""Marks a part of the body that depends on the row (the opposite: built once, reused)."""


@dataclass(slots=True)
class _Zoom:
    keyframes: list[tuple[_Leaf, _Leaf, list[_Leaf] | _Leaf | None]]
    static: Any = _DYNAMIC


@dataclass(slots=True)
class _Broll:
    type: _Leaf
    fields: list[tuple[str, _Leaf, str]]  # wire name, leaf, conversion: text/flag/layout
    zoom: _Zoom | None
    static: Any = _DYNAMIC


def _constant(*parts: Any) -> bool:
    """Whether every leaf under ``parts`` is a constant, so that part of the body can be
    built once per sheet instead of once per row."""
    for part in parts:
        if part is None:
            continue
        if isinstance(part, _Leaf):
            if part.kind != _CONST:
                return False
        elif isinstance(part, list | tuple):
            if not _constant(*part):
                return False
        elif isinstance(part, _Zoom | _Broll) and part.static is _DYNAMIC:
            return False
    return True


@dataclass(slots=True)
class _Moment:
    index: int
    when: _Leaf | None
    # ("transcript", leaf) and/or ("audioUrl", leaf): with both, each row sends the one that
    # renders non-blank.
    sources: list[tuple[str, _Leaf]]
    avatar: _Leaf
    texts: list[tuple[str, _Leaf]]  # voiceId, voiceModel, gestureSlug
    zoom: _Zoom | None
    broll: _Broll | None
    broll_on_all: bool


class Mapper:
    """Maps rows of one sheet (given by its headers) with one config."""

    def __init__(self, config: Config, headers: list[str], batch_tag: str | None = None) -> None:
        self.config = config
        # Carried by every video as extras.argilBatch (see pipeline.batch); None: not added.
        self.batch_tag = batch_tag
        self.headers = list(headers)
        self._problems: list[str] = []
        self._names = _template_names(self.headers)
        self._ambiguous = _ambiguous_names(self.headers)
        self._context_names: set[str] = set()
        self._uses_row = False
        self._limit = config.limits.transcript_chars
        self._validation_context = {"transcript_chars": self._limit}
        self._namespace = config.input.namespace

        self._key_columns = [
            self._column(c, ("input", "key", i)) for i, c in enumerate(config.input.key or [])
        ]
        self._skip_columns = [
            self._column(c, ("input", "skip_when_blank", i))
            for i, c in enumerate(config.input.skip_when_blank)
        ]
        self._key_label = ", ".join(config.input.key or [])
        plural = len(self._key_columns) > 1
        self._blank_key_message = (
            f"input.key ({self._key_label}) {'are' if plural else 'is'} blank: every row needs "
            "a key (list the column in input.skip_when_blank to skip such rows)"
        )

        video = config.video
        self._name = self._leaf(video.name, ("video", "name"))
        self._aspect_ratio = self._opt(video.aspect_ratio, ("video", "aspect_ratio"))
        self._model = self._opt(video.model, ("video", "model"))
        self._enable_auto_brolls = self._opt(
            video.enable_auto_brolls, ("video", "enable_auto_brolls")
        )
        self._subtitles: tuple[_Leaf, _Leaf | None, _Leaf | None, _Leaf | None] | None = None
        if video.subtitles is not None:
            s, loc = video.subtitles, ("video", "subtitles")
            self._subtitles = (
                self._leaf(s.enable, (*loc, "enable")),
                self._opt(s.style_id, (*loc, "style_id")),
                self._opt(s.position, (*loc, "position")),
                self._opt(s.size, (*loc, "size")),
            )
        self._auto_brolls: tuple[_Leaf, _Leaf, _Leaf, _Leaf | None] | None = None
        if video.auto_brolls is not None:
            a, loc = video.auto_brolls, ("video", "auto_brolls")
            self._auto_brolls = (
                self._leaf(a.enable, (*loc, "enable")),
                self._leaf(a.source, (*loc, "source")),
                self._leaf(a.intensity, (*loc, "intensity")),
                self._opt(a.layout, (*loc, "layout")),
            )
        self._music: tuple[_Leaf, _Leaf | None] | None = None
        if video.background_music is not None:
            m, loc = video.background_music, ("video", "background_music")
            self._music = (
                self._leaf(m.asset_id, (*loc, "asset_id")),
                self._opt(m.volume, (*loc, "volume")),
            )
        self._extras = [
            (name, self._leaf(value, ("video", "extras", name)))
            for name, value in (video.extras or {}).items()
        ]
        self._moments = [self._compile_moment(i, m) for i, m in enumerate(config.moments)]
        self._max_moments = config.limits.max_moments
        if self._problems:
            raise ConfigError(self._problems)
        self._context_base = dict(TEMPLATE_ENV.globals)
        sections: list[tuple[str, Callable[[_Row], Any], tuple[Any, ...]]] = [
            ("aspectRatio", self._build_aspect_ratio, (self._aspect_ratio,)),
            ("model", self._build_model, (self._model,)),
            ("subtitles", self._build_subtitles, (self._subtitles,)),
            ("enableAutoBrolls", self._build_enable_auto_brolls, (self._enable_auto_brolls,)),
            ("autoBrolls", self._build_auto_brolls, (self._auto_brolls,)),
            ("backgroundMusic", self._build_music, (self._music,)),
            ("extras", self._build_extras, tuple(leaf for _, leaf in self._extras)),
        ]
        self._sections: list[tuple[str, Callable[[_Row], Any] | None, Any]] = []
        for key, build, parts in sections:
            self._sections.append((key, *self._maybe_static(build, parts)))

    def _maybe_static(
        self, build: Callable[[_Row], Any], parts: tuple[Any, ...]
    ) -> tuple[Callable[[_Row], Any] | None, Any]:
        """(None, value) for a part of the body that no row changes, else (build, None)."""
        if not _constant(*parts):
            return build, None
        probe = _Row(self, {})
        value = build(probe)
        return (build, None) if probe.errors else (None, value)

    # --- compiling -------------------------------------------------------------------------

    def _column(self, name: str, loc: tuple[str | int, ...]) -> str:
        if name in self.headers:
            return name
        header = self._names.get(name) or self._names.get(snake_case(name))
        if header is not None:
            return header
        self._problems.append(f"{self.config.locate(loc)}: {self._no_column(name)}")
        return name

    def _no_column(self, name: str) -> str:
        if name in self._ambiguous:
            return (
                f"{name!r} matches several columns ({', '.join(self._ambiguous[name])}); "
                f'use row["..."] with the exact header'
            )
        candidates = [*self.headers, *self._names]
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        listed = ", ".join(self.headers) if self.headers else "(none)"
        return f"no column {name!r} in the sheet{hint} The sheet's columns: {listed}"

    def _opt(self, value: Any, loc: tuple[str | int, ...]) -> _Leaf | None:
        return None if value is None else self._leaf(value, loc)

    def _leaf(self, value: Any, loc: tuple[str | int, ...]) -> _Leaf:
        wire = _wire_path(loc)
        if not isinstance(value, str):
            return _Leaf(_CONST, value, wire)
        if not is_template(value):
            return _Leaf(_CONST, value.strip(), wire)
        ast = TEMPLATE_ENV.parse(value)  # cannot fail: the config checked the syntax
        names = meta.find_undeclared_variables(ast) - set(TEMPLATE_ENV.globals)
        ok = True
        for name in sorted(names - {"row"}):
            if name not in self._names:
                self._problems.append(f"{self.config.locate(loc)}: {self._no_column(name)}")
                ok = False
        if "row" in names:
            for header in _row_lookups(ast):
                if header not in self.headers:
                    self._problems.append(f"{self.config.locate(loc)}: {self._no_column(header)}")
                    ok = False
        simple = _bare_column(ast)
        if ok and simple is not None:
            if "row" in names:  # {{ row["X"] }}
                return _Leaf(_COLUMN, simple, wire)
            if simple in self._names:  # {{ x }}
                return _Leaf(_COLUMN, self._names[simple], wire)
        self._context_names |= names - {"row"}
        self._uses_row = self._uses_row or "row" in names
        template: Template = TEMPLATE_ENV.from_string(value)
        return _Leaf(_TEMPLATE, template, wire)

    def _compile_zoom(self, zoom: ZoomConfig, loc: tuple[str | int, ...]) -> _Zoom:
        frames: list[tuple[_Leaf, _Leaf, list[_Leaf] | _Leaf | None]] = []
        for k, frame in enumerate(zoom.keyframes):
            floc = (*loc, "keyframes", k)
            frames.append(
                (
                    self._leaf(frame.time, (*floc, "time")),
                    self._leaf(frame.scale, (*floc, "scale")),
                    self._compile_easing(frame, (*floc, "easing")),
                )
            )
        zoom_plan = _Zoom(frames)
        if _constant(frames):
            probe = _Row(self, {})
            value = self._build_zoom(probe, zoom_plan)
            if not probe.errors:
                zoom_plan.static = value
        return zoom_plan

    def _compile_easing(
        self, frame: KeyframeConfig, loc: tuple[str | int, ...]
    ) -> list[_Leaf] | _Leaf | None:
        if frame.easing is None:
            return None
        if isinstance(frame.easing, str):
            return self._leaf(frame.easing, loc)
        return [self._leaf(item, (*loc, i)) for i, item in enumerate(frame.easing)]

    def _compile_broll(self, broll: BrollConfig, loc: tuple[str | int, ...]) -> _Broll:
        fields: list[tuple[str, _Leaf, str]] = []
        for name, conversion in (
            ("prompt", "text"),
            ("motion_prompt", "text"),
            ("query", "text"),
            ("animate", "flag"),
            ("asset_id", "text"),
            ("layout", "layout"),
        ):
            value = getattr(broll, name)
            if value is not None:
                fields.append((to_camel(name), self._leaf(value, (*loc, name)), conversion))
        zoom = self._compile_zoom(broll.zoom, (*loc, "zoom")) if broll.zoom else None
        broll_plan = _Broll(self._leaf(broll.type, (*loc, "type")), fields, zoom)
        if _constant(broll_plan.type, [leaf for _, leaf, _ in fields], zoom):
            probe = _Row(self, {})
            value = self._build_broll(probe, broll_plan)
            if not probe.errors:
                broll_plan.static = value
        return broll_plan

    def _compile_moment(self, index: int, moment: MomentConfig) -> _Moment:
        loc: tuple[str | int, ...] = ("moments", index)
        sources = [
            (to_camel(name), self._leaf(value, (*loc, name)))
            for name in ("transcript", "audio_url")
            if (value := getattr(moment, name)) is not None
        ]
        texts = [
            (to_camel(name), self._leaf(value, (*loc, name)))
            for name in ("voice_id", "voice_model", "gesture_slug")
            if (value := getattr(moment, name)) is not None
        ]
        return _Moment(
            index=index,
            when=self._opt(moment.when, (*loc, "when")),
            sources=sources,
            avatar=self._leaf(moment.avatar_id, (*loc, "avatar_id")),
            texts=texts,
            zoom=self._compile_zoom(moment.zoom, (*loc, "zoom")) if moment.zoom else None,
            broll=self._compile_broll(moment.broll, (*loc, "broll")) if moment.broll else None,
            broll_on_all=moment.broll_on == "all",
        )

    def _context(self, values: Mapping[str, str]) -> dict[str, Any]:
        names = self._names
        context = self._context_base.copy()
        for name in self._context_names:
            context[name] = values.get(names[name], "")
        if self._uses_row:
            context["row"] = values
        return context

    # --- mapping ---------------------------------------------------------------------------

    def row_key(self, values: Mapping[str, str], canonical_payload: str | None = None) -> str:
        """The row's identity: its key columns (or, without ``input.key``, its payload)."""
        if self._key_columns:
            material = json.dumps(
                [self._namespace, [values.get(c, "").strip() for c in self._key_columns]],
                ensure_ascii=False,
            )
        elif canonical_payload is not None:
            material = json.dumps([self._namespace, "payload"], ensure_ascii=False)
            material += canonical_payload
        else:
            material = json.dumps(
                [self._namespace, "cells", [values.get(h, "") for h in self.headers]],
                ensure_ascii=False,
            )
        return KEY_PREFIX + hashlib.sha256(material.encode()).hexdigest()[:_KEY_HEX]

    def map_row(self, row: Row) -> RowPlan:
        values = row.values
        blank = [c for c in self._skip_columns if not values.get(c, "").strip()]
        if blank:
            verb = "is" if len(blank) == 1 else "are"
            reason = f"{', '.join(blank)} {verb} blank"
            return RowPlan(row.number, self.row_key(values), SKIPPED, None, None, reason=reason)
        r = _Row(self, values)
        body, origins = self._build(r)
        if self._key_columns and not any(values.get(c, "").strip() for c in self._key_columns):
            r.errors.append(FieldError("", self._blank_key_message))
        if not r.errors:
            try:
                args = VideoCreateArgs.model_validate(body, context=self._validation_context)
            except ValidationError as exc:
                r.errors.extend(_field_errors(exc, origins))
            else:
                return self._valid(row, values, args.to_body())
        else:
            # Report what the API models would add, except where a problem is already known.
            try:
                VideoCreateArgs.model_validate(body, context=self._validation_context)
            except ValidationError as exc:
                known = {e.field for e in r.errors if e.field}
                r.errors.extend(
                    e
                    for e in _field_errors(exc, origins)
                    if not any(e.field.startswith(k) or k.startswith(e.field) for k in known)
                )
        return RowPlan(row.number, self.row_key(values), INVALID, None, None, r.errors)

    def _valid(self, row: Row, values: Mapping[str, str], body: dict[str, Any]) -> RowPlan:
        canonical = canonical_json(body)
        key = self.row_key(values, canonical)
        extras = body.get("extras")
        if extras is None:
            extras = body["extras"] = {}
        extras[BATCH_KEY_EXTRA] = key
        if self.batch_tag is not None:
            # After the payload hash: a renamed sheet must not make every row CHANGED.
            extras[BATCH_TAG_EXTRA] = self.batch_tag
        moments = body["moments"]
        chars = 0
        for moment in moments:
            transcript = moment.get("transcript")
            if transcript is not None:
                chars += utf16_len(transcript)
        return RowPlan(
            row=row.number,
            key=key,
            status=VALID,
            body=body,
            payload_hash=hashlib.sha256(canonical.encode()).hexdigest(),
            errors=[],
            moments=len(moments),
            chars=chars,
        )

    def _build(self, r: _Row) -> tuple[dict[str, Any], list[tuple[int, int, int]]]:
        body: dict[str, Any] = {}
        name = r.text(self._name, required=True)
        if name is not None:
            body["name"] = name
        origins: list[tuple[int, int, int]] = []
        moments: list[dict[str, Any]] = []
        for moment in self._moments:
            self._build_moment(r, moment, moments, origins)
        body["moments"] = moments
        if not moments and not r.errors:
            r.errors.append(FieldError("moments", "no moment left: every moment's when is blank"))
        if self._max_moments is not None and len(moments) > self._max_moments:
            r.errors.append(
                FieldError(
                    "moments",
                    f"{len(moments)} moments, more than limits.max_moments ({self._max_moments})",
                )
            )
        for key, build, static in self._sections:
            value = static if build is None else build(r)
            if value is not None:
                body[key] = value
        return body, origins

    def _build_aspect_ratio(self, r: _Row) -> Any:
        return r.choice(self._aspect_ratio, _LOOKUPS["aspect_ratio"])

    def _build_model(self, r: _Row) -> Any:
        return r.choice(self._model, _LOOKUPS["model"])

    def _build_enable_auto_brolls(self, r: _Row) -> bool | None:
        return r.flag(self._enable_auto_brolls)

    def _build_subtitles(self, r: _Row) -> dict[str, Any] | None:
        if self._subtitles is None:
            return None
        enable, style, position, size = self._subtitles
        on = r.flag(enable)
        if on is None:
            return None
        subtitles: dict[str, Any] = {"enable": on}
        _put(subtitles, "styleId", r.text(style))
        _put(subtitles, "position", r.choice(position, _LOOKUPS["position"]))
        _put(subtitles, "size", r.choice(size, _LOOKUPS["size"]))
        return subtitles

    def _build_auto_brolls(self, r: _Row) -> dict[str, Any] | None:
        if self._auto_brolls is None:
            return None
        enable, source, intensity, layout = self._auto_brolls
        on = r.flag(enable)
        if on is None:
            return None
        auto: dict[str, Any] = {"enable": on}
        _put(auto, "source", r.choice(source, _LOOKUPS["source"], required=True))
        _put(auto, "intensity", r.choice(intensity, _LOOKUPS["intensity"], required=True))
        _put(auto, "layout", r.choice(layout, _LOOKUPS["layout"]))
        return auto

    def _build_music(self, r: _Row) -> dict[str, Any] | None:
        if self._music is None:
            return None
        asset, volume = self._music
        asset_id = r.text(asset)
        if asset_id is None:
            return None
        music: dict[str, Any] = {"assetId": asset_id}
        _put(music, "volume", r.number(volume))
        return music

    def _build_extras(self, r: _Row) -> dict[str, str] | None:
        extras: dict[str, str] = {}
        for key, leaf in self._extras:
            value = r.text(leaf)
            if value is not None:
                extras[key] = value
        return extras or None

    def _build_moment(
        self,
        r: _Row,
        moment: _Moment,
        out: list[dict[str, Any]],
        origins: list[tuple[int, int, int]],
    ) -> None:
        if moment.when is not None:
            when = r.raw(moment.when)
            if when is None or str(when).lower() in _FALSY_WHEN:
                return
        picked = self._source(r, moment)
        base: dict[str, Any] = {}
        _put(base, "avatarId", r.text(moment.avatar, required=True))
        for key, leaf in moment.texts:
            _put(base, key, r.text(leaf))
        if moment.zoom is not None:
            _put(base, "zoom", self._build_zoom(r, moment.zoom))
        broll = self._build_broll(r, moment.broll) if moment.broll is not None else None
        if picked is None:
            return
        source_key, leaf, source = picked
        pieces = [source]
        if source_key == "transcript" and utf16_len(source) > self._limit:
            try:
                pieces = split_transcript(source, self._limit)
            except ValueError as exc:
                r.errors.append(FieldError(leaf.wire, f"cannot be split: {exc}"))
                return
        count = len(pieces)
        for part, piece in enumerate(pieces):
            item = dict(base)
            item[source_key] = piece
            if broll is not None and (part == 0 or moment.broll_on_all):
                item["broll"] = broll
            out.append(item)
            origins.append((moment.index, part, count))

    @staticmethod
    def _source(r: _Row, moment: _Moment) -> tuple[str, _Leaf, str] | None:
        """The moment's transcript or audio URL for this row: the one given, or, when the
        config templates both, the one that renders non-blank (both or neither: an error)."""
        if len(moment.sources) == 1:
            key, leaf = moment.sources[0]
            value = r.text(leaf, required=True)
            return None if value is None else (key, leaf, value)
        known = len(r.errors)
        rendered = [(key, leaf, r.text(leaf)) for key, leaf in moment.sources]
        if len(r.errors) > known:
            return None  # a template error, already said
        filled = [(key, leaf, value) for key, leaf, value in rendered if value is not None]
        if len(filled) == 1:
            return filled[0]
        where = f"moments[{moment.index}]"
        if filled:
            message = (
                "both transcript and audioUrl have a value: a moment takes one of them, "
                "so leave one blank in this row"
            )
        else:
            message = "neither transcript nor audioUrl has a value: a moment needs one of them"
        r.errors.append(FieldError(where, message))
        return None

    def _build_zoom(self, r: _Row, zoom: _Zoom) -> dict[str, Any] | None:
        if zoom.static is not _DYNAMIC:
            return zoom.static
        # A zoom whose scales all render blank is left out, like any blank optional field.
        if all(r.raw(scale) in ("", None) for _, scale, _ in zoom.keyframes):
            return None
        keyframes: list[dict[str, Any]] = []
        for time_leaf, scale_leaf, easing_leaf in zoom.keyframes:
            frame: dict[str, Any] = {}
            _put(frame, "time", r.number(time_leaf, required=True))
            _put(frame, "scale", r.number(scale_leaf, required=True))
            if isinstance(easing_leaf, list):
                easing = [r.number(item, required=True) for item in easing_leaf]
                frame["easing"] = easing
            elif easing_leaf is not None:
                text = r.text(easing_leaf)
                if text is not None:
                    parsed = parse_easing(text)
                    if parsed is None:
                        r.errors.append(
                            FieldError(
                                easing_leaf.wire,
                                f"{text!r} is not four numbers (x1, y1, x2, y2)",
                            )
                        )
                    else:
                        frame["easing"] = list(parsed)
            keyframes.append(frame)
        return {"keyframes": keyframes}

    def _build_broll(self, r: _Row, broll: _Broll) -> dict[str, Any] | None:
        if broll.static is not _DYNAMIC:
            return broll.static
        kind = r.text(broll.type)
        if kind is None:
            return None
        canonical = _BROLL_LOOKUP.get(kind.lower())
        if canonical is None:
            r.errors.append(
                FieldError(
                    broll.type.wire, f"must be one of {choices_text(BROLL_TYPES)}, got {kind!r}"
                )
            )
            return None
        out: dict[str, Any] = {"type": canonical}
        for key, leaf, conversion in broll.fields:
            if conversion == "flag":
                _put(out, key, r.flag(leaf))
            elif conversion == "layout":
                _put(out, key, r.choice(leaf, _LOOKUPS["layout"]))
            else:
                _put(out, key, r.text(leaf))
        if broll.zoom is not None:
            _put(out, "zoom", self._build_zoom(r, broll.zoom))
        return out


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def canonical_json(body: Mapping[str, Any]) -> str:
    """The one serialisation that hashes compare: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _template_names(headers: Sequence[str]) -> dict[str, str]:
    """Template name -> header, for every header that has a usable, unambiguous name."""
    counts: dict[str, int] = {}
    for header in headers:
        snake = snake_case(header)
        counts[snake] = counts.get(snake, 0) + 1
    names: dict[str, str] = {}
    for header in headers:
        snake = snake_case(header)
        if counts[snake] == 1 and snake.isidentifier() and snake not in _JINJA_WORDS:
            names[snake] = header
    for header in headers:
        if header.isidentifier() and header not in _JINJA_WORDS and header not in names:
            names[header] = header
    return names


def _ambiguous_names(headers: Sequence[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for header in headers:
        groups.setdefault(snake_case(header), []).append(header)
    return {
        snake: group for snake, group in groups.items() if len(group) > 1 and snake not in headers
    }


def _row_lookups(ast: nodes.Template) -> list[str]:
    """Headers named literally through ``row["X"]`` or ``row.X``."""
    found: list[str] = []
    for node in ast.find_all((nodes.Getitem, nodes.Getattr)):
        if isinstance(node, nodes.Getitem) and _is_row(node.node):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.append(node.arg.value)
        elif isinstance(node, nodes.Getattr) and _is_row(node.node):
            found.append(node.attr)
    return found


def _is_row(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "row"


def _bare_column(ast: nodes.Template) -> str | None:
    """The column of a template that is only ``{{ name }}`` or ``{{ row["X"] }}``."""
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    output = ast.body[0].nodes
    if len(output) != 1:
        return None
    node = output[0]
    if isinstance(node, nodes.Name):
        return node.name if node.name != "row" else None
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.node, nodes.Name)
        and node.node.name == "row"
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return node.arg.value
    return None


def _field_errors(exc: ValidationError, origins: list[tuple[int, int, int]]) -> list[FieldError]:
    """pydantic's errors on a body -> FieldErrors on config moments and wire paths."""
    out: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors():
        loc = list(error["loc"])
        suffix = ""
        if len(loc) >= 2 and loc[0] == "moments" and isinstance(loc[1], int):
            body_index = loc[1]
            if body_index < len(origins):
                index, part, count = origins[body_index]
                loc[1] = index
                if count > 1 and loc[-1] == "transcript":
                    suffix = f" (part {part + 1} of {count})"
        # The discriminated broll union puts the type name in the location: drop it.
        kind = ""
        for i in range(1, len(loc)):
            if loc[i - 1] == "broll" and loc[i] in BROLL_TYPES:
                kind = str(loc.pop(i))
                break
        message = pydantic_message(error)
        if error["type"] == "extra_forbidden" and kind:
            message = f"does not apply to broll type {kind}"
        path = format_path(loc)
        if (path, message + suffix) in seen:
            continue  # a setting copied to every part of a split moment fails once per part
        seen.add((path, message + suffix))
        out.append(FieldError(path, message + suffix))
    return out
