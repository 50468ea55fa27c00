"""The client against a broken or hostile server (issue 21): huge answers, answers dripped a
byte at a time, absurd waits asked in headers, redirects.

Each case is proven over real HTTP on loopback against the emulator taught to misbehave that
way (its hostile knobs, see ``EmulatorSettings``). Waits the server asks for go through an
injected sleep and clock, so no test sleeps through them; the only real waits are deadlines
and windows of a fraction of a second.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest

from pipeline.argil.client import (
    MAX_CAPPED_WAITS,
    MAX_OBJECT_BYTES,
    MAX_PAGE_BYTES,
    ArgilClient,
    FatalError,
    InDoubt,
    RateLimited,
    ServerError,
    Stalled,
    TransportError,
)
from pipeline.argil.gate import RateGate
from pipeline.argil.limit_headers import MAX_ASKED_WAIT, Announced
from pipeline.argil.models import VideoCreateArgs
from pipeline.emulator import EmulatorServer, EmulatorSettings, EmulatorSettingsError

KEY = "sk-SENTINEL-hostile-7c2e91"
T = TypeVar("T")
Make = Callable[..., EmulatorServer]
# What one read of the socket brings at most (httpcore reads 64 KiB at a time).
CHUNK = 64 * 1024


class FakeTime:
    """A clock that moves only when the client sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 5000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


