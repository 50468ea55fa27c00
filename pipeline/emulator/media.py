"""The emulator's file host: ``GET``/``HEAD /media/{name}``, the files of finished videos.

A DONE video's ``videoUrl`` (and ``videoUrlSubtitled``) points here, outside ``/v1`` and without
an API key, the way a real API hands out links to a CDN. The bytes are made up but
deterministic (:func:`media_bytes`), so a test knows what a download must hold without the
emulator keeping any file. Ranges are answered as a file host does (``bytes=N-``, ``N-M``,
``-N``: 206 with ``Content-Range``; past the end: 416), and ``cut_downloads`` cuts that share of
whole-file answers a third of the way in, so that a client's resuming is exercised.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pipeline.emulator.settings import ApiFault, EmulatorError
from pipeline.emulator.state import STATUS_DONE, Emulator

MEDIA_TYPE: Final = "video/mp4"
# sha256 gives 32 bytes a block; the body goes out in pieces of this size, never whole.
_BLOCK: Final = 32
_PIECE: Final = 65536
_RANGE: Final = re.compile(r"bytes=(\d*)-(\d*)")

# Set while an answer is being cut on purpose, so uvicorn's complaint about an unfinished
# response stays out of the log (as app.py does for its dropped answers; importing its filter
# would make the two modules import each other).
_CUTTING: contextvars.ContextVar[bool] = contextvars.ContextVar("emulator_cutting", default=False)


class _QuietCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _CUTTING.get()


_QUIET_CUTS: Final = _QuietCuts()


def media_bytes(name: str, size: int) -> bytes:
    """The first ``size`` bytes of the file called ``name``: sha256 of ``f"{name}:{i}"`` for
    the i-th block of 32 bytes, one after another (what the emulator serves for it)."""
    return b"".join(_pieces(name, 0, size))


def _pieces(name: str, start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start`` to ``end`` (excluded) of ``name``'s file, a piece at a time."""
    buffer = bytearray()
    index = start // _BLOCK
    skip = start - index * _BLOCK
    left = end - start
    while left > 0:
        block = hashlib.sha256(f"{name}:{index}".encode()).digest()[skip:]
        skip = 0
        index += 1
        buffer += block[:left]
        left -= min(left, len(block))
        if len(buffer) >= _PIECE or left == 0:
            yield bytes(buffer)
            buffer.clear()


class _Unsatisfiable(EmulatorError):
    """A range that starts past the file's end: answered 416 (never leaves this module)."""


def _byte_range(header: str | None, total: int) -> tuple[int, int] | None:
    """(start, end excluded) a Range header asks for; None to answer the whole file (no
    header, or one a server may ignore: malformed, several ranges, another unit)."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":
        suffix = int(last)
        if suffix == 0 or total == 0:
            raise _Unsatisfiable
        return max(0, total - suffix), total
    start = int(first)
    if last != "" and int(last) < start:
        return None  # an invalid range: ignored, as RFC 9110 lets a server do
    if start >= total:
        raise _Unsatisfiable
    end = total if last == "" else min(int(last) + 1, total)
    return start, end


class _CutShort(Response):
    """The headers of the whole file (its full Content-Length), then only ``sent`` of its
    body, then the app returns without finishing the response: uvicorn closes the connection
    and the client sees a body that ends short, as when a CDN's connection breaks. (Ending a
    StreamingResponse early instead would make h11 raise on the missing bytes, and log it.)"""

    def __init__(self, pieces: AsyncIterator[bytes], headers: dict[str, str]) -> None:
        super().__init__(status_code=200, headers=headers)
        self._pieces = pieces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        logging.getLogger("uvicorn.error").addFilter(_QUIET_CUTS)  # idempotent for one filter
        _CUTTING.set(True)
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async for piece in self._pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})


async def _media(request: Request) -> Response:
    emulator: Emulator = request.app.state.emulator
    stats, settings = emulator.stats, emulator.settings
    stats.media_requests += 1
    name = request.path_params["name"]
    if not _served(emulator, name):
        return JSONResponse({"code": 404, "message": f"No file {name}"}, status_code=404)
    total = settings.media_size
    headers = {"accept-ranges": "bytes", "content-type": MEDIA_TYPE}
    try:
        wanted = _byte_range(request.headers.get("range"), total)
    except _Unsatisfiable:
        return Response(
            status_code=416, headers={"accept-ranges": "bytes", "content-range": f"bytes */{total}"}
        )
    start, end = wanted if wanted is not None else (0, total)
    headers["content-length"] = str(end - start)
    status = 200
    if wanted is not None:
        status = 206
        headers["content-range"] = f"bytes {start}-{end - 1}/{total}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    cut = (
        wanted is None and bool(settings.cut_downloads) and emulator.chance(settings.cut_downloads)
    )

    async def body(until: int) -> AsyncIterator[bytes]:
        for piece in _pieces(name, start, until):
            # Counted as it leaves: a client gone mid-way has not been sent the rest.
            stats.media_bytes_sent += len(piece)
            yield piece

    if cut:
        stats.media_cut += 1
        return _CutShort(body(total // 3), headers)
    return StreamingResponse(body(end), status_code=status, headers=headers)


def _served(emulator: Emulator, name: str) -> bool:
    """Whether ``name`` is the file of a DONE video, named by one of its URLs."""
    video_id = name.removesuffix(".mp4").removesuffix("-subtitled")
    try:
        video = emulator.get(video_id)
    except ApiFault:
        return False
    urls = (video.get("videoUrl"), video.get("videoUrlSubtitled"))
    return video.get("status") == STATUS_DONE and any(
        isinstance(url, str) and url.rsplit("/", 1)[-1] == name for url in urls
    )


def media_route() -> Route:
    """The route serving finished videos' files, mounted outside ``/v1``: no API key."""
    return Route("/media/{name}", _media, methods=["GET", "HEAD"])
