"""Async HTTP client of the Argil API: auth, error mapping, retry policy and a shared rate gate.

Exceptions: see :mod:`pipeline.argil.errors` (every message is safe to print: it never
contains the API key); re-exported here.

Retry policy: 429 is retried on every call (the server refused, nothing happened) and pauses
the whole gate; connect failures are retried on every call (nothing was sent), but not an
untrusted certificate; GETs also retry 500/502/503/504 and lost answers. A create or render
never retries once its request may have reached the server. A redirect is never followed nor
retried: it stops the run (the base URL is likely wrong).

Against a broken or hostile server: an answer is read as a stream and given up past a size
(MAX_OBJECT_BYTES, MAX_PAGE_BYTES); a request ends at its deadline (DEFAULT_DEADLINE), however
slowly its answer drips; a wait a header asks for is capped (``max_retry_after``), and a
server that asks for more than the cap MAX_CAPPED_WAITS answers in a row stops the run
(Stalled) rather than have it crawl. Past a size or a deadline, a create or render is in
doubt, a read failed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from types import TracebackType
from typing import Any, Literal, NoReturn, TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from pipeline.argil.answers import (
    error_body,
    read_capped,
    retryable,
    seconds,
    tls_failure,
    truncate,
)
from pipeline.argil.base_url import InsecureURLError, check_base_url
from pipeline.argil.errors import (
    ArgilError,
    CertificateError,
    FatalError,
    InDoubt,
    NotFound,
    NotSent,
    RateLimited,
    RowError,
    ServerError,
    Stalled,
    TransportError,
)
from pipeline.argil.gate import Clock, GateClosed, RateGate, Sleep
from pipeline.argil.limit_headers import (
    MAX_ASKED_WAIT,
    Announced,
    parse_announced,
    read_retry_after,
)
from pipeline.argil.models import Avatar, SubtitleStyle, SubtitleStylePage, Video, VideoPage, Voice
from pipeline.argil.price import RenderPrice, read_price

__all__ = [
    "DEFAULT_BASE_URL",
    "ArgilClient",
    "ArgilError",
    "CertificateError",
    "ClientStats",
    "FatalError",
    "InDoubt",
    "InsecureURLError",
    "NotFound",
    "RateGate",
    "RateLimited",
    "RowError",
    "ServerError",
    "Stalled",
    "TransportError",
    "check_base_url",
]

DEFAULT_BASE_URL = "https://api.argil.ai/v1"
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=None)
# Servers close idle keep-alive connections after a few seconds (uvicorn and Node after 5);
# reusing one they are closing turns a create into an in-doubt lookup, so an idle connection is
# dropped a second before the shortest common limit.
KEEPALIVE_EXPIRY = 4.0
MAX_QUOTED_CHARS = 300
# A server that keeps announcing more pages must not keep a run paging forever.
MAX_PAGES = 10_000
MIN_READ_CONCURRENCY = 8
# A Video is a few kB, a page of 100 of them well under a MiB: an answer far past that is a
# broken or hostile server's, and reading one whole once took 2.7 GB of memory. Bodies are
# streamed and given up at these sizes.
MAX_OBJECT_BYTES = 1 << 20  # one video (a create's, a render's, a poll's answer), an error
MAX_PAGE_BYTES = 16 << 20  # a page of videos, the catalogue (avatars, voices, styles)
# httpx's read timeout starts again at every byte, so a server that drips a byte every few
# seconds would hold a request, and the run, forever: every request is over (connected, sent,
# answered and read) within this, far past any sane answer (the read timeout is 30 s).
DEFAULT_DEADLINE = 120.0
# A server asking for a wait past the cap (limit_headers.MAX_ASKED_WAIT) this many answers in a
# row would have the run crawl at one request per cap: the client stops instead (Stalled).
MAX_CAPPED_WAITS = 3
# A pause longer than this is said at -v, with its reason: without a word, a run waiting that
# long looks hung.
LONG_PAUSE = 10.0

logger = logging.getLogger("pipeline.argil.client")

_E = TypeVar("_E", bound="ArgilError")
_M = TypeVar("_M", Video, VideoPage, Avatar, Voice, SubtitleStylePage)

# A refusal for lack of money or plan is not the row's fault: every other row would get it too.
_ACCOUNT_REFUSAL = re.compile(
    r"credit|\bplans?\b|subscription|billing|payment|insufficient (?:funds|balance)", re.IGNORECASE
)
# Failures before any byte of the request left: retrying cannot duplicate anything.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _user_agent() -> str:
    try:
        version = metadata.version("argil-batch")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"argil-batch/{version}"


# --- client -------------------------------------------------------------------------------


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    in_doubt: int = 0


@dataclass
class _CappedAsks:
    """Answers in a row that asked a gate's requests to wait past the cap, and the last ask."""

    count: int = 0
    header: str = ""
    asked: float = 0.0