class Counted(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, counter: CountingTransport) -> None:
        self._inner = inner
        self._counter = counter

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._counter.read += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class CountingTransport(httpx.AsyncBaseTransport):
    """httpx's own transport over real sockets, counting the answer bytes the client read."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.read = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=Counted(response.stream, self),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def start(make_emulator: Make, **settings: Any) -> EmulatorServer:
    settings.setdefault("api_key", KEY)
    settings.setdefault("seed", 1)
    return make_emulator(**settings)


def client_for(url: str, ft: FakeTime | None = None, **kwargs: Any) -> ArgilClient:
    ft = ft if ft is not None else FakeTime()
    kwargs.setdefault("rpm", 1_000_000)
    return ArgilClient(KEY, url, sleep=ft.sleep, clock=ft.clock, **kwargs)


def run(client: ArgilClient, work: Callable[[ArgilClient], Awaitable[T]], limit: float = 10) -> T:
    """``work`` with the client, failing (not hanging) past ``limit`` real seconds."""

    async def go() -> T:
        async with client, asyncio.timeout(limit):
            return await work(client)

    return asyncio.run(go())


def body(key: str) -> dict[str, Any]:
    moment = {"transcript": "Hello there.", "avatarId": "avatar-emma", "voiceId": "voice-emma"}
    args = VideoCreateArgs.model_validate(
        {"name": "Launch", "moments": [moment], "extras": {"argilBatchKey": key}}
    )
    return args.to_body()


def no_key(exc: BaseException) -> None:
    assert KEY not in str(exc) and KEY not in repr(exc)


# --- 7. an answer too large to read -------------------------------------------------------------


def test_an_oversized_create_answer_is_in_doubt_read_no_further_and_not_resent(
    make_emulator: Make,
) -> None:
    server = start(make_emulator, oversize_bytes=8 * MAX_OBJECT_BYTES, hostile_on="writes")
    transport = CountingTransport()

    async def work(client: ArgilClient) -> list[str]:
        with pytest.raises(InDoubt) as caught:
            await client.create_video(body("row-1"))
        assert f"passed {MAX_OBJECT_BYTES} bytes" in caught.value.message
        assert "look it up" in caught.value.message
        assert transport.read <= MAX_OBJECT_BYTES + CHUNK
        # In doubt means looked up by its key, which finds the video the create made.
        return [video.id for video in await client.find_videos({"argilBatchKey": "row-1"})]

    found = run(client_for(server.base_url, transport=transport), work)
    assert len(found) == 1 and server.emulator.count_by_batch_key() == {"row-1": 1}
    stats = server.emulator.stats
    assert stats.creates == 1, "an answer in doubt is never resent"
    assert stats.oversized == 1


def test_an_oversized_render_answer_is_in_doubt(make_emulator: Make) -> None:
    server = start(make_emulator)

    async def work(client: ArgilClient) -> None:
        video = await client.create_video(body("row-1"))
        server.emulator.settings.oversize_bytes = 3 * MAX_OBJECT_BYTES
        with pytest.raises(InDoubt, match=f"passed {MAX_OBJECT_BYTES} bytes"):
            await client.render_video(video.id)

    run(client_for(server.base_url), work)
    assert server.emulator.stats.renders == 1


def test_an_oversized_page_or_video_is_a_failed_read_naming_the_size(make_emulator: Make) -> None:
    server = start(make_emulator)
    transport = CountingTransport()

    async def work(client: ArgilClient) -> None:
        video = await client.create_video(body("row-1"))
        server.emulator.settings.hostile_on = "reads"
        server.emulator.settings.oversize_bytes = MAX_PAGE_BYTES + MAX_OBJECT_BYTES
        transport.read = 0
        with pytest.raises(ServerError) as page:
            await client.list_videos(extras_filter={"argilBatchKey": "row-1"})
        assert f"passed {MAX_PAGE_BYTES} bytes" in page.value.message
        assert transport.read <= MAX_PAGE_BYTES + CHUNK
        transport.read = 0
        with pytest.raises(ServerError) as one:
            await client.get_video(video.id)
        assert f"passed {MAX_OBJECT_BYTES} bytes" in one.value.message
        assert transport.read <= MAX_OBJECT_BYTES + CHUNK
        # A page the size of the catalogue's cap is still read: the caps are per kind.
        server.emulator.settings.oversize_bytes = 2 * MAX_OBJECT_BYTES
        assert [a.id for a in await client.list_avatars()]

    run(client_for(server.base_url, transport=transport), work)
    # Neither is retried: the same server would answer the same again.
    assert server.emulator.stats.oversized == 3


def test_an_oversized_error_body_is_not_read_whole_and_the_status_still_counts(
    make_emulator: Make,
) -> None:
    server = start(make_emulator, list_fail_rate=1.0, oversize_bytes=20 * MAX_OBJECT_BYTES)
    transport = CountingTransport()

    async def work(client: ArgilClient) -> None:
        with pytest.raises(ServerError) as caught:
            await client.list_videos()
        assert caught.value.status == 503
        assert caught.value.message == "the server answered 503 Service Unavailable"
        assert transport.read <= MAX_OBJECT_BYTES + CHUNK

    run(client_for(server.base_url, transport=transport, max_attempts=1), work)


def test_a_declared_length_past_the_cap_is_refused_before_reading() -> None:
    class Untouchable(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            raise AssertionError("the body was read")
            yield b""  # pragma: no cover - makes this an async generator

    def handler(request: httpx.Request) -> httpx.Response:
        length = str(MAX_OBJECT_BYTES + 1)
        return httpx.Response(200, headers={"Content-Length": length}, stream=Untouchable())

    client = client_for("https://api.test/v1", transport=httpx.MockTransport(handler))

    async def work(client: ArgilClient) -> None:
        with pytest.raises(InDoubt, match=f"passed {MAX_OBJECT_BYTES} bytes"):
            await client.create_video(body("row-1"))

    run(client, work)


# --- 8. an answer dripped a byte at a time --------------------------------------------------------


def test_a_dripping_read_ends_at_its_deadline(make_emulator: Make) -> None:
    server = start(make_emulator)
    deadline = 0.6

    async def work(client: ArgilClient) -> float:
        video = await client.create_video(body("row-1"))
        server.emulator.settings.drip_seconds = 0.05  # a Video's few hundred bytes: 20 s and more
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TransportError) as caught:
            await client.get_video(video.id)
        assert f"deadline of {deadline:g} s" in caught.value.message
        return loop.time() - started

    # The read timeout (30 s by default) restarts at every byte: it never fires.
    took = run(client_for(server.base_url, deadline=deadline, max_attempts=1), work)
    assert deadline <= took < deadline + 1.0
    assert server.emulator.stats.dripped == 1


def test_a_dripping_create_is_in_doubt_at_its_deadline_and_not_resent(make_emulator: Make) -> None:
    server = start(make_emulator, drip_seconds=0.05, hostile_on="writes")
    deadline = 0.5

    async def work(client: ArgilClient) -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(InDoubt) as caught:
            await client.create_video(body("row-1"))
        assert "deadline of 0.5 s" in caught.value.message
        assert "look it up" in caught.value.message
        return loop.time() - started

    took = run(client_for(server.base_url, deadline=deadline), work)
    assert deadline <= took < deadline + 1.0
    assert server.emulator.stats.creates == 1
    assert server.emulator.count_by_batch_key() == {"row-1": 1}


def test_the_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="deadline"):
        ArgilClient(KEY, "https://api.test/v1", deadline=0)


# --- 9. waits asked for in headers ------------------------------------------------------------


def creates(count: int) -> Callable[[ArgilClient], Awaitable[list[BaseException | str]]]:
    """``count`` creates one after the other: each one's video id, or what it raised (the
    first error ends the series)."""

    async def work(client: ArgilClient) -> list[BaseException | str]:
        results: list[BaseException | str] = []
        for index in range(count):
            try:
                results.append((await client.create_video(body(f"row-{index}"))).id)
            except Exception as exc:
                results.append(exc)
                break
        return results

    return work


def test_a_reset_in_epoch_milliseconds_waits_until_then(
    make_emulator: Make, caplog: pytest.LogCaptureFixture
) -> None:
    reset = round((time.time() + 30) * 1000)
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    server = start(make_emulator, answer_headers=headers)
    ft = FakeTime()
    with caplog.at_level(logging.INFO, logger="pipeline.argil.client"):
        results = run(client_for(server.base_url, ft), creates(2))
    assert all(isinstance(r, str) for r in results)
    # Read as seconds, the reset was 1.8 trillion of them.
    assert ft.sleeps and all(25 <= s <= 31 for s in ft.sleeps), ft.sleeps
    said = [r.getMessage() for r in caplog.records if "X-RateLimit-Reset" in r.getMessage()]
    assert len(said) == 2 and "wait" in said[0], said


def test_a_reset_centuries_away_is_capped_and_the_client_stops_when_asked_again(
    make_emulator: Make,
) -> None:
    """``RateLimit: "w";r=0;t=...`` with a reset centuries away once paused a run for 998
    billion seconds."""
    headers = {"RateLimit": f'"w";r=0;t={round(time.time()) + 10**10}'}
    server = start(make_emulator, answer_headers=headers)
    ft = FakeTime()
    results = run(client_for(server.base_url, ft), creates(5))
    assert ft.sleeps and max(ft.sleeps) <= MAX_ASKED_WAIT
    *made, stop = results
    assert len(made) == MAX_CAPPED_WAITS and all(isinstance(r, str) for r in made)
    assert isinstance(stop, Stalled) and isinstance(stop, FatalError)
    assert "(RateLimit," in stop.message and "run again later" in stop.message
    assert server.emulator.stats.creates == MAX_CAPPED_WAITS, "the stop sends nothing"


def test_a_reset_as_the_audit_sent_it_never_waits_past_the_cap(make_emulator: Make) -> None:
    # 10^12: a Unix time in milliseconds (2001, past), as a Unix time in seconds the year 33658.
    server = start(make_emulator, answer_headers={"RateLimit": '"w";r=0;t=1000000000000'})
    ft = FakeTime()
    results = run(client_for(server.base_url, ft), creates(4))
    assert all(isinstance(r, str) for r in results)
    assert all(s <= MAX_ASKED_WAIT for s in ft.sleeps), ft.sleeps


def test_a_policy_window_of_a_billion_seconds_is_capped_and_the_client_stops(
    make_emulator: Make,
) -> None:
    """``RateLimit-Policy: q=1;w=1e9``: one request every 31 years. The window's wait is real
    time (the pace runs on the event loop's clock), so the cap is a fraction of a second."""
    cap = 0.3
    server = start(make_emulator, answer_headers={"RateLimit-Policy": '"w";q=1;w=1000000000'})
    ft = FakeTime()
    started = time.monotonic()
    results = run(client_for(server.base_url, ft, max_retry_after=cap), creates(5), limit=5)
    took = time.monotonic() - started
    *made, stop = results
    assert len(made) == MAX_CAPPED_WAITS
    assert isinstance(stop, Stalled), stop
    assert "asks to wait 1000000000 s" in stop.message and "RateLimit-Policy" in stop.message
    # Two windows waited out, each about the cap (and the pace's headroom on it), not 31 years.
    times = server.emulator.stats.create_times
    assert all(0 < b - a <= 3 * cap for a, b in itertools.pairwise(times)), times
    assert took < 3


def test_retry_after_asking_for_days_on_every_create_stops_the_run_after_a_few(
    make_emulator: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """``Retry-After: 999999`` on every create once stalled two rows for 800 s."""
    server = start(
        make_emulator,
        throttle_rate=1.0,
        hostile_on="writes",
        answer_headers={"Retry-After": "999999"},
    )
    ft = FakeTime()

    async def work(client: ArgilClient) -> list[BaseException]:
        jobs = [client.create_video(body(f"row-{i}")) for i in range(2)]
        return [r for r in await asyncio.gather(*jobs, return_exceptions=True)]

    with caplog.at_level(logging.INFO, logger="pipeline.argil.client"):
        errors = run(client_for(server.base_url, ft), work)
    assert all(isinstance(e, Stalled) for e in errors), errors
    stop = errors[0]
    assert isinstance(stop, Stalled) and stop.asked == 999999 and stop.header == "Retry-After"
    assert stop.message.startswith("the API asks to wait 999999 s before each request")
    assert "stopped rather than crawl" in stop.message and "run again later" in stop.message
    # Each wait capped, and two workers' few of them (the fake clock adds up waits that run
    # side by side), where six attempts each used to wait.
    assert all(s <= MAX_ASKED_WAIT for s in ft.sleeps) and sum(ft.sleeps) <= 4 * MAX_ASKED_WAIT
    # The other worker's request may have been on its way when the last straw came back.
    assert MAX_CAPPED_WAITS <= server.emulator.stats.throttled <= MAX_CAPPED_WAITS + 1
    assert server.emulator.stats.created == 0
    said = [r.getMessage() for r in caplog.records if "pausing all" in r.getMessage()]
    assert said and all("Retry-After asked for 999999 s, capped" in line for line in said)


def test_a_reasonable_retry_after_is_still_obeyed_and_never_stops_the_run(
    make_emulator: Make,
) -> None:
    server = start(make_emulator, throttle_rate=1.0, answer_headers={"Retry-After": "7"})
    ft = FakeTime()

    async def work(client: ArgilClient) -> None:
        with pytest.raises(RateLimited):
            await client.create_video(body("row-1"))

    run(client_for(server.base_url, ft, max_attempts=5), work)
    assert ft.sleeps and all(s == 7 for s in ft.sleeps)
    assert server.emulator.stats.throttled == 5


# --- 12c. a redirect ------------------------------------------------------------------------------


def test_a_redirected_create_stops_at_once_without_quoting_the_key(make_emulator: Make) -> None:
    location = f"https://elsewhere.test/v2/videos?api_key={KEY}"
    server = start(make_emulator, redirect_to=location, hostile_on="writes")

    async def work(client: ArgilClient) -> None:
        with pytest.raises(FatalError) as caught:
            await client.create_video(body("row-1"))
        assert caught.value.status == 307
        assert caught.value.message == (
            "the API answered with a redirect to https://elsewhere.test/v2/videos?api_key=***; "
            "check --base-url / ARGIL_BASE_URL"
        )
        no_key(caught.value)

    run(client_for(server.base_url), work)
    stats = server.emulator.stats
    assert stats.redirected == 1 and stats.requests == 1, "a redirect is never retried"


def test_a_redirected_read_stops_too(make_emulator: Make) -> None:
    server = start(make_emulator, redirect_to="/v2/avatars", hostile_on="reads")

    async def work(client: ArgilClient) -> None:
        with pytest.raises(FatalError, match="a redirect to /v2/avatars; check --base-url"):
            await client.list_avatars()

    run(client_for(server.base_url), work)
    assert server.emulator.stats.requests == 1


def test_a_redirect_quoting_the_key_percent_encoded_does_not_quote_it_either() -> None:
    key = "sk/SENTINEL+hostile=42"
    location = f"https://elsewhere.test/v1/videos?key={quote(key, safe='')}&again={quote(key)}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(308, headers={"Location": location})

    client = ArgilClient(
        key, "https://api.test/v1", transport=httpx.MockTransport(handler), rpm=1_000_000
    )

    async def work(client: ArgilClient) -> None:
        with pytest.raises(FatalError) as caught:
            await client.get_video("vid-1")
        assert caught.value.message == (
            "the API answered with a redirect to https://elsewhere.test/v1/videos?key=***"
            "&again=***; check --base-url / ARGIL_BASE_URL"
        )

    run(client, work)


# --- the gate's own cap (the headers as read: test_limit_headers) -----------------------------


def test_the_gate_never_pauses_past_its_cap_whoever_asks() -> None:
    gate = RateGate(60, 1, clock=lambda: 0.0, max_wait=120)
    gate.pause(10**12)
    assert gate.paused_for == 120
    paused = gate.on_answer(sent_at=0, announced=Announced(remaining=0, reset=10.0**9))
    assert paused == 120 and gate.paused_for == 120
    gate.on_answer(sent_at=0, announced=Announced(quota=1, window=1e9, remaining=1))
    assert gate.window(gate.limit_rpm or 1) == 120


def test_a_policy_with_a_long_interval_is_said_at_v(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        video = {"id": "vid-1", "name": "x", "status": "IDLE"}
        policy = {"RateLimit-Policy": '"w";q=1;w=60'}
        return httpx.Response(200, json=video, headers=policy)

    async def work(client: ArgilClient) -> None:
        # Another would wait the minute, in real time: the pace runs on the loop's clock.
        await client.get_video("vid-1")

    client = client_for("https://api.test/v1", transport=httpx.MockTransport(handler))
    with caplog.at_level(logging.INFO, logger="pipeline.argil.client"):
        run(client, work)
    said = [r.getMessage() for r in caplog.records if "between requests" in r.getMessage()]
    assert said == ["all writes wait 60 s between requests: as RateLimit-Policy announces"]


@pytest.mark.parametrize(
    ("knobs", "said"),
    [
        ({"hostile_on": "creates"}, "hostile_on must be one of all, writes, reads"),
        ({"oversize_bytes": -1}, "oversize_bytes must not be negative"),
        ({"drip_seconds": -0.5}, "drip_seconds must not be negative"),
        ({"throttle_rate": 2}, "throttle_rate must be between 0 and 1"),
        ({"redirect_to": " "}, "redirect_to must not be empty"),
        ({"answer_headers": {"Retry After": "5"}}, "is not a header name"),
        ({"answer_headers": {"Retry-After": "5\r\nX-Evil: 1"}}, "line break"),
    ],
)
def test_the_hostile_knobs_are_checked(knobs: dict[str, Any], said: str) -> None:
    with pytest.raises(EmulatorSettingsError, match=said):
        EmulatorSettings(**knobs)
