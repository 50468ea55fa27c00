"""What a server's answer says about its rate limit: ``Retry-After`` in its three forms, and
the limit it announces (IETF ``RateLimit-Policy``/``RateLimit``, their draft-6 and draft-7
spellings, and the older ``X-RateLimit-*``)."""

from __future__ import annotations

import email.utils
import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

__all__ = [
    "MAX_ASKED_WAIT",
    "Announced",
    "parse_announced",
    "parse_retry_after",
    "read_retry_after",
]

# The longest a header may make a run wait at a time: a Retry-After, a reset, a policy's window.
# Only a broken or hostile server asks for more (a reset of 10^12 once paused a run for 998
# billion seconds); two minutes outlasts any per-minute window, and a server that asks for more
# again and again is met by the client stopping (see client.MAX_CAPPED_WAITS), not by crawling.
MAX_ASKED_WAIT = 120.0
# Above this, a reset is a Unix time (GitHub's X-RateLimit-Reset), not a number of seconds...
_EPOCH_THRESHOLD = 1e9
# ... and above this, a Unix time in milliseconds: in seconds it would be the year 5138, in
# milliseconds it is 1973.
_EPOCH_MS_THRESHOLD = 1e11
# A number with its exponent, if any, so that "1e12" is not read as its prefix "1".
_NUM = r"([0-9.]+(?:[eE][+-]?[0-9]+)?)"
_PARAM = re.compile(r";\s*([a-z]+)\s*=\s*" + _NUM, re.IGNORECASE)
# How far the answer's ``Date`` may be from the local clock and still count as agreeing: a
# ``Date`` is rounded down to the second, and a server may cache it for a second or two.
_DATE_AGREES = 3.0
_DRAFT7 = re.compile(r"\b(limit|remaining|reset)\s*=\s*" + _NUM, re.IGNORECASE)


@dataclass(frozen=True)
class Announced:
    """A limit as announced: a quota per window (policy) and what is left of it, each part
    None when the answer did not say."""

    quota: int | None = None
    window: float | None = None  # seconds
    remaining: int | None = None
    reset: float | None = None  # seconds from the answer until the quota frees up
    # Where the numbers came from, not what they say (so not compared): the header ``reset``
    # was read from, and what the headers asked for past the cap, before it was applied:
    # (header, seconds) of a wait (a reset with nothing remaining) or of the interval a policy
    # leaves between two requests (its window over its quota).
    reset_from: str | None = field(default=None, compare=False)
    over_cap: tuple[str, float] | None = field(default=None, compare=False)

    @property
    def rpm(self) -> float | None:
        if self.quota is None or not self.window:
            return None
        return self.quota * 60.0 / self.window

    @property
    def empty(self) -> bool:
        return self.quota is None and self.remaining is None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _items(header: str) -> list[dict[str, float]]:
    """``"name";q=60;w=60, "other";q=1000;w=3600`` -> one dict of parameters per item."""
    items = []
    for item in header.split(","):
        params: dict[str, float] = {}
        for key, value in _PARAM.findall(item):
            number = _number(value)
            if number is not None:
                params[key.lower()] = number
        if params:
            items.append(params)
    return items