@contextlib.asynccontextmanager
async def _turn(gate: RateGate, method: str, path: str) -> AsyncIterator[int]:
    """The gate's turn for one request (its sequence number); NotSent when the gate closed
    while the request waited, so the caller knows nothing left."""
    try:
        seq = await gate.acquire(closable=method != "GET")
    except GateClosed:
        raise NotSent(
            f"{method} /{path} was not sent: the run is stopping", method=method, path=path
        ) from None
    try:
        yield seq
    except BaseException as exc:
        await gate.__aexit__(type(exc), exc, exc.__traceback__)
        raise
    await gate.__aexit__(None, None, None)


class ArgilClient:
    """The Argil API over httpx. One instance (and its gate) is shared by every worker."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        rpm: float | Literal["auto"] = 60,
        read_rpm: float | None = None,
        concurrency: int = 4,
        timeout: httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_attempts: int = 6,
        max_backoff: float = 30.0,
        max_retry_after: float = MAX_ASKED_WAIT,
        deadline: float = DEFAULT_DEADLINE,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        prior_sends: Sequence[float] = (),
    ) -> None:
        """``max_retry_after`` caps every wait a server's header asks for (Retry-After, a
        reset, a policy's window); ``deadline`` is the most seconds one request may take, from
        connecting to the last byte of its answer. ``prior_sends``: the wall-clock times
        (``time.time()``) of the writes the last run sent lately (its journal keeps them): the
        server's window may still count them, and the write gate paces as if it had sent them."""
        self.base_url = check_base_url(base_url)
        key = api_key.strip()
        # The transport would refuse such a header value; say why here, without quoting it.
        if not all(" " <= char <= "~" for char in key):
            raise FatalError("the API key contains characters that cannot be sent in a header")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not deadline > 0:
            raise ValueError("deadline must be a positive number of seconds")
        self._api_key = key
        self.max_attempts = max_attempts
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.deadline = deadline
        # Per gate (by name): the client stops a kind of request the server keeps stalling.
        self._capped: collections.defaultdict[str, _CappedAsks] = collections.defaultdict(
            _CappedAsks
        )
        self._sleep = sleep
        self._clock = clock
        self._backoff = wait_random_exponential(multiplier=1, max=max_backoff)
        # Creates and renders go through `gate`, reads through `read_gate`: each paces and adapts
        # to its own 429s, so that polling statuses never slows the creates. Without a read
        # rate, reads share the pace of the writes.
        # On the gate's clock: as long ago as the wall clock says, never in the future.
        now, wall = clock(), time.time()
        self.gate = RateGate(
            None if rpm == "auto" else float(rpm),
            concurrency,
            clock=clock,
            sleep=sleep,
            max_wait=max_retry_after,
            prior_sends=[now - max(0.0, wall - sent) for sent in prior_sends],
        )
        self.read_gate = (
            RateGate(
                read_rpm,
                # The reads a run makes before its first create (the catalogue, the batch's
                # listing, a few rows looked for in another batch) go out in one round trip
                # even at a small --concurrency: the read rate, not the slots, bounds them.
                max(concurrency, MIN_READ_CONCURRENCY),
                name="reads",
                burst=MIN_READ_CONCURRENCY,
                clock=clock,
                sleep=sleep,
                max_wait=max_retry_after,
            )
            if read_rpm is not None
            else self.gate
        )
        self.stats = ClientStats()
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers={
                "x-api-key": key,
                "User-Agent": _user_agent(),
                "Accept": "application/json",
            },
            timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
            # None: httpx's own transport, which also reaches the API through a proxy named in
            # the environment.
            transport=transport,
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY),
            # A redirect would carry the key to wherever it points.
            follow_redirects=False,
            # Plain http is allowed for loopback only; an HTTP_PROXY from the environment would
            # send the key, in clear, to the proxy's host instead. (Over https a proxy only
            # relays the encrypted tunnel, so the environment is trusted there.)
            trust_env=not self.base_url.startswith("http://"),
        )

    def __repr__(self) -> str:
        return f"ArgilClient(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ArgilClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- endpoints ----------------------------------------------------------------------

    async def create_video(self, body: Mapping[str, Any]) -> Video:
        """``POST /videos`` with ``body`` sent as is; InDoubt when the answer is lost."""
        data = await self._call("POST", "videos", json_body=dict(body), idempotent=False)
        return self._parse(Video, data, "POST", "videos", idempotent=False)

    async def render_video(self, video_id: str, callback_url: str | None = None) -> Video:
        """``POST /videos/{id}/render``; InDoubt when the answer is lost."""
        path = f"videos/{quote(video_id, safe='')}/render"
        body = {"callbackUrl": callback_url} if callback_url else {}
        data = await self._call("POST", path, json_body=body, idempotent=False)
        return self._parse(Video, data, "POST", path, idempotent=False)

    async def estimate_render(self, video_id: str) -> RenderPrice:
        """``GET /videos/{id}/estimate``: what a render started now would cost (a read)."""
        path = f"videos/{quote(video_id, safe='')}/estimate"
        return read_price(await self._call("GET", path))

    async def get_video(self, video_id: str) -> Video:
        path = f"videos/{quote(video_id, safe='')}"
        data = await self._call("GET", path)
        return self._parse(Video, data, "GET", path)

    async def delete_video(self, video_id: str) -> None:
        """``DELETE /videos/{id}``. Deleting is idempotent: a video already gone (404) is
        what the caller wanted, and a lost answer is retried like a read."""
        path = f"videos/{quote(video_id, safe='')}"
        with contextlib.suppress(NotFound):
            await self._call("DELETE", path)

    async def list_videos(
        self,
        page: int = 1,
        limit: int = 100,
        extras_filter: Mapping[str, str] | None = None,
    ) -> VideoPage:
        params: dict[str, str | int] = {"page": page, "limit": limit}
        if extras_filter:
            params["extrasFilter"] = json.dumps(dict(extras_filter), separators=(",", ":"))
        data = await self._call("GET", "videos", params=params, limit=MAX_PAGE_BYTES)
        return self._parse(VideoPage, data, "GET", "videos")

    async def find_videos(
        self, extras_filter: Mapping[str, str], *, page_size: int = 100
    ) -> list[Video]:
        """Every video whose extras contain all of ``extras_filter``, across all pages.

        Raises ServerError when the listed videos come without their extras.

        The pairs are checked here again: if the server ever ignored the filter, a run would
        otherwise adopt somebody else's video as the one it created.
        """
        wanted = dict(extras_filter)
        found: list[Video] = []
        listed = 0
        page = 1
        while page <= MAX_PAGES:
            result = await self.list_videos(page=page, limit=page_size, extras_filter=wanted)
            if any(video.extras is None for video in result.videos):
                # Absent extras cannot show that no video carries these pairs: a caller would
                # take "none found" for proof that a create never landed, and send it again.
                raise ServerError(
                    "the API listed videos without their extras, so whether one carries "
                    f"{', '.join(wanted)} cannot be read",
                    method="GET",
                    path="videos",
                )
            found.extend(
                video
                for video in result.videos
                if all((video.extras or {}).get(key) == value for key, value in wanted.items())
            )
            listed += len(result.videos)
            # As for a batch's listing: a page count the server inflates is not followed past
            # the first empty page or the videos it says it holds.
            if not result.videos or page >= result.total_pages or listed >= result.total_items:
                break
            page += 1
        return found

    async def list_avatars(self) -> list[Avatar]:
        data = await self._call("GET", "avatars", limit=MAX_PAGE_BYTES)
        return [self._parse(Avatar, item, "GET", "avatars") for item in self._items(data)]

    async def list_voices(self) -> list[Voice]:
        data = await self._call("GET", "voices", limit=MAX_PAGE_BYTES)
        return [self._parse(Voice, item, "GET", "voices") for item in self._items(data)]

    async def list_subtitle_styles(self, *, page_size: int = 100) -> list[SubtitleStyle]:
        """Every page of ``GET /subtitles``."""
        styles: list[SubtitleStyle] = []
        page = 1
        while page <= MAX_PAGES:
            params = {"page": page, "pageSize": page_size}
            data = await self._call("GET", "subtitles", params=params, limit=MAX_PAGE_BYTES)
            result = self._parse(SubtitleStylePage, data, "GET", "subtitles")
            styles.extend(result.items)
            if not result.items or len(styles) >= result.total_items:
                break
            page += 1
        return styles

    # --- machinery ----------------------------------------------------------------------

    @staticmethod
    def _items(data: Any) -> list[Any]:
        # The documented answer is a bare array; a wrapped one is accepted too.
        if isinstance(data, dict):
            for key in ("items", "data", "avatars", "voices"):
                if isinstance(data.get(key), list):
                    return list(data[key])
        return list(data) if isinstance(data, list) else []

    def _parse(
        self,
        model: type[_M],
        data: Any,
        method: str,
        path: str,
        *,
        idempotent: bool = True,
    ) -> _M:
        try:
            return model.model_validate(data)
        except ValidationError:
            message = f"unexpected answer to {method} /{path} (not a {model.__name__})"
            if idempotent:
                raise ServerError(message, method=method, path=path) from None
            self.stats.in_doubt += 1
            raise InDoubt(message, method=method, path=path) from None

    def _safe(self, text: str) -> str:
        """Quoted server text, truncated, with the key blanked should the server echo it (before
        truncating: a cut could leave a prefix of the key that no longer matches it), as is or
        percent-encoded (a redirect's location carries it so)."""
        if self._api_key:
            for form in {self._api_key, quote(self._api_key, safe=""), quote(self._api_key)}:
                text = text.replace(form, "***")
        return truncate(text, MAX_QUOTED_CHARS)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        idempotent: bool = True,
        limit: int = MAX_OBJECT_BYTES,
    ) -> Any:
        """One request, retried as the policy says; ``limit`` caps the answer's size."""
        # A new AsyncRetrying per call: its state (attempt number, outcome) must not be shared
        # by concurrent calls.
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(retryable),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(
                    method,
                    path,
                    params=params,
                    json_body=json_body,
                    idempotent=idempotent,
                    limit=limit,
                    retry_state=attempt.retry_state,
                )
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _wait(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RateLimited) and exc.wait is not None:
            return exc.wait
        return float(self._backoff(retry_state))

    def _before_sleep(self, retry_state: RetryCallState) -> None:
        self.stats.retries += 1
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        if isinstance(exc, ArgilError):
            logger.info(
                "retrying %s /%s after %s (attempt %d of %d, waiting %.2f s)",
                exc.method,
                exc.path,
                f"HTTP {exc.status}" if exc.status is not None else type(exc).__name__,
                retry_state.attempt_number,
                self.max_attempts,
                wait,
            )

    async def _attempt(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None,
        json_body: Any,
        idempotent: bool,
        limit: int,
        retry_state: RetryCallState,
    ) -> Any:
        request = self._http.build_request(method, path, params=params, json=json_body)
        gate = self.read_gate if method == "GET" else self.gate
        self._check_stalled(gate, method, path)
        async with _turn(gate, method, path) as seq:
            # The pause this request just waited out may be what made the client give up.
            self._check_stalled(gate, method, path)
            sent_at = self._clock()
            self.stats.requests += 1
            try:
                async with asyncio.timeout(self.deadline):
                    response = await self._http.send(request, stream=True)
                    try:
                        # An error's body only ever gives a message: no more than an object's.
                        cap = limit if response.is_success else min(limit, MAX_OBJECT_BYTES)
                        body = await read_capped(response, cap)
                    finally:
                        await response.aclose()
            except _NOT_SENT as exc:
                logger.debug("%s /%s: could not connect (%s)", method, path, type(exc).__name__)
                raise self._connect_error(exc, method, path) from None
            except TimeoutError:
                logger.debug("%s /%s: past the %g s deadline", method, path, self.deadline)
                raise self._lost(
                    f"no complete answer to {method} /{path} within its deadline of "
                    f"{self.deadline:g} s",
                    method,
                    path,
                    idempotent,
                ) from None
            except httpx.HTTPError as exc:
                logger.debug("%s /%s: no answer (%s)", method, path, type(exc).__name__)
                raise self._lost(
                    f"no answer to {method} /{path} ({type(exc).__name__})",
                    method,
                    path,
                    idempotent,
                ) from None
        # One line per request at -v: never the key, which only travels in a header.
        logger.info(
            "%s /%s -> %d in %.0f ms",
            method,
            path,
            response.status_code,
            (self._clock() - sent_at) * 1000,
        )
        announced = parse_announced(response.headers, cap=self.max_retry_after)
        was_paused, policy_rpm = gate.paused_for > 0, gate.announced_rpm
        paused = gate.on_answer(sent_at=sent_at, seq=seq, announced=announced)
        self._say_long_waits(gate, announced, paused if not was_paused else 0.0, policy_rpm)
        if response.status_code != 429:
            # Any answer but a 429 (a 404 too) shows the server accepted the pace.
            gate.on_success(sent_at=sent_at)
            # A 429 counts its Retry-After too: see _raise_for.
            self._note_capped(gate, announced.over_cap)
        if response.is_success:
            if body is None:
                raise self._oversized(response.status_code, method, path, idempotent, limit)
            if method == "DELETE" and not body:
                return None  # 204 No Content: nothing more to read
            try:
                return json.loads(body)
            except ValueError:
                message = f"unreadable answer to {method} /{path} (HTTP {response.status_code})"
                if idempotent:
                    raise ServerError(
                        message, status=response.status_code, method=method, path=path
                    ) from None
                self.stats.in_doubt += 1
                raise InDoubt(
                    message, status=response.status_code, method=method, path=path
                ) from None
        self._raise_for(
            response, body, announced, method, path, idempotent, sent_at, retry_state, gate, seq
        )

    def _lost(self, what: str, method: str, path: str, idempotent: bool) -> ArgilError:
        """The error for a request sent whose answer never came whole: a failed read, or a
        create or render in doubt."""
        if idempotent:
            return TransportError(what, method=method, path=path)
        self.stats.in_doubt += 1
        return InDoubt(
            f"{what}: it may have been done; look it up before resending",
            method=method,
            path=path,
        )

    def _connect_error(self, exc: httpx.HTTPError, method: str, path: str) -> TransportError:
        """What a connect failure was, said so that the user can act on it: an untrusted
        certificate above all (httpx only says ConnectError)."""
        failure = tls_failure(exc)
        if isinstance(failure, ssl.SSLCertVerificationError):
            reason = failure.verify_message or failure.reason or "untrusted"
            return CertificateError(
                f"could not connect to {self.base_url}: TLS certificate verify failed: "
                f"{self._safe(str(reason))}; nothing was sent. A proxy or company network "
                "that inspects TLS needs its certificate authority trusted: set SSL_CERT_FILE "
                "to a PEM bundle that holds it (and the public ones)",
                method=method,
                path=path,
            )
        if failure is not None:
            reason = failure.reason or type(failure).__name__
            return TransportError(
                f"could not connect to {self.base_url}: TLS handshake failed "
                f"({self._safe(str(reason))})",
                method=method,
                path=path,
            )
        return TransportError(
            f"could not connect to {self.base_url} ({type(exc).__name__})",
            method=method,
            path=path,
        )

    def _oversized(
        self, status: int, method: str, path: str, idempotent: bool, limit: int
    ) -> ArgilError:
        what = (
            f"the answer to {method} /{path} passed {limit} bytes, far more than it can hold; "
            "it was not read further"
        )
        if idempotent:
            return ServerError(what, status=status, method=method, path=path)
        self.stats.in_doubt += 1
        return InDoubt(
            f"{what}: the request may have been done; look it up before resending",
            status=status,
            method=method,
            path=path,
        )

    # --- waits the server asks for ------------------------------------------------------

    def _note_capped(self, gate: RateGate, over: tuple[str, float] | None) -> bool:
        """Count the answers in a row that asked ``gate``'s requests to wait past the cap;
        True once there were MAX_CAPPED_WAITS of them."""
        asks = self._capped[gate.name]
        if over is None:
            asks.count = 0
            return False
        asks.count += 1
        asks.header, asks.asked = over
        return asks.count >= MAX_CAPPED_WAITS

    def _check_stalled(self, gate: RateGate, method: str, path: str) -> None:
        """Stalled, before anything is sent, once the server asked too often for too long."""
        if self._capped[gate.name].count >= MAX_CAPPED_WAITS:
            raise self._stalled(gate, method, path)

    def _stalled(
        self, gate: RateGate, method: str, path: str, status: int | None = None
    ) -> Stalled:
        asks = self._capped[gate.name]
        return Stalled(
            f"the API asks to wait {seconds(asks.asked)} s before each request "
            f"({asks.header}, {asks.count} answers in a row); stopped rather than crawl at one "
            f"request every {seconds(self.max_retry_after)} s; run again later",
            asked=asks.asked,
            header=asks.header,
            status=status,
            method=method,
            path=path,
        )

    def _say_long_waits(
        self, gate: RateGate, announced: Announced, paused: float, policy_rpm: float | None
    ) -> None:
        """At -v, one line for each long wait an answer imposed, with the header that asked."""
        header, asked = announced.over_cap or ("", 0.0)
        if paused > LONG_PAUSE:
            why = f"{announced.reset_from} says the quota is used up until then"
            if header and header == announced.reset_from:
                why = f"{header} says the quota is used up for {seconds(asked)} s (capped)"
            logger.info("all %s wait %s s: %s", gate.name, seconds(paused), why)
        rpm = gate.announced_rpm
        if rpm and rpm != policy_rpm and 60.0 / rpm > LONG_PAUSE:
            why = "as RateLimit-Policy announces"
            if header == "RateLimit-Policy":
                why = f"RateLimit-Policy allows one every {seconds(asked)} s (capped)"
            logger.info(
                "all %s wait %s s between requests: %s", gate.name, seconds(60.0 / rpm), why
            )

    # --- refusals -----------------------------------------------------------------------

    def _raise_for(
        self,
        response: httpx.Response,
        body: bytes | None,
        announced: Announced,
        method: str,
        path: str,
        idempotent: bool,
        sent_at: float,
        retry_state: RetryCallState,
        gate: RateGate,
        seq: int,
    ) -> NoReturn:
        status = response.status_code
        code, message = error_body(response, body, self._safe)

        def error(cls: type[_E], text: str = message) -> _E:
            return cls(text, status=status, code=code, method=method, path=path)

        if 300 <= status < 400:
            # Redirects are never followed (they would carry the key away) and never retried:
            # the same request meets the same redirect. Nothing was done by this answer.
            location = response.headers.get("location", "").strip()
            where = f"a redirect to {self._safe(location)}" if location else "a redirect"
            raise error(
                FatalError, f"the API answered with {where}; check --base-url / ARGIL_BASE_URL"
            )
        if status == 429:
            self.stats.rate_limited += 1
            limited = error(RateLimited)
            asked = read_retry_after(response)
            source = "backoff"
            over = announced.over_cap
            if asked is not None:
                limited.retry_after, source = asked
                if asked[0] > self.max_retry_after:
                    over = (source, asked[0])
            elif announced.remaining == 0 and announced.reset is not None:
                limited.retry_after, source = announced.reset, announced.reset_from or source
            if self._note_capped(gate, over):
                # Waiting once more would only delay the stop.
                raise self._stalled(gate, method, path, status)
            if limited.retry_after is not None:
                limited.wait = min(limited.retry_after, self.max_retry_after)
            else:
                limited.wait = min(float(self._backoff(retry_state)), self.max_backoff)
            # Everyone waits, not only this worker: the limit is per key, not per connection.
            gate.pause(limited.wait)
            gate.on_rate_limited(
                sent_at=sent_at,
                retry_after=None if limited.retry_after is None else limited.wait,
                seq=seq,
            )
            why = source
            if over is not None:
                why = f"{over[0]} asked for {seconds(over[1])} s, capped"
            logger.info(
                "%s /%s -> HTTP 429, pausing all workers %.2f s (%s)",
                method,
                path,
                limited.wait,
                why,
            )
            raise limited
        if status in (401, 402, 403):
            raise error(FatalError)
        if status == 404:
            raise error(NotFound)
        if 400 <= status < 500:
            raise error(FatalError if _ACCOUNT_REFUSAL.search(message) else RowError)
        if not idempotent:
            self.stats.in_doubt += 1
            raise error(
                InDoubt,
                f"{message}; the request may have been done: look it up before resending",
            )
        raise error(ServerError)
