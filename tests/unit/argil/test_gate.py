"""The rate gate (``pipeline.argil.gate``), on a fake or a virtual clock (nothing sleeps).

Through ``ArgilClient``: reads apart from writes, announced limits, ``--rpm auto`` and how a 429
is taken. Closing it: what waits for its turn leaves unsent, at once. Its rules at their edges:
what it refuses, its defaults, the exact moments a quiet stretch climbs, a repeated 429 cuts
deeper, an estimate is taken or a refused rate is forgotten, and the pace itself.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import time
from typing import Any

import httpx
import pytest
from adverse_api import pace
from virtual_time import VirtualTimeLoop, run_virtual

from pipeline.argil.client import MIN_READ_CONCURRENCY, ArgilClient, NotSent, RateLimited
from pipeline.argil.gate import GateClosed, RateGate
from pipeline.argil.limit_headers import Announced
from pipeline.emulator.ratelimit import Budget, Limiter

from .test_client import VIDEO, FakeTime, make_client


def gate(rpm: float | None = 600, now: float = 1024.0, **kwargs: Any) -> tuple[RateGate, FakeTime]:
    ft = FakeTime()
    ft.now = now
    return RateGate(rpm, 4, clock=ft.clock, sleep=ft.sleep, **kwargs), ft


def quiet(g: RateGate, ft: FakeTime, answers: int) -> None:
    for _ in range(answers):
        g.on_success()


# --- through the client --------------------------------------------------------------------------


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
                *(client.get_video(str(n)) for n in range(MIN_READ_CONCURRENCY + 5)),
                *(client.create_video({"name": "x"}) for _ in range(3)),
            )
        return times["GET"][-1] - times["GET"][0], times["POST"][-1] - times["POST"][0]

    reads, writes = asyncio.run(go())
    # The first reads leave together (a run's first round trip), the five after them at
    # intervals of 10 ms; the writes at two of 100 ms, less the headroom. The reads did not
    # queue behind the writes.
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


# --- how a 429 is taken --------------------------------------------------------------------------


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


# --- jitter and announced limits -----------------------------------------------------------------


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


# --- auto ----------------------------------------------------------------------------------------


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


# --- the goals, on virtual time against the emulator's own windows -------------------------------


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


# --- closed --------------------------------------------------------------------------------------
# A stopping run closes the write gate. The waits here are long on purpose (a turn every 10 s, a
# 30 s pause): were the gate's naps not cut short by the close, each test would hang on them,
# and ``wait_for`` would fail it.

IDLE_VIDEO = {"id": "vid-1", "name": "v", "status": "IDLE"}


async def _turn(gate: RateGate) -> int:
    async with gate as seq:
        return seq


def test_closing_the_gate_sends_the_waiters_away_unsent() -> None:
    async def go() -> None:
        gate = RateGate(6, 4)  # one request every 10 s
        assert await _turn(gate) == 1  # the first leaves at once
        waiters = [asyncio.create_task(_turn(gate)) for _ in range(3)]
        await asyncio.sleep(0.01)  # every waiter is now at the gate, for 10 s or more
        assert not any(w.done() for w in waiters)
        gate.close()
        results = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), 2)
        assert [type(r) for r in results] == [GateClosed] * 3
        assert gate.closed and gate.sent == 1
        with pytest.raises(GateClosed):  # and nothing after the close either
            await asyncio.wait_for(_turn(gate), 2)

    asyncio.run(go())


def test_closing_cuts_a_429_pause_short() -> None:
    async def go() -> None:
        gate = RateGate(600, 2)
        gate.pause(30.0)
        waiter = asyncio.create_task(_turn(gate))
        await asyncio.sleep(0.01)
        gate.close()
        with pytest.raises(GateClosed):
            await asyncio.wait_for(waiter, 2)
        assert gate.sent == 0

    asyncio.run(go())


def test_a_create_waiting_at_a_closed_gate_is_not_sent() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(201, json=IDLE_VIDEO)

    async def go() -> None:
        client = ArgilClient(
            "k", "https://api.example.test/v1", rpm=60, transport=httpx.MockTransport(handler)
        )
        async with client:
            await client.create_video({"name": "first"})
            second = asyncio.create_task(client.create_video({"name": "second"}))
            await asyncio.sleep(0.01)
            client.gate.close()
            with pytest.raises(NotSent) as refused:
                await asyncio.wait_for(second, 2)
            assert refused.value.message == "POST /videos was not sent: the run is stopping"
            # Reads go on: a stopping run still looks up what it may have sent.
            await client.get_video("vid-1")

    asyncio.run(go())
    assert seen == ["/v1/videos", "/v1/videos/vid-1"]


# --- the rules at their edges: what it refuses ---------------------------------------------------


@pytest.mark.parametrize("rpm", [0, -1, math.inf, math.nan])
def test_an_rpm_that_is_not_a_positive_number_is_refused(rpm: float) -> None:
    with pytest.raises(ValueError, match=r"^rpm must be a positive number$"):
        RateGate(rpm, 1)


def test_a_concurrency_under_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^concurrency must be at least 1$"):
        RateGate(60, 0)
    assert RateGate(60, 1).concurrency == 1


@pytest.mark.parametrize("step", [0.0, 0.5, -0.1, 1.0])
def test_a_step_outside_zero_to_a_half_is_refused(step: float) -> None:
    with pytest.raises(ValueError, match=r"^step must be in \(0, 0.5\)$"):
        RateGate(60, 1, step=step)


def test_steps_just_inside_the_bounds_are_taken() -> None:
    assert RateGate(60, 1, step=0.49).step == 0.49
    assert RateGate(60, 1, step=0.001).step == 0.001
    assert RateGate(0.5, 1).rpm == 0.5


# --- the defaults, as a caller meets them --------------------------------------------------------


def test_by_default_the_gate_names_the_writes_in_its_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pipeline.argil.gate")
    g, _ = gate()
    g.on_rate_limited(retry_after=1)
    assert [r.getMessage() for r in caplog.records] == [
        "writes rate lowered from 594.0 to 546.5 rpm"
    ]
    assert g.name == "writes"


def test_a_climb_is_logged_as_raised(caplog: pytest.LogCaptureFixture) -> None:
    g, ft = gate(name="reads")
    g.on_rate_limited(retry_after=1)
    ft.now += 2
    g.on_rate_limited(retry_after=1)
    caplog.set_level(logging.INFO, logger="pipeline.argil.gate")
    ft.now += 5
    quiet(g, ft, 20)
    assert [r.getMessage() for r in caplog.records] == ["reads rate raised from 459.0 to 480.9 rpm"]


def test_a_pause_is_logged_with_its_length(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pipeline.argil.gate")
    g, _ = gate(name="reads")
    g.pause(0.25)
    assert [r.getMessage() for r in caplog.records] == ["reads gate paused for 0.25 s"]


def test_a_change_under_a_thousandth_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    # Doubling from the cap's headroom back to itself: the pace does not move.
    caplog.set_level(logging.INFO, logger="pipeline.argil.gate")
    g, ft = gate(None)
    for _ in range(30):
        g.on_success(sent_at=ft.now)
    assert g.current_rpm == 600_000
    caplog.clear()
    g.on_success(sent_at=ft.now)
    assert caplog.records == []


def test_auto_starts_at_sixty_a_minute_and_never_passes_the_ceiling() -> None:
    g, ft = gate(None)
    assert g.current_rpm == 60.0 and g.limit_rpm is None
    rates = []
    for _ in range(20):
        g.on_success(sent_at=ft.now)
        rates.append(g.current_rpm)
    assert rates[:3] == [120, 240, 480]
    assert max(rates) == rates[-1] == 600_000
    started, _ = gate(None, start_rpm=10)
    assert started.current_rpm == 10


def test_the_floor_is_one_a_minute_by_default_and_can_be_set() -> None:
    g, _ = gate(60)
    for _ in range(60):
        g.on_rate_limited()
    assert g.current_rpm == 1.0
    higher, _ = gate(60, min_rpm=5)
    for _ in range(60):
        higher.on_rate_limited()
    assert higher.current_rpm == 5.0


def test_even_without_jitter_the_pace_keeps_a_hundredth_under_the_limit() -> None:
    assert gate(600)[0].current_rpm == pytest.approx(594)
    assert gate(600, max_headroom=0.9)[0].current_rpm == pytest.approx(540)
    assert gate(600, max_headroom=1.0)[0].current_rpm == pytest.approx(600)


# --- 429s: the step, the repeat, the estimate ----------------------------------------------------


def test_a_429_exactly_the_repeat_time_after_the_last_is_lone_again() -> None:
    g, ft = gate()
    g.on_rate_limited(retry_after=1)
    first = g.current_rpm
    ft.now += 10.0
    g.on_rate_limited(retry_after=1)
    assert g.current_rpm == pytest.approx(first * 0.92)
    ft.now += 9.5
    g.on_rate_limited(retry_after=1)
    assert g.current_rpm == pytest.approx(first * 0.92 * 0.84)


def test_the_repeat_time_and_step_can_be_set() -> None:
    g, ft = gate(step=0.1, repeat_within=3.0)
    start = g.current_rpm
    g.on_rate_limited()
    assert g.current_rpm == pytest.approx(start * 0.9)
    ft.now += 3.0
    g.on_rate_limited()
    assert g.current_rpm == pytest.approx(start * 0.9 * 0.9), "3 s apart: lone"
    ft.now += 2.5
    g.on_rate_limited()
    assert g.current_rpm == pytest.approx(start * 0.9 * 0.9 * 0.8)


def overloaded(retry_after: float, **kwargs: Any) -> RateGate:
    """--rpm 2400 against a limit of about 600: 60 answers in 1.5 s, then a 429."""
    g, ft = gate(2400, **kwargs)
    for _ in range(60):
        ft.now += 0.025
        g.on_success()
    g.on_rate_limited(retry_after=retry_after)
    return g


def test_a_wait_of_exactly_two_seconds_is_an_overload_and_gives_the_estimate() -> None:
    g = overloaded(2.0)
    estimate = 60 * 60 / (1.475 + 2.0)
    assert g.limit_rpm == pytest.approx(estimate)
    assert g.current_rpm == pytest.approx(estimate * 0.99)


def test_a_shorter_wait_is_a_lone_429_that_costs_a_step() -> None:
    g = overloaded(1.5)
    assert g.limit_rpm == 2400
    assert g.current_rpm == pytest.approx(2400 * 0.99 * 0.92)


def test_the_overload_threshold_can_be_set() -> None:
    g = overloaded(1.5, overload_after=1.5)
    assert g.limit_rpm == pytest.approx(60 * 60 / (1.475 + 1.5))


def test_a_repeated_429_does_not_cut_below_what_went_through() -> None:
    g, ft = gate(2400)
    g.on_rate_limited(retry_after=1)
    first = g.current_rpm
    assert first == pytest.approx(2376 * 0.92)
    for _ in range(40):
        ft.now += 0.005
        g.on_success()
    g.on_rate_limited(retry_after=1)
    through = 40 * 60 / (0.195 + 1)
    assert first * 0.84 < through < first
    assert g.current_rpm == pytest.approx(through)
    assert g.limit_rpm == 2400, "a short wait gives no estimate of the limit"


def test_a_repeated_429_with_too_few_answers_cuts_its_full_step() -> None:
    g, ft = gate(2400)
    g.on_rate_limited(retry_after=1)
    first = g.current_rpm
    for _ in range(4):
        ft.now += 0.005
        g.on_success()
    g.on_rate_limited(retry_after=1)
    assert g.current_rpm == pytest.approx(first * 0.84), "four answers say nothing"


def test_answers_before_a_429_do_not_count_towards_the_next_estimate() -> None:
    g, ft = gate(2400)
    for _ in range(60):
        ft.now += 0.025
        g.on_success()
    g.on_rate_limited(retry_after=1)
    ft.now += 20
    g.on_rate_limited(retry_after=5)
    assert g.limit_rpm == 2400, "the 60 answers went before the first 429"


def test_answers_older_than_a_minute_do_not_count_towards_the_estimate() -> None:
    g, ft = gate(2400)
    for _ in range(10):
        g.on_success()
    ft.now += 61
    for _ in range(6):
        ft.now += 0.5
        g.on_success()
    g.on_rate_limited(retry_after=3)
    assert g.limit_rpm == pytest.approx(6 * 60 / (2.5 + 3))


def test_a_429_removes_its_request_from_the_window() -> None:
    async def main(loop: VirtualTimeLoop) -> tuple[int, int]:
        g = RateGate(60, 4, clock=loop.time, window_requests=3, max_headroom=1.0)
        for _ in range(2):
            async with g as seq:
                pass
        before = len(g._sends)
        g.on_rate_limited(seq=seq)
        g.on_rate_limited(seq=99)
        return before, len(g._sends)

    assert run_virtual(main) == (2, 1)


# --- climbing back -------------------------------------------------------------------------------


def twice_refused(**kwargs: Any) -> tuple[RateGate, FakeTime]:
    g, ft = gate(**kwargs)
    g.on_rate_limited(retry_after=1)
    g.on_rate_limited(retry_after=1)
    return g, ft


def test_a_quiet_stretch_is_twenty_answers_and_five_seconds() -> None:
    g, ft = twice_refused()
    low = g.current_rpm
    ft.now += 5.0
    quiet(g, ft, 19)
    assert g.current_rpm == low, "19 answers"
    quiet(g, ft, 1)
    assert g.current_rpm > low
    climbed = g.current_rpm
    ft.now += 4.75
    quiet(g, ft, 40)
    assert g.current_rpm == climbed, "under five seconds"
    ft.now += 0.25
    quiet(g, ft, 1)
    assert g.current_rpm > climbed
    again = g.current_rpm
    ft.now += 5
    quiet(g, ft, 19)
    assert g.current_rpm == again, "the count starts over after each climb"
    quiet(g, ft, 1)
    assert g.current_rpm > again


def test_the_quiet_stretch_can_be_set() -> None:
    g, ft = twice_refused(increase_after=3, increase_every=1.0)
    low = g.current_rpm
    ft.now += 1.0
    quiet(g, ft, 2)
    assert g.current_rpm == low
    quiet(g, ft, 1)
    assert g.current_rpm > low


def test_a_429_starts_the_quiet_stretch_over() -> None:
    g, ft = twice_refused()
    ft.now += 5
    quiet(g, ft, 19)
    ft.now += 20
    g.on_rate_limited(sent_at=0, retry_after=1)  # sent before the last step: no new step
    low = g.current_rpm
    quiet(g, ft, 19)
    assert g.current_rpm == low, "the count starts again at the 429"
    ft.now += 4.5
    quiet(g, ft, 1)
    assert g.current_rpm == low, "and so does the time"


def test_far_below_it_climbs_half_way_then_by_two_percent() -> None:
    g, ft = twice_refused()
    start = 594.0
    ceiling = start * 0.92 * 0.92
    rate = start * 0.92 * 0.84
    expected = []
    for _ in range(4):
        rate = min(ceiling, max(rate * 1.02, (rate + ceiling) / 2))
        expected.append(rate)
    climbs = []
    for _ in range(4):
        ft.now += 5
        quiet(g, ft, 20)
        climbs.append(g.current_rpm)
    assert climbs == pytest.approx(expected)
    # Half-way twice, then the 2% step is the bigger one, then the ceiling.
    assert climbs[1] == pytest.approx((climbs[0] + ceiling) / 2)
    assert climbs[2] == pytest.approx(climbs[1] * 1.02)
    assert climbs[3] == pytest.approx(ceiling)


def test_the_climb_step_can_be_set() -> None:
    g, ft = twice_refused(increase=0.5)
    low = g.current_rpm
    ft.now += 5
    quiet(g, ft, 20)
    assert g.current_rpm == pytest.approx(594 * 0.92 * 0.92), "capped by the refused rate"
    assert g.current_rpm > low


def test_the_refused_rate_is_forgotten_exactly_after_five_minutes() -> None:
    refused_at = 1024.0
    g, ft = twice_refused()
    ceiling = 594 * 0.92 * 0.92
    ft.now = refused_at + 294.5
    quiet(g, ft, 20)
    ft.now = refused_at + 299.5
    quiet(g, ft, 20)
    assert g.current_rpm < ceiling, "not yet forgotten: still under the refused rate"
    h, ft = twice_refused()
    ft.now = refused_at + 295
    quiet(h, ft, 20)
    ft.now = refused_at + 300
    quiet(h, ft, 20)
    assert h.current_rpm == pytest.approx(594), "back to the limit's headroom"


def test_forgetting_also_forgets_the_repeats() -> None:
    g, ft = twice_refused(forget_after=10.0)
    ft.now += 10
    quiet(g, ft, 20)
    assert g.current_rpm == pytest.approx(594)
    g.on_rate_limited()
    assert g.current_rpm == pytest.approx(594 * 0.92), "a lone 429 again"


def test_without_a_429_there_is_nothing_to_climb_to() -> None:
    g, ft = gate(600)
    ft.now += 5
    quiet(g, ft, 20)
    assert g.current_rpm == pytest.approx(594)


def test_a_lone_429_is_forgotten_after_a_quiet_window() -> None:
    # At Argil's 60 a minute (a window of 60 s), one 429 (someone else's requests filled the
    # window) once held the rate a step under the limit for five minutes: a whole re-run.
    g, ft = gate(60)
    refused_at = ft.now
    g.on_rate_limited(retry_after=1)
    low = g.current_rpm
    assert low == pytest.approx(59.4 * 0.92)
    ft.now = refused_at + 55
    quiet(g, ft, 20)
    assert g.current_rpm == low, "within the window: no climb past the refused rate"
    ft.now = refused_at + 60
    quiet(g, ft, 20)
    assert g.current_rpm == pytest.approx(59.4), "a quiet window later: back to the limit"


def test_a_lone_429_is_remembered_a_minute_however_short_the_window() -> None:
    # 600 a minute: a window of 6 s. Climbing back is a probe that may meet the next 429;
    # once a minute at most keeps what that costs small.
    for forget_lone_after, back in ((60.0, 60.0), (20.0, 20.0), (2.0, 6.0)):
        g, ft = gate(600, forget_lone_after=forget_lone_after)
        refused_at = ft.now
        g.on_rate_limited(retry_after=1)
        low = g.current_rpm
        ft.now = refused_at + back - 5  # the last quiet stretch before
        quiet(g, ft, 20)
        assert g.current_rpm == low, forget_lone_after
        ft.now = refused_at + back
        quiet(g, ft, 20)
        assert g.current_rpm == pytest.approx(594), forget_lone_after


def test_a_second_lone_429_within_five_minutes_is_remembered_five_minutes() -> None:
    g, ft = gate(60)
    g.on_rate_limited(retry_after=1)
    ft.now += 60
    quiet(g, ft, 20)
    assert g.current_rpm == pytest.approx(59.4)
    ft.now += 60
    g.on_rate_limited(retry_after=1)  # the limit is lower after all
    again = ft.now
    ft.now = again + 295
    quiet(g, ft, 20)
    assert g.current_rpm == pytest.approx(59.4 * 0.92)
    ft.now = again + 300
    quiet(g, ft, 20)
    assert g.current_rpm == pytest.approx(59.4)


def test_a_lone_429_does_not_shorten_what_a_repeated_one_left() -> None:
    g, ft = twice_refused()
    refused_at = ft.now
    ft.now += 60
    g.on_rate_limited(retry_after=1)  # lone, 60 s after the others
    low = g.current_rpm
    ft.now = refused_at + 295
    quiet(g, ft, 20)
    assert g.current_rpm <= low * 1.02 * 1.02
    assert g.current_rpm < 594 * 0.92, "still a step under the rate refused twice"


def test_a_429_while_the_last_runs_requests_fill_the_window_costs_no_step() -> None:
    # A re-run at 60 a minute, 1 s after the last run's last request: the window (60 s) holds
    # that run's requests for another 59 s. A 429 there says they filled it, not that this
    # run's pace is too fast: it costs its pause, which the client takes, and nothing more.
    g, ft = gate(60, prior_sends=[1024 - 30.0, 1024 - 1.0])
    g.on_rate_limited(retry_after=1)
    assert g.current_rpm == pytest.approx(59.4)
    ft.now = 1024 - 1.0 + 59.5
    g.on_rate_limited(retry_after=1)
    assert g.current_rpm == pytest.approx(59.4), "the last of them still in the window"
    ft.now = 1024 - 1.0 + 60
    g.on_rate_limited(retry_after=1)
    assert g.current_rpm == pytest.approx(59.4 * 0.92), "gone: a 429 is this run's again"


def test_auto_probes_a_step_above_its_estimate() -> None:
    g, ft = gate(None)
    for _ in range(4):
        g.on_success(sent_at=ft.now)
    assert g.current_rpm == 960
    for _ in range(60):
        ft.now += 0.025
        g.on_success(sent_at=ft.now)
    g.on_rate_limited(sent_at=ft.now, retry_after=4.5)
    estimate = 64 * 60 / (1.5 + 4.5)  # every answer of the last 1.5 s, and the wait
    assert g.found_rpm == pytest.approx(estimate)
    assert g.current_rpm == pytest.approx(estimate * 0.99)
    for _ in range(8):
        ft.now += 5
        quiet(g, ft, 20)
    assert g.found_rpm == pytest.approx(estimate * 1.08), "a step above the estimate, no more"
    assert g.current_rpm == pytest.approx(g.found_rpm * 0.99)


# --- auto's report -------------------------------------------------------------------------------


def test_auto_before_any_429_reports_what_went_through() -> None:
    g, ft = gate(None)
    assert g.found_rpm is None
    g.on_success(sent_at=0)
    assert g.found_rpm is None, "one answer is no rate"
    g.on_success(sent_at=0)
    assert g.found_rpm is None, "two at once: no span"
    for _ in range(10):
        ft.now += 0.5
        g.on_success(sent_at=0)
    assert g.found_rpm == pytest.approx(11 * 60 / 5)
    ft.now += 60.25
    for _ in range(2):
        ft.now += 0.5
        g.on_success(sent_at=0)
    assert g.found_rpm == pytest.approx(120), "a minute back at most"


def test_auto_reports_the_announced_limit() -> None:
    g, _ = gate(None)
    g.on_answer(sent_at=g._clock(), announced=Announced(quota=30, window=10.0))
    assert g.found_rpm == 180 and g.limit_rpm == 180
    assert g.current_rpm == 60, "the ramp goes on from where it is"
    for _ in range(3):
        g.on_success(sent_at=g._clock())
    assert g.current_rpm == pytest.approx(180 * 0.99), "up to the announced limit, no further"


def test_auto_after_a_wrong_step_reports_the_rate_that_held() -> None:
    g, ft = gate(None)
    g.on_rate_limited()  # at 60 a minute, no estimate: 55.2
    for _ in range(5):
        ft.now += 5
        quiet(g, ft, 20)
    assert g.found_rpm == pytest.approx(g.current_rpm)


def test_the_ramp_restarts_from_twice_what_went_through() -> None:
    g, ft = gate(None)
    for _ in range(12):
        g.on_success(sent_at=ft.now)
    assert g.current_rpm == 245_760
    for _ in range(10):
        ft.now += 0.1
        g.on_success(sent_at=0)
    # A short wait: no estimate of the limit, but the ramp ran far ahead of 10 a second.
    g.on_rate_limited(sent_at=ft.now, retry_after=1)
    through = 22 * 60 / (1.0 + 1)  # the 22 answers over the last second, and the wait
    assert g.current_rpm == pytest.approx(2 * through * 0.92)


def test_a_429_to_a_request_sent_before_the_ramp_doubled_still_ends_the_ramp() -> None:
    g, ft = gate(None)
    g.on_success(sent_at=ft.now)
    ft.now += 1
    g.on_rate_limited(sent_at=0)
    assert g.current_rpm == pytest.approx(120 * 0.92)
    g.on_success(sent_at=ft.now)
    assert g.current_rpm == pytest.approx(120 * 0.92), "no doubling after a 429"


# --- jitter, window, headroom --------------------------------------------------------------------


def test_under_five_round_trips_say_nothing_of_the_jitter() -> None:
    g, ft = gate()
    for n in range(4):
        g.on_answer(sent_at=ft.now - n)
    assert g.jitter == 0.0
    g.on_answer(sent_at=ft.now - 4)
    # Five samples spread over 4 s: the range, widened by 6/4.
    assert g.jitter == pytest.approx(4 * 6 / 4)


def test_a_few_round_trips_give_their_range_widened() -> None:
    g, ft = gate()
    for n in range(19):
        g.on_answer(sent_at=ft.now - n / 18)
    assert g.jitter == pytest.approx(20 / 18)


def test_twenty_round_trips_give_the_spread_of_their_middle() -> None:
    g, ft = gate()
    for n in range(20):
        g.on_answer(sent_at=ft.now - (100 if n == 19 else n / 10))
    # 10th and 90th percentile of 0.0 .. 1.8 and one answer held up 100 s: 0.2 and 1.7.
    assert g.jitter == pytest.approx((1.7 - 0.2) / 0.8)


def test_an_answer_from_the_future_counts_as_no_time() -> None:
    g, ft = gate()
    for n in range(5):
        g.on_answer(sent_at=ft.now + 10 if n == 0 else ft.now - n)
    assert g.jitter == pytest.approx(4 * 6 / 4)


def test_only_the_last_two_hundred_round_trips_count() -> None:
    g, ft = gate()
    for _ in range(50):
        g.on_answer(sent_at=ft.now - 30)
    for n in range(200):
        g.on_answer(sent_at=ft.now - (n % 2))
    assert g.jitter == pytest.approx(1 / 0.8)


def test_the_window_is_announced_or_assumed_from_the_limit() -> None:
    g, _ = gate(600)
    assert g.window(600) == 6.0 and g.window(60) == 60.0
    assert gate(600, window_requests=10)[0].window(600) == 1.0
    g.on_answer(sent_at=g._clock(), announced=Announced(quota=100, window=20.0))
    assert g.window(60) == 20.0
    h, _ = gate(600)
    h.on_answer(sent_at=h._clock(), announced=Announced(quota=100, remaining=5))
    assert h.announced_rpm is None and h.window(600) == 6.0, "a quota without a window"


def spread(g: RateGate, ft: FakeTime, jitter: float) -> None:
    """Five round trips spread so that the gate reckons ``jitter`` seconds."""
    for n in range(5):
        g.on_answer(sent_at=ft.now - n * jitter / 6)
    assert g.jitter == pytest.approx(jitter)


def statistical(limit_rpm: float, window: float, jitter: float) -> float:
    """h with h Q + 3.75 sqrt(h R L / 3) = Q - 1, solved numerically (not as the gate does)."""
    quota, per_second = limit_rpm / 60 * window, limit_rpm / 60
    low, high = 0.0, 1.0
    for _ in range(60):
        h = (low + high) / 2
        fits = h * quota + 3.75 * math.sqrt(h * per_second * jitter / 3) <= quota - 1
        low, high = (h, high) if fits else (low, h)
    return low


def test_headroom_of_a_window_of_many_requests_is_the_statistical_bound() -> None:
    # 60 requests in 6 s, 3 s of jitter: 6/10.5 always fits, independent delays about 0.806.
    g, ft = gate(600)
    spread(g, ft, 3.0)
    assert g.headroom(600) == pytest.approx(statistical(600, 6, 3.0))
    assert g.headroom(600) == pytest.approx(0.806, abs=0.001)
    assert g.current_rpm == pytest.approx(600 * g.headroom(600))


def test_headroom_of_a_window_of_few_requests_is_the_window_over_window_and_jitter() -> None:
    # 10 requests in 1 s, 0.1 s of jitter: 1/1.15 (the worst case widens the jitter by half)
    # against a statistical 0.72.
    g, ft = gate(600, window_requests=10)
    spread(g, ft, 0.1)
    assert statistical(600, 1, 0.1) == pytest.approx(0.717, abs=0.001)
    assert g.headroom(600) == pytest.approx(1 / 1.15)
    assert g.current_rpm == pytest.approx(600 / 1.15)


def test_headroom_of_a_window_of_one_request_is_the_worst_case() -> None:
    # The statistical bound has nothing to keep free under a quota of one.
    g, ft = gate(60, window_requests=1)
    spread(g, ft, 0.5)
    assert g.headroom(60) == pytest.approx(1 / (1 + 1.5 * 0.5))


@pytest.mark.parametrize(
    ("window_requests", "jitter"), [(60, 1.0), (60, 3.0), (60, 0.1), (10, 0.1), (300, 3.0)]
)
def test_at_the_headroom_a_server_counting_jittered_arrivals_refuses_almost_nothing(
    window_requests: int, jitter: float
) -> None:
    # The emulator's own sliding window, fed the gate's even pace with uniform delays: at the
    # headroom at most one request in 20,000 is refused (20 runs of 3,000); 5% over it, many
    # times more are.
    limit = 600.0
    g, ft = gate(limit, window_requests=window_requests)
    spread(g, ft, jitter)
    budget = Budget.per_minute("writes", limit, g.window(limit))

    def refused(share: float, seed: int) -> int:
        rnd = random.Random(seed)
        interval = 60 / (limit * share)
        arrivals = sorted(n * interval + rnd.uniform(0, jitter) for n in range(3000))
        limiter = Limiter(budget)
        return sum(not limiter.take("key", t).allowed for t in arrivals)

    at = g.headroom(limit)
    at_headroom = sum(refused(at, seed) for seed in range(20))
    over = sum(refused(min(1.0, at * 1.05), seed) for seed in range(20))
    assert at_headroom <= 3
    assert over > 5 and over > 3 * at_headroom


# --- announced limits and budgets ----------------------------------------------------------------


def test_an_empty_announcement_changes_nothing() -> None:
    g, _ = gate(600)
    g.on_answer(sent_at=g._clock(), announced=Announced())
    assert g.announced_rpm is None and g.limit_rpm == 600


def test_a_later_policy_replaces_the_first() -> None:
    g, _ = gate(6000)
    g.on_answer(sent_at=g._clock(), announced=Announced(quota=10, window=1.0))
    g.on_answer(sent_at=g._clock(), announced=Announced(quota=20, window=1.0))
    assert g.limit_rpm == 1200
    g.on_answer(sent_at=g._clock(), announced=Announced(remaining=0, reset=3.0))
    assert g.limit_rpm == 1200 and g.paused_for == 0, "a policy known: the pace keeps to it"


@pytest.mark.parametrize(
    ("remaining", "seq", "paused"),
    [(0, None, 7.0), (1, None, 0.0), (1, 11, 7.0), (2, 11, 0.0), (2, 10, 7.0), (3, 10, 0.0)],
)
def test_the_budget_left_less_those_sent_since(
    remaining: int, seq: int | None, paused: float
) -> None:
    g, _ = gate(600)
    g.sent = 12
    g.on_answer(sent_at=0, seq=seq, announced=Announced(remaining=remaining, reset=7.0))
    assert g.paused_for == pytest.approx(paused)


def test_a_budget_without_a_reset_holds_nothing() -> None:
    g, _ = gate(600)
    g.on_answer(sent_at=0, announced=Announced(remaining=0))
    assert g.paused_for == 0


# --- the pause -----------------------------------------------------------------------------------


def test_a_pause_under_a_second_holds_every_worker_for_exactly_that() -> None:
    g, ft = gate()
    g.pause(0.4)
    assert g.paused_for == pytest.approx(0.4)
    ft.now += 0.1
    assert g.paused_for == pytest.approx(0.3)
    g.pause(0.1)
    assert g.paused_for == pytest.approx(0.3), "a shorter pause does not cut the longer"
    g.pause(0.5)
    assert g.paused_for == pytest.approx(0.5)
    ft.now += 1
    assert g.paused_for == 0.0


@pytest.mark.parametrize("seconds", [0.0, -1.0, math.nan])
def test_no_pause_for_nothing(seconds: float) -> None:
    g, _ = gate()
    g.pause(seconds)
    assert g.paused_for == 0.0


def test_workers_wait_out_the_pause_on_the_injected_clock() -> None:
    async def main() -> list[float]:
        ft = FakeTime()
        g = RateGate(6000, 2, clock=ft.clock, sleep=ft.sleep)
        g.pause(0.75)
        async with g:
            pass
        return ft.waits()

    assert asyncio.run(main()) == [pytest.approx(0.75)]


# --- the pace on the event loop ------------------------------------------------------------------


def departures(g: RateGate, workers: int, requests: int) -> list[float]:
    async def main(loop: VirtualTimeLoop) -> list[float]:
        times: list[float] = []
        queue = list(range(requests))

        async def worker() -> None:
            while queue:
                queue.pop()
                async with g:
                    times.append(loop.time())
                    await asyncio.sleep(0.01)

        await asyncio.gather(*(worker() for _ in range(workers)))
        return times

    return run_virtual(main)


def test_requests_leave_evenly_at_the_pace() -> None:
    times = departures(RateGate(600, 4), 4, 6)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] == pytest.approx(0, abs=1e-3), "the first leaves at once"
    assert gaps == pytest.approx([60 / 594] * 5, rel=1e-3)


def test_the_pace_holds_whatever_the_loops_clock_reads() -> None:
    # A real loop's clock reads the machine's uptime, not 0: the turns are reckoned from the
    # last one, never from the clock's origin.
    async def main(loop: VirtualTimeLoop) -> list[float]:
        await asyncio.sleep(5000)
        g = RateGate(600, 4)
        times: list[float] = []

        async def one() -> None:
            async with g:
                times.append(loop.time())

        await asyncio.gather(*(one() for _ in range(4)))
        return times

    times = run_virtual(main)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] == pytest.approx(5000, abs=1e-3)
    assert gaps == pytest.approx([60 / 594] * 3, rel=1e-3)


def test_a_burst_leaves_together_and_the_pace_holds_after_it() -> None:
    times = departures(RateGate(600, 4, burst=3), 4, 6)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[:3] == pytest.approx([0, 0, 0], abs=1e-3), "the burst leaves at once"
    assert gaps[2:] == pytest.approx([60 / 594] * 3, rel=1e-3)


def test_a_burst_takes_at_most_half_of_the_window_assumed() -> None:
    times = departures(RateGate(600, 8, burst=8, window_requests=6), 8, 5)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[:3] == pytest.approx([0, 0, 0], abs=1e-3)
    assert gaps[2] == pytest.approx(60 / 594, rel=1e-3), "three of a six-request window"


def test_the_concurrency_caps_what_is_in_flight() -> None:
    async def main(loop: VirtualTimeLoop) -> int:
        g = RateGate(60_000, 2)
        busy = peak = 0

        async def one() -> None:
            nonlocal busy, peak
            async with g:
                busy += 1
                peak = max(peak, busy)
                await asyncio.sleep(1)
                busy -= 1

        await asyncio.gather(*(one() for _ in range(6)))
        return peak

    assert run_virtual(main) == 2


def test_sequence_numbers_count_the_requests_sent() -> None:
    async def main(loop: VirtualTimeLoop) -> list[int]:
        g = RateGate(6000, 2)
        seqs = []
        for _ in range(3):
            async with g as seq:
                seqs.append(seq)
        return [*seqs, g.sent]

    assert run_virtual(main) == [1, 2, 3, 3]


def test_after_an_idle_spell_nothing_is_made_up() -> None:
    async def main(loop: VirtualTimeLoop) -> list[float]:
        g = RateGate(60, 1, max_headroom=1.0, window_requests=1000)
        times = []
        async with g:
            times.append(loop.time())
        await asyncio.sleep(10)
        for _ in range(2):
            async with g:
                times.append(loop.time())
        return times

    first, after_idle, next_one = run_virtual(main)
    assert after_idle == pytest.approx(first + 10, abs=1e-3)
    assert next_one == pytest.approx(after_idle + 1, abs=1e-3)


def test_a_late_turn_is_reckoned_from_when_it_was_due() -> None:
    async def main(loop: VirtualTimeLoop) -> list[float]:
        g = RateGate(60, 1, max_headroom=1.0, window_requests=1000)
        times = []
        async with g:
            times.append(loop.time())
        await asyncio.sleep(1.25)  # a quarter of an interval late
        for _ in range(2):
            async with g:
                times.append(loop.time())
        return times

    first, late, next_one = run_virtual(main)
    assert late == pytest.approx(first + 1.25, abs=1e-3)
    assert next_one == pytest.approx(first + 2, abs=1e-3), "due one interval after the last due"


def test_the_last_runs_requests_take_their_place_in_the_window() -> None:
    # Sixty sent over the last 2 s at a limit of 60 a minute: the window (60 s) has room for
    # 59 (at a headroom of 1). The first request waits for the oldest of them to leave, the
    # next ones for the pace and for room, as if the gate had sent them itself; their times
    # are on the gate's clock, whatever the event loop's.
    def departures(prior: list[float]) -> list[float]:
        async def main(loop: VirtualTimeLoop) -> list[float]:
            def clock() -> float:
                return loop.time() + 1000.0

            g = RateGate(
                60,
                1,
                clock=clock,
                max_headroom=1.0,
                prior_sends=[clock() + at for at in prior],
            )
            times = []
            for _ in range(3):
                async with g:
                    times.append(loop.time())
            return times

        return run_virtual(main)

    burst = [-2 + 2 * n / 59 for n in range(60)]
    assert departures(burst) == pytest.approx([58.0, 59.0, 60.0], abs=1e-3)
    # A few, a quarter of a second ago: the first leaves one interval after the last of them.
    assert departures([-0.75, -0.25]) == pytest.approx([0.75, 1.75, 2.75], abs=1e-3)
    assert departures([]) == pytest.approx([0.0, 1.0, 2.0], abs=1e-3)
    # A run of long ago holds nothing back.
    assert departures([-3000.0, -120.0]) == pytest.approx([0.0, 1.0, 2.0], abs=1e-3)


def test_an_announced_limit_paces_from_the_first_request_on() -> None:
    # 3 in 10 s, learnt from the first answer: the second request already keeps to it.
    async def main(loop: VirtualTimeLoop) -> list[float]:
        g = RateGate(6000, 1, max_headroom=1.0)
        times = []
        for _ in range(4):
            async with g:
                times.append(loop.time())
            if len(times) == 1:
                g.on_answer(sent_at=loop.time(), announced=Announced(quota=3, window=10.0))
        return times

    times = run_virtual(main)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[1:] == pytest.approx([10 / 3] * 2, abs=1e-3)


def test_the_first_policy_makes_the_early_requests_pay_back_their_haste() -> None:
    async def main(loop: VirtualTimeLoop) -> list[float]:
        g = RateGate(6000, 4, max_headroom=1.0, window_requests=1000)
        times = []
        for _ in range(3):
            async with g:
                times.append(loop.time())
        g.on_answer(sent_at=0, announced=Announced(quota=60, window=1000.0))  # 3.6 a minute
        async with g:
            times.append(loop.time())
        return times

    times = run_virtual(main)
    interval = 1000 / 60
    assert times[3] == pytest.approx(times[0] + 3 * interval, abs=1e-3)


def test_a_pause_while_waiting_for_the_turn_holds_the_request() -> None:
    async def main(loop: VirtualTimeLoop) -> list[float]:
        g = RateGate(60, 2, clock=loop.time, max_headroom=1.0, window_requests=1000)
        times = []

        async def one(pause: bool) -> None:
            async with g:
                times.append(loop.time())
                if pause:
                    await asyncio.sleep(0.5)
                    g.pause(3)

        await asyncio.gather(one(True), one(False))
        return times

    first, second = run_virtual(main)
    assert second == pytest.approx(first + 3.5, abs=1e-3), "not at 1 s, inside the pause"


# --- more edges: what the log says, the window after a burst, the concurrency warning ------------


def test_a_pause_of_nothing_or_the_same_pause_again_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="pipeline.argil.gate")
    g, _ = gate()
    g.pause(0)
    g.pause(0.4)
    g.pause(0.4)  # the same end: nothing new to say
    assert [r.getMessage() for r in caplog.records] == ["writes gate paused for 0.40 s"]


def test_a_step_under_a_thousandth_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pipeline.argil.gate")
    g, _ = gate(step=0.0005)
    g.on_rate_limited()
    assert g.current_rpm == pytest.approx(594 * 0.9995)
    assert caplog.records == []
    h, _ = gate(step=0.002)
    h.on_rate_limited()
    assert len(caplog.records) == 1


def test_the_ramp_logs_each_doubling_and_ignores_answers_sent_before_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pipeline.argil.gate")
    g, ft = gate(None)
    ft.now += 1
    g.on_success(sent_at=ft.now - 0.5)  # sent after the gate was made: a doubling
    g.on_success(sent_at=ft.now - 0.5)  # sent before that doubling: nothing new
    assert [r.getMessage() for r in caplog.records] == ["writes rate raised from 60.0 to 120.0 rpm"]
    assert g.current_rpm == 120


def test_an_answer_exactly_a_minute_old_still_counts_towards_the_estimate() -> None:
    g, ft = gate(2400)
    start = ft.now
    for _ in range(10):
        g.on_success()
    ft.now = start + 60
    for _ in range(5):
        g.on_success()
    g.on_rate_limited(retry_after=3)
    assert g.limit_rpm == pytest.approx(15 * 60 / (60 + 3))


def test_an_answer_just_over_a_minute_old_does_not_count() -> None:
    g, ft = gate(2400)
    start = ft.now
    for _ in range(10):
        g.on_success()
    for n in range(6):
        ft.now = start + 60.25 + n / 8
        g.on_success()
    g.on_rate_limited(retry_after=3)
    assert g.limit_rpm == pytest.approx(6 * 60 / (5 / 8 + 3))


def test_five_answers_are_enough_for_an_estimate_but_not_all_at_once() -> None:
    g, ft = gate(2400)
    for _ in range(5):
        ft.now += 0.25
        g.on_success()
    g.on_rate_limited(retry_after=3)
    assert g.limit_rpm == pytest.approx(5 * 60 / (1.0 + 3))
    h, _ = gate(2400)
    for _ in range(5):
        h.on_success()
    h.on_rate_limited(retry_after=3)
    assert h.limit_rpm == 2400, "no time between them: no rate"


def test_a_lone_429_costs_its_step_whatever_went_through() -> None:
    # Through at 2213 a minute, between the step (2186) and the rate (2376): a lone 429 still
    # costs the full step; a slow trickle before it costs no more than the step either.
    g, ft = gate(2400)
    for _ in range(45):
        ft.now += 0.005
        g.on_success()
    g.on_rate_limited(retry_after=1)
    assert g.current_rpm == pytest.approx(2376 * 0.92)
    h, ft = gate(2400)
    for _ in range(10):
        ft.now += 0.1
        h.on_success()
    h.on_rate_limited(retry_after=1)
    assert h.current_rpm == pytest.approx(2376 * 0.92)
    k, ft = gate(2400)
    for _ in range(10):
        ft.now += 0.1
        k.on_success()
    k.on_rate_limited()  # no Retry-After
    assert k.current_rpm == pytest.approx(2376 * 0.92)


def test_after_forgetting_the_next_429_is_a_lone_one_even_soon_after() -> None:
    g, ft = twice_refused(forget_after=5.0)
    ft.now += 5
    quiet(g, ft, 20)
    assert g.current_rpm == pytest.approx(594)
    g.on_rate_limited()  # 5 s after the last: within the repeat time, yet forgotten
    assert g.current_rpm == pytest.approx(594 * 0.92)


def test_after_a_burst_a_lower_limit_waits_for_room_in_the_window() -> None:
    # Ten requests at 10 a second under a policy of 100 in 10 s; then the policy says 5 in 10 s:
    # the window holds the burst, and the next request waits until enough of it has left.
    async def main(loop: VirtualTimeLoop) -> list[float]:
        g = RateGate(6000, 1, clock=loop.time)
        times = []
        for n in range(12):
            async with g:
                times.append(loop.time())
            quota = 100 if n < 9 else 5
            g.on_answer(sent_at=loop.time(), announced=Announced(quota=quota, window=10.0))
        return times

    times = run_virtual(main)
    interval = 60 / 594
    assert times[9] == pytest.approx(9 * interval, abs=1e-3)
    # Room for floor(5 x 0.99) - 1 = 3 of the ten: the 11th waits for the 7th to leave.
    assert times[10] == pytest.approx(times[6] + 10, abs=1e-3)
    assert times[11] == pytest.approx(times[10] + 60 / (30 * 0.99), abs=1e-3)


def capped(
    caplog: pytest.LogCaptureFixture,
    latency: float,
    *,
    rpm: float | None = 600,
    concurrency: int = 1,
    workers: int = 1,
    requests: int = 12,
) -> list[int]:
    """How many answers had come when the concurrency warning was logged (once each)."""
    caplog.set_level(logging.WARNING, logger="pipeline.argil.gate")
    caplog.clear()

    async def main(loop: VirtualTimeLoop) -> list[int]:
        g = RateGate(rpm, concurrency, clock=loop.time)
        answered = 0
        said: list[int] = []
        queue = list(range(requests))

        async def worker() -> None:
            nonlocal answered
            while queue:
                queue.pop()
                async with g:
                    sent = loop.time()
                    await asyncio.sleep(latency)
                    g.on_answer(sent_at=sent)
                    g.on_success(sent)
                answered += 1
                said.extend([answered] * (len(caplog.records) - len(said)))

        await asyncio.gather(*(worker() for _ in range(workers)))
        return said

    return run_virtual(main)


def test_the_concurrency_warning_comes_at_the_tenth_held_answer_with_what_would_do(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert capped(caplog, 0.85) == [10]
    assert caplog.records[0].getMessage() == (
        "writes: 1 requests in flight hold the rate under 594 a minute (answers take up to "
        "0.9 s); --concurrency 11 would not"
    )


def test_answers_under_three_intervals_are_held_back_too(caplog: pytest.LogCaptureFixture) -> None:
    assert capped(caplog, 0.25) == [10]
    assert caplog.records[0].getMessage().endswith("--concurrency 3 would not")


def test_no_concurrency_warning_when_places_are_free_or_the_pace_is_the_ramps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert capped(caplog, 0.85, concurrency=2) == [], "a place always free"
    assert capped(caplog, 0.85, rpm=None) == [], "the ramp's pace is only nominal"
    assert capped(caplog, 0.15) == [], "under two intervals: the pace holds"


@pytest.mark.parametrize(("jitter", "waits_for"), [(20.0, 8)])
def test_jitter_leaves_less_room_in_the_window_after_a_burst(jitter: float, waits_for: int) -> None:
    # As above, but the round trips then spread over ``jitter`` s: the window keeps half that
    # as headroom, room for floor(5 x 10 / (10 + jitter / 2)) - 1 (1) of the ten. (Over 27 s of
    # jitter, the pace itself, 10 / (10 + 1.5 x jitter) of 30 a minute, waits longer.)
    async def main(loop: VirtualTimeLoop) -> list[float]:
        g = RateGate(6000, 1, clock=loop.time)
        times = []
        for n in range(11):
            async with g:
                times.append(loop.time())
            quota = 100 if n < 9 else 5
            g.on_answer(sent_at=loop.time(), announced=Announced(quota=quota, window=10.0))
            if n == 9:
                for k in range(5):  # 15 round trips from 0 to 7/8 of the jitter: widened to it
                    g.on_answer(sent_at=loop.time() - jitter * 14 / 16 * k / 4)
                assert g.jitter == pytest.approx(jitter)
        return times

    times = run_virtual(main)
    assert times[10] == pytest.approx(times[waits_for] + 10, abs=1e-3)


def test_a_long_run_at_an_announced_limit_keeps_its_pace() -> None:
    # 100 a second announced: 250 requests take 2.5 s; the window forgets requests by their
    # time, so a long run is never held back by sends that left the window long ago.
    async def main(loop: VirtualTimeLoop) -> list[float]:
        g = RateGate(60_000, 1, clock=loop.time)
        times = []
        for _ in range(250):
            async with g:
                times.append(loop.time())
            g.on_answer(sent_at=loop.time(), announced=Announced(quota=100, window=1.0))
        return times

    times = run_virtual(main)
    assert times[-1] - times[0] == pytest.approx(249 * 60 / (6000 * 0.99), rel=0.02)


def test_one_request_too_many_in_the_window_waits_for_the_oldest_to_leave() -> None:
    # 11 in 10 s after a burst of ten: room for floor(11 x 0.99) - 1 = 9, one too many.
    async def main(loop: VirtualTimeLoop) -> list[float]:
        g = RateGate(6000, 1, clock=loop.time)
        times = []
        for n in range(11):
            async with g:
                times.append(loop.time())
            quota = 100 if n < 9 else 11
            g.on_answer(sent_at=loop.time(), announced=Announced(quota=quota, window=10.0))
        return times

    times = run_virtual(main)
    assert times[10] == pytest.approx(times[0] + 10, abs=1e-3)


def test_a_busy_loop_s_late_timers_widen_the_jitter() -> None:
    # Every other timer fires 8 ms late, as on a busy machine: those requests leave late, the
    # next ones on time (the pace is reckoned from when a turn was due), so they arrive closer
    # than the pace; the headroom counts that as jitter, which round trips do not see.
    def run(late: float) -> RateGate:
        loop = VirtualTimeLoop()
        select = loop._selector.select
        lateness = itertools.cycle([0.0, late])

        def late_select(timeout: float | None = None) -> Any:
            ready = select(timeout)
            if not ready and timeout:
                loop.now += next(lateness)
            return ready

        loop._selector.select = late_select  # type: ignore[method-assign]

        async def main() -> RateGate:
            g = RateGate(600, 1, clock=loop.time, max_headroom=1.0)
            for _ in range(100):
                async with g:
                    pass
            return g

        try:
            return loop.run_until_complete(main())
        finally:
            loop.close()

    assert run(0.0).jitter == pytest.approx(0.0, abs=1e-9)
    loaded = run(0.008)
    assert loaded.jitter == pytest.approx(0.008 / 0.8, rel=0.01)
    assert loaded.headroom(600) == pytest.approx(6 / (6 + 1.5 * loaded.jitter))
    assert loaded.sent == 100
