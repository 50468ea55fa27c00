"""The mapper: one config compiled against one sheet's headers, then rows mapped.

:class:`Mapper` checks, once per sheet, that every column the config names exists (a
:class:`~pipeline.config.ConfigError` lists each one missing, with a "did you mean"), compiles
every value into a leaf and builds once the parts no row changes. ``map_row`` then builds a
row's body (:class:`~pipeline.mapping.body.BodyBuilder`), checks it with the API models, and
gives its key: from ``input.key`` (or the payload), in the config's namespace.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import Template, meta
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from pipeline.argil.models import VideoCreateArgs, utf16_len
from pipeline.batch import BATCH_TAG_EXTRA
from pipeline.config import (
    BATCH_KEY_EXTRA,
    TEMPLATE_ENV,
    BrollConfig,
    Config,
    ConfigError,
    KeyframeConfig,
    MomentConfig,
    ZoomConfig,
    is_template,
)
from pipeline.mapping.body import FALSY_WHEN, BodyBuilder
from pipeline.mapping.columns import (
    _ambiguous_names,
    _bare_column,
    _row_lookups,
    _template_names,
    snake_case,
)
from pipeline.mapping.compiled import (
    _COLUMN,
    _CONST,
    _TEMPLATE,
    _Broll,
    _constant,
    _Leaf,
    _Moment,
    _Row,
    _Zoom,
)
from pipeline.mapping.plan import (
    INVALID,
    SKIPPED,
    VALID,
    FieldError,
    RowPlan,
    _field_errors,
    _wire_path,
    canonical_json,
)
from pipeline.sheets import Row

KEY_PREFIX = "k-"
# What render.when must render for a draft to be rendered: an explicit yes. Anything else
# (blank, "no", "maybe", a typo) waits: credits are spent only on what a person approved.
APPROVED = frozenset({"yes", "y", "true", "1", "x", "✓", "✔", "ok", "approved", "on"})
_KEY_HEX = 40


class Mapper(BodyBuilder):
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
        # Headers read straight from the cells (bare columns, key and skip columns).
        self._read: set[str] = set()
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
        # A row-level condition (a form's "Send video?" column): a row where it renders false
        # or blank is SKIPPED, as with skip_when_blank, never an error.
        self._row_when = self._opt(config.input.when, ("input", "when"))
        self._render_when = self._opt(config.render.when, ("render", "when"))
        self._download_name = self._opt(config.download.name, ("download", "name"))
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
        probe = _Row(self.template_context, {})
        value = build(probe)
        return (build, None) if probe.errors else (None, value)

    # --- compiling -------------------------------------------------------------------------

    def reads(self, header: str) -> bool:
        """Whether any value of the config reads this column (a cell it never reads may hold
        anything, an error included)."""
        if self._uses_row or header in self._read:
            return True
        return any(self._names.get(name) == header for name in self._context_names)

    def _column(self, name: str, loc: tuple[str | int, ...]) -> str:
        if name in self.headers:
            self._read.add(name)
            return name
        header = self._names.get(name) or self._names.get(snake_case(name))
        if header is not None:
            self._read.add(header)
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
            return _Leaf(_CONST, value, wire, self.config.locate(loc))
        if not is_template(value):
            return _Leaf(_CONST, value.strip(), wire, self.config.locate(loc))
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
                self._read.add(simple)
                return _Leaf(_COLUMN, simple, wire)
            if simple in self._names:  # {{ x }}
                self._read.add(self._names[simple])
                return _Leaf(_COLUMN, self._names[simple], wire)
        self._context_names |= names - {"row"}
        self._uses_row = self._uses_row or "row" in names
        template: Template = TEMPLATE_ENV.from_string(value)
        return _Leaf(_TEMPLATE, template, wire, self.config.locate(loc), row_free=not names)

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
            probe = _Row(self.template_context, {})
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
            probe = _Row(self.template_context, {})
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

    def template_context(self, values: Mapping[str, str]) -> dict[str, Any]:
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
        r = _Row(self.template_context, values)
        if self._row_when is not None:
            when = r.raw(self._row_when)
            if r.errors:
                return RowPlan(row.number, self.row_key(values), INVALID, None, None, r.errors)
            if when is None or str(when).lower() in FALSY_WHEN:
                reason = f"input.when is {str(when or '')!r} for this row"
                return RowPlan(row.number, self.row_key(values), SKIPPED, None, None, reason=reason)
        approved = None
        if self._render_when is not None:
            verdict = r.raw(self._render_when)
            approved = str(verdict or "").strip().casefold() in APPROVED
        file_name = ""
        if self._download_name is not None:
            file_name = str(r.raw(self._download_name) or "").strip()
        body, origins = self._build(r)
        if self._key_columns and not any(values.get(c, "").strip() for c in self._key_columns):
            r.errors.append(FieldError("", self._blank_key_message))
        if not r.errors:
            try:
                args = VideoCreateArgs.model_validate(body, context=self._validation_context)
            except ValidationError as exc:
                r.errors.extend(_field_errors(exc, origins))
            else:
                plan = self._valid(row, values, args.to_body())
                plan.approved, plan.file_name = approved, file_name
                return plan
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
