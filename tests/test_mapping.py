"""Row + config -> POST /videos body: templates, blanks, conversions, chunking, keys, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.argil.models import VideoCreateArgs, utf16_len
from pipeline.config import BATCH_KEY_EXTRA, Config, ConfigError, parse_config
from pipeline.mapping import INVALID, SKIPPED, VALID, FieldError, Mapper, RowPlan, snake_case
from pipeline.sheets import Row

HEADERS = ["First Name", "company", "email", "script", "avatar", "voice", "zoom", "outro"]

BASE = """\
input:
  key: email
video:
  name: "Hi {{ first_name }} at {{ company }}"
moments:
  - transcript: "{{ script }}"
    avatar_id: "{{ avatar }}"
    voice_id: "{{ voice }}"
"""


def config(text: str = BASE) -> Config:
    return parse_config(text, source="c.yaml")


def cells(**values: str) -> dict[str, str]:
    row = {
        "First Name": "Ana",
        "company": "Acme",
        "email": "ana@acme.test",
        "script": "Hello Ana, this is a short script.",
        "avatar": "avatar-emma",
        "voice": "voice-emma",
        "zoom": "1.2",
        "outro": "",
    }
    row.update(values)
    return row


def plan(
    text: str = BASE,
    headers: list[str] | None = None,
    number: int = 2,
    extra: dict[str, str] | None = None,
    **values: str,
) -> RowPlan:
    row = cells(**values) | (extra or {})
    return Mapper(config(text), headers or HEADERS).map_row(Row(number, row))


def errors(p: RowPlan) -> list[str]:
    return [str(e) for e in p.errors]


def body(p: RowPlan) -> dict[str, Any]:
    assert p.status == VALID, p.errors
    assert p.body is not None
    return p.body


def with_moment(extra: str, text: str = BASE) -> str:
    return text + "".join(f"    {line}\n" for line in extra.strip("\n").split("\n"))


def with_video(extra: str, text: str = BASE) -> str:
    block = "".join(f"  {line}\n" for line in extra.strip("\n").split("\n"))
    return text.replace("moments:\n", block + "moments:\n", 1)


# --- the body ----------------------------------------------------------------------------


def test_valid_row_gives_the_exact_body() -> None:
    p = plan()
    assert p.status == VALID
    assert p.row == 2
    assert p.body == {
        "name": "Hi Ana at Acme",
        "moments": [
            {
                "transcript": "Hello Ana, this is a short script.",
                "avatarId": "avatar-emma",
                "voiceId": "voice-emma",
            }
        ],
        "extras": {BATCH_KEY_EXTRA: p.key},
    }
    assert p.moments == 1
    assert p.chars == len("Hello Ana, this is a short script.")
    assert p.errors == []
    # It is what the API models make of it.
    assert VideoCreateArgs.model_validate(p.body).to_body() == p.body


def test_row_key_shape() -> None:
    key = plan().key
    assert key.startswith("k-")
    assert len(key) == 42
    assert all(c in "0123456789abcdef" for c in key[2:])


def test_header_with_spaces_by_snake_case_and_by_row_lookup() -> None:
    text = BASE.replace(
        '"Hi {{ first_name }} at {{ company }}"', """'{{ row["First Name"] }}/{{ first_name }}'"""
    )
    assert body(plan(text))["name"] == "Ana/Ana"


def test_bare_row_lookup_and_exact_identifier_header() -> None:
    headers = ["Product Name", "Email", "script", "avatar", "voice"]
    text = (
        BASE.replace("key: email", "key: Email")
        .replace('"Hi {{ first_name }} at {{ company }}"', "'{{ row[\"Product Name\"] }}'")
        .replace('"{{ script }}"', '"{{ Email }} {{ email }}"')
    )
    values = {"Product Name": "Widget", "Email": "x@y.z", "script": "", "avatar": "a", "voice": ""}
    p = Mapper(config(text), headers).map_row(Row(2, values))
    assert body(p)["name"] == "Widget"
    assert body(p)["moments"][0]["transcript"] == "x@y.z x@y.z"


def test_colliding_snake_case_names_are_only_reachable_by_row_lookup() -> None:
    headers = ["First Name", "first-name", "script", "avatar", "voice", "email"]
    with pytest.raises(ConfigError) as caught:
        Mapper(config(), headers)
    assert caught.value.problems == [
        "c.yaml:4: video.name: no column 'company' in the sheet. "
        "The sheet's columns: First Name, first-name, script, avatar, voice, email",
        "c.yaml:4: video.name: 'first_name' matches several columns (First Name, first-name); "
        'use row["..."] with the exact header',
    ]
    text = BASE.replace("{{ first_name }} at {{ company }}", "{{ row['first-name'] }}")
    values = {h: "v" for h in headers}
    assert body(Mapper(config(text), headers).map_row(Row(2, values)))["name"] == "Hi v"


def test_missing_column_lists_the_headers_with_did_you_mean() -> None:
    text = BASE.replace("{{ script }}", "{{ scirpt }}").replace("key: email", "key: e_mail")
    with pytest.raises(ConfigError) as caught:
        Mapper(config(text), HEADERS)
    listed = ", ".join(HEADERS)
    assert caught.value.problems == [
        f"c.yaml:2: input.key[0]: no column 'e_mail' in the sheet; did you mean 'email'? "
        f"The sheet's columns: {listed}",
        f"c.yaml:6: moments[0].transcript: no column 'scirpt' in the sheet; did you mean "
        f"'script'? The sheet's columns: {listed}",
    ]


def test_missing_row_lookup_column_is_a_config_error() -> None:
    text = BASE.replace("{{ script }}", "{{ row['Script'] }}")
    with pytest.raises(ConfigError) as caught:
        Mapper(config(text), HEADERS)
    assert caught.value.problems[0].startswith(
        "c.yaml:6: moments[0].transcript: no column 'Script' in the sheet; did you mean 'script'?"
    )


def test_skip_when_blank_column_must_exist() -> None:
    text = BASE.replace("  key: email\n", "  key: email\n  skip_when_blank: [notes]\n")
    with pytest.raises(ConfigError) as caught:
        Mapper(config(text), HEADERS)
    assert caught.value.problems[0].startswith(
        "c.yaml:3: input.skip_when_blank[0]: no column 'notes' in the sheet."
    )


def test_snake_case() -> None:
    assert snake_case("First Name") == "first_name"
    assert snake_case("  E-mail (work) ") == "e_mail_work"
    assert snake_case("Prénom") == "prénom"
    assert snake_case("SKU #") == "sku"
    assert snake_case("a__b") == "a_b"


# --- blanks ------------------------------------------------------------------------------


def test_blank_optional_fields_are_left_out() -> None:
    text = with_video(
        """
