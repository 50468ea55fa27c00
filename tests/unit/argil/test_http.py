"""``ArgilClient`` over httpx's default transport and real sockets on loopback: keep-alive,
what is retried and what is in doubt, proxies, TLS, and the key never in an error.

Each test starts its own small asyncio server, written to behave (or misbehave) in one exact
way, and counts the connections it accepts; the emulator serves the round trip. The only real
waits are timeouts of a fraction of a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
import socket
import ssl
import subprocess
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec

import httpx
import pytest

from pipeline.argil.client import (
    ArgilClient,
    CertificateError,
    FatalError,
    InDoubt,
    TransportError,
)
from pipeline.argil.models import VideoCreateArgs
from pipeline.emulator import EmulatorServer

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
    """httpx as ``ArgilClient`` uses it: its default transport, the key in a header."""
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


@in_loop
async def test_a_create_without_an_answer_times_out_in_doubt_and_is_not_resent() -> None:
    async with (
        serve(never_answer) as server,
        argil(server.url("/v1"), timeout=httpx.Timeout(0.2)) as api,
    ):
        with pytest.raises(InDoubt):
            await api.create_video(video_body("row-1"))
    assert server.paths == ["/v1/videos"] and api.stats.retries == 0


async def half_a_body(conn: Conn) -> None:
    while await conn.request() is not None:
        await conn.send(answer(b'{"id": "video-1", "status": "IDLE"}')[:-10])
        await conn.close()
        return


@in_loop
async def test_half_a_body_then_close_is_a_protocol_error() -> None:
    async with serve(half_a_body) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(server.url("/"))
    assert server.accepted == 1


@in_loop
async def test_an_https_proxy_from_the_environment_still_carries_the_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over https, a proxy named in the environment carries the requests (a CONNECT tunnel)."""

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
        async with client(verify=trusting) as http:
            # The certificate is for the address 127.0.0.1 only: the name is checked too.
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(server.url("/", scheme="https", host="localhost"))
            assert server.requests == [], "no request may cross an unverified connection"
            response = await http.get(server.url("/secure", scheme="https"))
    assert response.text == "/secure"
    assert server.requests[0].headers["x-api-key"] == KEY


@in_loop
async def test_argil_client_trusts_the_ca_named_in_ssl_cert_file(
    self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a network that inspects TLS with its own CA needs: SSL_CERT_FILE (or SSL_CERT_DIR)
    naming that CA. Without it, nothing is sent over the unverified connection."""
    cert, key = self_signed
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)

    async def no_avatars(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.send(answer(b"[]", "Content-Type: application/json"))

    async with serve(no_avatars, tls=tls) as server:
        url = server.url("/v1", scheme="https")
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        async with argil(url, max_attempts=1) as api:
            with pytest.raises(TransportError) as caught:
                await api.list_avatars()
        assert not isinstance(caught.value, InDoubt) and server.requests == []
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        async with argil(url, max_attempts=1) as api:
            assert await api.list_avatars() == []
    assert [r.path for r in server.requests] == ["/v1/avatars"]


@in_loop
async def test_an_untrusted_certificate_is_named_with_the_way_to_trust_it_and_not_retried(
    self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpx says only ConnectError; the README promises the certificate failure by its name,
    and what to set."""
    cert, key = self_signed
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with serve(echo_path, tls=tls) as server:
        async with argil(server.url("/v1", scheme="https")) as api:
            with pytest.raises(CertificateError) as untrusted:
                await api.create_video(video_body("row-1"))
            # The same certificate would be met again: one attempt, and nothing was sent.
            assert api.stats.requests == 1 and api.stats.retries == 0
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        async with argil(server.url("/v1", scheme="https", host="localhost")) as api:
            with pytest.raises(CertificateError) as misnamed:
                await api.list_avatars()
    assert server.requests == []
    message = untrusted.value.message
    assert message.startswith("could not connect to https://127.0.0.1:")
    assert "TLS certificate verify failed: self-signed certificate; nothing was sent" in message
    assert "set SSL_CERT_FILE to a PEM bundle" in message
    assert not isinstance(untrusted.value, InDoubt), "refused before anything was sent"
    assert "mismatch" in misnamed.value.message and "localhost" in misnamed.value.message
    assert_no_key(untrusted.value)


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
async def test_a_key_that_cannot_be_sent_is_refused_before_httpx_could_quote_it() -> None:
    """httpx's own error for an illegal header value quotes the value: the client refuses such a
    key itself first, with a message that does not."""
    async with serve(echo_path) as server:
        with pytest.raises(httpx.LocalProtocolError) as quoted:
            async with client() as http:
                await http.get(server.url("/"), headers={"x-api-key": KEY + "\n"})
        assert KEY in str(quoted.value), "httpx quotes it: the client's own check is needed"
        with pytest.raises(FatalError) as caught:
            ArgilClient(KEY[:6] + "\n" + KEY[6:], server.url("/v1"))
    assert_no_key(caught.value)
    assert server.requests == []
