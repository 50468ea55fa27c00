"""The emulator's HTTP face: the Starlette app (:func:`create_app`) and its routes.

It answers the endpoints this project uses (``/videos``, ``/videos/{id}``,
``/videos/{id}/render``, ``/avatars``, ``/voices``, ``/subtitles``) under ``/v1`` and at the
root, with JSON everywhere and errors shaped ``{"code": <int>, "message": "..."}``; ``GET
/_emulator/stats`` (no auth) reports what happened, for benchmarks running it as a process, and
``/preview/{id}`` shows a video's page (``/media/{name}``, from ``media.py``, serves the
files of DONE videos). Every API route goes through the same wrapper: latency
on the way in, auth, the rate limit, latency on the way out, and the hostile knobs (a redirect
instead of an answer, a 429 asking for any wait, headers of any kind, an answer padded to any
size or dripped a byte at a time). A dropped answer is a response started and never
finished. The catalogue (:data:`AVATARS`, :data:`VOICES`, :data:`SUBTITLE_STYLES`) is what the
catalogue routes answer. All decisions are the :class:`Emulator`'s (``state.py``); this module
only translates.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import html
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from pipeline.emulator.media import media_route
from pipeline.emulator.settings import ApiFault, EmulatorSettings
from pipeline.emulator.spec import _body_validator
from pipeline.emulator.state import MAX_PAGE_SIZE, Emulator, parse_json

AVATARS: Final[list[dict[str, Any]]] = [
    {
        "id": "avatar-emma",
        "name": "Emma",
        "gestures": [
            {"label": "Wave", "slug": "wave", "startFrame": 0},
            {"label": "Point right", "slug": "point-right", "startFrame": 48},
            {"label": "Thumbs up", "slug": "thumbs-up", "startFrame": 96},
        ],
    },
    {
        "id": "avatar-noah",
        "name": "Noah",
        "gestures": [
            {"label": "Wave", "slug": "wave", "startFrame": 0},
            {"label": "Point left", "slug": "point-left", "startFrame": 40},
            {"label": "Nod", "slug": "nod", "startFrame": 80},
        ],
    },
    {
        "id": "avatar-lina",
        "name": "Lina",
        "gestures": [
            {"label": "Wave", "slug": "wave", "startFrame": 0},
            {"label": "Open arms", "slug": "open-arms", "startFrame": 60},
            {"label": "Thumbs up", "slug": "thumbs-up", "startFrame": 120},
        ],
    },
    {
        "id": "avatar-marcus",
        "name": "Marcus",
        "gestures": [
            {"label": "Point right", "slug": "point-right", "startFrame": 0},
            {"label": "Count on fingers", "slug": "count", "startFrame": 72},
        ],
    },
]
VOICES: Final[list[dict[str, Any]]] = [
    {"id": "voice-emma", "name": "Emma (warm, en-US)"},
    {"id": "voice-noah", "name": "Noah (calm, en-GB)"},
    {"id": "voice-lina", "name": "Lina (bright, fr-FR)"},
    {"id": "voice-marcus", "name": "Marcus (deep, en-US)"},
    {"id": "voice-narrator", "name": "Narrator (neutral, en-US)"},
]
SUBTITLE_STYLES: Final[list[dict[str, Any]]] = [
    {"id": "style-classic", "name": "Classic"},
    {"id": "style-bold", "name": "Bold"},
    {"id": "style-karaoke", "name": "Karaoke"},
]


# Set while an answer is being dropped on purpose, so the server's error log (which reports an
# unfinished response) stays quiet about it.
_DROPPING: contextvars.ContextVar[bool] = contextvars.ContextVar("emulator_dropping", default=False)


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _DROPPING.get()


_QUIET_DROPS: Final = _QuietDrops()


def _quiet_drops() -> None:
    logging.getLogger("uvicorn.error").addFilter(_QUIET_DROPS)  # idempotent for one filter


class _DroppedAnswer(Response):
    """Starts a response and stops: the server closes the connection mid-answer.

    An ASGI app cannot close its socket; announcing a body and never sending it makes uvicorn
    close the connection, and the client sees a protocol error, not an answer.
    """

    def __init__(self) -> None:
        super().__init__(status_code=201)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _DROPPING.set(True)
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"512")],
            }
        )


# What an oversized answer is padded with, a chunk at a time: JSON whitespace, so the answer
# is still the real one for a client that would read it all.
_PADDING: Final = b" " * 65536


def _padded(response: Response, size: int) -> Response:
    """``response`` after enough whitespace to make ``size`` bytes, streamed without a
    Content-Length (so the client cannot tell its size before reading it), the padding never
    held in memory."""
    body = bytes(response.body)

    async def chunks() -> AsyncIterator[bytes]:
        left = max(0, size - len(body))
        while left > 0:
            piece = _PADDING if left >= len(_PADDING) else _PADDING[:left]
            yield piece
            left -= len(piece)
        yield body

    return StreamingResponse(chunks(), response.status_code, _headers_but_length(response))


def _dripped(response: Response, seconds: float) -> Response:
    """``response`` with its headers at once (its full Content-Length among them), then its
    body one byte every ``seconds``."""
    body = bytes(response.body)

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(len(body)):
            await asyncio.sleep(seconds)
            yield body[index : index + 1]

    headers = {**_headers_but_length(response), "content-length": str(len(body))}
    return StreamingResponse(chunks(), response.status_code, headers)


def _headers_but_length(response: Response) -> dict[str, str]:
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in response.raw_headers
        if name.lower() != b"content-length"
    }


def _redirect(location: str) -> Response:
    return JSONResponse(
        {"code": 307, "message": f"Moved to {location}"},
        status_code=307,
        headers={"location": location},
    )


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": status, "message": message}, status_code=status, headers=headers)


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


_Handler = Callable[[Request, Emulator], Awaitable[Response]]


def _api(handler: _Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an endpoint with what every API answer goes through: auth, rate limit, latency."""

    async def endpoint(request: Request) -> Response:
        emulator: Emulator = request.app.state.emulator
        method = request.method
        emulator.note_arrival(create=method == "POST" and request.url.path.endswith("/videos"))
        inbound = emulator.inbound_delay_seconds()
        if inbound > 0:
            await asyncio.sleep(inbound)
        emulator.note_request(read=method == "GET")
        announced: dict[str, str] = {}
        try:
            # A redirect comes first, as from a proxy or a moved API in front of it all.
            location = emulator.redirect(method)
            if location is not None:
                response = _redirect(location)
            else:
                key = emulator.authenticate(request.headers.get("x-api-key"))
                announced = emulator.admit(key, method)
                emulator.throttle(method)
                response = await handler(request, emulator)
        except ApiFault as fault:
            response = _error(fault.status, fault.message, fault.headers)
        dropped = isinstance(response, _DroppedAnswer)
        if not dropped:
            response.headers.update({**announced, **emulator.answer_headers(method)})
        delay = emulator.delay_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        if dropped:
            return response
        size = emulator.oversize(method)
        if size:
            return _padded(response, size)
        drip = emulator.drip(method)
        if drip:
            return _dripped(response, drip)
        return response

    return endpoint


