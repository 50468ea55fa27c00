"""The estimate of a body, a batch and its sending time; the budget's arithmetic."""

from __future__ import annotations

import pytest

from pipeline.cost import (
    AUTO_BROLLS_PER_MINUTE,
    CHARS_PER_SECOND,
    Budget,
    Estimate,
    describe,
    duration_text,
    estimate_bodies,
    estimate_body,
    forecast,
    over_budget_message,
)

# 150 characters: 10 s of speech.
TEN_SECONDS = "x" * int(10 * CHARS_PER_SECOND)


def body(*moments: dict[str, object], **video: object) -> dict[str, object]:
    return {"name": "v", "moments": list(moments), **video}


def test_speech_costs_video_and_voice_by_the_minute() -> None:
    estimate = estimate_body(body({"transcript": TEN_SECONDS, "avatarId": "a"}))
    assert estimate.videos == 1
    assert estimate.seconds == pytest.approx(10.0)
    # 160 credits a minute of video and 20 of generated voice.
    assert estimate.credits == pytest.approx(10 / 60 * 180)


def test_an_audio_moment_is_video_without_voice() -> None:
    estimate = estimate_body(body({"audioUrl": "https://x/a.mp3", "avatarId": "a"}))
    assert estimate.seconds == pytest.approx(20.0)
    assert estimate.credits == pytest.approx(20 / 60 * 160)


@pytest.mark.parametrize(
    ("broll", "extra"),
    [
        ({"type": "GENERATION"}, 10.0),
        ({"type": "STOCKS_VIDEO"}, 20.0),
        ({"type": "AVATAR_ACTION"}, 40.0 + 4 * 10.0),  # animated for the moment's 10 s
        ({"type": "UPLOAD", "assetId": "x"}, 0.0),
    ],
)
def test_a_moments_broll_adds_its_price(broll: dict[str, str], extra: float) -> None:
    plain = estimate_body(body({"transcript": TEN_SECONDS, "avatarId": "a"}))
    with_broll = estimate_body(body({"transcript": TEN_SECONDS, "avatarId": "a", "broll": broll}))
    assert with_broll.credits - plain.credits == pytest.approx(extra)
    assert with_broll.seconds == plain.seconds


@pytest.mark.parametrize("intensity", ["LOW", "MEDIUM", "HIGH"])
def test_automatic_brolls_are_guessed_from_their_intensity(intensity: str) -> None:
    minute = {"transcript": "x" * int(60 * CHARS_PER_SECOND), "avatarId": "a"}
    plain = estimate_body(body(minute))
    auto = {"enable": True, "source": "STOCKS_VIDEO", "intensity": intensity}
    with_auto = estimate_body(body(minute, autoBrolls=auto))
    assert with_auto.credits - plain.credits == pytest.approx(
        AUTO_BROLLS_PER_MINUTE[intensity] * 20.0
    )
    disabled = estimate_body(body(minute, autoBrolls={**auto, "enable": False}))
    assert disabled.credits == plain.credits
    legacy = estimate_body(body(minute, enableAutoBrolls=True))
    assert legacy.credits - plain.credits == pytest.approx(AUTO_BROLLS_PER_MINUTE["MEDIUM"] * 10)


def test_estimates_add_up_over_a_batch() -> None:
    one = body({"transcript": TEN_SECONDS, "avatarId": "a"})
    total = estimate_bodies([one, one, one])
    single = estimate_body(one)
    assert total.videos == 3
    assert total.credits == pytest.approx(3 * single.credits)
    assert estimate_bodies([]) == Estimate()


def test_sending_time_is_requests_at_the_rate() -> None:
    one = body({"transcript": TEN_SECONDS, "avatarId": "a"})
    f = forecast([one] * 120, rpm=60, render=False)
    assert (f.requests, f.send_seconds) == (120, 120.0)
    rendered = forecast([one] * 120, rpm=60, render=True)
    assert (rendered.requests, rendered.send_seconds) == (240, 240.0)
    assert describe(f) == (
        "To send: 120 videos, about 20.0 min of video, about 3,600 credits (an estimate); "
        "sending at 60 requests a minute takes about 2 min."
    )
    assert "sending 240 requests at 60 requests a minute takes about 4 min." in describe(rendered)
    sandbox = forecast([one] * 120, rpm=60, render=False, real_rate=False, max_credits=5000)
    assert describe(sandbox) == (
        "To send: 120 videos, about 20.0 min of video, about 3,600 credits (an estimate), "
        "budget 5,000; at the real run's 60 requests a minute (--rpm or api.rpm), sending takes "
        "about 2 min (the sandbox itself goes faster)."
    )


def test_the_over_budget_line_gives_the_estimate_and_the_budget() -> None:
    one = body({"transcript": TEN_SECONDS, "avatarId": "a"})
    f = forecast([one] * 120, rpm=60, render=False, max_credits=10)
    assert over_budget_message(f) == (
        "this run would send 120 videos, about 20.0 min of video, about 3,600 credits: over "
        "--max-credits 10; nothing was sent (raise the budget, or send fewer rows with --rows)"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "1 s"),
        (40, "40 s"),
        (89, "89 s"),
        (120, "2 min"),
        (3599, "1 h 00 min"),
        (7500, "2 h 05 min"),
    ],
)
def test_durations_read_as_an_estimate_deserves(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_the_budget_refuses_the_create_that_would_pass_it() -> None:
    one = body({"transcript": TEN_SECONDS, "avatarId": "a"})
    cost = estimate_body(one).credits
    budget = Budget(2.5 * cost)
    assert budget.take(one) and budget.take(one)
    assert not budget.take(one)
    assert budget.spent == pytest.approx(2 * cost)
    assert budget.reason() == (
        "the budget is reached: about 60 credits sent, the next video would pass --max-credits 75"
    )
