"""Loading the YAML config: the model, and every kind of located error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support import ROOT

from pipeline.config import (
    BATCH_KEY_EXTRA,
    Config,
    ConfigError,
    load_config,
    parse_bool,
    parse_easing,
    parse_number,
)

MINIMAL = """\
video:
  name: "{{ title }}"
moments:
  - transcript: "{{ script }}"
    avatar_id: avatar-emma
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def loc(tmp_path: Path) -> str:
    return str(tmp_path / "c.yaml")


# --- what loads --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["leads", "launches", "broken"])
def test_example_configs_load(name: str) -> None:
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    assert isinstance(config, Config)
    assert config.moments


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.limits.transcript_chars == 500
    assert config.limits.max_moments == 50
    assert config.api.rpm == 60
    assert config.api.concurrency == 4
    assert config.input.key is None
    assert config.input.skip_when_blank == []
    assert config.input.namespace == ""
    assert config.moments[0].broll_on == "first"


def test_single_key_string_becomes_a_list(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "input: {key: email}\n" + MINIMAL))
    assert config.input.key == ["email"]


def test_constants_are_converted_at_load(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    avatar_id: avatar-emma\n",
        "    avatar_id: avatar-emma\n"
        "    zoom: {keyframes: [{time: '0', scale: '1.5', easing: '0.42, 0, 0.58, 1'}]}\n"
        "    broll: {type: generation, animate: 'Yes', layout: split_avatar_left}\n",
    )
    config = load_config(write(tmp_path, text))
    moment = config.moments[0]
    assert moment.zoom is not None
    frame = moment.zoom.keyframes[0]
    assert (frame.time, frame.scale, frame.easing) == (0, 1.5, [0.42, 0, 0.58, 1])
    assert moment.broll is not None
    assert (moment.broll.type, moment.broll.animate, moment.broll.layout) == (
        "GENERATION",
        True,
        "SPLIT_AVATAR_LEFT",
    )


def test_locate_points_at_the_line(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert (
        config.locate(("moments", 0, "transcript")) == f"{loc(tmp_path)}:4: moments[0].transcript"
    )
    assert config.locate(("video", "name")) == f"{loc(tmp_path)}:2: video.name"


# --- unknown and missing keys ------------------------------------------------------------


def test_unknown_key_has_path_line_and_did_you_mean(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        '  name: "{{ title }}"\n', '  name: "{{ title }}"\n  subtitle: {enable: true}\n'
    )
    assert problems(tmp_path, text) == [
        f"{loc(tmp_path)}:3: video.subtitle: unknown key; did you mean 'subtitles'?"
    ]


def test_camel_case_key_suggests_snake_case(tmp_path: Path) -> None:
    text = MINIMAL.replace("    avatar_id:", "    avatarId:")
    assert problems(tmp_path, text) == [
        f"{loc(tmp_path)}:4: moments[0].avatar_id: missing required key",
        f"{loc(tmp_path)}:5: moments[0].avatarId: unknown key; did you mean 'avatar_id'? "
        "(keys are snake_case)",
    ]


def test_key_in_the_wrong_section_says_where_it_belongs(tmp_path: Path) -> None:
    text = MINIMAL + "    transcript_chars: 250\n"
    assert problems(tmp_path, text) == [
        f"{loc(tmp_path)}:6: moments[0].transcript_chars: unknown key here; "
        "'transcript_chars' belongs under limits"
    ]


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + "limit: {transcript_chars: 250}\n") == [
        f"{loc(tmp_path)}:6: limit: unknown key; did you mean 'limits'?"
    ]


def test_missing_required_keys(tmp_path: Path) -> None:
    text = "video: {aspect_ratio: '9:16'}\nmoments:\n  - transcript: hi\n"
    assert problems(tmp_path, text) == [
        f"{loc(tmp_path)}:1: video.name: missing required key",
        f"{loc(tmp_path)}:3: moments[0].avatar_id: missing required key",
    ]


