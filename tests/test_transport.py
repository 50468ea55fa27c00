"""LeanTransport over real sockets on loopback: keep-alive, framing, failures, TLS.

Each test starts its own small asyncio server, written to behave (or misbehave) in one exact
way, and counts the connections it accepts; the emulator serves the round trip through
``ArgilClient``. Keep-alive expiry is driven by an injected clock; the only real waits are
timeouts of a fraction of a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import shutil
import socket
import ssl
import subprocess
import threading
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec

import httpx
import pytest

from pipeline.argil.client import ArgilClient, InDoubt, TransportError
from pipeline.argil.emulator import EmulatorServer
from pipeline.argil.models import VideoCreateArgs
from pipeline.argil.transport import KEEPALIVE_EXPIRY, LeanTransport

KEY = "sk-SENTINEL-transport-5e1d0c"
MARKERS = (KEY, "SENTINEL", "5e1d0c")
P = ParamSpec("P")


def in_loop(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test in a fresh event loop (fixtures still reach it by name)."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


# --- a small HTTP/1.1 server, one behaviour per test ------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int
    raw: bytes  # the head as received


@dataclass
class Conn:
    server: RawServer
    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def request(self) -> Request | None:
        """The next request on this connection, or None once the client has closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.server.note(eof=self.index)
            return None
        first, *lines = head.decode("latin-1").split("\r\n")[:-2]
        method, path, _ = first.split(" ")
        headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in lines)}
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        request = Request(method, path, headers, body, self.index, head)
        await self.server.note(request=request)
        return request

    async def send(self, *pieces: bytes, pause: bool = False) -> None:
        """Write ``pieces`` one at a time; with ``pause``, let the client read each one alone."""
        for piece in pieces:
            self.writer.write(piece)
            await self.writer.drain()
            if pause:
                await asyncio.sleep(0.001)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
        await self.server.note(closed=self.index)


Handler = Callable[[Conn], Awaitable[None]]


