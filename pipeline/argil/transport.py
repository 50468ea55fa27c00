"""The HTTP/1.1 transport under the API client: asyncio streams, httptools, a keep-alive pool.

Hand-written on purpose, and small: httptools (llhttp, the parser of Node.js and of uvicorn)
reads every answer, chunked or not; this module writes the request (a request line and the
headers the client set, each checked against HTTP/1.1's grammar first), opens, pools and
closes connections, and turns their failures into httpx's exceptions, so ``ArgilClient`` and
everything above it see plain httpx. The reason is CPU: when requests come 100 ms apart, as
they do at an API's rate limit, each one wakes an idle process and runs cold, and every line
of Python on the way counts. Under the same ``httpx.AsyncClient``, httpx's default transport
(httpcore over anyio, h11 parsing in pure Python) costs this machine nearly twice the CPU per
such request (``benchmarks/transport_cpu.py``).

What it does not do, because the client never asks for it: HTTP/2, proxies (when the
environment names one, ``ArgilClient`` leaves the transport to httpx), streaming bodies (every
answer of the API is one small JSON document, read whole).

Which failures mean what matters to the caller, which must never resend a create blindly:
``ConnectError``/``ConnectTimeout`` mean nothing was sent; anything later (``WriteError``,
``ReadTimeout``, ``ReadError``, ``RemoteProtocolError``) means the request may have arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import select
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools
import httpx

# Servers close idle keep-alive connections after a few seconds (uvicorn and Node after 5);
# reusing one they are closing turns a create into an in-doubt lookup, so connections idle
# this long are closed rather than reused: a second short of the shortest common limit, so a
# close already on its way cannot cross the next request.
KEEPALIVE_EXPIRY = 4.0
_READ_SIZE = 65536

# RFC 9110's grammar for what is written: a token for the method and header names; a header
# value of visible characters, spaces and tabs inside (no CR or LF, which would end the line
# and let the value write headers of its own); a target of visible ASCII.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?")
_TARGET = re.compile(rb"[\x21-\x7e]+")
# Set by the transport from the body it sends; any value given is left out.
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def reusable(self, now: float) -> bool:
        return (
            now - self.idle_since < KEEPALIVE_EXPIRY
            and not self.writer.is_closing()
            # The server closed its end while the connection sat idle.
            and not self.reader.at_eof()
            # Nothing but a close may arrive on an idle connection: bytes there (the 408 some
            # servers send before closing one, a stray answer) would be read as the answer to
            # the next request.
            and not _unread(self.reader)
            and not _socket_readable(self.writer)
        )

    def close(self) -> None:
        self.writer.close()


class _Answer:
    """The answer as httptools parses it (its callbacks, by name)."""

    __slots__ = ("body", "complete", "headers", "parser", "reason", "reusable", "status")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.reason: list[bytes] = []
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False
        self.reusable = False

    # Once ours is complete, whatever follows is an answer nobody asked for: it is left out,
    # and the connection is not to be trusted again.

    def on_message_begin(self) -> None:
        self.reusable = False

    def on_status(self, piece: bytes) -> None:
        if not self.complete:
            self.reason.append(piece)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.complete:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if not self.complete:
            self.status = self.parser.get_status_code()

    def on_body(self, piece: bytes) -> None:
        if not self.complete:
            self.body.append(piece)

    def on_message_complete(self) -> None:
        if self.complete:
            return
        if self.status < 200:
            # An interim answer (100 Continue, 103 Early Hints): the real one follows.
            self.reason.clear()
            self.headers.clear()
            self.body.clear()
            return
        self.complete = True
        self.reusable = self.parser.should_keep_alive()

    def ends_at_close(self) -> bool:
        """Neither a length nor chunks: the body is whatever comes until the server closes."""
        if not self.status or self.status in (204, 304):
            return False
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length":
                return False
            if lowered == b"transfer-encoding" and value.lower().rstrip().endswith(b"chunked"):
                return False
        return True


class LeanTransport(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 for ``httpx.AsyncClient(transport=...)``; TLS always verified."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, clock: Clock | None = None):
        self._ssl_context = ssl_context
        self._clock = clock or time.monotonic
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        url = request.url
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        data = _serialize(request, await request.aread())
        connection = self._take_idle(origin) or await self._connect(
            origin, timeouts.get("connect"), request
        )
        try:
            answer = await self._exchange(connection, request, data, timeouts)
        except BaseException:
            # Cancelled or failed half-way: the connection's state is unknown, never reuse it.
            connection.close()
            raise
        if answer.reusable:
            connection.idle_since = self._clock()
            self._idle.setdefault(origin, []).append(connection)
        else:
            logger.debug("closing a connection the server will not reuse")
            connection.close()  # the server asked to close, or spoke HTTP/1.0
        version = answer.parser.get_http_version()
        extensions: dict[str, Any] = {
            "http_version": f"HTTP/{version}".encode(),
            "reason_phrase": b"".join(answer.reason),
        }
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            content=b"".join(answer.body),
            request=request,
            extensions=extensions,
        )

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
        data: bytes,
        timeouts: dict[str, float | None],
    ) -> _Answer:
        try:
            async with asyncio.timeout(timeouts.get("write")):
                connection.writer.write(data)
                await connection.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("timed out sending", request=request) from None
        except OSError as exc:
            raise httpx.WriteError(type(exc).__name__, request=request) from None

        answer = _Answer()
        read_timeout = timeouts.get("read")
        while not answer.complete:
            try:
                async with asyncio.timeout(read_timeout):
                    received = await connection.reader.read(_READ_SIZE)
            except TimeoutError:
                raise httpx.ReadTimeout(
                    "timed out waiting for the answer", request=request
                ) from None
            except OSError as exc:
                raise httpx.ReadError(type(exc).__name__, request=request) from None
            if not received:
                if answer.ends_at_close():
                    answer.complete = True
                    break
                raise httpx.RemoteProtocolError(
                    "the server closed the connection before the answer was complete",
                    request=request,
                )
            try:
                answer.parser.feed_data(received)
            # An upgrade (101 Switching Protocols) is no answer the client can read either.
            except (httptools.HttpParserError, httptools.HttpParserUpgrade):
                if answer.complete:
                    # Bytes after a whole answer: the answer stands, the connection does not.
                    answer.reusable = False
                    break
                # Not the parser's message: it may quote what it could not read.
                raise httpx.RemoteProtocolError(
                    "the answer is not valid HTTP/1.1", request=request
                ) from None
        return answer


def _serialize(request: httpx.Request, body: bytes) -> bytes:
    """The request's bytes, or LocalProtocolError if any part would break HTTP/1.1's framing."""
    method = request.method.encode("ascii", "replace")
    target = request.url.raw_path
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    valid = bool(_TOKEN.fullmatch(method) and _TARGET.fullmatch(target))
    for name, value in request.headers.raw:
        if name.lower() in _FRAMING:
            continue
        valid = valid and bool(_TOKEN.fullmatch(name) and _VALUE.fullmatch(value))
        lines += (name, b": ", value, b"\r\n")
    if not valid:
        # Never the value itself in the message: it may be the key.
        raise httpx.LocalProtocolError(
            "the request cannot be sent: a header, the method or the target is not valid in "
            "HTTP/1.1",
            request=request,
        )
    if body or method not in (b"GET", b"HEAD"):
        lines += (b"Content-Length: ", str(len(body)).encode(), b"\r\n")
    lines.append(b"\r\n")
    lines.append(body)
    return b"".join(lines)


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
