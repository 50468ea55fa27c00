"""Unit tests of pipeline.argil.client over httpx.MockTransport (no sockets, no real backoff)."""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import json
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from virtual_time import VirtualTimeLoop, run_virtual

from pipeline.argil.client import (
    DEFAULT_BASE_URL,
    ArgilClient,
    ArgilError,
    FatalError,
    InDoubt,
    InsecureURLError,
    NotFound,
    RateGate,
    RateLimited,
    RowError,
    ServerError,
    TransportError,
    check_base_url,
)

KEY = "sk-SENTINEL-3f9c0d7e"
BASE = "https://api.test/v1"
VIDEO = {"id": "vid-1", "name": "Launch", "status": "IDLE", "extras": {"argilBatchKey": "k1"}}

Step = Callable[[httpx.Request], httpx.Response]


class FakeTime:
    """A clock that only moves when something sleeps; every sleep is recorded per task."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[tuple[str, float]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        task = asyncio.current_task()
        self.sleeps.append((task.get_name() if task else "?", seconds))
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)

    def waits(self, task: str | None = None) -> list[float]:
        return [s for name, s in self.sleeps if task is None or name == task]


def reply(
    status: int = 200,
    body: Any = VIDEO,
    headers: dict[str, str] | None = None,
    text: str | None = None,
) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return step


def fail(exc_type: type[httpx.TransportError]) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        raise exc_type("simulated", request=request)

    return step


class Script:
    """Answers requests with the given steps in order; the last step repeats forever."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        return step(request)


def make_client(
    handler: Callable[[httpx.Request], Any], ft: FakeTime | None = None, **kwargs: Any
) -> ArgilClient:
    ft = ft if ft is not None else FakeTime()
    kwargs.setdefault("rpm", 1_000_000)
    return ArgilClient(
        KEY,
        BASE,
        transport=httpx.MockTransport(handler),
        sleep=ft.sleep,
        clock=ft.clock,
        **kwargs,
    )


def run_one(handler: Callable[[httpx.Request], Any], call: str, *args: Any, **kw: Any) -> Any:
    """Runs one client method; returns its result or the raised ArgilError."""

    async def go() -> Any:
        async with make_client(handler, **kw) as client:
            try:
                return await getattr(client, call)(*args)
            except ArgilError as exc:
                return exc

    return asyncio.run(go())


# --- requests as sent ---------------------------------------------------------------------


def test_create_sends_key_agent_and_exact_body() -> None:
    script = Script(reply(201))
    body = {"name": "Launch", "moments": [{"transcript": "Hi", "avatarId": "a1"}]}
    video = run_one(script, "create_video", body)
    assert video.id == "vid-1" and video.status == "IDLE"
    [request] = script.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.test/v1/videos"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["user-agent"].startswith("argil-batch/")
    assert json.loads(request.content) == body


def test_render_sends_callback_and_quotes_the_id() -> None:
    script = Script(reply(200, {**VIDEO, "status": "GENERATING_AUDIO"}))
    video = run_one(script, "render_video", "a/b", "https://hook.test/x")
    assert video.status == "GENERATING_AUDIO"
    [request] = script.requests
    assert request.url.raw_path == b"/v1/videos/a%2Fb/render"
    assert json.loads(request.content) == {"callbackUrl": "https://hook.test/x"}


def test_list_videos_sends_extras_filter_as_json() -> None:
    page = {"videos": [VIDEO], "totalItems": 1, "totalPages": 1, "currentPage": 1}
    script = Script(reply(200, page))
    result = run_one(script, "list_videos", 2, 50, {"argilBatchKey": "k1"})
    assert [v.id for v in result.videos] == ["vid-1"]
    params = script.requests[0].url.params
    assert params["page"] == "2" and params["limit"] == "50"
    assert json.loads(params["extrasFilter"]) == {"argilBatchKey": "k1"}