async def _json_body(request: Request, *, optional: bool = False) -> object:
    raw = await request.body()
    if optional and not raw.strip():
        return None
    return parse_json(raw)


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ApiFault(400, f"{name} must be an integer, not {raw!r}") from exc


async def _create_video(request: Request, emulator: Emulator) -> Response:
    video, drop = emulator.create_json(await request.body(), _origin(request))
    if drop:
        return _DroppedAnswer()
    return JSONResponse(video, status_code=201)


async def _get_video(request: Request, emulator: Emulator) -> Response:
    video_id = request.path_params["video_id"]
    reads = emulator.stats.video_reads
    reads[video_id] = reads.get(video_id, 0) + 1
    return JSONResponse(emulator.get(video_id))


async def _delete_video(request: Request, emulator: Emulator) -> Response:
    return JSONResponse(emulator.delete(request.path_params["video_id"]))


async def _list_videos(request: Request, emulator: Emulator) -> Response:
    # One JSON object of several pairs, or the parameter repeated: every pair must match.
    extras_filter: dict[str, Any] | None = None
    for raw_filter in request.query_params.getlist("extrasFilter"):
        if not raw_filter:
            continue
        try:
            parsed = json.loads(raw_filter)
        except ValueError as exc:
            raise ApiFault(400, f"extrasFilter is not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise ApiFault(400, "extrasFilter must be a JSON object of extras to match")
        extras_filter = {**(extras_filter or {}), **parsed}
    settings = emulator.settings
    if settings.list_fail_rate and emulator.chance(settings.list_fail_rate):
        raise ApiFault(503, "Injected server error 503: the list is unavailable")
    page = emulator.list(
        page=_int_param(request, "page", 1),
        limit=_int_param(request, "limit", 10),
        extras_filter=extras_filter,
    )
    if not settings.list_extras:
        for video in page["videos"]:
            video.pop("extras", None)
    return JSONResponse(page)


async def _render_video(request: Request, emulator: Emulator) -> Response:
    video_id = request.path_params["video_id"]
    body = await _json_body(request, optional=True)
    callback_url: str | None = None
    if body is not None:
        if not isinstance(body, dict):
            raise ApiFault(400, "The render body must be a JSON object")
        raw = body.get("callbackUrl")
        if raw is not None:
            if not isinstance(raw, str) or not re.match(r"https?://[^\s/]+", raw):
                raise ApiFault(400, "callbackUrl must be an http(s) URL")
            callback_url = raw
    return JSONResponse(emulator.render(video_id, _origin(request), callback_url))


async def _estimate_video(request: Request, emulator: Emulator) -> Response:
    return JSONResponse(emulator.estimate(request.path_params["video_id"]))


async def _avatars(request: Request, emulator: Emulator) -> Response:
    return JSONResponse(copy.deepcopy(AVATARS))


async def _voices(request: Request, emulator: Emulator) -> Response:
    return JSONResponse(copy.deepcopy(VOICES))


async def _subtitles(request: Request, emulator: Emulator) -> Response:
    page = _int_param(request, "page", 1)
    size = _int_param(request, "pageSize", 10)
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiFault(400, f"page must be 1 or more and pageSize between 1 and {MAX_PAGE_SIZE}")
    items = copy.deepcopy(SUBTITLE_STYLES[(page - 1) * size : page * size])
    return JSONResponse(
        {
            "items": items,
            "totalItems": len(SUBTITLE_STYLES),
            "totalPages": math.ceil(len(SUBTITLE_STYLES) / size),
            "currentPage": page,
            "itemsPerPage": size,
        }
    )


async def _stats(request: Request) -> Response:
    return JSONResponse(request.app.state.emulator.stats_json())


async def _preview(request: Request) -> Response:
    emulator: Emulator = request.app.state.emulator
    try:
        video = emulator.get(request.path_params["video_id"])
    except ApiFault as fault:
        return _error(fault.status, fault.message)
    name, status = html.escape(str(video.get("name"))), html.escape(str(video.get("status")))
    return HTMLResponse(
        f"<!doctype html><title>{name}</title><h1>{name}</h1>"
        f"<p>Emulated video, status <b>{status}</b>.</p>"
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail), exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    return _error(500, f"Internal emulator error: {type(exc).__name__}")


def create_app(settings: EmulatorSettings | None = None) -> Starlette:
    """The ASGI app; ``app.state.emulator`` is its :class:`Emulator`."""
    _quiet_drops()
    _body_validator()  # built now, so the first create is not the slow one
    api: list[BaseRoute] = [
        Route("/videos", _api(_create_video), methods=["POST"]),
        Route("/videos", _api(_list_videos), methods=["GET"]),
        Route("/videos/{video_id}", _api(_get_video), methods=["GET"]),
        Route("/videos/{video_id}", _api(_delete_video), methods=["DELETE"]),
        Route("/videos/{video_id}/render", _api(_render_video), methods=["POST"]),
        Route("/videos/{video_id}/estimate", _api(_estimate_video), methods=["GET"]),
        Route("/avatars", _api(_avatars), methods=["GET"]),
        Route("/voices", _api(_voices), methods=["GET"]),
        Route("/subtitles", _api(_subtitles), methods=["GET"]),
    ]
    routes: list[BaseRoute] = [
        Route("/_emulator/stats", _stats, methods=["GET"]),
        Route("/preview/{video_id}", _preview, methods=["GET"]),
        media_route(),
        Mount("/v1", routes=api),
        *api,
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.emulator = Emulator(settings)
    return app
