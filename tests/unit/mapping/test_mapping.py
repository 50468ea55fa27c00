"""Row + config -> POST /videos body: templates, blanks, conversions, chunking, keys, errors."""

from __future__ import annotations

import re
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


# --- video settings, B-rolls and zooms in every form ----------------------------------------


AUTO = with_video(
    """
auto_brolls:
  enable: "{{ voice }}"
  source: "{{ company }}"
  intensity: "{{ outro }}"
  layout: "{{ zoom }}"
"""
)


def test_auto_brolls_fixed_in_the_config() -> None:
    text = with_video(
        "auto_brolls: {source: stocks_video, intensity: low, layout: avatar_bottom_left}"
    )
    assert body(plan(text))["autoBrolls"] == {
        "enable": True,
        "source": "STOCKS_VIDEO",
        "intensity": "LOW",
        "layout": "AVATAR_BOTTOM_LEFT",
    }
    text = with_video("auto_brolls: {enable: false, source: GENERATION, intensity: HIGH}")
    assert body(plan(text))["autoBrolls"] == {
        "enable": False,
        "source": "GENERATION",
        "intensity": "HIGH",
    }


def test_auto_brolls_from_cells() -> None:
    b = body(plan(AUTO, voice="yes", company="google_images", outro="Medium", zoom="fullscreen"))
    assert b["autoBrolls"] == {
        "enable": True,
        "source": "GOOGLE_IMAGES",
        "intensity": "MEDIUM",
        "layout": "FULLSCREEN",
    }
    b = body(plan(AUTO, voice="off", company="generation", outro="low", zoom=""))
    assert b["autoBrolls"] == {"enable": False, "source": "GENERATION", "intensity": "LOW"}
    # A blank switch leaves the whole setting out, like any blank optional field.
    assert "autoBrolls" not in body(plan(AUTO, voice="", company="", outro="", zoom=""))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"company": ""}, "autoBrolls.source: is blank"),
        ({"outro": " "}, "autoBrolls.intensity: is blank"),
        ({"outro": "extreme"},
         "autoBrolls.intensity: must be one of 'LOW', 'MEDIUM', 'HIGH', got 'extreme'"),
        ({"company": "tiktok"}, "autoBrolls.source: must be one of 'GENERATION', "
         "'GOOGLE_IMAGES', 'STOCKS_VIDEO', 'AVATAR_ACTION', got 'tiktok'"),
        ({"zoom": "corner"}, "autoBrolls.layout: must be one of"),
        ({"voice": "maybe"}, "autoBrolls.enable: 'maybe' is not true/false, yes/no, 1/0 or on/off"),
    ],
)  # fmt: skip
def test_auto_brolls_errors_name_the_field(values: dict[str, str], message: str) -> None:
    base = {"voice": "yes", "company": "GENERATION", "outro": "LOW", "zoom": ""}
    p = plan(AUTO, extra=base | values)
    assert p.status == INVALID
    [error] = errors(p)
    assert error.startswith(message)


def test_the_deprecated_enable_auto_brolls_is_sent_as_given() -> None:
    assert body(plan(with_video("enable_auto_brolls: true")))["enableAutoBrolls"] is True
    text = with_video('enable_auto_brolls: "{{ outro }}"')
    assert body(plan(text, outro="no"))["enableAutoBrolls"] is False
    assert body(plan(text, outro="Yes"))["enableAutoBrolls"] is True
    assert "enableAutoBrolls" not in body(plan(text, outro=""))
    assert errors(plan(text, outro="sometimes")) == [
        "enableAutoBrolls: 'sometimes' is not true/false, yes/no, 1/0 or on/off"
    ]


def test_subtitles_style_and_size() -> None:
    text = with_video('subtitles: {style_id: "{{ company }}", size: "{{ outro }}"}')
    assert body(plan(text, outro="large"))["subtitles"] == {
        "enable": True,
        "styleId": "Acme",
        "size": "Large",
    }
    assert body(plan(text, company=" "))["subtitles"] == {"enable": True}
    assert errors(plan(text, outro="huge")) == [
        "subtitles.size: must be one of 'Small', 'Medium', 'Large', got 'huge'"
    ]
    fixed = with_video("subtitles: {enable: false, style_id: bold-1, size: small}")
    assert body(plan(fixed))["subtitles"] == {"enable": False, "styleId": "bold-1", "size": "Small"}