def test_find_videos_reads_every_page_and_rechecks_the_filter() -> None:
    def video(n: int, key: str = "k1") -> dict[str, Any]:
        return {"id": f"v{n}", "status": "DONE", "extras": {"argilBatchKey": key}}

    pages = {
        1: [video(1), video(2)],
        2: [video(3), video(4, key="other")],  # a server that ignored the filter
        3: [video(5)],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        body = {"videos": pages[number], "totalItems": 5, "totalPages": 3, "currentPage": number}
        return httpx.Response(200, json=body)

    found = run_one(handler, "find_videos", {"argilBatchKey": "k1"})
    assert [v.id for v in found] == ["v1", "v2", "v3", "v5"]


def test_find_videos_stops_on_an_empty_page() -> None:
    script = Script(reply(200, {"videos": [], "totalItems": 0, "totalPages": 0}))
    assert run_one(script, "find_videos", {"argilBatchKey": "k"}) == []
    assert len(script.requests) == 1


def test_find_videos_stops_past_the_videos_the_server_says_it_holds() -> None:
    # A server claiming a billion pages must not be read a billion times.
    video = {**VIDEO, "extras": {"argilBatchKey": "k"}}
    page = {"videos": [video], "totalItems": 1, "totalPages": 10**9, "currentPage": 1}
    script = Script(*[reply(200, page)] * 3)
    assert [v.id for v in run_one(script, "find_videos", {"argilBatchKey": "k"})] == ["vid-1"]
    assert len(script.requests) == 1


def test_list_subtitle_styles_reads_every_page() -> None:
    styles = [{"id": f"s{n}", "name": f"Style {n}"} for n in range(7)]

    def handler(request: httpx.Request) -> httpx.Response:
        page, size = int(request.url.params["page"]), 3
        assert request.url.params["pageSize"]
        chunk = styles[(page - 1) * size : page * size]
        return httpx.Response(200, json={"items": chunk, "totalItems": len(styles)})

    found = run_one(handler, "list_subtitle_styles")
    assert [s.id for s in found] == [s["id"] for s in styles]


def test_list_avatars_and_voices() -> None:
    avatars = [{"id": "a1", "name": "Ann", "gestures": [{"label": "Wave", "slug": "wave"}]}]
    result = run_one(Script(reply(200, avatars)), "list_avatars")
    assert result[0].id == "a1" and result[0].gestures[0].slug == "wave"
    voices = run_one(Script(reply(200, [{"id": "v1", "name": "Vic"}])), "list_voices")
    assert [v.id for v in voices] == ["v1"]


# --- 429 and the waits ----------------------------------------------------------------------


def test_429_then_success_waits_retry_after_seconds() -> None:
    ft = FakeTime()
    script = Script(reply(429, {"message": "slow down"}, {"Retry-After": "7"}), reply(200))
    video = run_one(script, "get_video", "vid-1", ft=ft)
    assert video.id == "vid-1"
    assert len(script.requests) == 2
    assert ft.waits() == [7.0]


def test_429_retry_after_as_http_date_against_the_server_date() -> None:
    ft = FakeTime()
    server_now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    headers = {
        "Retry-After": email.utils.format_datetime(server_now + timedelta(seconds=30), True),
        "Date": email.utils.format_datetime(server_now, True),
    }
    script = Script(reply(429, {}, headers), reply(200))
    assert run_one(script, "get_video", "vid-1", ft=ft).id == "vid-1"
    assert ft.waits() == [30.0]


def test_429_retry_after_as_http_date_without_server_date() -> None:
    ft = FakeTime()
    when = datetime.now(UTC) + timedelta(seconds=30)
    headers = {"Retry-After": email.utils.format_datetime(when, True)}
    run_one(Script(reply(429, {}, headers), reply(200)), "get_video", "v", ft=ft)
    [wait] = ft.waits()
    assert 27.0 <= wait <= 31.0


def test_429_retry_after_ms() -> None:
    ft = FakeTime()
    script = Script(reply(429, {}, {"retry-after-ms": "1500"}), reply(200))
    run_one(script, "get_video", "v", ft=ft)
    assert ft.waits() == [1.5]


def test_429_retry_after_is_capped() -> None:
    ft = FakeTime()
    script = Script(reply(429, {}, {"Retry-After": "86400"}), reply(200))
    run_one(script, "get_video", "v", ft=ft, max_retry_after=45.0)
    assert ft.waits() == [45.0]


def test_429_without_header_backs_off_with_jitter() -> None:
    random.seed(7)
    ft = FakeTime()
    script = Script(reply(429, {}), reply(200))
    run_one(script, "get_video", "v", ft=ft)
    [wait] = ft.waits()
    assert 0.0 <= wait <= 1.0  # the first window of the exponential backoff


def test_429_on_every_attempt_raises_rate_limited() -> None:
    ft = FakeTime()
    script = Script(reply(429, {"code": 429, "message": "Too many"}, {"Retry-After": "2"}))
    exc = run_one(script, "create_video", {"name": "x"}, ft=ft, max_attempts=4)
    assert isinstance(exc, RateLimited)
    assert exc.retry_after == 2.0 and exc.status == 429 and exc.message == "Too many"
    assert len(script.requests) == 4
    assert ft.waits() == [2.0, 2.0, 2.0]


def test_429_on_create_is_retried_because_nothing_was_created() -> None:
    script = Script(reply(429, {}, {"Retry-After": "1"}), reply(201))
    assert run_one(script, "create_video", {"name": "x"}).id == "vid-1"
    assert len(script.requests) == 2


# --- server errors, timeouts, dropped connections ----------------------------------------------


def test_503_on_get_is_retried_then_succeeds() -> None:
    ft = FakeTime()
    script = Script(reply(503, {"message": "busy"}), reply(503), reply(200))

    async def go() -> tuple[Any, int]:
        async with make_client(script, ft) as client:
            video = await client.get_video("vid-1")
            return video, client.stats.retries

    video, retries = asyncio.run(go())
    assert video.id == "vid-1"
    assert len(script.requests) == 3 and retries == 2
    assert len(ft.waits()) == 2


def test_503_on_every_get_attempt_raises_server_error() -> None:
    script = Script(reply(503, {"message": "busy"}))
    exc = run_one(script, "get_video", "v", max_attempts=3)
    assert isinstance(exc, ServerError) and exc.status == 503
    assert len(script.requests) == 3


def test_501_on_get_is_not_retried() -> None:
    script = Script(reply(501, {"message": "nope"}))
    exc = run_one(script, "get_video", "v")
    assert isinstance(exc, ServerError) and len(script.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_on_create_is_in_doubt_and_never_resent(status: int) -> None:
    script = Script(reply(status, {"message": "oops"}))

    async def go() -> tuple[Any, int]:
        async with make_client(script) as client:
            with pytest.raises(InDoubt) as info:
                await client.create_video({"name": "x"})
            return info.value, client.stats.in_doubt

    exc, in_doubt = asyncio.run(go())
    assert exc.status == status and in_doubt == 1
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "exc_type", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError]
)
def test_lost_answer_on_create_is_in_doubt(exc_type: type[httpx.TransportError]) -> None:
    script = Script(fail(exc_type), reply(201))
    exc = run_one(script, "create_video", {"name": "x"})
    assert isinstance(exc, InDoubt) and exc.status is None
    assert len(script.requests) == 1


