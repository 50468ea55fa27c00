"""The request models are faithful to the spec; the response models are tolerant."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.argil.models import (
    GenerationBroll,
    Moment,
    UploadBroll,
    Video,
    VideoCreateArgs,
    utf16_len,
)

MOMENT = {"transcript": "Hello there.", "avatarId": "avatar-emma"}


def body(**extra: object) -> dict[str, object]:
    return {"name": "Launch", "moments": [dict(MOMENT)], **extra}


def test_wire_names_are_camel_case_and_unset_fields_are_left_out() -> None:
    args = VideoCreateArgs.model_validate(
        body(
            aspectRatio="9:16",
            backgroundMusic={"assetId": "m1", "volume": 0.2},
            subtitles={"enable": True, "styleId": "s1"},
        )
    )
    assert args.background_music is not None and args.background_music.asset_id == "m1"
    assert args.to_body() == {
        "name": "Launch",
        "moments": [{"transcript": "Hello there.", "avatarId": "avatar-emma"}],
        "aspectRatio": "9:16",
        "backgroundMusic": {"assetId": "m1", "volume": 0.2},
        "subtitles": {"enable": True, "styleId": "s1"},
    }


@pytest.mark.parametrize(
    "moment",
    [
        {"avatarId": "a"},
        {"avatarId": "a", "transcript": "hi", "audioUrl": "https://x/a.mp3"},
    ],
)
def test_a_moment_needs_exactly_one_of_transcript_and_audio_url(moment: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="exactly one of transcript and audioUrl"):
        Moment.model_validate(moment)


def test_transcript_limit_counts_utf16_code_units() -> None:
    emoji = "😀" * 250
    assert utf16_len(emoji) == 500
    Moment.model_validate({"avatarId": "a", "transcript": emoji})
    with pytest.raises(ValidationError, match="501 characters, over the limit of 500"):
        Moment.model_validate({"avatarId": "a", "transcript": emoji + "x"})


def test_transcript_limit_is_configurable() -> None:
    text = "x" * 300
    VideoCreateArgs.model_validate(body(moments=[{"avatarId": "a", "transcript": text}]))
    with pytest.raises(ValidationError, match="over the limit of 250"):
        VideoCreateArgs.model_validate(
            body(moments=[{"avatarId": "a", "transcript": text}]),
            context={"transcript_chars": 250},
        )


def test_extras_follow_the_stricter_description() -> None:
    VideoCreateArgs.model_validate(body(extras={f"k{i}": "v" for i in range(5)}))
    with pytest.raises(ValidationError, match="6 pairs, at most 5"):
        VideoCreateArgs.model_validate(body(extras={f"k{i}": "v" for i in range(6)}))
    with pytest.raises(ValidationError, match="over 256 characters"):
        VideoCreateArgs.model_validate(body(extras={"k": "v" * 257}))


def test_unknown_fields_refused_only_where_the_spec_closes_the_object() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Moment.model_validate({**MOMENT, "avatar": "typo"})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        VideoCreateArgs.model_validate(body(subtitles={"enable": True, "colour": "red"}))
    # VideoCreateArgs itself has no additionalProperties: false in the spec.
    assert VideoCreateArgs.model_validate(body(futureField=1)).to_body()["futureField"] == 1


@pytest.mark.parametrize(
    ("zoom", "message"),
    [
        ({"keyframes": []}, "at least 1 item"),
        ({"keyframes": [{"time": 0, "scale": 1}] * 21}, "at most 20 items"),
        ({"keyframes": [{"time": 1.5, "scale": 1}]}, "less than or equal to 1"),
        ({"keyframes": [{"time": 0, "scale": 3.5}]}, "less than or equal to 3"),
        ({"keyframes": [{"time": 0, "scale": 0.5}]}, "greater than or equal to 1"),
        ({"keyframes": [{"time": 0, "scale": 1, "easing": [0, 1, 0]}]}, "at least 4 items"),
    ],
)
def test_zoom_bounds(zoom: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Moment.model_validate({**MOMENT, "zoom": zoom})


def test_broll_is_discriminated_on_type() -> None:
    moment = Moment.model_validate({**MOMENT, "broll": {"type": "GENERATION", "prompt": "city"}})
    assert isinstance(moment.broll, GenerationBroll)
    uuid = "0b3f6f8e-2a51-4c3e-9d3a-3f1f0c2a9b10"
    upload = Moment.model_validate({**MOMENT, "broll": {"type": "UPLOAD", "assetId": uuid}})
    assert isinstance(upload.broll, UploadBroll)
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        Moment.model_validate({**MOMENT, "broll": {"type": "VIDEO"}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        Moment.model_validate({**MOMENT, "broll": {"type": "STOCKS_VIDEO", "prompt": "x"}})
    with pytest.raises(ValidationError, match="should match pattern"):
        Moment.model_validate({**MOMENT, "broll": {"type": "UPLOAD", "assetId": "nope"}})


def test_volume_is_between_zero_and_one() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        VideoCreateArgs.model_validate(body(backgroundMusic={"assetId": "m", "volume": 1.5}))


def test_video_tolerates_unknown_statuses_and_fields() -> None:
    video = Video.model_validate(
        {"id": "v1", "status": "CONTENT_MODERATED", "newField": {"x": 1}, "videoUrl": "https://v"}
    )
    assert video.status == "CONTENT_MODERATED"
    assert video.is_final and video.is_failed
    assert video.video_url == "https://v"
    assert not Video.model_validate({"id": "v2", "status": "QUEUED_SOMEWHERE"}).is_final
