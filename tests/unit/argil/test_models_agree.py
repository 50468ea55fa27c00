"""The pydantic request models and the emulator's spec check agree on what a valid body is.

They are written independently (the models by hand, the check from ``openapi.yaml`` through
jsonschema), so agreement on generated bodies, valid ones and near misses, is evidence that
both follow the spec. A body one accepts and the other refuses is a bug on one side.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.argil.models import VideoCreateArgs
from pipeline.argil.voices import VOICE_MODELS
from pipeline.emulator import check_body

Body = dict[str, Any]
Draw = Callable[[st.SearchStrategy[Any]], Any]

LAYOUTS = [
    "FULLSCREEN",
    "AVATAR_BOTTOM_LEFT",
    "AVATAR_BOTTOM_RIGHT",
    "AVATAR_TOP_LEFT",
    "AVATAR_TOP_RIGHT",
    "SPLIT_AVATAR_LEFT",
    "SPLIT_AVATAR_RIGHT",
    "SPLIT_AVATAR_TOP",
    "SPLIT_AVATAR_BOTTOM",
    "BACKGROUND",
]
ASSET = "3f2c8a1e-9b7d-4c2e-8f1a-0d9e8c7b6a5f"

# Any text without lone surrogates (JSON can carry them, but the models' JSON parser refuses
# them as invalid UTF-8 while Python's accepts them: a transport detail, not a spec question).
text = st.text(max_size=12)
extras_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False)
# The spec lists voice models in words: a known one, or (the mutation) any other text.
voice_model = st.sampled_from(sorted(VOICE_MODELS))
unit = st.one_of(st.floats(0, 1), st.integers(0, 1))
scale = st.one_of(st.floats(1, 3), st.integers(1, 3))

keyframe = st.fixed_dictionaries(
    {"time": unit, "scale": scale},
    optional={"easing": st.lists(st.one_of(finite, st.integers(-5, 5)), min_size=4, max_size=4)},
)
zoom = st.fixed_dictionaries({"keyframes": st.lists(keyframe, min_size=1, max_size=3)})
layout = st.sampled_from(LAYOUTS)
broll = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("AVATAR_ACTION")},
        optional={"prompt": text, "motionPrompt": text, "layout": layout, "zoom": zoom},
    ),
    st.fixed_dictionaries(
        {"type": st.just("GENERATION")},
        optional={"prompt": text, "animate": st.booleans(), "layout": layout, "zoom": zoom},
    ),
    st.fixed_dictionaries(
        {"type": st.just("STOCKS_VIDEO")}, optional={"query": text, "layout": layout, "zoom": zoom}
    ),
    st.fixed_dictionaries(
        {"type": st.just("GOOGLE_IMAGES")},
        optional={"query": text, "animate": st.booleans(), "layout": layout, "zoom": zoom},
    ),
    st.fixed_dictionaries(
        {"type": st.just("UPLOAD"), "assetId": st.uuids().map(str)},
        optional={"layout": layout, "zoom": zoom},
    ),
)


def units(n: int, emoji: int) -> str:
    """A transcript of exactly ``n`` UTF-16 code units, ``emoji`` of them two-unit emoji."""
    emoji = min(emoji, n // 2)
    return "😀" * emoji + "a" * (n - 2 * emoji)


transcript = st.one_of(
    text,
    st.builds(units, st.integers(0, 500), st.integers(0, 250)),
)


@st.composite
def moments(draw: Draw) -> Body:
    out = draw(
        st.fixed_dictionaries(
            {"avatarId": text},
            optional={
                "voiceId": text,
                "voiceModel": voice_model,
                "gestureSlug": text,
                "zoom": zoom,
                "broll": broll,
            },
        )
    )
    if draw(st.booleans()):
        out["transcript"] = draw(transcript)
    else:
        out["audioUrl"] = draw(text)
    return out


valid_bodies = st.fixed_dictionaries(
    {"name": text, "moments": st.lists(moments(), max_size=3)},
    optional={
        "subtitles": st.fixed_dictionaries(
            {"enable": st.booleans()},
            optional={
                "styleId": text,
                "position": st.sampled_from(["Top", "Middle", "Bottom"]),
                "size": st.sampled_from(["Small", "Medium", "Large"]),
            },
        ),
        "aspectRatio": st.sampled_from(["16:9", "9:16"]),
        "enableAutoBrolls": st.booleans(),
        "autoBrolls": st.fixed_dictionaries(
            {
                "enable": st.booleans(),
                "source": st.sampled_from(
                    ["GENERATION", "GOOGLE_IMAGES", "STOCKS_VIDEO", "AVATAR_ACTION"]
                ),
                "intensity": st.sampled_from(["LOW", "MEDIUM", "HIGH"]),
            },
            optional={"layout": layout},
        ),
        "extras": st.dictionaries(extras_text, extras_text, max_size=5),
        "backgroundMusic": st.fixed_dictionaries({"assetId": text}, optional={"volume": unit}),
        "model": st.sampled_from(["ARGIL_V1", "ARGIL_ATOM"]),
    },
)


# --- near misses: each takes a valid body and may break it ----------------------------------


def _a_moment(body: Body, draw: Draw) -> Body:
    if not body["moments"]:
        body["moments"].append({"avatarId": "avatar-emma", "transcript": "Hi."})
    index = draw(st.integers(0, len(body["moments"]) - 1))
    moment: Body = body["moments"][index]
    return moment


def _a_broll(body: Body, draw: Draw) -> Body:
    moment = _a_moment(body, draw)
    if "broll" not in moment:
        moment["broll"] = draw(broll)
    out: Body = moment["broll"]
    return out


def _a_keyframe(body: Body, draw: Draw) -> Body:
    moment = _a_moment(body, draw)
    moment.setdefault("zoom", {"keyframes": [{"time": 0, "scale": 1}]})
    frames: list[Body] = moment["zoom"]["keyframes"]
    out: Body = frames[draw(st.integers(0, len(frames) - 1))]
    return out


def _parent(body: Body, draw: Draw, where: str) -> Body:
    """The object a mutation applies to, created (valid) when the body lacks it."""
    if where == "body":
        return body
    if where == "moment":
        return _a_moment(body, draw)
    if where == "broll":
        return _a_broll(body, draw)
    if where == "keyframe":
        return _a_keyframe(body, draw)
    if where == "zoom":
        _a_keyframe(body, draw)
        zooms = [m["zoom"] for m in body["moments"] if "zoom" in m]
        out: Body = zooms[0]
        return out
    defaults: dict[str, Body] = {
        "subtitles": {"enable": True},
        "autoBrolls": {"enable": True, "source": "GENERATION", "intensity": "LOW"},
        "backgroundMusic": {"assetId": "music-1"},
        "extras": {},
    }
    made: Body = body.setdefault(where, defaults[where])
    return made


ENUM_FIELDS = [
    ("body", "aspectRatio"),
    ("body", "model"),
    ("subtitles", "position"),
    ("subtitles", "size"),
    ("autoBrolls", "source"),
    ("autoBrolls", "intensity"),
    ("autoBrolls", "layout"),
    ("broll", "layout"),
]
NOT_IN_ANY_ENUM = ["4:3", "argil_v1", "bottom", "", "huge", "Fullscreen", "LOW "]


def wrong_enum(body: Body, draw: Draw) -> None:
    where, name = draw(st.sampled_from(ENUM_FIELDS))
    _parent(body, draw, where)[name] = draw(st.sampled_from(NOT_IN_ANY_ENUM))


def out_of_range(body: Body, draw: Draw) -> None:
    kind = draw(st.sampled_from(["time", "scale", "volume", "easing", "keyframes"]))
    below_or_above = st.one_of(st.floats(-10, -1e-9), st.floats(1 + 1e-9, 10), st.just(2))
    if kind == "time":
        _a_keyframe(body, draw)["time"] = draw(below_or_above)
    elif kind == "scale":
        scales = st.one_of(st.floats(0, 1 - 1e-9), st.floats(3 + 1e-9, 10), st.sampled_from([0, 4]))
        _a_keyframe(body, draw)["scale"] = draw(scales)
    elif kind == "volume":
        _parent(body, draw, "backgroundMusic")["volume"] = draw(below_or_above)
    elif kind == "easing":
        _a_keyframe(body, draw)["easing"] = draw(st.lists(finite, min_size=0, max_size=6))
    else:
        frame = {"time": 0.5, "scale": 1.5}
        count = draw(st.sampled_from([0, 19, 20, 21, 25]))
        _a_moment(body, draw)["zoom"] = {"keyframes": [dict(frame) for _ in range(count)]}


EXTRA_KEYS = [
    "avatar_id",
    "aspect_ratio",
    "motion_prompt",
    "foo",
    "videoUrl",
    "Transcript",
    "avatarID",
    "prompt",
    "query",
    "animate",
    "assetId",
    "motionPrompt",
    "id",
]
OBJECTS = ["body", "moment", "broll", "subtitles", "autoBrolls", "backgroundMusic", "zoom"]


def extra_property(body: Body, draw: Draw) -> None:
    target = _parent(body, draw, draw(st.sampled_from([*OBJECTS, "keyframe"])))
    value = draw(st.one_of(text, st.booleans(), st.integers()))
    target[draw(st.sampled_from(EXTRA_KEYS))] = value


def both_or_neither(body: Body, draw: Draw) -> None:
    moment = _a_moment(body, draw)
    if draw(st.booleans()):
        moment["transcript"], moment["audioUrl"] = "Hello.", "https://example.com/a.mp3"
    else:
        moment.pop("transcript", None)
        moment.pop("audioUrl", None)


def unknown_voice_model(body: Body, draw: Draw) -> None:
    model = draw(st.one_of(text, st.sampled_from(["eleven_v4", "Speech-02-hd", " eleven_v3"])))
    if model not in VOICE_MODELS:
        _a_moment(body, draw)["voiceModel"] = model


def long_transcript(body: Body, draw: Draw) -> None:
    moment = _a_moment(body, draw)
    moment.pop("audioUrl", None)
    moment["transcript"] = units(draw(st.integers(490, 520)), draw(st.integers(0, 260)))


def many_extras(body: Body, draw: Draw) -> None:
    if draw(st.booleans()):
        count = draw(st.integers(4, 12))
        body["extras"] = {f"key{i}": "v" for i in range(count)}
    else:
        long = "k" * draw(st.integers(250, 260))
        pair = (long, "v") if draw(st.booleans()) else ("campaign", long)
        body["extras"] = dict([pair])


def bad_broll_type(body: Body, draw: Draw) -> None:
    moment = _a_moment(body, draw)
    kind = draw(st.sampled_from(["unknown", "missing", "not an object"]))
    if kind == "not an object":
        moment["broll"] = draw(st.sampled_from(["GENERATION", [], 3, True]))
        return
    target = _a_broll(body, draw)
    if kind == "missing":
        target.pop("type", None)
    else:
        target["type"] = draw(st.sampled_from(["SLIDESHOW", "generation", "", 5, ["UPLOAD"]]))


NOT_QUITE_UUIDS = [
    ASSET.replace("-", ""),
    "{" + ASSET + "}",
    "urn:uuid:" + ASSET,
    ASSET + "\n",
    " " + ASSET,
    ASSET[:-1],
    ASSET[:-1] + "g",
    ASSET[:24] + "12_4567-9abc",
    ASSET + "-",
    ASSET.upper(),  # valid: hex digits in either case
    "asset-42",
]


def bad_uuid(body: Body, draw: Draw) -> None:
    moment = _a_moment(body, draw)
    moment["broll"] = {"type": "UPLOAD", "assetId": draw(st.sampled_from(NOT_QUITE_UUIDS))}


WRONG_TYPES: list[tuple[str, str, object]] = [
    ("moment", "voiceId", None),
    ("body", "aspectRatio", None),
    ("subtitles", "styleId", None),
    ("keyframe", "easing", None),
    ("body", "name", 5),
    ("body", "moments", {}),
    ("body", "moments", ["Hello."]),
    ("body", "enableAutoBrolls", 1),
    ("body", "aspectRatio", 16.9),
    ("body", "extras", ["a"]),
    ("moment", "voiceId", True),
    ("moment", "transcript", 3),
    ("moment", "zoom", "2x"),
    ("subtitles", "enable", "true"),
    ("keyframe", "time", "0.5"),
    ("keyframe", "scale", True),
    ("keyframe", "easing", ["a", "b", "c", "d"]),
    ("backgroundMusic", "volume", "0.5"),
    ("broll", "layout", 1),
    ("extras", "campaign", 3),
    ("extras", "campaign", {"nested": "no"}),
]


def wrong_type(body: Body, draw: Draw) -> None:
    where, name, value = draw(st.sampled_from(WRONG_TYPES))
    _parent(body, draw, where)[name] = value


REQUIRED: list[tuple[str, str]] = [
    ("body", "name"),
    ("body", "moments"),
    ("moment", "avatarId"),
    ("subtitles", "enable"),
    ("autoBrolls", "enable"),
    ("autoBrolls", "source"),
    ("autoBrolls", "intensity"),
    ("backgroundMusic", "assetId"),
    ("keyframe", "time"),
    ("keyframe", "scale"),
    ("zoom", "keyframes"),
]


def missing_required(body: Body, draw: Draw) -> None:
    where, name = draw(st.sampled_from(REQUIRED))
    _parent(body, draw, where).pop(name, None)


MUTATIONS: dict[str, Callable[[Body, Draw], None] | None] = {
    "wrong enum": wrong_enum,
    "out of range": out_of_range,
    "extra property": extra_property,
    "both or neither": both_or_neither,
    "unknown voice model": unknown_voice_model,
    "long transcript": long_transcript,
    "many extras": many_extras,
    "bad broll type": bad_broll_type,
    "bad uuid": bad_uuid,
    "wrong type": wrong_type,
    "missing required": missing_required,
    "none": None,
}


@st.composite
def bodies(draw: Draw, mutation: str) -> Body:
    body: Body = draw(valid_bodies)
    mutate = MUTATIONS[mutation]
    if mutate is not None:
        mutate(body, draw)
    return body


def models_accept(body: object) -> tuple[bool, str]:
    try:
        VideoCreateArgs.model_validate_json(json.dumps(body), strict=True)
    except ValidationError as exc:
        return False, str(exc)
    return True, ""


# One run per kind of near miss, ~200 bodies in all: drawing the kind with hypothesis would
# spend most examples on whichever kind it favours.
@pytest.mark.parametrize("mutation", list(MUTATIONS))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_models_and_spec_check_agree(mutation: str, data: st.DataObject) -> None:
    body = data.draw(bodies(mutation), label="body")
    problems = check_body(body)
    accepted, why_not = models_accept(body)
    event("valid" if accepted else "invalid")
    assert accepted == (problems == []), (
        f"mutation {mutation!r}: the models {'accept' if accepted else 'refuse'} it, "
        f"the spec check says {problems or 'valid'}\nmodels: {why_not}\nbody: {json.dumps(body)}"
    )


def test_generated_bodies_are_valid_before_mutation() -> None:
    """The generator itself follows the spec, or the near misses prove little."""

    @settings(max_examples=50, deadline=None)
    @given(valid_bodies)
    def check(body: Body) -> None:
        assert check_body(body) == []
        assert models_accept(body)[0]

    check()


# --- once-known disagreements, kept as examples ----------------------------------------------


def test_snake_case_names_are_refused() -> None:
    body = {"name": "x", "moments": [{"avatar_id": "a", "transcript": "Hi."}]}
    assert check_body(body) != []
    assert not models_accept(body)[0]


def test_null_for_an_optional_field_is_refused() -> None:
    body = {"name": "x", "moments": [{"avatarId": "a", "transcript": "Hi.", "voiceId": None}]}
    assert check_body(body) != []
    assert not models_accept(body)[0]


def test_extras_count_utf16_code_units() -> None:
    body = {
        "name": "x",
        "moments": [{"avatarId": "a", "transcript": "Hi."}],
        "extras": {"campaign": "😀" * 129},  # 129 code points, 258 UTF-16 code units
    }
    assert check_body(body) != []
    assert not models_accept(body)[0]