def test_aspect_ratio_and_model_fixed_in_the_config() -> None:
    b = body(plan(with_video("aspect_ratio: '9:16'\nmodel: argil_atom")))
    assert (b["aspectRatio"], b["model"]) == ("9:16", "ARGIL_ATOM")


def test_a_broll_of_fixed_values_is_in_every_body() -> None:
    text = with_moment(
        "broll: {type: generation, prompt: A calm office, animate: true, layout: fullscreen}"
    )
    mapper = Mapper(config(text), HEADERS)
    for email in ("a@x.test", "b@x.test"):
        b = body(mapper.map_row(Row(2, cells(email=email))))
        assert b["moments"][0]["broll"] == {
            "type": "GENERATION",
            "prompt": "A calm office",
            "animate": True,
            "layout": "FULLSCREEN",
        }


def test_broll_layout_and_fields_from_cells() -> None:
    text = with_moment(
        "broll: {type: '{{ voice }}', query: '{{ company }} team', layout: '{{ outro }}'}"
    )
    b = body(plan(text, voice="stocks_video", outro="split_avatar_left"))
    assert b["moments"][0]["broll"] == {
        "type": "STOCKS_VIDEO",
        "query": "Acme team",
        "layout": "SPLIT_AVATAR_LEFT",
    }
    assert body(plan(text, voice="stocks_video", outro=""))["moments"][0]["broll"] == {
        "type": "STOCKS_VIDEO",
        "query": "Acme team",
    }
    [error] = errors(plan(text, voice="stocks_video", outro="sideways"))
    assert error.startswith("moments[0].broll.layout: must be one of 'FULLSCREEN', ")
    assert error.endswith(", got 'sideways'")
    assert errors(plan(text, voice="gif")) == [
        "moments[0].broll.type: must be one of 'AVATAR_ACTION', 'GENERATION', 'STOCKS_VIDEO', "
        "'GOOGLE_IMAGES', 'UPLOAD', got 'gif'"
    ]
    # A blank type leaves the B-roll out.
    assert "broll" not in body(plan(text, voice=""))["moments"][0]


def test_avatar_action_broll_with_a_motion_prompt() -> None:
    text = with_moment("broll: {type: AVATAR_ACTION, prompt: wave, motion_prompt: '{{ company }}'}")
    assert body(plan(text))["moments"][0]["broll"] == {
        "type": "AVATAR_ACTION",
        "prompt": "wave",
        "motionPrompt": "Acme",
    }


def test_a_zoom_inside_a_broll() -> None:
    text = with_moment(
        """
broll:
  type: GENERATION
  prompt: x
  zoom: {keyframes: [{time: 0, scale: "{{ zoom }}"}, {time: 1, scale: 2, easing: [0, 0, 1, 1]}]}
"""
    )
    assert body(plan(text))["moments"][0]["broll"] == {
        "type": "GENERATION",
        "prompt": "x",
        "zoom": {
            "keyframes": [
                {"time": 0.0, "scale": 1.2},
                {"time": 1.0, "scale": 2.0, "easing": [0.0, 0.0, 1.0, 1.0]},
            ]
        },
    }
    assert errors(plan(text, zoom="9")) == [
        "moments[0].broll.zoom.keyframes[0].scale: must be at most 3, got 9"
    ]
    fixed = with_moment(
        "broll: {type: GENERATION, prompt: x, zoom: {keyframes: [{time: 0, scale: 2}]}}"
    )
    assert body(plan(fixed))["moments"][0]["broll"]["zoom"] == {
        "keyframes": [{"time": 0.0, "scale": 2.0}]
    }


def test_easing_given_as_a_list() -> None:
    text = with_moment(
        "zoom: {keyframes: [{time: 0, scale: 1.5, easing: [0.42, '{{ zoom }}', 0.58, 1]}]}"
    )
    assert body(plan(text, zoom="0"))["moments"][0]["zoom"] == {
        "keyframes": [{"time": 0.0, "scale": 1.5, "easing": [0.42, 0.0, 0.58, 1.0]}]
    }
    assert errors(plan(text, zoom="slow")) == [
        "moments[0].zoom.keyframes[0].easing[1]: 'slow' is not a number"
    ]
    assert errors(plan(text, zoom="")) == ["moments[0].zoom.keyframes[0].easing[1]: is blank"]
    fixed = with_moment("zoom: {keyframes: [{time: 0.5, scale: 1, easing: [0, 1, 0, 1]}]}")
    assert body(plan(fixed))["moments"][0]["zoom"] == {
        "keyframes": [{"time": 0.5, "scale": 1.0, "easing": [0.0, 1.0, 0.0, 1.0]}]
    }