def parse_announced(
    headers: httpx.Headers, *, now: float | None = None, cap: float | None = None
) -> Announced:
    """The tightest policy announced and what is left of it.

    Of several policies, the one allowing the fewest requests a minute is kept, with the
    remaining budget the answer gives for it (or the lowest one given). A reset is read as
    seconds, or as a Unix time (seconds or milliseconds) against ``now`` (the current Unix
    time by default). With a ``cap``, a reset or a window longer than that many seconds is
    cut to it (see :attr:`Announced.over_cap`).
    """
    quota: int | None = None
    window: float | None = None
    remaining: int | None = None
    reset: float | None = None
    reset_from: str | None = None
    policy = headers.get("ratelimit-policy")
    if policy:
        best: tuple[float, int, float] | None = None
        for params in _items(policy):
            q, w = params.get("q"), params.get("w")
            if q is not None and w:
                rpm = q * 60 / w
                if best is None or rpm < best[0]:
                    best = (rpm, int(q), w)
        if best is not None:
            _, quota, window = best
    state = headers.get("ratelimit")
    if state and "=" in state:
        draft7 = dict((k.lower(), _number(v)) for k, v in _DRAFT7.findall(state))
        if draft7:
            # draft 7: RateLimit: limit=60, remaining=12, reset=30
            if draft7.get("remaining") is not None:
                remaining = int(draft7["remaining"] or 0)
            reset, reset_from = draft7.get("reset"), "RateLimit"
            if quota is None and draft7.get("limit") is not None and window is None:
                quota = int(draft7["limit"] or 0)
        else:
            for params in _items(state):
                r = params.get("r")
                if r is not None and (remaining is None or r < remaining):
                    remaining, reset, reset_from = int(r), params.get("t"), "RateLimit"
    # draft 6: RateLimit-Limit / RateLimit-Remaining / RateLimit-Reset; then the older X- ones.
    for prefix, name in (("ratelimit-", "RateLimit-Reset"), ("x-ratelimit-", "X-RateLimit-Reset")):
        if remaining is None:
            value = _number(headers.get(prefix + "remaining"))
            remaining = None if value is None else int(value)
            if remaining is not None:
                reset, reset_from = _number(headers.get(prefix + "reset")), name
        if quota is None:
            value = _number(headers.get(prefix + "limit"))
            quota = None if value is None else int(value)
    if reset is not None:
        reset = _from_now(reset, time.time() if now is None else now)
    window = window if quota is not None else None
    if cap is None:
        return Announced(quota, window, remaining, reset, reset_from)
    over: tuple[str, float] | None = None
    if reset is not None and reset > cap:
        if remaining == 0:
            over = (reset_from or "RateLimit", reset)
        reset = cap
    if quota is not None and window is not None and window > cap:
        interval = window / quota if quota > 0 else math.inf
        if interval > cap and over is None:
            over = ("RateLimit-Policy", interval)
        # The same pace over a window of the cap's length: a stricter limit than the one
        # announced (what fits every slice of it fits the whole), so obeying it is safe.
        quota, window = max(1, math.floor(quota * cap / window)), cap
    return Announced(quota, window, remaining, reset, reset_from, over)


def _from_now(value: float, now: float) -> float:
    """Seconds until a reset given as seconds, or as a Unix time in seconds or milliseconds
    (``now`` is the current Unix time)."""
    if value > _EPOCH_MS_THRESHOLD:
        return max(0.0, value / 1000.0 - now)
    if value > _EPOCH_THRESHOLD:
        return max(0.0, value - now)
    return value


def parse_retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait (see :func:`read_retry_after`), uncapped."""
    asked = read_retry_after(response)
    return None if asked is None else asked[0]


def read_retry_after(
    response: httpx.Response, now: datetime | None = None
) -> tuple[float, str] | None:
    """Seconds the server asks to wait, and the header that says so: ``retry-after-ms``, or
    ``Retry-After`` as delta seconds or as an HTTP date. ``now`` is the local time (the
    current one by default).

    A date is measured against the local clock when the answer's own ``Date`` header agrees
    with it (within :data:`_DATE_AGREES`), else against that ``Date``, so a skewed local clock
    does not distort the wait. Measured against ``Date`` alone, a date would be read up to a
    second long twice (the server rounds the date it asks for up, and ``Date`` is rounded
    down): a server whose window frees in 0.3 s would seem to ask for 2 s, which the rate gate
    reads as an overloaded window and answers with a rate cut to a fifth."""
    headers = response.headers
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value), "retry-after-ms"
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        return (max(0.0, value), "Retry-After") if math.isfinite(value) else None
    when = _http_date(raw)
    if when is None:
        return None
    local = now if now is not None else datetime.now(UTC)
    server = _http_date(headers.get("date", ""))
    if server is not None and abs((local - server).total_seconds()) > _DATE_AGREES:
        local = server
    return max(0.0, (when - local).total_seconds()), "Retry-After"


def _http_date(raw: str) -> datetime | None:
    """An HTTP date, in UTC when it names no zone; None when it is not one."""
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when
