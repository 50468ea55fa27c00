"""The client against the project's emulator, over real HTTP on loopback.

Waits asked by the server (Retry-After) and backoff go through an injected clock shared by the
client and the emulator, so no test sleeps through them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from pipeline.argil.client import (
    ArgilClient,
    FatalError,
    InDoubt,
    NotFound,
    RateLimited,
    RowError,
    TransportError,
)
from pipeline.argil.models import VideoCreateArgs
from pipeline.emulator import (
    AVATARS,
    SUBTITLE_STYLES,
    VOICES,
    EmulatorServer,
)

KEY = "sk-SENTINEL-emu-8d1f2a"
T = TypeVar("T")


class FakeTime:
    """A clock that moves only when the client sleeps; the emulator reads it too."""

    def __init__(self) -> None:
        self.now = 5000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


Make = Callable[..., EmulatorServer]


def start(make_emulator: Make, ft: FakeTime | None = None, **settings: Any) -> EmulatorServer:
    """A running emulator that wants ``KEY``; with ``ft``, on the same clock as the client."""
    settings.setdefault("api_key", KEY)
    settings.setdefault("seed", 1)
    if ft is not None:
        settings["clock"] = ft.clock
    return make_emulator(**settings)


def client_for(url: str, ft: FakeTime | None = None, **kwargs: Any) -> ArgilClient:
    if ft is not None:
        kwargs.setdefault("sleep", ft.sleep)
        kwargs.setdefault("clock", ft.clock)
    kwargs.setdefault("rpm", 1_000_000)
    return ArgilClient(kwargs.pop("api_key", KEY), url, **kwargs)


def run(client: ArgilClient, work: Callable[[ArgilClient], Awaitable[T]]) -> T:
    async def go() -> T:
        async with client:
            return await work(client)

    return asyncio.run(go())


def body(key: str, name: str = "Launch") -> dict[str, Any]:
    moment = {"transcript": "Hello there.", "avatarId": "avatar-emma", "voiceId": "voice-emma"}
    args = VideoCreateArgs.model_validate(
        {"name": name, "moments": [moment], "extras": {"argilBatchKey": key}}
    )
    return args.to_body()


# --- the happy paths ------------------------------------------------------------------------


def test_create_get_render_and_find(make_emulator: Make) -> None:
    server = start(make_emulator)

    async def work(client: ArgilClient) -> None:
        created = await client.create_video(body("row-1"))
        assert created.status == "IDLE" and created.extras == {"argilBatchKey": "row-1"}
        fetched = await client.get_video(created.id)
        assert fetched.id == created.id and fetched.name == "Launch"
        rendering = await client.render_video(created.id, "https://hooks.test/done")
        assert rendering.status == "GENERATING_AUDIO"
        found = await client.find_videos({"argilBatchKey": "row-1"})
        assert [v.id for v in found] == [created.id]
        assert await client.find_videos({"argilBatchKey": "row-2"}) == []
        # A second render of a video already generating is the request's own fault.
        with pytest.raises(RowError):
            await client.render_video(created.id)

    run(client_for(server.base_url), work)
    assert server.emulator.count_by_batch_key() == {"row-1": 1}


def test_find_videos_across_pages(make_emulator: Make) -> None:
    server = start(make_emulator)

    async def work(client: ArgilClient) -> tuple[list[str], list[str]]:
        mine = [(await client.create_video(body("k"))).id for _ in range(5)]
        for _ in range(2):
            await client.create_video(body("other"))
        found = await client.find_videos({"argilBatchKey": "k"}, page_size=2)
        return mine, [v.id for v in found]

    before = server.emulator.stats.requests
    mine, found = run(client_for(server.base_url), work)
    assert sorted(found) == sorted(mine)
    # 7 creates and 3 pages of 2, 2 and 1.
    assert server.emulator.stats.requests - before == 10


def test_catalogue(make_emulator: Make) -> None:
    server = start(make_emulator)

    async def work(client: ArgilClient) -> tuple[Any, Any, Any]:
        return (
            await client.list_avatars(),
            await client.list_voices(),
            await client.list_subtitle_styles(page_size=2),
        )

    avatars, voices, styles = run(client_for(server.base_url), work)
    assert [a.id for a in avatars] == [a["id"] for a in AVATARS]
    assert avatars[0].gestures[0].slug == AVATARS[0]["gestures"][0]["slug"]
    assert [v.id for v in voices] == [v["id"] for v in VOICES]
    assert [s.id for s in styles] == [s["id"] for s in SUBTITLE_STYLES]


# --- refusals -------------------------------------------------------------------------------


def test_bad_key_is_fatal_and_never_logged(
    caplog: pytest.LogCaptureFixture, make_emulator: Make
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and the transport included
    wrong = "sk-SENTINEL-wrong-77c0"
    server = start(make_emulator)
    client = client_for(server.base_url, api_key=wrong)

    async def work(client: ArgilClient) -> FatalError:
        with pytest.raises(FatalError) as info:
            await client.create_video(body("row-1"))
        return info.value

    exc = run(client, work)
    assert server.emulator.stats.requests == 1
    assert exc.status == 401
    assert caplog.records, "nothing was logged: the check below would be vacuous"
    for text in (caplog.text, str(exc), repr(exc), repr(client)):
        assert wrong not in text and KEY not in text


def test_no_credits_is_fatal(make_emulator: Make) -> None:
    server = start(make_emulator, credits=1)

    async def work(client: ArgilClient) -> FatalError:
        await client.create_video(body("row-1"))
        with pytest.raises(FatalError) as info:
            await client.create_video(body("row-2"))
        return info.value

    exc = run(client_for(server.base_url), work)
    assert exc.status == 402 and "credits" in exc.message
    assert server.emulator.count_by_batch_key() == {"row-1": 1}


def test_invalid_body_is_a_row_error_sent_once(make_emulator: Make) -> None:
    server = start(make_emulator)
    bad = {"name": "x", "moments": [{"avatarId": "avatar-emma"}]}  # no transcript or audio

    async def work(client: ArgilClient) -> RowError:
        with pytest.raises(RowError) as info:
            await client.create_video(bad)
        return info.value

    exc = run(client_for(server.base_url), work)
    assert exc.status == 400 and exc.message.startswith("Invalid body")
    assert server.emulator.stats.requests == 1
    assert server.emulator.videos == {}


def test_unknown_video_is_not_found(make_emulator: Make) -> None:
    server = start(make_emulator)

    async def work(client: ArgilClient) -> None:
        with pytest.raises(NotFound):
            await client.get_video("no-such-video")

    run(client_for(server.base_url), work)
    assert server.emulator.stats.requests == 1


# --- in doubt -------------------------------------------------------------------------------


def test_5xx_on_create_is_in_doubt_and_not_resent(make_emulator: Make) -> None:
    server = start(make_emulator, fail_rate=1.0)

    async def work(client: ArgilClient) -> InDoubt:
        with pytest.raises(InDoubt) as info:
            await client.create_video(body("row-1"))
        return info.value

    exc = run(client_for(server.base_url), work)
    assert exc.status in (500, 502, 503)
    assert server.emulator.stats.creates == 1
    # This server created nothing: the lookup a caller makes finds nothing to adopt.
    assert server.emulator.count_by_batch_key() == {}


def test_dropped_answer_on_create_is_in_doubt_and_the_video_exists(make_emulator: Make) -> None:
    server = start(make_emulator, drop_rate=1.0)

    async def work(client: ArgilClient) -> list[str]:
        with pytest.raises(InDoubt):
            await client.create_video(body("row-1"))
        return [v.id for v in await client.find_videos({"argilBatchKey": "row-1"})]

    client = client_for(server.base_url)
    found = run(client, work)
    assert server.emulator.stats.creates == 1 and server.emulator.stats.dropped == 1
    assert server.emulator.count_by_batch_key() == {"row-1": 1}
    assert found == list(server.emulator.videos)
    assert client.stats.in_doubt == 1


def test_read_timeout_on_create_is_in_doubt_and_the_video_exists(make_emulator: Make) -> None:
    timeout = httpx.Timeout(connect=5.0, read=0.05, write=5.0, pool=None)
    server = start(make_emulator, latency_ms=300)

    async def work(client: ArgilClient) -> None:
        with pytest.raises(InDoubt):
            await client.create_video(body("row-1"))

    run(client_for(server.base_url, timeout=timeout), work)
    assert server.emulator.stats.creates == 1
    assert server.emulator.count_by_batch_key() == {"row-1": 1}


def test_read_timeouts_on_get_are_retried(make_emulator: Make) -> None:
    ft = FakeTime()
    timeout = httpx.Timeout(connect=5.0, read=0.05, write=5.0, pool=None)
    server = start(make_emulator, latency_ms=300)
    client = client_for(server.base_url, ft, timeout=timeout, max_attempts=2)

    async def work(client: ArgilClient) -> None:
        with pytest.raises(TransportError):
            await client.get_video("whatever")

    run(client, work)
    assert server.emulator.stats.requests == 2
    assert len(ft.sleeps) == 1


def test_connection_refused_is_retried_then_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on that port any more.
    ft = FakeTime()
    client = client_for(f"http://127.0.0.1:{port}/v1", ft, max_attempts=4, max_backoff=3.0)

    async def work(client: ArgilClient) -> TransportError:
        with pytest.raises(TransportError) as info:
            await client.create_video(body("row-1"))
        return info.value

    exc = run(client, work)
    assert exc.status is None
    assert client.stats.requests == 4
    assert len(ft.sleeps) == 3 and all(0 <= w <= 3.0 for w in ft.sleeps)


# --- the rate limit -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "low", "high"),
    [("seconds", 60.0, 60.0), ("ms", 60.0, 60.0), ("date", 58.0, 62.5)],
)
def test_429_waits_what_the_server_asks(
    form: str, low: float, high: float, make_emulator: Make
) -> None:
    ft = FakeTime()
    server = start(make_emulator, ft, rpm=2, retry_after=form)
    client = client_for(server.base_url, ft)

    async def work(client: ArgilClient) -> None:
        for _ in range(3):
            await client.list_avatars()

    run(client, work)
    assert server.emulator.stats.rate_limited == 1
    [wait] = ft.sleeps
    assert low <= wait <= high
    assert client.stats.rate_limited == 1
    assert client.gate.rpm is not None
    assert client.gate.current_rpm < client.gate.rpm * client.gate.max_headroom, "a step down"


def test_429_without_retry_after_backs_off_then_gives_up(make_emulator: Make) -> None:
    ft = FakeTime()
    server = start(make_emulator, ft, rpm=1, retry_after="none")
    client = client_for(server.base_url, ft, max_attempts=4, max_backoff=5.0)

    async def work(client: ArgilClient) -> RateLimited:
        await client.list_voices()
        with pytest.raises(RateLimited) as info:
            await client.list_voices()
        return info.value

    exc = run(client, work)
    # The backoff (at most 1 + 2 + 4 s) never reaches the end of the 60 s window.
    assert server.emulator.stats.rate_limited == 4
    assert exc.retry_after is None
    assert len(ft.sleeps) >= 3 and all(0 <= w <= 5.0 for w in ft.sleeps)


def test_the_gate_keeps_a_sliding_window_server_happy(make_emulator: Make) -> None:
    # 10 requests per rolling second at the server; the client is told 540 rpm, 10% under it,
    # since this runs in real time and a loaded machine's late timers bunch requests a little.
    # Evenly spaced requests under the limit never meet a 429; a burst of four would.
    server = start(make_emulator, rpm=600, rate_window=1.0)
    client = client_for(server.base_url, rpm=540, concurrency=4)

    async def work(client: ArgilClient) -> None:
        await asyncio.gather(*(client.list_avatars() for _ in range(14)))

    started = time.monotonic()
    run(client, work)
    elapsed = time.monotonic() - started
    assert server.emulator.stats.requests == 14
    assert server.emulator.stats.rate_limited == 0
    assert elapsed >= 13 * 60 / 600 * 0.9