def test_a_zoom_whose_scales_are_all_blank_is_left_out() -> None:
    text = with_moment("zoom: {keyframes: [{time: '{{ outro }}', scale: '{{ outro }}'}]}")
    assert "zoom" not in body(plan(text))["moments"][0]
    assert errors(plan(text, outro="x")) == [
        "moments[0].zoom.keyframes[0].time: 'x' is not a number",
        "moments[0].zoom.keyframes[0].scale: 'x' is not a number",
    ]


def test_a_moments_voice_model_and_gesture() -> None:
    text = with_moment("voice_model: '{{ outro }}'\ngesture_slug: nod")
    m = body(plan(text, outro="eleven_multilingual_v2"))["moments"][0]
    assert (m["voiceModel"], m["gestureSlug"]) == ("eleven_multilingual_v2", "nod")
    assert "voiceModel" not in body(plan(text))["moments"][0]


# --- split transcripts, limits ---------------------------------------------------------------


def test_exactly_max_moments_moments_is_allowed() -> None:
    text = BASE + "limits: {transcript_chars: 14, max_moments: 2}\n"
    p = plan(text, script="One two three. Four five six.")
    assert [m["transcript"] for m in body(p)["moments"]] == ["One two three.", "Four five six."]
    assert (p.moments, p.chars) == (2, 28)
    p = plan(text, script="One two three. Four five six. Seven.")
    assert errors(p) == ["moments: 3 moments, more than limits.max_moments (2)"]


def test_a_transcript_exactly_at_the_limit_is_one_moment() -> None:
    text = BASE + "limits: {transcript_chars: 14}\n"
    assert [m["transcript"] for m in body(plan(text, script="One two three."))["moments"]] == [
        "One two three."
    ]


def test_an_audio_moment_is_never_split_and_counts_no_characters() -> None:
    text = (
        BASE.replace('transcript: "{{ script }}"', "audio_url: 'https://cdn.test/{{ script }}'")
        + "limits: {transcript_chars: 10}\n"
    )
    p = plan(text, script="a-long-name-of-a-recording.mp3")
    assert [m["audioUrl"] for m in body(p)["moments"]] == [
        "https://cdn.test/a-long-name-of-a-recording.mp3"
    ]
    assert (p.moments, p.chars) == (1, 0)


def test_an_error_on_a_piece_of_a_split_transcript_names_the_piece() -> None:
    from pydantic import ValidationError

    from pipeline.mapping.plan import _field_errors

    moments = [{"transcript": "short", "avatarId": "a"}, {"transcript": "x" * 12, "avatarId": "a"}]
    with pytest.raises(ValidationError) as info:
        VideoCreateArgs.model_validate(
            {"name": "n", "moments": moments}, context={"transcript_chars": 10}
        )
    # Both pieces come from the config's moment 3, split in two.
    assert [str(e) for e in _field_errors(info.value, [(3, 0, 2), (3, 1, 2)])] == [
        "moments[3].transcript: transcript is 12 characters, over the limit of 10 (counted in "
        "UTF-16 code units) (part 2 of 2)"
    ]
    assert [str(e) for e in _field_errors(info.value, [(0, 0, 1), (1, 0, 1)])] == [
        "moments[1].transcript: transcript is 12 characters, over the limit of 10 (counted in "
        "UTF-16 code units)"
    ]


def test_a_setting_that_fails_on_every_piece_is_reported_once() -> None:
    text = with_moment("zoom: {keyframes: [{time: 0, scale: '{{ zoom }}'}]}")
    text += "limits: {transcript_chars: 14}\n"
    p = plan(text, script="One two three. Four five six.", zoom="5")
    assert errors(p) == ["moments[0].zoom.keyframes[0].scale: must be at most 3, got 5"]


# --- row keys and payload hashes, pinned: a changed key would send every row again ----------


def _sha(material: str) -> str:
    import hashlib

    return hashlib.sha256(material.encode()).hexdigest()


def test_a_row_key_is_the_hash_of_its_namespace_and_key_cells() -> None:
    assert plan(email=" ana@acme.test ").key == "k-" + _sha('["", ["ana@acme.test"]]')[:40]
    spaced = BASE.replace("  key: email\n", "  key: [email, First Name]\n  namespace: spring\n")
    assert plan(spaced, extra={"First Name": "Ána"}).key == (
        "k-" + _sha('["spring", ["ana@acme.test", "Ána"]]')[:40]
    )