@dataclass
class RawServer:
    handler: Handler
    port: int = 0
    accepted: int = 0
    requests: list[Request] = field(default_factory=list)
    eof: set[int] = field(default_factory=set)  # connections the client closed
    closed: set[int] = field(default_factory=set)  # connections the server closed
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def url(self, path: str = "/", scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        conn = Conn(self, self.accepted, reader, writer)
        self.accepted += 1
        try:
            await self.handler(conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            await self.note(eof=conn.index)
        except asyncio.CancelledError:
            pass  # stopped at the end of the test; asyncio would report it as a failure
        finally:
            writer.close()

    async def note(
        self, *, request: Request | None = None, eof: int | None = None, closed: int | None = None
    ) -> None:
        if request is not None:
            self.requests.append(request)
        if eof is not None:
            self.eof.add(eof)
        if closed is not None:
            self.closed.add(closed)
        async with self.changed:
            self.changed.notify_all()

    async def until(self, predicate: Callable[[], bool], timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(predicate)


@contextlib.asynccontextmanager
async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[RawServer]:
    raw = RawServer(handler)
    server = await asyncio.start_server(raw.accept, "127.0.0.1", 0, ssl=tls)
    raw.port = server.sockets[0].getsockname()[1]
    try:
        yield raw
    finally:
        server.close()
        for task in raw.tasks:
            task.cancel()
        await asyncio.gather(*raw.tasks, return_exceptions=True)


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def echo_path(conn: Conn) -> None:
    """Keep-alive: every request is answered with its own path."""
    while (request := await conn.request()) is not None:
        await conn.send(answer(request.path.encode()))


def held_until(count: int) -> Handler:
    """Keep-alive echo that answers nothing until ``count`` requests are in, all at once."""

    async def handler(conn: Conn) -> None:
        while (request := await conn.request()) is not None:
            await conn.server.until(lambda: len(conn.server.requests) >= count)
            await conn.send(answer(request.path.encode()))

    return handler


async def settle() -> None:
    """A few turns of the event loop, for a close on one end to reach the other."""
    for _ in range(5):
        await asyncio.sleep(0)


def client(**kwargs: Any) -> httpx.AsyncClient:
    kwargs.setdefault("transport", LeanTransport())
    return httpx.AsyncClient(headers={"x-api-key": KEY}, **kwargs)


@pytest.fixture
def refused() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused, and nobody else takes it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


def video_body(key: str) -> dict[str, Any]:
    moment = {"transcript": "Hello there.", "avatarId": "avatar-emma", "voiceId": "voice-emma"}
    args = VideoCreateArgs.model_validate(
        {"name": "Launch", "moments": [moment], "extras": {"argilBatchKey": key}}
    )
    return args.to_body()


def argil(url: str, **kwargs: Any) -> ArgilClient:
    return ArgilClient(KEY, url, rpm=1_000_000, sleep=no_sleep, **kwargs)


# --- keep-alive -------------------------------------------------------------------------------


@in_loop
async def test_argil_client_round_trip_through_the_emulator_on_one_connection(
    emulator: EmulatorServer,
) -> None:
    async def relay(conn: Conn) -> None:
        """Forward one connection to the emulator, byte for byte."""
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", emulator.port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
            sink.close()

        await asyncio.gather(pipe(conn.reader, up_writer), pipe(up_reader, conn.writer))

    async with serve(relay) as server, argil(server.url("/v1")) as api:
        created = await api.create_video(video_body("row-1"))
        fetched = await api.get_video(created.id)
        avatars = await api.list_avatars()
    assert fetched.id == created.id and fetched.extras == {"argilBatchKey": "row-1"}
    assert avatars and emulator.emulator.count_by_batch_key() == {"row-1": 1}
    assert server.accepted == 1, "sequential calls must share one kept-alive connection"


@in_loop
async def test_sequential_requests_reuse_one_connection() -> None:
    async with serve(echo_path) as server, client() as http:
        texts = [(await http.get(server.url(f"/n/{i}"))).text for i in range(5)]
    assert texts == [f"/n/{i}" for i in range(5)]
    assert server.accepted == 1


@in_loop
async def test_concurrent_requests_use_separate_connections_and_get_their_own_answers() -> None:
    # No answer leaves before all four requests are in: they cannot share a connection.
    async with serve(held_until(4)) as server, client() as http:
        paths = [f"/c/{i}" for i in range(4)]
        first = await asyncio.gather(*(http.get(server.url(p)) for p in paths))
        again = await asyncio.gather(*(http.get(server.url(p)) for p in paths))
    assert [r.text for r in first] == paths and [r.text for r in again] == paths
    assert server.accepted == 4, "the second round reuses the four idle connections"


@in_loop
async def test_a_connection_idle_past_the_expiry_is_closed_not_reused() -> None:
    now = [1000.0]
    async with (
        serve(echo_path) as server,
        client(transport=LeanTransport(clock=lambda: now[0])) as http,
    ):
        await http.get(server.url("/a"))
        now[0] += KEEPALIVE_EXPIRY - 0.5
        await http.get(server.url("/b"))
        assert server.accepted == 1, "idle for less than the expiry: reused"
        now[0] += KEEPALIVE_EXPIRY
        response = await http.get(server.url("/c"))
        assert response.text == "/c"
        assert server.accepted == 2
        await server.until(lambda: 0 in server.eof)  # the expired one was closed, not leaked


@in_loop
async def test_an_idle_connection_the_server_closed_is_replaced_silently() -> None:
    async def once(conn: Conn) -> None:
        request = await conn.request()
        assert request is not None
        await conn.send(answer(request.path.encode()))
        await conn.close()

    async with serve(once) as server, client() as http:
        await http.get(server.url("/first"))
        await server.until(lambda: 0 in server.closed)
        await settle()
        response = await http.get(server.url("/second"))
    assert response.text == "/second"
    assert server.accepted == 2


@in_loop
async def test_a_close_the_event_loop_has_not_read_yet_is_still_seen() -> None:
    """The server's close reaches the socket while the loop is busy, so the reader has not
    seen it when the next request goes: the socket itself is asked, and a new one opened."""
    accepted: list[int] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_and_close() -> None:
        # A plain thread, so its close lands whatever the client's loop is doing.
        for index in range(2):
            conn, _ = listener.accept()
            accepted.append(index)
            with conn:
                received = b""
                while b"\r\n\r\n" not in received:
                    received += conn.recv(4096)
                path = received.split(b" ")[1]
                conn.sendall(answer(path))

    thread = threading.Thread(target=serve_and_close, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        async with client() as http:
            assert (await http.get(url + "/first")).text == "/first"
            # Blocks the loop (not a backoff): the FIN arrives while nothing reads it.
            time.sleep(0.1)
            response = await http.get(url + "/second")
    finally:
        thread.join(5)
        listener.close()
    assert response.text == "/second"
    assert accepted == [0, 1]


@in_loop
async def test_an_answer_with_connection_close_ends_the_connection() -> None:
    async def closing(conn: Conn) -> None:
        # Asks the client to close, but keeps reading: only the client can end it here.
        while (request := await conn.request()) is not None:
            await conn.send(answer(request.path.encode(), "Connection: close"))

    async with serve(closing) as server, client() as http:
        await http.get(server.url("/first"))
        await server.until(lambda: 0 in server.eof)
        response = await http.get(server.url("/second"))
    assert response.text == "/second"
    assert server.accepted == 2 and server.paths == ["/first", "/second"]


@pytest.mark.parametrize("late", [False, True], ids=["with-the-answer", "while-idle"])
@in_loop
async def test_bytes_received_on_an_idle_connection_are_never_taken_for_an_answer(
    late: bool,
) -> None:
    """A 408 that some servers send before closing an idle connection, or any stray answer:
    the next request must not take it for its own."""
    stray = answer(b"stray", "Connection: close", status="408 Request Timeout")
    idle, sent = asyncio.Event(), asyncio.Event()

    async def unsolicited(conn: Conn) -> None:
        request = await conn.request()
        assert request is not None
        if late:
            await conn.send(answer(request.path.encode()))
            await idle.wait()
            await conn.send(stray)
        else:
            await conn.send(answer(request.path.encode()) + stray)
        sent.set()
        await echo_path(conn)

    async with serve(unsolicited) as server, client() as http:
        await http.get(server.url("/first"))
        idle.set()
        await sent.wait()
        await settle()
        response = await http.get(server.url("/second"))
    assert (response.status_code, response.text) == (200, "/second")
    assert server.accepted == 2 and server.paths == ["/first", "/second"]


# --- framing ----------------------------------------------------------------------------------


@in_loop
async def test_a_chunked_body_in_many_small_writes_is_read_whole() -> None:
    text = b'{"id": "video-1", "status": "IDLE", "padding": "' + b"x" * 300 + b'"}'
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    for start in range(0, len(text), 50):
        chunk = text[start : start + 50]
        wire += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    wire += b"0\r\n\r\n"

    async def chunked(conn: Conn) -> None:
        while await conn.request() is not None:
            # Seven-byte writes cut through chunk sizes, bodies and line ends alike.
            await conn.send(*(wire[i : i + 7] for i in range(0, len(wire), 7)), pause=True)

    async with serve(chunked) as server, client() as http:
        first = await http.get(server.url("/one"))
        second = await http.get(server.url("/two"))
    assert first.content == text and second.json()["id"] == "video-1"
    assert server.accepted == 1, "a chunked answer read to its end leaves the connection usable"


@in_loop
async def test_a_content_length_body_ending_byte_by_byte_is_read_whole() -> None:
    body = b'{"message": "' + bytes(range(97, 123)) * 3 + b'"}'

    async def trickle(conn: Conn) -> None:
        while await conn.request() is not None:
            wire = answer(body, "Content-Type: application/json")
            await conn.send(
                wire[:-20], *(wire[i : i + 1] for i in range(len(wire) - 20, len(wire))), pause=True
            )

    async with serve(trickle) as server, client() as http:
        response = await http.get(server.url("/"))
    assert response.content == body
    assert response.headers["content-length"] == str(len(body))


@in_loop
async def test_a_gzip_answer_is_decoded() -> None:
    plain = b'{"videos": [], "totalPages": 0, "padding": "' + b"ab" * 200 + b'"}'

    async def gzipped(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.send(answer(gzip.compress(plain), "Content-Encoding: gzip"))

    async with serve(gzipped) as server, client() as http:
        response = await http.get(server.url("/videos"))
    assert response.content == plain
    assert response.json()["totalPages"] == 0


@in_loop
async def test_an_interim_answer_is_skipped_and_the_real_one_read() -> None:
    async def early_hints(conn: Conn) -> None:
        while (request := await conn.request()) is not None:
            interim = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"
            await conn.send(interim, answer(request.path.encode(), "X-Final: yes"), pause=True)

    async with serve(early_hints) as server, client() as http:
        first = await http.get(server.url("/one"))
        second = await http.get(server.url("/two"))
    assert (first.status_code, first.text, first.headers.get("link")) == (200, "/one", None)
    assert first.headers["x-final"] == "yes" and second.text == "/two"
    assert server.accepted == 1


@in_loop
async def test_an_answer_without_length_ends_with_the_connection() -> None:
    """HTTP/1.0 style: no Content-Length, no chunks; the body is all that comes before the
    close, and that connection is never reused."""

    async def until_close(conn: Conn) -> None:
        request = await conn.request()
        assert request is not None
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", b"to the ")
        await conn.send(b"end")
        await conn.close()

    async with serve(until_close) as server, client() as http:
        first = await http.get(server.url("/one"))
        second = await http.get(server.url("/two"))
    assert first.text == second.text == "to the end"
    assert server.accepted == 2


@in_loop
async def test_garbage_after_a_whole_answer_keeps_the_answer_not_the_connection() -> None:
    async def trailing_garbage(conn: Conn) -> None:
        while (request := await conn.request()) is not None:
            await conn.send(answer(request.path.encode()) + b"\x00garbage\r\n")

    async with serve(trailing_garbage) as server, client() as http:
        first = await http.get(server.url("/one"))
        second = await http.get(server.url("/two"))
    assert (first.status_code, first.text, second.text) == (200, "/one", "/two")
    assert server.accepted == 2


@in_loop
async def test_an_answer_switching_protocols_is_a_protocol_error_and_a_create_in_doubt() -> None:
    async def upgrade(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.send(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n\r\n"
            )

    async with serve(upgrade) as server:
        async with client() as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(server.url("/"))
        async with argil(server.url("/v1")) as api:
            with pytest.raises(InDoubt):
                await api.create_video(video_body("row-1"))


@in_loop
async def test_a_malformed_answer_is_a_protocol_error_that_quotes_nothing() -> None:
    async def broken(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.send(b"HTTP/1.1 200 OK\r\nX-Echo: " + KEY.encode() + b"\nbad\r\n\r\n")

    async with serve(broken) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await http.get(server.url("/"))
    assert "not valid HTTP/1.1" in str(caught.value)
    assert_no_key(caught.value)


@in_loop
async def test_the_request_is_framed_by_its_body_alone() -> None:
    """A streamed body is sent with its length, and a length the caller set is not trusted."""

    async def parts() -> AsyncIterator[bytes]:
        yield b'{"name": '
        yield b'"streamed"}'

    async with serve(echo_path) as server, client() as http:
        await http.post(server.url("/stream"), content=parts())
        await http.post(server.url("/lying"), content=b"12345", headers={"Content-Length": "2"})
        await http.post(server.url("/empty"))
        await http.get(server.url("/get"))
    stream, lying, empty, get = server.requests
    assert stream.body == b'{"name": "streamed"}' and stream.headers["content-length"] == "20"
    assert "transfer-encoding" not in stream.headers
    assert lying.body == b"12345" and lying.headers["content-length"] == "5"
    assert empty.headers["content-length"] == "0" and "content-length" not in get.headers
    assert server.accepted == 1, "every request was read to its end: the connection lived on"


@pytest.mark.parametrize(
    "headers",
    [{"x-note": "a\r\nx-injected: 1"}, {"bad name": "x"}, {"x-note": " padded"}],
    ids=["crlf-in-value", "space-in-name", "leading-space"],
)
@in_loop
async def test_a_header_that_would_break_the_framing_is_refused_before_sending(
    headers: dict[str, str],
) -> None:
    async with serve(echo_path) as server, client() as http:
        with pytest.raises(httpx.LocalProtocolError):
            await http.get(server.url("/"), headers=headers)
    assert server.requests == [] and server.accepted == 0


# --- failures: before sending, and after ------------------------------------------------------


@in_loop
async def test_a_refused_connection_is_a_connect_error_and_a_create_is_retried_not_in_doubt(
    refused: int,
) -> None:
    url = f"http://127.0.0.1:{refused}"
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url + "/")
    async with argil(url + "/v1", max_attempts=3) as api:
        with pytest.raises(TransportError) as caught:
            await api.create_video(video_body("row-1"))
    assert not isinstance(caught.value, InDoubt)
    assert api.stats.requests == 3 and api.stats.retries == 2 and api.stats.in_doubt == 0


async def read_then_hang_up(conn: Conn) -> None:
    while await conn.request() is not None:
        await conn.close()
        return


@in_loop
async def test_a_request_read_then_hung_up_on_is_a_protocol_error_and_a_create_in_doubt() -> None:
    async with serve(read_then_hang_up) as server:
        async with client() as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(server.url("/"))
        async with argil(server.url("/v1")) as api:
            with pytest.raises(InDoubt):
                await api.create_video(video_body("row-1"))
    assert server.paths == ["/", "/v1/videos"], "the create was sent once, never again"
    assert api.stats.in_doubt == 1 and api.stats.retries == 0


async def never_answer(conn: Conn) -> None:
    while await conn.request() is not None:
        await asyncio.Event().wait()


@in_loop
async def test_no_answer_is_a_read_timeout() -> None:
    loop = asyncio.get_running_loop()
    async with serve(never_answer) as server, client(timeout=httpx.Timeout(0.2)) as http:
        started = loop.time()
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url("/slow"))
    assert 0.15 < loop.time() - started < 1.5
    assert server.paths == ["/slow"], "the request had arrived: a timeout, not a connect error"


async def half_a_body(conn: Conn) -> None:
    while await conn.request() is not None:
        await conn.send(answer(b'{"id": "video-1", "status": "IDLE"}')[:-10])
        await conn.close()
        return


@in_loop
async def test_half_a_body_then_close_is_a_protocol_error() -> None:
    async with serve(half_a_body) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError, match="before the answer was complete"):
            await http.get(server.url("/"))
    assert server.accepted == 1


@in_loop
async def test_a_cancelled_request_closes_its_connection() -> None:
    release = asyncio.Event()

    async def slow_first(conn: Conn) -> None:
        while (request := await conn.request()) is not None:
            if request.path == "/slow":
                await release.wait()
            await conn.send(answer(request.path.encode()))

    async with serve(slow_first) as server, client() as http:
        pending = asyncio.create_task(http.get(server.url("/slow")))
        await server.until(lambda: server.paths == ["/slow"])
        pending.cancel()
        # Kept until the end: it holds the request's frames, so only the transport's own close
        # can end the connection, not the garbage collector.
        with pytest.raises(asyncio.CancelledError) as cancelled:
            await pending
        release.set()  # the late answer to /slow goes out on the first connection
        await server.until(lambda: 0 in server.eof)
        assert cancelled.traceback
        response = await http.get(server.url("/next"))
    assert response.text == "/next", "a late answer to the cancelled request was taken"
    assert server.accepted == 2


@in_loop
async def test_an_https_proxy_from_the_environment_still_carries_the_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Requests skip httpx's client, but not when the environment names a proxy: httpx's client
    alone knows how to reach the API through it."""

    async def refuse_tunnel(conn: Conn) -> None:
        if await conn.request() is not None:
            await conn.send(answer(b"", status="403 Forbidden"))
        await conn.close()

    async with serve(refuse_tunnel) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        async with argil("https://api.example.test/v1", max_attempts=1) as api:
            with pytest.raises(TransportError):
                await api.list_avatars()
    assert [(r.method, r.path) for r in proxy.requests] == [("CONNECT", "api.example.test:443")]


# --- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@in_loop
async def test_tls_is_verified_and_used(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    async with serve(echo_path, tls=tls) as server:
        async with client() as http:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(server.url("/", scheme="https"))
        async with client(transport=LeanTransport(ssl_context=trusting)) as http:
            # The certificate is for the address 127.0.0.1 only: the name is checked too.
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(server.url("/", scheme="https", host="localhost"))
            assert server.requests == [], "no request may cross an unverified connection"
            response = await http.get(server.url("/secure", scheme="https"))
    assert response.text == "/secure"
    assert server.requests[0].headers["x-api-key"] == KEY


# --- closing and secrecy ----------------------------------------------------------------------


# A connection left to the garbage collector is closed too, but with a ResourceWarning.
@pytest.mark.filterwarnings("error::ResourceWarning")
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
@in_loop
async def test_aclose_closes_idle_connections() -> None:
    loop = asyncio.get_running_loop()
    async with serve(held_until(2)) as server:
        http = client()
        await asyncio.gather(http.get(server.url("/a")), http.get(server.url("/b")))
        assert server.accepted == 2 and not server.eof
        started = loop.time()
        await http.aclose()
        assert loop.time() - started < 0.5
        await server.until(lambda: server.eof == {0, 1})


def assert_no_key(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc)
    for marker in MARKERS:
        assert marker not in text, text


async def echo_request(conn: Conn) -> None:
    """Sends the request back as if it were the answer, headers (and key) included."""
    request = await conn.request()
    assert request is not None
    await conn.send(request.raw + request.body)
    await conn.close()


@pytest.mark.parametrize(
    "handler",
    [read_then_hang_up, half_a_body, never_answer, echo_request],
    ids=lambda h: h.__name__,
)
@in_loop
async def test_no_transport_error_quotes_the_api_key(handler: Handler, refused: int) -> None:
    errors: list[httpx.HTTPError] = []
    async with serve(handler) as server, client(timeout=httpx.Timeout(0.2)) as http:
        for url in (server.url("/v1/videos"), f"http://127.0.0.1:{refused}/v1/videos"):
            with pytest.raises(httpx.TransportError) as caught:
                await http.post(url, json={"name": "x"})
            errors.append(caught.value)
    assert server.requests[0].headers["x-api-key"] == KEY, "the key was sent: a fair test"
    for error in errors:
        assert_no_key(error)


@in_loop
async def test_a_header_value_that_cannot_be_sent_is_not_quoted() -> None:
    async with serve(echo_path) as server, client() as http:
        with pytest.raises(httpx.LocalProtocolError) as caught:
            await http.get(server.url("/"), headers={"x-api-key": KEY + "\n"})
    assert_no_key(caught.value)
    assert server.requests == []