def test_no_moments(tmp_path: Path) -> None:
    assert problems(tmp_path, "video: {name: x}\nmoments: []\n") == [
        f"{loc(tmp_path)}:2: moments: needs at least one moment"
    ]


def test_moment_needs_a_source(tmp_path: Path) -> None:
    text = "video: {name: x}\nmoments:\n  - {avatar_id: c}\n"
    assert problems(tmp_path, text) == [
        f"{loc(tmp_path)}:3: moments[0]: a moment needs a transcript or an audio_url"
    ]
    # Both is fine: each row sends the one that is not blank (see test_script_or_audio).
    both = "video: {name: x}\nmoments:\n  - {transcript: a, audio_url: b, avatar_id: c}\n"
    assert load_config(write(tmp_path, both)).moments[0].audio_url is not None


def test_duplicate_yaml_keys_are_reported(tmp_path: Path) -> None:
    text = MINIMAL.replace('  name: "{{ title }}"\n', '  name: "{{ title }}"\n  name: other\n')
    assert problems(tmp_path, text) == [f"{loc(tmp_path)}:3: duplicate key 'name'"]


def test_every_problem_is_reported_in_line_order(tmp_path: Path) -> None:
    text = """\
video:
  name: x
  aspect_ratio: "4:3"
moments:
  - transcript: hi
    avatar_id: a
    zoom: {keyframes: [{time: 0, scale: lots}]}
api: {rpm: 0, concurrency: 0}
"""
    assert problems(tmp_path, text) == [
        f"{loc(tmp_path)}:3: video.aspect_ratio: must be one of '16:9', '9:16', got '4:3'",
        f"{loc(tmp_path)}:7: moments[0].zoom.keyframes[0].scale: 'lots' is not a number",
        f"{loc(tmp_path)}:8: api.rpm: must be greater than 0 (or auto), got the number 0",
        f"{loc(tmp_path)}:8: api.concurrency: must be at least 1, got 0",
    ]


# --- YAML 1.1 surprises ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "got"),
    [
        ("NO", "the boolean false"),
        ("yes", "the boolean true"),
        ("0123", "the number 83"),
        ("2024-01-05", "the date 2024-01-05"),
        ("1.5e+3", "the number 1500.0"),
    ],
)
def test_yaml_surprise_in_a_text_field_says_quote_it(
    tmp_path: Path, written: str, got: str
) -> None:
    text = MINIMAL + f"    voice_id: {written}\n"
    [message] = problems(tmp_path, text)
    assert message.startswith(f"{loc(tmp_path)}:6: moments[0].voice_id: expected text, got {got}")
    assert message.endswith(f"quote the value: '{written}'")


def test_unquoted_aspect_ratio_is_a_sexagesimal_number(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        '  name: "{{ title }}"\n', '  name: "{{ title }}"\n  aspect_ratio: 9:16\n'
    )
    assert problems(tmp_path, text) == [
        f"{loc(tmp_path)}:3: video.aspect_ratio: expected text, got the number 556 "
        "(YAML 1.1 reads 9:16 unquoted as a number); quote the value: '9:16'"
    ]


def test_keys_are_read_as_written(tmp_path: Path) -> None:
    # `on:` would be the boolean true in YAML 1.1; as a key it stays the text written.
    text = MINIMAL.replace('  name: "{{ title }}"\n', '  name: x\n  extras: {on: "1", 2: two}\n')
    config = load_config(write(tmp_path, text))
    assert config.video.extras == {"on": "1", "2": "two"}


def test_quoted_values_are_fine(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + "    voice_id: 'NO'\n"))
    assert config.moments[0].voice_id == "NO"


# --- templates ---------------------------------------------------------------------------


def test_template_syntax_error_is_located(tmp_path: Path) -> None:
    text = MINIMAL.replace('"{{ script }}"', '"Hello {{ first_name }"')
    assert problems(tmp_path, text) == [
        f"{loc(tmp_path)}:4: moments[0].transcript: template error: unexpected '}}'"
    ]