def test_without_input_key_the_key_is_the_hash_of_the_payload() -> None:
    from pipeline.mapping import canonical_json

    text = BASE.replace("input:\n  key: email\n", "")
    p = plan(text)
    stripped = {k: v for k, v in body(p).items() if k != "extras"}
    assert p.key == "k-" + _sha('["", "payload"]' + canonical_json(stripped))[:40]
    # A skipped row has no payload: its key is the hash of its cells, in sheet order.
    skipping = text.replace("video:", "input: {skip_when_blank: [outro]}\nvideo:")
    s = plan(skipping)
    assert s.status == SKIPPED
    assert (
        s.key
        == "k-"
        + _sha(
            '["", "cells", ["Ana", "Acme", "ana@acme.test", "Hello Ana, this is a short script.", '
            '"avatar-emma", "voice-emma", "1.2", ""]]'
        )[:40]
    )


def test_the_payload_hash_of_non_ascii_text_is_over_its_utf8_form() -> None:
    script = "Olá Ana — ça va? 👋 «Très bien»."
    p = plan(script=script)
    stripped = {k: v for k, v in body(p).items() if k != "extras"}
    canonical = (
        '{"moments":[{"avatarId":"avatar-emma","transcript":"' + script + '",'
        '"voiceId":"voice-emma"}],"name":"Hi Ana at Acme"}'
    )
    assert json_dumps(stripped) == canonical
    assert p.payload_hash == _sha(canonical)
    assert p.chars == utf16_len(script)


def json_dumps(value: Any) -> str:
    from pipeline.mapping import canonical_json

    return canonical_json(value)


# --- where config problems point, and rows as callers may hand them in -----------------------

EVERYWHERE = """\
input: {key: email}
video:
  name: Fixed
  aspect_ratio: "{{ zz_aspect }}"
  model: "{{ zz_model }}"
  enable_auto_brolls: "{{ zz_enable_auto }}"
  subtitles:
    enable: "{{ zz_sub_enable }}"
    style_id: "{{ zz_style }}"
    position: "{{ zz_position }}"
    size: "{{ zz_size }}"
  auto_brolls:
    enable: "{{ zz_auto_enable }}"
    source: "{{ zz_source }}"
    intensity: "{{ zz_intensity }}"
    layout: "{{ zz_auto_layout }}"
  background_music:
    asset_id: "{{ zz_asset }}"
    volume: "{{ zz_volume }}"
moments:
  - transcript: Hello.
    avatar_id: "{{ zz_avatar }}"
    voice_model: "{{ zz_voice_model }}"
    gesture_slug: "{{ zz_gesture }}"
    when: "{{ zz_when }}"
    zoom:
      keyframes:
        - time: "{{ zz_time }}"
          scale: "{{ zz_scale }}"
          easing: "{{ zz_easing }}"
    broll:
      type: "{{ zz_broll_type }}"
      prompt: "{{ zz_prompt }}"
      layout: "{{ zz_broll_layout }}"
      zoom: {keyframes: [{time: 0, scale: "{{ zz_broll_scale }}"}]}
  - audio_url: "{{ zz_audio }}"
    avatar_id: a
"""


