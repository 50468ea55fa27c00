"""A moment that templates both a transcript and an audio URL: each row sends the one that
renders non-blank; both or neither is that row's error, on that moment."""

from __future__ import annotations

from typing import Any

from pipeline.config import parse_config
from pipeline.mapping import INVALID, VALID, Mapper, RowPlan
from pipeline.sheets import Row

AUDIO = "https://cdn.example.com/vo/2.mp3"
CONFIG = """\
input: {key: [id]}
video: {name: "Video {{ id }}"}
moments:
  - transcript: "Hello {{ id }}."
    avatar_id: avatar-emma
  - transcript: "{{ script }}"
    audio_url: "{{ voice_over }}"
    avatar_id: avatar-emma
"""
HEADERS = ["id", "script", "voice_over"]


def plan(script: str, voice_over: str, text: str = CONFIG) -> RowPlan:
    mapper = Mapper(parse_config(text, source="c.yaml"), HEADERS)
    return mapper.map_row(Row(2, {"id": "a", "script": script, "voice_over": voice_over}))


def moments(p: RowPlan) -> list[dict[str, Any]]:
    assert p.status == VALID, p.errors
    assert p.body is not None
    return list(p.body["moments"])


def test_a_transcript_alone_is_sent_as_the_transcript() -> None:
    assert moments(plan("Welcome aboard.", ""))[1] == {
        "avatarId": "avatar-emma",
        "transcript": "Welcome aboard.",
    }


def test_an_audio_url_alone_is_sent_as_the_audio() -> None:
    assert moments(plan("", AUDIO))[1] == {"avatarId": "avatar-emma", "audioUrl": AUDIO}
    assert moments(plan("   ", AUDIO))[1] == {"avatarId": "avatar-emma", "audioUrl": AUDIO}


def test_both_given_is_the_rows_error_on_that_moment() -> None:
    p = plan("Welcome aboard.", AUDIO)
    assert p.status == INVALID and p.body is None
    assert [(e.field, e.message) for e in p.errors] == [
        (
            "moments[1]",
            "both transcript and audioUrl have a value: a moment takes one of them, "
            "so leave one blank in this row",
        )
    ]


def test_neither_given_is_the_rows_error_on_that_moment() -> None:
    p = plan(" ", "")
    assert p.status == INVALID
    assert [str(e) for e in p.errors] == [
        "moments[1]: neither transcript nor audioUrl has a value: a moment needs one of them"
    ]


def test_a_template_error_in_one_is_said_once_and_alone() -> None:
    text = CONFIG.replace("{{ voice_over }}", "{{ voice_over * 100000000 }}")
    p = plan("", "x", text)
    assert [str(e) for e in p.errors] == [
        "moments[1].audioUrl: template error: repetition result is too large"
    ]


def test_a_long_transcript_is_split_but_an_audio_url_never_is() -> None:
    long = "This is one sentence. " * 60
    split = moments(plan(long, ""))
    assert len(split) > 2 and all(set(m) == {"avatarId", "transcript"} for m in split)
    url = "https://cdn.example.com/" + "a" * 1200 + ".mp3"
    assert moments(plan("", url))[1:] == [{"avatarId": "avatar-emma", "audioUrl": url}]