subtitles: {enable: "{{ outro }}", position: Bottom}
background_music: {asset_id: "{{ outro }}", volume: 0.2}
extras: {campaign: "{{ outro }}", team: growth}
""",
        with_moment("gesture_slug: '{{ outro }}'\nbroll: {type: '{{ outro }}', prompt: x}"),
    )
    p = plan(text, voice="  ")
    b = body(p)
    assert b["moments"][0] == {
        "transcript": "Hello Ana, this is a short script.",
        "avatarId": "avatar-emma",
    }
    assert "subtitles" not in b
    assert "backgroundMusic" not in b
    assert b["extras"] == {"team": "growth", BATCH_KEY_EXTRA: p.key}


def test_blank_required_fields_are_row_errors() -> None:
    p = plan(avatar="", extra={"First Name": "", "company": ""})
    assert p.status == INVALID
    assert p.body is None and p.payload_hash is None
    assert errors(p) == ["moments[0].avatarId: is blank"]
    p = plan(BASE.replace("Hi {{ first_name }} at {{ company }}", "{{ outro }}"))
    assert errors(p) == ["name: is blank"]


def test_blank_transcript_without_when_is_an_error() -> None:
    p = plan(script=" \n ")
    assert p.status == INVALID
    assert errors(p) == ["moments[0].transcript: is blank"]


def test_skip_when_blank_skips_the_row() -> None:
    text = BASE.replace("  key: email\n", "  key: email\n  skip_when_blank: [script, outro]\n")
    p = plan(text, script="")
    assert p.status == SKIPPED
    assert p.reason == "script, outro are blank"
    assert p.body is None and p.errors == []
    assert p.key == plan(text, script="", outro="x").key  # the key is known for skipped rows
    assert plan(text, outro="x").status == VALID


def test_blank_key_is_a_row_error() -> None:
    p = plan(email=" ")
    assert errors(p) == [
        "input.key (email) is blank: every row needs a key (list the column in "
        "input.skip_when_blank to skip such rows)"
    ]


# --- when --------------------------------------------------------------------------------


OUTRO = (
    BASE
    + """\
  - transcript: "Bye {{ first_name }}"
    avatar_id: "{{ avatar }}"
    when: "{{ outro }}"