def test_a_missing_column_is_reported_where_the_config_names_it() -> None:
    with pytest.raises(ConfigError) as caught:
        Mapper(config(EVERYWHERE), HEADERS)
    lines = EVERYWHERE.splitlines()
    expected = []
    for number, line in enumerate(lines, start=1):
        for name in re.findall(r"\{\{ (zz_\w+) \}\}", line):
            expected.append((number, name))
    found = []
    for problem in caught.value.problems:
        match = re.match(r"c\.yaml:(\d+): ([\w.\[\]]+): no column '(zz_\w+)' in the sheet", problem)
        assert match, problem
        found.append((int(match.group(1)), match.group(3), match.group(2)))
    assert sorted((line, name) for line, name, _ in found) == sorted(expected)
    paths = {name: path for _, name, path in found}
    assert paths == {
        "zz_aspect": "video.aspect_ratio",
        "zz_model": "video.model",
        "zz_enable_auto": "video.enable_auto_brolls",
        "zz_sub_enable": "video.subtitles.enable",
        "zz_style": "video.subtitles.style_id",
        "zz_position": "video.subtitles.position",
        "zz_size": "video.subtitles.size",
        "zz_auto_enable": "video.auto_brolls.enable",
        "zz_source": "video.auto_brolls.source",
        "zz_intensity": "video.auto_brolls.intensity",
        "zz_auto_layout": "video.auto_brolls.layout",
        "zz_asset": "video.background_music.asset_id",
        "zz_volume": "video.background_music.volume",
        "zz_avatar": "moments[0].avatar_id",
        "zz_voice_model": "moments[0].voice_model",
        "zz_gesture": "moments[0].gesture_slug",
        "zz_when": "moments[0].when",
        "zz_time": "moments[0].zoom.keyframes[0].time",
        "zz_scale": "moments[0].zoom.keyframes[0].scale",
        "zz_easing": "moments[0].zoom.keyframes[0].easing",
        "zz_broll_type": "moments[0].broll.type",
        "zz_prompt": "moments[0].broll.prompt",
        "zz_broll_layout": "moments[0].broll.layout",
        "zz_broll_scale": "moments[0].broll.zoom.keyframes[0].scale",
        "zz_audio": "moments[1].audio_url",
    }


def test_a_sheet_without_columns_says_so() -> None:
    with pytest.raises(ConfigError) as caught:
        Mapper(config(), [])
    assert caught.value.problems[0] == (
        "c.yaml:2: input.key[0]: no column 'email' in the sheet. The sheet's columns: (none)"
    )


def test_key_and_skip_columns_may_be_named_by_their_template_name() -> None:
    text = BASE.replace("  key: email\n", "  key: [First name]\n  skip_when_blank: [first_name]\n")
    p = plan(text)
    assert p.key == "k-" + _sha('["", ["Ana"]]')[:40]
    skipped = plan(text, extra={"First Name": " "})
    assert (skipped.status, skipped.reason) == (SKIPPED, "First Name is blank")


def test_cells_missing_from_a_row_read_as_blank() -> None:
    # A short line in a CSV file leaves the last cells out.
    text = with_video("extras: {note: 'n{{ outro }}'}")
    values = {h: v for h, v in cells().items() if h != "outro"}
    p = Mapper(config(text), HEADERS).map_row(Row(4, values))
    assert body(p)["extras"] == {"note": "n", BATCH_KEY_EXTRA: p.key}
    skipping = BASE.replace("  key: email\n", "  key: email\n  skip_when_blank: [outro]\n")
    s = Mapper(config(skipping), HEADERS).map_row(Row(4, values))
    assert (s.status, s.row, s.reason) == (SKIPPED, 4, "outro is blank")
    keyed = BASE.replace("  key: email\n", "  key: [outro, email]\n")
    assert Mapper(config(keyed), HEADERS).map_row(Row(4, values)).key == (
        "k-" + _sha('["", ["", "ana@acme.test"]]')[:40]
    )
    no_email = {h: v for h, v in values.items() if h != "email"}
    invalid = Mapper(config(), HEADERS).map_row(Row(5, no_email))
    assert (invalid.status, invalid.row) == (INVALID, 5)
    assert [(e.field, e.message) for e in invalid.errors] == [
        ("", "input.key (email) is blank: every row needs a key (list the column in "
         "input.skip_when_blank to skip such rows)")
    ]  # fmt: skip
    assert invalid.key == "k-" + _sha('["", [""]]')[:40]
    bare = BASE.replace('"{{ script }}"', '"{{ outro }}"')
    assert errors(Mapper(config(bare), HEADERS).map_row(Row(4, values))) == [
        "moments[0].transcript: is blank"
    ]
    unkeyed = BASE.replace("input:\n  key: email\n", "input: {skip_when_blank: [outro]}\n")
    assert (
        Mapper(config(unkeyed), HEADERS).map_row(Row(4, values)).key
        == "k-"
        + _sha(
            '["", "cells", ["Ana", "Acme", "ana@acme.test", "Hello Ana, this is a short script.", '
            '"avatar-emma", "voice-emma", "1.2", ""]]'
        )[:40]
    )


def test_several_blank_key_columns_are_named_together() -> None:
    text = BASE.replace("  key: email\n", "  key: [email, outro]\n")
    assert errors(plan(text, email="")) == [
        "input.key (email, outro) are blank: every row needs a key (list the column in "
        "input.skip_when_blank to skip such rows)"
    ]


