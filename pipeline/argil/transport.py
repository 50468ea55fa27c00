"""The HTTP/1.1 transport under the API client: h11 over asyncio streams, a keep-alive pool.

Hand-written on purpose, and small: h11 (the library httpx's own transport uses) still does
all of HTTP/1.1; this module only opens, pools and closes connections and turns their failures
into httpx's exceptions, so ``ArgilClient`` and everything above it see plain httpx. The reason
is CPU: when requests come 100 ms apart, as they do at an API's rate limit, each one wakes an
idle process, and httpx's default transport (httpcore over anyio) then costs 0.3 to 0.4 ms
more CPU per request than this one (``benchmarks/transport_cpu.py``); over a paced run that
is the difference between missing and meeting 2 ms of CPU per row.

What it does not do, because the client never asks for it: HTTP/2, proxies (httpx mounts its
own transport for a proxy from the environment, ahead of this one), streaming bodies (every
answer of the API is one small JSON document, read whole).

Which failures mean what matters to the caller, which must never resend a create blindly:
``ConnectError``/``ConnectTimeout`` mean nothing was sent; anything later (``WriteError``,
``ReadTimeout``, ``ReadError``, ``RemoteProtocolError``) means the request may have arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h11
import httpx

# Servers close idle keep-alive connections after a few seconds (uvicorn and Node after 5);
# reusing one they are closing turns a create into an in-doubt lookup, so connections idle
# this long are closed rather than reused: a second short of the shortest common limit, so a
# close already on its way cannot cross the next request.
KEEPALIVE_EXPIRY = 4.0
_READ_SIZE = 65536

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    idle_since: float = 0.0

    def reusable(self, now: float) -> bool:
        return (
            now - self.idle_since < KEEPALIVE_EXPIRY
            and not self.writer.is_closing()
            # The server closed its end while the connection sat idle.
            and not self.reader.at_eof()
            and self.protocol.our_state is h11.IDLE
            # Nothing but a close may arrive on an idle connection: bytes there (the 408 some
            # servers send before closing one, a stray answer) would be read as the answer to
            # the next request.
            and not self.protocol.trailing_data[0]
            and not _unread(self.reader)
            and not _socket_readable(self.writer)
        )

    def close(self) -> None:
        self.writer.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 for ``httpx.AsyncClient(transport=...)``; TLS always verified."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, clock: Clock | None = None):
        self._ssl_context = ssl_context
        self._clock = clock or time.monotonic
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        origin = (request.url.scheme, request.url.host, request.url.port or _default_port(request))
        body = await request.aread()
        connection = self._take_idle(origin) or await self._connect(
            origin, timeouts.get("connect"), request
        )
        try:
            response = await self._exchange(connection, request, body, timeouts)
        except BaseException:
            # Cancelled or failed half-way: the connection's state is unknown, never reuse it.
            connection.close()
            raise
        if (
            connection.protocol.our_state is h11.DONE
            and connection.protocol.their_state is h11.DONE
        ):
            connection.protocol.start_next_cycle()
            connection.idle_since = self._clock()
            self._idle.setdefault(origin, []).append(connection)
        else:
            logger.debug("closing a connection the server will not reuse")
            connection.close()  # the server asked to close, or spoke HTTP/1.0
        return response

    async def aclose(self) -> None:
        connections = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for connection in connections:
            connection.close()
        for connection in connections:
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(connection.writer.wait_closed(), 1.0)

    def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = self._clock()
        while idle:
            # The most recently used first: it is the least likely to have been closed.
            connection = idle.pop()
            if connection.reusable(now):
                return connection
            connection.close()
        return None

    async def _connect(
        self, origin: tuple[str, str, int], timeout: float | None, request: httpx.Request
    ) -> _Connection:
        scheme, host, port = origin
        context: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context()
            context = self._ssl_context
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=host if context else None
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("timed out connecting", request=request) from None
        except (OSError, ssl.SSLError) as exc:
            logger.debug("could not connect to %s:%d: %s", host, port, type(exc).__name__)
            # The message names the host and the reason, never the request or its headers.
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from None
        logger.debug("connected to %s:%d over %s", host, port, scheme)
        return _Connection(reader, writer)

    async def _exchange(
        self,
        connection: _Connection,
        request: httpx.Request,
        body: bytes,
        timeouts: dict[str, float | None],
    ) -> httpx.Response:
        protocol = connection.protocol
        try:
            data = protocol.send(
                h11.Request(
                    method=request.method,
                    target=request.url.raw_path,
                    headers=list(request.headers.raw),
                )
            )
            if body:
                data += protocol.send(h11.Data(data=body))
            data += protocol.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            # Not h11's message: it quotes the header value it refuses, which may be the key.
            raise httpx.LocalProtocolError(
                "the request cannot be sent: a header, the method or the target is not valid "
                "in HTTP/1.1",
                request=request,
            ) from None
        try:
            async with asyncio.timeout(timeouts.get("write")):
                connection.writer.write(data)
                await connection.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("timed out sending", request=request) from None
        except OSError as exc:
            raise httpx.WriteError(type(exc).__name__, request=request) from None

        head: h11.Response | None = None
        chunks: list[bytes] = []
        read_timeout = timeouts.get("read")
        while True:
            try:
                event = protocol.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from None
            if event is h11.NEED_DATA:
                try:
                    async with asyncio.timeout(read_timeout):
                        received = await connection.reader.read(_READ_SIZE)
                except TimeoutError:
                    raise httpx.ReadTimeout(
                        "timed out waiting for the answer", request=request
                    ) from None
                except OSError as exc:
                    raise httpx.ReadError(type(exc).__name__, request=request) from None
                # b"" is the server closing: h11 then says whether the answer was complete.
                protocol.receive_data(received)
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError(
                    "the server closed the connection without answering", request=request
                )
            # InformationalResponse (1xx): nothing to do but read on.
        assert head is not None  # h11 gives a Response before any Data or EndOfMessage
        extensions: dict[str, Any] = {
            "http_version": b"HTTP/" + head.http_version,
            "reason_phrase": head.reason,
        }
        return httpx.Response(
            head.status_code,
            headers=list(head.headers),
            content=b"".join(chunks),
            request=request,
            extensions=extensions,
        )


def _unread(reader: asyncio.StreamReader) -> bool:
    # StreamReader has no public way to look at what it holds without reading it.
    return bool(getattr(reader, "_buffer", None))


def _socket_readable(writer: asyncio.StreamWriter) -> bool:
    # The event loop may not have read the server's close (or a stray byte) yet, if it arrived
    # in this very turn: ask the socket itself, as httpx's own transport does. One poll.
    sock = writer.get_extra_info("socket")
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True  # closed under us
    return bool(readable)


def _default_port(request: httpx.Request) -> int:
    return 443 if request.url.scheme == "https" else 80
