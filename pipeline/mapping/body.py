"""Building a row's body from the compiled config: name, moments, zoom, broll, extras.

:class:`BodyBuilder` holds the building half of :class:`~pipeline.mapping.mapper.Mapper`.
Blank optional fields are left out, choices are given the API's spelling, a moment whose
``when`` renders blank or false is left out, a moment gets the transcript or the audio URL the
row fills, and a transcript over the limit becomes several moments (the broll on the first or
on all of them). Problems are recorded on the row, never raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.argil.models import (
    BROLL_TYPES,
    AspectRatio,
    BrollIntensity,
    BrollLayout,
    BrollSource,
    SubtitlePosition,
    SubtitleSize,
    VideoModel,
    utf16_len,
)
from pipeline.chunking import TooManyPieces, split_transcript
from pipeline.config import choice_lookup, choices_text, parse_easing
from pipeline.mapping.compiled import _DYNAMIC, _Broll, _Leaf, _Moment, _Row, _Zoom
from pipeline.mapping.plan import FieldError

# A `when` rendering one of these leaves its moment out, like blank: a condition such as
# {{ market == "US" }} renders "False", which must not count as "present".
# What a `when` (a moment's, or input.when) renders for "no".
FALSY_WHEN = frozenset({"", "false", "no", "0", "off", "none"})

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
# How far past limits.max_moments a transcript is still split to the end (see _build_moment).
_SPLIT_PAST_CEILING = 4


class BodyBuilder:
    """The body-building methods of a mapper, over the compiled parts it set up."""

    _name: _Leaf
    _aspect_ratio: _Leaf | None
    _model: _Leaf | None
    _enable_auto_brolls: _Leaf | None
    _subtitles: tuple[_Leaf, _Leaf | None, _Leaf | None, _Leaf | None] | None
    _auto_brolls: tuple[_Leaf, _Leaf, _Leaf, _Leaf | None] | None
    _music: tuple[_Leaf, _Leaf | None] | None
    _extras: list[tuple[str, _Leaf]]
    _moments: list[_Moment]
    _max_moments: int | None
    _limit: int
    _sections: list[tuple[str, Callable[[_Row], Any] | None, Any]]

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
            if when is None or str(when).lower() in FALSY_WHEN:
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
        if source_key == "transcript" and _over_limit(source, self._limit):
            ceiling = self._max_moments
            # Up to a few times the ceiling the split is finished, and the row's error says
            # exactly how many moments it would make; past that only the size matters, and a
            # 200 MB cell costs no more to refuse than a long script.
            most = None if ceiling is None else _SPLIT_PAST_CEILING * ceiling
            try:
                pieces = split_transcript(source, self._limit, most=most)
            except TooManyPieces as exc:
                needed = max(exc.most + 1, -(-len(source) // self._limit))
                r.errors.append(
                    FieldError(
                        leaf.wire,
                        f"the script needs about {needed:,} moments, more than "
                        f"limits.max_moments ({ceiling})",
                    )
                )
                return
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


def _over_limit(text: str, limit: int) -> bool:
    """Whether ``text`` is over ``limit`` UTF-16 units, without encoding a text that is over
    it by its code points alone (each is one unit or two)."""
    if len(text) > limit:
        return True
    return 2 * len(text) > limit and utf16_len(text) > limit


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value