def test_an_invalid_row_keeps_its_number_and_key() -> None:
    p = plan(number=17, avatar="")
    assert (p.status, p.row, p.key) == (INVALID, 17, plan(number=17).key)


def test_a_limit_above_the_published_one_is_honoured() -> None:
    text = BASE + "limits: {transcript_chars: 900}\n"
    script = "word " * 160  # 800 units
    p = plan(text, script=script)
    assert [m["transcript"] for m in body(p)["moments"]] == [script.strip()]


def test_a_known_problem_hides_what_follows_from_it() -> None:
    text = with_moment("zoom: {keyframes: [{time: 0, scale: '{{ zoom }}'}]}")
    text += "limits: {transcript_chars: 14, max_moments: 1}\n"
    # The zoom is out of range on both pieces, but the moment count is what to fix first.
    p = plan(text, script="One two three. Four five six.", zoom="5")
    assert errors(p) == ["moments: 2 moments, more than limits.max_moments (1)"]


def test_a_blank_time_or_scale_beside_a_filled_one_is_named() -> None:
    text = with_moment(
        "zoom: {keyframes: [{time: 0, scale: 1.5}, {time: '{{ outro }}', scale: '{{ zoom }}'}]}"
    )
    assert errors(plan(text, outro="", zoom="2")) == ["moments[0].zoom.keyframes[1].time: is blank"]
    assert errors(plan(text, outro="1", zoom="")) == [
        "moments[0].zoom.keyframes[1].scale: is blank"
    ]


def test_a_blank_volume_is_left_out() -> None:
    text = with_video("background_music: {asset_id: m, volume: '{{ outro }}'}")
    assert body(plan(text))["backgroundMusic"] == {"assetId": "m"}


def test_an_unknown_model_is_named() -> None:
    text = with_video('model: "{{ outro }}"')
    [error] = errors(plan(text, outro="gpt-video"))
    assert error.startswith("model: must be one of ") and error.endswith(", got 'gpt-video'")


def test_a_fixed_setting_beside_templated_ones_keeps_both() -> None:
    text = with_video('subtitles: {position: "{{ company }}"}')
    assert body(plan(text, company="top"))["subtitles"] == {"enable": True, "position": "Top"}
    assert body(plan(text, company="middle"))["subtitles"] == {"enable": True, "position": "Middle"}


def test_a_fixed_broll_with_a_templated_zoom_follows_the_row() -> None:
    text = with_moment(
        "broll: {type: GENERATION, prompt: x, zoom: {keyframes: [{time: 0, scale: '{{ zoom }}'}]}}"
    )
    assert body(plan(text, zoom="1.7"))["moments"][0]["broll"] == {
        "type": "GENERATION",
        "prompt": "x",
        "zoom": {"keyframes": [{"time": 0.0, "scale": 1.7}]},
    }
    assert body(plan(text, zoom=""))["moments"][0]["broll"] == {"type": "GENERATION", "prompt": "x"}


def test_templates_with_blocks_and_attribute_calls() -> None:
    text = BASE.replace(
        '"{{ script }}"', '"{{ first_name }}{% if company %} from {{ company.upper() }}{% endif %}"'
    )
    assert body(plan(text))["moments"][0]["transcript"] == "Ana from ACME"
    assert body(plan(text, company=""))["moments"][0]["transcript"] == "Ana"
    block = BASE.replace('"{{ script }}"', '"{% if outro %}{{ outro }}{% else %}none{% endif %}"')
    assert body(plan(block))["moments"][0]["transcript"] == "none"
    assert (
        body(plan(BASE.replace('"{{ script }}"', '"{{ first_name }}"')))["moments"][0]["transcript"]
        == "Ana"
    )


def test_row_attributes_must_name_columns() -> None:
    assert (
        body(plan(BASE.replace("{{ script }}", "{{ row.script }}")))["moments"][0]["transcript"]
        == "Hello Ana, this is a short script."
    )
    with pytest.raises(ConfigError) as caught:
        Mapper(config(BASE.replace("{{ script }}", "{{ row.scrip }}")), HEADERS)
    assert caught.value.problems[0].startswith(
        "c.yaml:6: moments[0].transcript: no column 'scrip' in the sheet; did you mean 'script'?"
    )