def test_template_syntax_error_in_a_multiline_template_gives_its_line(tmp_path: Path) -> None:
    text = MINIMAL.replace('"{{ script }}"', '"line one\\n{% if x %}line two"')
    [message] = problems(tmp_path, text)
    assert message.startswith(f"{loc(tmp_path)}:4: moments[0].transcript: template error: ")
    assert "(template line 2)" in message


def test_templates_in_number_fields_are_parsed_too(tmp_path: Path) -> None:
    text = MINIMAL + "    zoom: {keyframes: [{time: 0, scale: '{{ zoom '}]}\n"
    [message] = problems(tmp_path, text)
    assert message.startswith(
        f"{loc(tmp_path)}:6: moments[0].zoom.keyframes[0].scale: template error:"
    )


# --- values ------------------------------------------------------------------------------


def test_four_extras_are_refused_with_the_reason(tmp_path: Path) -> None:
    extras = ", ".join(f"e{i}: v" for i in range(4))
    text = MINIMAL.replace('  name: "{{ title }}"\n', f"  name: x\n  extras: {{{extras}}}\n")
    assert problems(tmp_path, text) == [
        f"{loc(tmp_path)}:3: video.extras: 4 extras given, at most 3: the API takes 5 pairs "
        f"and two are always set: {BATCH_KEY_EXTRA} (the row key) and argilBatch (the batch tag)"
    ]


def test_three_extras_are_fine(tmp_path: Path) -> None:
    extras = ", ".join(f"e{i}: v" for i in range(3))
    text = MINIMAL.replace('  name: "{{ title }}"\n', f"  name: x\n  extras: {{{extras}}}\n")
    assert load_config(write(tmp_path, text)).video.extras == {f"e{i}": "v" for i in range(3)}


def test_batch_tag_extra_is_reserved(tmp_path: Path) -> None:
    text = MINIMAL.replace('  name: "{{ title }}"\n', "  name: x\n  extras: {argilBatch: b}\n")
    assert problems(tmp_path, text) == [
        f"{loc(tmp_path)}:3: video.extras: argilBatch is reserved: it always carries the batch tag"
    ]


def test_a_namespace_longer_than_an_extras_value_is_refused(tmp_path: Path) -> None:
    text = "input:\n  namespace: " + "n" * 257 + "\n" + MINIMAL
    assert "input.namespace: the namespace is over 256 characters" in problems(tmp_path, text)[0]


def test_batch_key_extra_is_reserved(tmp_path: Path) -> None:
    text = MINIMAL.replace('  name: "{{ title }}"\n', "  name: x\n  extras: {argilBatchKey: k}\n")
    assert problems(tmp_path, text) == [
        f"{loc(tmp_path)}:3: video.extras: argilBatchKey is reserved: it always carries the row key"
    ]


def test_broll_settings_must_fit_a_constant_type(tmp_path: Path) -> None:
    text = MINIMAL + "    broll: {type: GENERATION, query: cats}\n"
    assert problems(tmp_path, text) == [
        f"{loc(tmp_path)}:6: moments[0].broll: query does not apply to broll type GENERATION "
        "(it takes: animate, layout, prompt, zoom)"
    ]


def test_unknown_broll_type(tmp_path: Path) -> None:
    [message] = problems(tmp_path, MINIMAL + "    broll: {type: VIDEO}\n")
    assert message == (
        f"{loc(tmp_path)}:6: moments[0].broll.type: must be one of 'AVATAR_ACTION', "
        "'GENERATION', 'STOCKS_VIDEO', 'GOOGLE_IMAGES', 'UPLOAD', got 'VIDEO'"
    )