def test_lost_answer_on_render_is_in_doubt() -> None:
    script = Script(fail(httpx.ReadTimeout), reply(200))
    exc = run_one(script, "render_video", "vid-1")
    assert isinstance(exc, InDoubt) and len(script.requests) == 1


def test_unreadable_created_answer_is_in_doubt() -> None:
    script = Script(reply(201, {"no": "id"}))
    assert isinstance(run_one(script, "create_video", {"name": "x"}), InDoubt)
    script = Script(reply(201, text="<html>ok</html>"))
    assert isinstance(run_one(script, "create_video", {"name": "x"}), InDoubt)


@pytest.mark.parametrize("exc_type", [httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_lost_answer_on_get_is_retried(exc_type: type[httpx.TransportError]) -> None:
    script = Script(fail(exc_type), reply(200))
    assert run_one(script, "get_video", "vid-1").id == "vid-1"
    assert len(script.requests) == 2


def test_connect_refused_is_retried_then_transport_error() -> None:
    ft = FakeTime()
    script = Script(fail(httpx.ConnectError))
    exc = run_one(script, "create_video", {"name": "x"}, ft=ft, max_attempts=5)
    assert isinstance(exc, TransportError)
    assert len(script.requests) == 5 and len(ft.waits()) == 4


def test_connect_failure_on_create_is_retried_safely() -> None:
    script = Script(fail(httpx.ConnectTimeout), reply(201))
    assert run_one(script, "create_video", {"name": "x"}).id == "vid-1"
    assert len(script.requests) == 2


def test_backoff_waits_are_capped_and_jittered() -> None:
    random.seed(1234)
    ft = FakeTime()
    script = Script(reply(503))
    exc = run_one(script, "get_video", "v", ft=ft, max_attempts=12, max_backoff=4.0)
    assert isinstance(exc, ServerError)
    waits = ft.waits()
    assert len(waits) == 11
    for attempt, wait in enumerate(waits, start=1):
        assert 0.0 <= wait <= min(4.0, 2 ** (attempt - 1))
    assert len(set(waits)) == len(waits)  # full jitter: no two waits alike
    assert max(waits[4:]) > 2.0  # the window did widen up to the cap


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 422])
def test_row_error_is_not_retried_and_keeps_the_api_message(status: int) -> None:
    body = {"code": status, "message": "moments[0].avatarId is unknown"}
    script = Script(reply(status, body))
    exc = run_one(script, "create_video", {"name": "x"})
    assert type(exc) is RowError
    assert exc.message == "moments[0].avatarId is unknown"
    assert exc.code == status and exc.status == status
    assert len(script.requests) == 1