def test_every_error_after_a_repeated_one_is_kept() -> None:
    text = with_moment("zoom: {keyframes: [{time: 0, scale: '{{ zoom }}'}]}")
    text = with_video("background_music: {asset_id: m, volume: '{{ outro }}'}", text)
    text += "limits: {transcript_chars: 14}\n"
    p = plan(text, script="One two three. Four five six.", zoom="5", outro="3")
    assert errors(p) == [
        "moments[0].zoom.keyframes[0].scale: must be at most 3, got 5",
        "backgroundMusic.volume: must be at most 1, got 3",
    ]


def test_errors_of_a_whole_moment_and_unknown_fields_keep_their_place() -> None:
    from pydantic import ValidationError

    from pipeline.mapping.plan import _field_errors

    def field_errors(moment: dict[str, Any]) -> list[tuple[str, str]]:
        moments = [{"transcript": "a", "avatarId": "x"}, moment]
        with pytest.raises(ValidationError) as info:
            VideoCreateArgs.model_validate({"name": "n", "moments": moments})
        return [(e.field, e.message) for e in _field_errors(info.value, [(0, 0, 1), (2, 0, 1)])]

    [(field, message)] = field_errors({"avatarId": "x"})
    assert field == "moments[2]" and "exactly one of transcript and audioUrl" in message
    [(field, message)] = field_errors({"transcript": "b", "avatarId": "x", "color": "red"})
    assert field == "moments[2].color" and "broll" not in message


def test_keys_of_non_ascii_namespaces_and_cells_are_over_their_utf8_form() -> None:
    from pipeline.mapping import canonical_json

    text = BASE.replace("input:\n  key: email\n", "input: {namespace: été}\n")
    p = plan(text)
    stripped = {k: v for k, v in body(p).items() if k != "extras"}
    assert p.key == "k-" + _sha('["été", "payload"]' + canonical_json(stripped))[:40]
    skipping = BASE.replace("input:\n  key: email\n", "input: {skip_when_blank: [outro]}\n")
    s = plan(skipping, company="Café")
    assert (
        s.key
        == "k-"
        + _sha(
            '["", "cells", ["Ana", "Café", "ana@acme.test", "Hello Ana, this is a short script.", '
            '"avatar-emma", "voice-emma", "1.2", ""]]'
        )[:40]
    )


def test_attribute_calls_beside_row_lookups_are_not_columns() -> None:
    text = BASE.replace('"{{ script }}"', """'{{ row["First Name"] }} of {{ company.upper() }}'""")
    assert body(plan(text))["moments"][0]["transcript"] == "Ana of ACME"


def test_a_raised_limit_holds_for_rows_with_other_problems() -> None:
    text = BASE + "limits: {transcript_chars: 900}\n"
    assert errors(plan(text, script="word " * 160, avatar="")) == ["moments[0].avatarId: is blank"]


def test_a_blank_fixed_name_is_named() -> None:
    assert errors(plan(BASE.replace('"Hi {{ first_name }} at {{ company }}"', '" "'))) == [
        "name: is blank"
    ]


def test_the_template_name_of_a_header_that_has_none_gets_a_did_you_mean() -> None:
    # "2nd Name" is no identifier: it is reachable as row["2nd Name"] only.
    headers = ["2nd Name", "email", "script", "avatar", "voice"]
    text = BASE.replace("Hi {{ first_name }} at {{ company }}", "{{ row['2nd_name'] }}")
    with pytest.raises(ConfigError) as caught:
        Mapper(config(text), headers)
    assert caught.value.problems == [
        "c.yaml:4: video.name: no column '2nd_name' in the sheet; did you mean '2nd Name'? "
        "The sheet's columns: 2nd Name, email, script, avatar, voice"
    ]


def test_the_mapper_says_which_columns_the_config_reads() -> None:
    """A cell the config never reads may hold anything (an error value included): the sheet's
    checks ask the mapper which columns count."""
    mapper = Mapper(config(), HEADERS)
    # Read bare ({{ script }}), through a template ({{ first_name }} -> "First Name"), as the key.
    assert mapper.reads("script") and mapper.reads("First Name") and mapper.reads("email")
    assert not mapper.reads("zoom") and not mapper.reads("outro")
    named = BASE.replace('"{{ script }}"', "'{{ row[\"script\"] }}'")
    assert not Mapper(config(named), HEADERS).reads("outro"), 'row["script"] reads script'
    computed = BASE.replace('"{{ script }}"', "'{{ row[company] }}'")
    assert Mapper(config(computed), HEADERS).reads("outro"), "row[a name] may read any column"