"""
)


@pytest.mark.parametrize("outro", ["", "  ", "no", "False", "0", "off"])
def test_when_blank_or_false_leaves_the_moment_out(outro: str) -> None:
    p = plan(OUTRO, outro=outro)
    assert [m["transcript"] for m in body(p)["moments"]] == ["Hello Ana, this is a short script."]


def test_when_filled_keeps_the_moment() -> None:
    p = plan(OUTRO, outro="yes please")
    assert [m["transcript"] for m in body(p)["moments"]] == [
        "Hello Ana, this is a short script.",
        "Bye Ana",
    ]
    assert p.moments == 2


def test_when_can_be_an_expression() -> None:
    text = OUTRO.replace('when: "{{ outro }}"', "when: \"{{ company == 'Acme' }}\"")
    assert len(body(plan(text))["moments"]) == 2
    assert len(body(plan(text, company="Other"))["moments"]) == 1


def test_every_moment_left_out_is_an_error() -> None:
    text = with_moment('when: "{{ outro }}"')
    assert errors(plan(text)) == ["moments: no moment left: every moment's when is blank"]


# --- conversions -------------------------------------------------------------------------


ZOOMED = with_moment(
    """
zoom:
  keyframes:
    - {time: 0, scale: 1}
    - {time: "{{ outro }}", scale: "{{ zoom }}", easing: "{{ row['First Name'] }}"}
broll: {type: GENERATION, prompt: "{{ company }} office", animate: "{{ voice }}"}
""",
    with_video(
        """
subtitles: {enable: "{{ voice }}", position: "{{ company }}"}
background_music: {asset_id: music-1, volume: 0.2}
"""
    ),
)


def test_numbers_booleans_and_choices_are_converted() -> None:
    p = plan(
        ZOOMED,
        zoom="1.5",
        outro="1",
        voice="ON",
        company="bottom",
        extra={"First Name": "[0.42, 0, 0.58, 1]"},
    )
    b = body(p)
    assert b["moments"][0]["zoom"] == {
        "keyframes": [
            {"time": 0.0, "scale": 1.0},
            {"time": 1.0, "scale": 1.5, "easing": [0.42, 0.0, 0.58, 1.0]},
        ]
    }
    assert b["moments"][0]["broll"] == {
        "type": "GENERATION",
        "prompt": "bottom office",
        "animate": True,
    }
    assert b["subtitles"] == {"enable": True, "position": "Bottom"}
    assert b["backgroundMusic"] == {"assetId": "music-1", "volume": 0.2}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"zoom": "big"}, "moments[0].zoom.keyframes[1].scale: 'big' is not a number"),
        ({"zoom": "1,2"}, "moments[0].zoom.keyframes[1].scale: '1,2' is not a number (use a dot "
         "as the decimal separator)"),
        ({"zoom": "4"}, "moments[0].zoom.keyframes[1].scale: must be at most 3, got 4"),
        ({"outro": "2"}, "moments[0].zoom.keyframes[1].time: must be at most 1, got 2"),
        ({"voice": "maybe"}, "subtitles.enable: 'maybe' is not true/false, yes/no, 1/0 or on/off"),
        ({"company": "center"}, "subtitles.position: must be one of 'Top', 'Middle', 'Bottom', "
         "got 'center'"),
        ({"First Name": "1 2 3"}, "moments[0].zoom.keyframes[1].easing: '1 2 3' is not four "
         "numbers (x1, y1, x2, y2)"),
    ],
)  # fmt: skip
def test_conversion_failures_name_the_field(values: dict[str, str], message: str) -> None:
    base = {"zoom": "1.1", "outro": "1", "voice": "no", "company": "Top", "First Name": "0 0 1 1"}
    p = plan(ZOOMED, extra=base | values)
    assert p.status == INVALID
    assert message in errors(p)


def test_volume_that_is_not_a_number() -> None:
    text = with_video("background_music: {asset_id: m, volume: '{{ zoom }}'}")
    assert errors(plan(text, zoom="loud")) == ["backgroundMusic.volume: 'loud' is not a number"]
    assert body(plan(text, zoom=" 0.25 "))["backgroundMusic"] == {"assetId": "m", "volume": 0.25}


def test_several_problems_of_a_row_are_all_reported() -> None:
    p = plan(
        ZOOMED,
        zoom="4",
        voice="maybe",
        avatar="",
        outro="1",
        company="Top",
        extra={"First Name": ""},
    )
    assert errors(p) == [
        "moments[0].avatarId: is blank",
        "moments[0].broll.animate: 'maybe' is not true/false, yes/no, 1/0 or on/off",
        "subtitles.enable: 'maybe' is not true/false, yes/no, 1/0 or on/off",
        "moments[0].zoom.keyframes[1].scale: must be at most 3, got 4",
    ]


def test_enum_values_are_accepted_in_any_case() -> None:
    text = with_video('aspect_ratio: "{{ zoom }}"\nmodel: "{{ outro }}"')
    b = body(plan(text, zoom="9:16", outro="argil_atom"))
    assert (b["aspectRatio"], b["model"]) == ("9:16", "ARGIL_ATOM")
    assert errors(plan(text, zoom="4:3")) == [
        "aspectRatio: must be one of '16:9', '9:16', got '4:3'"
    ]


def test_api_model_errors_become_wire_paths() -> None:
    text = with_moment("broll: {type: UPLOAD, asset_id: '{{ outro }}'}")
    assert errors(plan(text, outro="not-a-uuid")) == [
        "moments[0].broll.assetId: must be a UUID, got 'not-a-uuid'"
    ]
    text = with_moment("broll: {type: '{{ outro }}', prompt: a cat}")
    assert errors(plan(text, outro="stocks_video")) == [
        "moments[0].broll.prompt: does not apply to broll type STOCKS_VIDEO"
    ]


def test_audio_moment() -> None:
    text = BASE.replace(
        'transcript: "{{ script }}"', 'audio_url: "https://cdn.test/{{ outro }}.mp3"'
    )
    b = body(plan(text, outro="a1"))
    assert b["moments"][0]["audioUrl"] == "https://cdn.test/a1.mp3"
    assert "transcript" not in b["moments"][0]


# --- templates at render time ------------------------------------------------------------


def test_sandbox_violation_is_a_row_error_not_an_exception() -> None:
    text = BASE.replace("{{ script }}", "{{ script.__class__.__mro__[1].__subclasses__() }}")
    p = plan(text)
    assert p.status == INVALID
    assert len(p.errors) == 1
    assert p.errors[0].field == "moments[0].transcript"
    assert p.errors[0].message.startswith("template error: ")


def test_huge_repetition_is_refused() -> None:
    text = BASE.replace("{{ script }}", "{{ script * 100000000 }}")
    assert errors(plan(text)) == [
        "moments[0].transcript: template error: repetition result is too large"
    ]


def test_filters_and_globals_work() -> None:
    text = BASE.replace("{{ script }}", "{{ script | upper }} {{ range(3) | list | length }}")
    assert body(plan(text, script="hi"))["moments"][0]["transcript"] == "HI 3"


# --- chunking ----------------------------------------------------------------------------


LONG = " ".join(f"This is sentence number {i} of a long launch script." for i in range(30))
SPLIT = with_moment(
    """