def test_row_error_with_a_list_of_messages() -> None:
    script = Script(reply(400, {"message": ["name must be a string", "moments is empty"]}))
    exc = run_one(script, "create_video", {})
    assert isinstance(exc, RowError)
    assert exc.message == "name must be a string; moments is empty"


@pytest.mark.parametrize("status", [401, 402, 403])
def test_auth_and_payment_refusals_are_fatal(status: int) -> None:
    script = Script(reply(status, {"message": "refused"}))
    exc = run_one(script, "create_video", {"name": "x"})
    assert isinstance(exc, FatalError) and exc.status == status
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "message",
    ["Not enough credits to create this video", "This feature requires the Pro plan"],
)
def test_a_400_about_credits_or_plan_is_fatal(message: str) -> None:
    exc = run_one(Script(reply(400, {"message": message})), "create_video", {"name": "x"})
    assert isinstance(exc, FatalError) and exc.message == message


def test_404_is_not_found() -> None:
    script = Script(reply(404, {"message": "Video not found"}))
    exc = run_one(script, "get_video", "nope")
    assert isinstance(exc, NotFound) and exc.message == "Video not found"
    assert len(script.requests) == 1


def test_non_json_error_body_gets_a_short_generic_message() -> None:
    html = "<html><body>" + "Bad Gateway " * 500 + "</body></html>"
    exc = run_one(Script(reply(502, text=html)), "get_video", "v", max_attempts=2)
    assert isinstance(exc, ServerError)
    assert exc.message == "the server answered 502 Bad Gateway"
    long_text = "x" * 5000
    exc = run_one(Script(reply(400, text=long_text)), "create_video", {})
    assert isinstance(exc, RowError) and len(exc.message) <= 320


# --- secrets ---------------------------------------------------------------------------------


def test_key_never_in_logs_errors_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx's included
    script = Script(reply(401, {"message": f"invalid api key {KEY}"}))
    client_repr: list[str] = []

    async def go() -> FatalError:
        async with make_client(script) as client:
            client_repr.append(repr(client))
            try:
                await client.create_video({"name": "x"})
            except FatalError as exc:
                return exc
        raise AssertionError("no FatalError")

    exc = asyncio.run(go())
    assert script.requests[0].headers["x-api-key"] == KEY  # the key was really sent
    assert caplog.records, "nothing was logged: the check below would be vacuous"
    for text in (caplog.text, str(exc), repr(exc), exc.message, client_repr[0]):
        assert KEY not in text
    assert "***" in exc.message