def test_bad_constant_bool_and_decimal_comma(tmp_path: Path) -> None:
    text = MINIMAL + (
        "    zoom: {keyframes: [{time: 0, scale: '1,5'}]}\n"
        "    broll: {type: GENERATION, animate: maybe}\n"
    )
    assert problems(tmp_path, text) == [
        f"{loc(tmp_path)}:6: moments[0].zoom.keyframes[0].scale: '1,5' is not a number "
        "(use a dot as the decimal separator)",
        f"{loc(tmp_path)}:7: moments[0].broll.animate: 'maybe' is not true/false, yes/no, "
        "1/0 or on/off",
    ]


def test_transcript_chars_must_be_a_whole_number(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + "limits: {transcript_chars: 250.5}\n") == [
        f"{loc(tmp_path)}:6: limits.transcript_chars: expected a whole number, got the number 250.5"
    ]


def test_broll_on_choices(tmp_path: Path) -> None:
    [message] = problems(tmp_path, MINIMAL + "    broll_on: every\n")
    assert (
        message
        == f"{loc(tmp_path)}:6: moments[0].broll_on: must be one of 'first' or 'all', got 'every'"
    )


# --- the API's rates ---------------------------------------------------------------------


def test_the_config_takes_rpm_auto_and_a_read_rpm(config: Callable[..., Path]) -> None:
    cfg = load_config(config(api={"rpm": "auto", "read_rpm": 120}))
    assert cfg.api.rpm == "auto" and cfg.api.read_rpm == 120
    assert load_config(config(api=None)).api.read_rpm == 600


@pytest.mark.parametrize("value", ["fast", 0, -5, True])
def test_the_config_refuses_an_rpm_that_is_neither_a_number_nor_auto(
    config: Callable[..., Path], value: object
) -> None:
    with pytest.raises(ConfigError, match=r"api\.rpm"):
        load_config(config(api={"rpm": value}))


# --- files -------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert caught.value.problems == [f"{tmp_path / 'nope.yaml'}: no such file"]


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.problems == [f"{tmp_path}: is a directory, not a config file"]


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    text = "video:\n  name: x\n moments: [\n"
    [message] = problems(tmp_path, text)
    assert message.startswith(f"{loc(tmp_path)}:3:")
    assert "invalid YAML" in message


def test_tab_indentation_hint(tmp_path: Path) -> None:
    [message] = problems(tmp_path, "video:\n\tname: x\n")
    assert message.startswith(f"{loc(tmp_path)}:2:")
    assert message.endswith("indent with spaces, not tabs")


def test_empty_file(tmp_path: Path) -> None:
    assert problems(tmp_path, "# nothing yet\n") == [
        f"{loc(tmp_path)}: the config is empty; it needs at least video and moments"
    ]


def test_not_a_mapping(tmp_path: Path) -> None:
    assert problems(tmp_path, "- video\n- moments\n") == [
        f"{loc(tmp_path)}:1: the config must be a mapping (input, video, moments, limits, api), "
        "got a list"
    ]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes("video: {name: caf\u00e9}\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}: not UTF-8 text (byte 17); save the config as UTF-8"]


def test_utf8_bom_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_config(path).video.name == "{{ title }}"


# --- helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("4", 4), (" 1.5 ", 1.5), ("-0.25", -0.25), (".5", 0.5), ("1e2", 100.0), ("nan", None),
     ("inf", None), ("1_000", None), ("1,5", None), ("", None), ("0x10", None)],
)  # fmt: skip
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("Yes", True), ("ON", True), ("1", True), ("false", False), ("no", False),
     ("Off", False), ("0", False), ("maybe", None), ("", None)],
)  # fmt: skip
def test_parse_bool(text: str, value: bool | None) -> None:
    assert parse_bool(text) is value


def test_parse_easing() -> None:
    assert parse_easing("[0.42, 0, 0.58, 1]") == (0.42, 0, 0.58, 1)
    assert parse_easing("0.42 0 0.58 1") == (0.42, 0, 0.58, 1)
    assert parse_easing("0.42, 0, 0.58") is None
    assert parse_easing("a, b, c, d") is None
