"""The rate gates of ``ArgilClient``: reads apart from writes, announced limits, ``--rpm auto``
and how a 429 is taken, on a fake or a virtual clock (nothing sleeps)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest
from adverse_api import pace
from test_client import VIDEO, FakeTime, make_client
from virtual_time import VirtualTimeLoop, run_virtual

from pipeline.argil.client import ArgilClient, RateLimited
from pipeline.argil.gate import RateGate
from pipeline.argil.limit_headers import Announced, parse_announced


def test_a_429_to_a_read_pauses_and_slows_the_reads_only() -> None:
    ft = FakeTime()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(429, json={}, headers={"Retry-After": "5"})
        return httpx.Response(201, json=VIDEO)

    async def go() -> None:
        async with make_client(handler, ft, rpm=60, read_rpm=600, max_attempts=1) as client:
            assert client.read_gate is not client.gate
            write_rpm, read_rpm = client.gate.current_rpm, client.read_gate.current_rpm
            with pytest.raises(RateLimited):
                await client.get_video("v")
            assert client.read_gate.paused_for == 5 and client.read_gate.current_rpm < read_rpm
            assert client.gate.paused_for == 0 and client.gate.current_rpm == write_rpm
            await client.create_video({"name": "x"})

    asyncio.run(go())
    assert ft.waits() == [], "the create did not wait out the reads' pause"


def test_reads_are_paced_at_the_read_rate_and_writes_at_theirs() -> None:
    async def go() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        times: dict[str, list[float]] = {"GET": [], "POST": []}

        def handler(request: httpx.Request) -> httpx.Response:
            times[request.method].append(loop.time())
            return httpx.Response(201 if request.method == "POST" else 200, json=VIDEO)

        async with make_client(handler, rpm=600, read_rpm=6000, concurrency=8) as client:
            await asyncio.gather(
                *(client.get_video(str(n)) for n in range(6)),
                *(client.create_video({"name": "x"}) for _ in range(3)),
            )
        return times["GET"][-1] - times["GET"][0], times["POST"][-1] - times["POST"][0]

    reads, writes = asyncio.run(go())
    # Five intervals of 10 ms (reads), two of 100 ms (writes), less the headroom; the reads
    # did not queue behind the writes.
    assert 0.04 < reads < 0.1
    assert writes >= 2 * 0.1 * 0.9


def test_the_client_paces_its_first_write_after_the_last_runs_by_the_wall_clock() -> None:
    # The journal keeps wall-clock times; the gate paces on its own clock and the event
    # loop's. A write sent by the last run a quarter of a second ago, at 60 a minute: the
    # first write waits the rest of its interval, the reads do not.
    async def main(loop: VirtualTimeLoop) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {"GET": [], "POST": []}

        def handler(request: httpx.Request) -> httpx.Response:
            times[request.method].append(loop.time())
            return httpx.Response(201 if request.method == "POST" else 200, json=VIDEO)

        client = ArgilClient(
            "sk-test",
            "https://api.test/v1",
            rpm=60,
            read_rpm=600,
            transport=httpx.MockTransport(handler),
            clock=loop.time,
            prior_sends=[time.time() - 0.25],
        )
        async with client:
            await client.get_video("v")
            await client.create_video({"name": "x"})
            await client.create_video({"name": "y"})
        return times

    times = run_virtual(main)
    assert times["GET"] == [pytest.approx(0.0, abs=0.01)]
    interval = 60 / 59.4
    assert times["POST"] == pytest.approx([interval - 0.25, 2 * interval - 0.25], abs=0.01)


# --- how a 429 is taken -------------------------------------------------------------------------


def gate(rpm: float | None = 600, **kwargs: Any) -> tuple[RateGate, FakeTime]:
    ft = FakeTime()
    return RateGate(rpm, 4, clock=ft.clock, sleep=ft.sleep, **kwargs), ft


def test_a_lone_429_costs_a_small_step_and_repeated_ones_cut_deeper() -> None:
    g, ft = gate()
    start = g.current_rpm
    assert start == pytest.approx(600 * 0.99)
    g.on_rate_limited(retry_after=1)
    assert g.current_rpm == pytest.approx(start * 0.92)
    ft.now += 2
    g.on_rate_limited(retry_after=1)
    assert g.current_rpm == pytest.approx(start * 0.92 * 0.84)
    ft.now += 2
    g.on_rate_limited(retry_after=1)
    assert g.current_rpm == pytest.approx(start * 0.92 * 0.84 * 0.7), "never more than 30%"
    ft.now += g.repeat_within + 1
    before = g.current_rpm
    g.on_rate_limited(retry_after=1)
    assert g.current_rpm == pytest.approx(before * 0.92), "lone again, long after the others"


def test_429s_to_requests_sent_before_the_last_step_count_once() -> None:
    g, ft = gate()
    sent = ft.now
    ft.now += 0.1
    g.on_rate_limited(sent_at=sent, retry_after=1)
    lowered = g.current_rpm
    g.on_rate_limited(sent_at=sent, retry_after=1)
    g.on_rate_limited(sent_at=sent, retry_after=1)
    assert g.current_rpm == lowered


def test_an_overloaded_window_gives_an_estimate_of_the_limit() -> None:
    # --rpm four times too high: 60 answers in 1.5 s, then a 429 asking for 4.5 s: the window
    # of 6 s holds 60 requests, 600 a minute.
    g, ft = gate(2400)
    for _ in range(60):
        ft.now += 0.025
        g.on_success()
    g.on_rate_limited(retry_after=4.5)
    assert g.limit_rpm == pytest.approx(60 * 60 / (1.475 + 4.5), rel=0.01)
    assert g.current_rpm == pytest.approx(g.limit_rpm * 0.99)
    assert g.found_rpm is None, "found only with auto"


def test_a_quiet_stretch_climbs_back_to_a_step_under_the_refused_rate_then_forgets_it() -> None:
    g, ft = gate()
    start = g.current_rpm
    g.on_rate_limited(retry_after=1)
    g.on_rate_limited(retry_after=1)  # repeated: 16% off
    low = g.current_rpm
    for _ in range(5):
        ft.now += g.increase_every
        for _ in range(g.increase_after):
            g.on_success()
    ceiling = start * 0.92 * 0.92  # a step under the rate refused by the second 429
    assert low < g.current_rpm == pytest.approx(ceiling)
    for _ in range(int(g.forget_after / g.increase_every) + 30):
        ft.now += g.increase_every
        for _ in range(g.increase_after):
            g.on_success()
    assert g.current_rpm == pytest.approx(start), "the limit may have been raised meanwhile"


def test_the_floor() -> None:
    g, _ = gate(60)
    for _ in range(50):
        g.on_rate_limited()
    assert g.current_rpm == pytest.approx(1.0)


# --- jitter and announced limits ----------------------------------------------------------------


def test_round_trips_spread_over_a_second_leave_room_for_the_bunching() -> None:
    # 1 s +- 0.5 s on the way: a window of 60 requests at 10 a second (6 s) always fits 6/7
    # of it, and independent delays 0.877 (3.75 deviations of the window's count kept free).
    g, ft = gate(600)
    for n in range(101):
        sent = ft.now
        ft.now += 0.5 + n / 100
        g.on_answer(sent_at=sent)
    assert g.jitter == pytest.approx(1.0, rel=0.03)
    assert g.current_rpm == pytest.approx(600 * 0.877, rel=0.01)
    assert g.current_rpm > 600 * 6 / 7


def test_an_announced_limit_lower_than_the_cap_is_obeyed_with_its_own_window() -> None:
    g, _ = gate(2400)
    g.on_answer(sent_at=g._clock(), announced=Announced(quota=10, window=1.0))
    assert g.announced_rpm == 600 and g.limit_rpm == 600
    assert g.window(600) == 1.0
    higher, _ = gate(300)
    higher.on_answer(sent_at=0, announced=Announced(quota=60, window=6.0))
    assert higher.limit_rpm == 300, "a user's --rpm is a cap"


def test_a_budget_without_a_policy_holds_requests_until_it_frees_up() -> None:
    g, _ = gate(600)
    g.sent = 12
    g.on_answer(sent_at=0, seq=10, announced=Announced(remaining=2, reset=7.0))
    assert g.paused_for == pytest.approx(7.0), "the two left are spoken for by #11 and #12"
    other, _ = gate(600)
    other.sent = 12
    other.on_answer(sent_at=0, seq=12, announced=Announced(remaining=2, reset=7.0))
    assert other.paused_for == 0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"RateLimit-Policy": '"writes";q=60;w=60', "RateLimit": '"writes";r=12;t=30'},
            Announced(60, 60.0, 12, 30.0),
        ),
        (  # two policies: the tighter one a minute, with its own budget
            {
                "RateLimit-Policy": '"burst";q=100;w=60, "day";q=1000;w=86400',
                "RateLimit": '"burst";r=50;t=5, "day";r=7;t=3000',
            },
            Announced(1000, 86400.0, 7, 3000.0),
        ),
        ({"RateLimit": "limit=60, remaining=0, reset=12"}, Announced(60, None, 0, 12.0)),
        (
            {"RateLimit-Limit": "100", "RateLimit-Remaining": "3", "RateLimit-Reset": "9"},
            Announced(100, None, 3, 9.0),
        ),
        (
            {
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": "4",
                "X-RateLimit-Reset": "1060",
            },
            Announced(5000, None, 4, 1060.0),
        ),
        (
            {"X-RateLimit-Remaining": "4", "X-RateLimit-Reset": "2000000060"},
            Announced(None, None, 4, 60.0),
        ),
        ({"RateLimit-Policy": "garbage;q=x", "X-RateLimit-Remaining": "-3"}, Announced()),
    ],
)
def test_announced_limits_are_read_in_each_spelling(
    headers: dict[str, str], expected: Announced
) -> None:
    assert parse_announced(httpx.Headers(headers), now=2_000_000_000) == expected


# --- auto -----------------------------------------------------------------------------------


def test_auto_starts_safe_and_doubles_until_the_first_429() -> None:
    g, ft = gate(None)
    assert g.auto and g.current_rpm == 60
    for expected in (120, 240, 480):
        g.on_success(sent_at=ft.now)
        assert g.current_rpm == expected
    g.on_success(sent_at=ft.now - 1)  # sent before the last doubling: says nothing new
    assert g.current_rpm == 480
    for _ in range(30):
        ft.now += 0.05
        g.on_success(sent_at=ft.now)
    g.on_rate_limited(sent_at=ft.now, retry_after=3)
    assert g.found_rpm == pytest.approx(34 * 60 / (1.5 + 3), rel=0.01)
    assert g.current_rpm < g.found_rpm


# --- the goals, on virtual time against the emulator's own windows ------------------------------


@pytest.mark.parametrize(
    ("case", "options", "efficiency", "share_429"),
    [
        ("right rpm, 60-request window", {}, 0.95, 0.01),
        ("right rpm, 10-request window", {"window_requests": 10}, 0.85, 0.02),
        ("rpm twice too high", {"rpm_factor": 2}, 0.90, 0.05),
        ("latency 1 s +- 0.5 s", {"latency": 1.0, "concurrency": 16}, 0.85, 0.02),
        ("announced, rpm 4x too high", {"rpm_factor": 4, "announce": True}, 0.95, 0.01),
        ("rpm auto, unannounced", {"rpm": "auto"}, 0.85, 0.05),
        ("fixed window", {"kind": "fixed"}, 0.95, 0.01),
        (
            "rpm twice too high, 10-request window",
            {"rpm_factor": 2, "window_requests": 10},
            0.75,
            0.05,
        ),
        ("retry-after-ms, rpm twice too high", {"rpm_factor": 2, "retry_after": "ms"}, 0.90, 0.05),
    ],
)
def test_the_gate_uses_the_limit_it_meets(
    case: str, options: dict[str, Any], efficiency: float, share_429: float
) -> None:
    """300 creates at 10 a second, latency before the count (100 ms +- 50 ms unless said)."""
    for seed in (1, 2):
        paced = pace(seed=seed, **options)
        assert paced.made == 300 and len(paced.api.created) == 300, "each row created once"
        assert paced.api.efficiency() >= efficiency, (case, seed, paced.api.efficiency())
        assert paced.share_429 < share_429, (case, seed, paced.api.refused)


def test_a_concurrency_too_low_for_the_latency_is_named_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="pipeline.argil.gate")
    paced = pace(rows=60, latency=1.0, jitter=0.0, concurrency=2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "writes: 2 requests in flight hold the rate under 594 a minute (answers take up to "
        "1.0 s); --concurrency 12 would not"
    ]
    assert paced.made == 60
    caplog.clear()
    pace(rows=60, latency=1.0, jitter=0.0, concurrency=12)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
