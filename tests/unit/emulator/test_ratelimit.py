"""The emulator's rate limits: sliding and fixed windows, reads counted apart, the headers that
announce the limit, and latency spent before a request is counted."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from pipeline.argil.client import ArgilClient
from pipeline.emulator import (
    ApiFault,
    Emulator,
    EmulatorServer,
    EmulatorSettings,
    EmulatorSettingsError,
)
from pipeline.emulator.ratelimit import Budget, Limiter, announce_headers


def test_a_sliding_window_frees_one_request_as_each_old_one_leaves() -> None:
    limiter = Limiter(Budget("w", 3, 1.0))
    assert [limiter.take("k", t).allowed for t in (0.0, 0.2, 0.4)] == [True, True, True]
    refused = limiter.take("k", 0.9)
    assert not refused.allowed and refused.reset == pytest.approx(0.1)
    assert limiter.take("k", 1.0).allowed  # the one of 0.0 has left
    assert not limiter.take("k", 1.1).allowed
    assert limiter.take("other", 1.1).allowed, "counted per key"


def test_a_fixed_window_starts_anew_at_each_boundary_and_allows_a_double_burst() -> None:
    limiter = Limiter(Budget("w", 3, 1.0, "fixed"))
    assert all(limiter.take("k", t).allowed for t in (0.7, 0.8, 0.9))
    refused = limiter.take("k", 0.95)
    assert not refused.allowed and refused.reset == pytest.approx(0.05)
    # Three more at once just past the boundary: six within 0.3 s, as fixed windows allow.
    verdicts = [limiter.take("k", t) for t in (1.0, 1.0, 1.0, 1.01)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts[:3]] == [2, 1, 0]


def test_the_announcing_headers_carry_policy_and_what_is_left() -> None:
    limiter = Limiter(Budget.per_minute("writes", 60, 60))
    limiter.take("k", 0.0)
    verdict = limiter.take("k", 30.0)
    assert announce_headers(limiter.budget, verdict) == {
        "RateLimit-Policy": '"writes";q=60;w=60',
        "RateLimit": '"writes";r=58;t=30',
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "58",
        "X-RateLimit-Reset": "30",
    }


def test_reads_are_counted_apart_from_writes_when_asked() -> None:
    now = [0.0]
    emulator = Emulator(EmulatorSettings(rpm=60, read_rpm=120, rate_window=1, clock=lambda: now[0]))
    emulator.admit("k", "POST")
    with pytest.raises(ApiFault) as caught:
        emulator.admit("k", "POST")
    assert caught.value.status == 429
    emulator.admit("k", "GET")
    emulator.admit("k", "GET")
    with pytest.raises(ApiFault):
        emulator.admit("k", "GET")
    shared = Emulator(EmulatorSettings(rpm=60, rate_window=1, clock=lambda: now[0]))
    shared.admit("k", "GET")
    with pytest.raises(ApiFault):
        shared.admit("k", "POST")


def test_unknown_window_kind_is_refused() -> None:
    with pytest.raises(EmulatorSettingsError, match="rate_window_kind"):
        EmulatorSettings(rate_window_kind="leaky")


def test_a_429_over_http_announces_the_limit_and_when_to_come_back() -> None:
    settings = EmulatorSettings(
        rpm=120, read_rpm=6000, rate_window=1, ratelimit_headers=True, retry_after="ms"
    )
    with EmulatorServer(settings) as server, httpx.Client(headers={"x-api-key": "k"}) as http:
        first = http.post(server.base_url + "/videos", content=b"{}")
        second = http.post(server.base_url + "/videos", content=b"{}")
        third = http.post(server.base_url + "/videos", content=b"{}")
        read = http.get(server.base_url + "/avatars")
    assert first.status_code == 400, "counted, then refused for its body"
    assert first.headers["RateLimit-Policy"] == '"writes";q=2;w=1'
    assert first.headers["RateLimit"].startswith('"writes";r=1;t=')
    assert second.headers["X-RateLimit-Remaining"] == "0"
    assert third.status_code == 429 and int(third.headers["retry-after-ms"]) >= 1
    assert third.headers["X-RateLimit-Remaining"] == "0"
    assert read.status_code == 200 and read.headers["RateLimit-Policy"] == '"reads";q=100;w=1'


def test_latency_on_the_way_in_is_spent_before_the_request_is_counted() -> None:
    settings = EmulatorSettings(latency_in_ms=300, latency_in_jitter_ms=50, seed=3)
    with EmulatorServer(settings) as server, httpx.Client(headers={"x-api-key": "k"}) as http:
        body = {
            "name": "n",
            "moments": [{"transcript": "Hi.", "avatarId": "avatar-emma", "voiceId": "voice-emma"}],
        }
        sent = time.monotonic()
        answer = http.post(server.base_url + "/videos", json=body)
        answered = time.monotonic()
        (counted,) = server.emulator.stats.create_times
    assert answer.status_code == 201
    assert counted - sent >= 0.25, "the server saw the request only after the way in"
    assert answered - counted < 0.2, "and answered at once (no latency on the way out)"


def test_the_client_keeps_to_the_limit_the_emulator_announces() -> None:
    """Over HTTP: --rpm four times too high, the announced 20 a second is what the client
    keeps to, without a single 429."""
    settings = EmulatorSettings(rpm=1200, read_rpm=6000, rate_window=1, ratelimit_headers=True)
    body = {
        "name": "n",
        "moments": [{"transcript": "Hi.", "avatarId": "avatar-emma", "voiceId": "voice-emma"}],
    }

    async def go(base_url: str) -> float | None:
        async with ArgilClient("k", base_url, rpm=4800, concurrency=4) as client:
            for _ in range(25):
                await client.create_video(body)
            return client.gate.announced_rpm

    with EmulatorServer(settings) as server:
        announced = asyncio.run(go(server.base_url))
        stats = server.emulator.stats
    assert announced == 1200
    assert stats.created == 25 and stats.rate_limited == 0