def test_key_that_cannot_be_a_header_is_refused_without_quoting_it() -> None:
    bad = "sk-SENTINEL\u00e9\n"
    with pytest.raises(FatalError) as info:
        ArgilClient(bad, BASE)
    assert "SENTINEL" not in str(info.value) and "SENTINEL" not in repr(info.value)


def test_key_whitespace_is_stripped() -> None:
    script = Script(reply(200))

    async def go() -> None:
        async with ArgilClient(
            f"  {KEY}\n", BASE, transport=httpx.MockTransport(script), rpm=1e6
        ) as client:
            await client.get_video("v")

    asyncio.run(go())
    assert script.requests[0].headers["x-api-key"] == KEY


# --- base URL --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:1/v1", "http://127.0.0.1:1/v1"),
        ("http://127.8.9.10:8787/v1/", "http://127.8.9.10:8787/v1"),
        ("http://localhost", "http://localhost"),
        ("http://LOCALHOST:8787/v1/", "http://localhost:8787/v1"),
        ("http://[::1]", "http://[::1]"),
        ("http://[::1]:9000/v1", "http://[::1]:9000/v1"),
        ("https://api.argil.ai/v1/", "https://api.argil.ai/v1"),
        ("HTTPS://Example.COM", "https://example.com"),
        (DEFAULT_BASE_URL, DEFAULT_BASE_URL),
    ],
)
def test_check_base_url_accepts(url: str, expected: str) -> None:
    assert check_base_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://example.com/v1",
        "http://10.0.0.1/v1",
        "http://128.0.0.1/v1",
        "http://localhost.example.com",
        "http://[::2]/v1",
        "ftp://127.0.0.1",
        "api.argil.ai/v1",
        "https://user:secret@api.argil.ai/v1",
        "https://api.argil.ai/v1?x=1",
        "http://127.0.0.1:99999/v1",
    ],
)
def test_check_base_url_refuses(url: str) -> None:
    with pytest.raises(InsecureURLError) as info:
        check_base_url(url)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/v1",
        "http://10.1.2.3/v1",
        "http://[::ffff:7f00:1]/v1",
        "http://127.0.0.1.nip.io/v1",
        "http://localhost.evil.example/v1",
        "http://0x7f000001/v1",
        "http://2130706433/v1",
        "HTTP://EXAMPLE.COM/v1",
    ],
)
def test_plain_http_to_a_host_that_is_not_loopback_is_refused(url: str) -> None:
    with pytest.raises(InsecureURLError):
        check_base_url(url)
    with pytest.raises(InsecureURLError):
        ArgilClient(KEY, url)


def test_client_refuses_plain_http_before_any_connection() -> None:
    called: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        called.append(request)
        return httpx.Response(200, json=VIDEO)

    with pytest.raises(InsecureURLError):
        ArgilClient(KEY, "http://example.com/v1", transport=httpx.MockTransport(handler))
    assert called == []


# --- the gate --------------------------------------------------------------------------------


def test_gate_pause_extends_never_shortens() -> None:
    ft = FakeTime()
    gate = RateGate(1e6, 2, clock=ft.clock, sleep=ft.sleep)
    gate.pause(5)
    gate.pause(2)
    assert gate.paused_for == 5

    async def go() -> None:
        async with gate:
            pass

    asyncio.run(go())
    assert sum(ft.waits()) == pytest.approx(5)
    gate.pause(1)
    gate.pause(3)
    assert gate.paused_for == 3