voice_model: eleven_turbo_v2_5
gesture_slug: wave
zoom: {keyframes: [{time: 0, scale: 1.2}]}
broll: {type: GENERATION, prompt: "{{ company }} product shot"}
"""
)


def test_long_transcript_becomes_several_moments_with_settings_copied() -> None:
    p = plan(SPLIT, script=LONG)
    moments = body(p)["moments"]
    assert len(moments) == p.moments > 1
    assert " ".join(m["transcript"] for m in moments) == LONG
    for m in moments:
        assert utf16_len(m["transcript"]) <= 500
        assert m["avatarId"] == "avatar-emma"
        assert m["voiceId"] == "voice-emma"
        assert m["voiceModel"] == "eleven_turbo_v2_5"
        assert m["gestureSlug"] == "wave"
        assert m["zoom"] == {"keyframes": [{"time": 0.0, "scale": 1.2}]}
    assert moments[0]["broll"] == {"type": "GENERATION", "prompt": "Acme product shot"}
    assert all("broll" not in m for m in moments[1:])
    assert p.chars == sum(utf16_len(m["transcript"]) for m in moments)


def test_broll_on_all_pieces() -> None:
    moments = body(plan(with_moment("broll_on: all", SPLIT), script=LONG))["moments"]
    assert len(moments) > 1
    assert all(m["broll"]["prompt"] == "Acme product shot" for m in moments)


def test_limit_is_configurable_and_counted_in_utf16() -> None:
    text = BASE + "limits: {transcript_chars: 250}\n"
    emoji = "Launch day 🚀🚀🚀🚀🚀. " * 12  # 216 characters but 276 UTF-16 code units
    p = plan(text, script=emoji.strip())
    assert len(emoji.strip()) <= 250 < utf16_len(emoji.strip())
    assert p.moments == 2
    assert all(utf16_len(m["transcript"]) <= 250 for m in body(p)["moments"])


def test_max_moments() -> None:
    text = BASE + "limits: {max_moments: 2}\n"
    p = plan(text, script=LONG)
    assert p.status == INVALID
    [error] = errors(p)
    assert error.startswith("moments: ") and error.endswith("more than limits.max_moments (2)")


def test_unsplittable_transcript_is_a_row_error() -> None:
    text = BASE + "limits: {transcript_chars: 1}\n"
    [error] = errors(plan(text, script="👍"))
    assert error.startswith("moments[0].transcript: cannot be split: ")


# --- extras and the key ------------------------------------------------------------------


def test_batch_key_and_tag_are_added_and_counted_in_the_five_extras() -> None:
    extras = "extras: {a: '1', b: '2', d: '{{ company }}'}"
    p = Mapper(config(with_video(extras)), HEADERS, batch_tag="spring").map_row(Row(2, cells()))
    expected = {"a": "1", "b": "2", "d": "Acme", BATCH_KEY_EXTRA: p.key, "argilBatch": "spring"}
    assert body(p)["extras"] == expected
    assert len(body(p)["extras"]) == 5
    untagged = plan(with_video(extras))
    # The tag stays out of the payload hash: renaming the sheet changes no row.
    assert untagged.payload_hash == p.payload_hash


def test_key_is_stable_across_unrelated_changes() -> None:
    mapper = Mapper(config(), HEADERS)
    first = mapper.map_row(Row(2, cells()))
    # Another row number, another script, another column order: same lead, same key.
    reordered = dict(reversed(list(cells(script="A new script.").items())))
    moved = Mapper(config(), list(reversed(HEADERS))).map_row(Row(40, reordered))
    assert moved.key == first.key
    assert moved.payload_hash != first.payload_hash
    assert mapper.map_row(Row(2, cells(email="other@acme.test"))).key != first.key


def test_namespace_changes_the_key_not_the_payload_hash() -> None:
    spaced = BASE.replace("  key: email\n", "  key: email\n  namespace: spring\n")
    a, b = plan(), plan(spaced)
    assert a.key != b.key
    assert a.payload_hash == b.payload_hash
    assert body(a)["extras"][BATCH_KEY_EXTRA] == a.key
    assert body(b)["extras"][BATCH_KEY_EXTRA] == b.key


def test_key_without_input_key_follows_the_payload() -> None:
    text = BASE.replace("input:\n  key: email\n", "")
    a = plan(text)
    assert a.key == plan(text, email="changed@acme.test", number=9).key  # email is not used
    assert a.key != plan(text, script="Another script.").key


def test_payload_hash_is_the_body_without_the_key() -> None:
    import hashlib
    import json

    p = plan()
    stripped = body(p) | {"extras": {}}
    del stripped["extras"]
    canonical = json.dumps(stripped, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert p.payload_hash == hashlib.sha256(canonical.encode()).hexdigest()


def test_field_error_str() -> None:
    assert str(FieldError("name", "is blank")) == "name: is blank"
    assert str(FieldError("", "same key as row 2")) == "same key as row 2"


# --- properties --------------------------------------------------------------------------


_NUMBERS = st.sampled_from(["1", "1.5", "2.9", "0", "0.5", "1e0"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    script=st.text(max_size=1500),
    zoom=st.one_of(_NUMBERS, st.text(max_size=6)),
    outro=st.one_of(_NUMBERS, st.text(max_size=8)),
)
def test_map_row_never_raises_and_valid_bodies_hold(script: str, zoom: str, outro: str) -> None:
    values = {"voice": "yes", "company": "Top", "First Name": "0 0 1 1"}
    text = ZOOMED + "limits: {transcript_chars: 120}\n"
    p = plan(text, script=script, zoom=zoom, outro=outro, extra=values)
    assert p.status in (VALID, INVALID)
    if p.status == VALID:
        assert p.body is not None
        VideoCreateArgs.model_validate(p.body, context={"transcript_chars": 120})
        assert all(utf16_len(m["transcript"]) <= 120 for m in p.body["moments"])
        assert " ".join(m["transcript"] for m in p.body["moments"]).split() == script.split()
    else:
        assert p.errors and p.body is None


def test_property_inputs_can_be_valid() -> None:
    # The property above must see valid rows too, or it checks nothing.
    values = {"voice": "yes", "company": "Top", "First Name": "0 0 1 1"}
    assert plan(ZOOMED, script="Hi. " * 100, zoom="1.5", outro="0.5", extra=values).status == VALID


def test_runtime_template_error_in_an_extra_keeps_its_name() -> None:
    p = plan(with_video("extras: {utm_source: '{{ (zoom | int) // 0 }}'}"))
    assert errors(p) == ["extras.utm_source: template error: integer division or modulo by zero"]