@pytest.mark.parametrize(
    ("concurrency", "rpm"),
    [
        (1, 1_000_000),  # B is queued for the only slot when A's 429 comes
        (2, 1200),  # B holds a slot and waits ~50 ms for its rate token when A's 429 comes
    ],
)
def test_a_429_makes_the_other_worker_wait(concurrency: int, rpm: float) -> None:
    ft = FakeTime()
    arrivals: list[tuple[str, float]] = []
    answered_429 = False

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal answered_429
        arrivals.append((request.url.path, ft.now))
        if not answered_429:
            answered_429 = True
            await asyncio.sleep(0.01)  # lets B reach the gate first
            return httpx.Response(429, json={}, headers={"Retry-After": "5"})
        return httpx.Response(200, json=VIDEO)

    async def go() -> None:
        # One attempt for A, so that only the gate (not A's own retry) can make B wait.
        async with make_client(
            handler, ft, concurrency=concurrency, rpm=rpm, max_attempts=1
        ) as client:
            a = asyncio.create_task(client.get_video("a"), name="A")
            b = asyncio.create_task(client.get_video("b"), name="B")
            with pytest.raises(RateLimited):
                await a
            await b

    asyncio.run(go())
    (path_a, t_a), (path_b, t_b) = arrivals
    assert path_a.endswith("/a") and path_b.endswith("/b")
    assert t_b >= t_a + 5
    assert ft.waits("B") == [5.0]
    assert ft.waits("A") == []


def test_concurrency_cap_is_respected() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        return httpx.Response(200, json=VIDEO)

    async def go() -> None:
        async with make_client(handler, concurrency=3) as client:
            await asyncio.gather(*(client.get_video(str(n)) for n in range(20)))

    asyncio.run(go())
    assert peak == 3


def test_requests_are_spaced_evenly_not_burst() -> None:
    arrivals: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        arrivals.append(time.monotonic())
        return httpx.Response(200, json=VIDEO)

    async def go() -> None:
        # 1200 rpm less 1% headroom: one request every ~50.5 ms.
        async with make_client(handler, rpm=1200, concurrency=8) as client:
            await asyncio.gather(*(client.get_video(str(n)) for n in range(5)))

    asyncio.run(go())
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(gaps) == 4
    # A burst would show gaps near 0; the margins only absorb scheduling noise.
    assert arrivals[-1] - arrivals[0] >= 4 * 0.0505 * 0.9
    assert min(gaps) >= 0.025


def test_concurrent_calls_retry_independently() -> None:
    failed: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path not in failed:
            failed.add(path)
            return httpx.Response(503, json={"message": "busy"})
        return httpx.Response(200, json={**VIDEO, "id": path.rsplit("/", 1)[-1]})

    async def go() -> tuple[list[str], int, int]:
        async with make_client(handler) as client:
            videos = await asyncio.gather(*(client.get_video(f"v{n}") for n in range(10)))
            return [v.id for v in videos], client.stats.retries, client.stats.requests

    ids, retries, requests = asyncio.run(go())
    assert ids == [f"v{n}" for n in range(10)]
    assert retries == 10 and requests == 20


def test_a_rate_change_lets_no_burst_out() -> None:
    # Workers wait for their turn while the rate drops: the next request still waits its full
    # interval after the previous one (swapping limiters once let two leave together).
    arrivals: list[float] = []

    async def main(loop: VirtualTimeLoop) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            arrivals.append(loop.time())
            if len(arrivals) == 10:
                client.gate.on_rate_limited()
            return httpx.Response(200, json=VIDEO)

        client = ArgilClient(
            KEY, BASE, rpm=600, concurrency=8, transport=httpx.MockTransport(handler),
            clock=loop.time,
        )  # fmt: skip
        async with client:
            await asyncio.gather(*(client.get_video(str(n)) for n in range(20)))

    run_virtual(main)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps[:9]) >= 60 / (600 * 0.99) * 0.999
    assert min(gaps[9:]) >= 60 / (600 * 0.99 * 0.92) * 0.999  # a lone 429: a step of 8%


def test_a_turn_goes_after_work_already_runnable() -> None:
    # At the start of a run every worker journals its row, then waits for the gate: the first
    # request must not leave while that work holds the loop, or it reaches the server late.
    events: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        events.append("sent")
        return httpx.Response(200, json=VIDEO)

    async def busy(n: int) -> None:
        events.append(f"busy {n}")

    async def go() -> None:
        async with make_client(handler) as client:
            first = asyncio.create_task(client.get_video("v"))
            others = [asyncio.create_task(busy(n)) for n in range(3)]
            await asyncio.gather(first, *others)

    asyncio.run(go())
    assert events == ["busy 0", "busy 1", "busy 2", "sent"]
