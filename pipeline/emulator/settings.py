"""What the emulator can be told and what it tells back: its errors, knobs and counters.

:class:`EmulatorSettings` holds every knob that makes the emulator misbehave the way a real API
does (rate limits and how they are announced, latency on the way in and out, injected, dropped,
odd and stale answers, failed renders, credits) or the way a broken or hostile server does
(huge or dripping answers, redirects, absurd waits asked in headers), each off by default, and
checks their ranges.
:class:`EmulatorStats` counts what happened. The errors live here too, the one vocabulary the
other emulator modules share:

- :class:`EmulatorSettingsError` (also a ``ValueError``): a knob out of range, or a host that is
  not loopback: the emulator only ever listens on loopback.
- :class:`StateFileError`: the state file exists but cannot be read back.
- :class:`EmulatorStartError`: the server could not listen or did not come up.
- :class:`ApiFault`: an error answer (status, message, headers); raised by the emulator's state
  and turned into the JSON error by the HTTP layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pipeline.emulator.ratelimit import (
    RETRY_AFTER_FORMS,
    WINDOW_KINDS,
    Budget,
    WindowKind,
)
from pipeline.emulator.spec import DEFAULT_TRANSCRIPT_CHARS
from pipeline.errors import ArgilBatchError

# Which answers the hostile knobs (oversize, drip, redirect, throttle, answer headers) apply
# to: every one, those to writes (POST: creates, renders) or those to reads (GET).
HOSTILE_ON: Final = ("all", "writes", "reads")
ESTIMATE_SHAPES: Final = ("credits", "balances", "bare")


class EmulatorError(ArgilBatchError):
    """Base of every error the emulator raises."""


class EmulatorSettingsError(EmulatorError, ValueError):
    """A knob out of range, or a host that is not loopback."""


class StateFileError(EmulatorError):
    """The state file exists but cannot be read back."""


class EmulatorStartError(EmulatorError):
    """The server could not listen on its address or did not come up."""


class ApiFault(EmulatorError):
    """An error answer: HTTP status, the ``message`` of the JSON body, extra headers."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@dataclass
class EmulatorSettings:
    """How the emulator behaves; every knob off by default gives a well-behaved API."""

    api_key: str | None = None  # None: any non-empty x-api-key; else only this one
    rpm: float | None = None  # per-key limit (all endpoints, or writes with read_rpm); None: none
    read_rpm: float | None = None  # GETs counted apart in a window of their own; None: with rpm
    rate_window: float = 60.0  # seconds; a window allows rpm * rate_window / 60 requests
    rate_window_kind: str = "sliding"  # or "fixed" (counts reset at each window of clock time)
    retry_after: str = "seconds"  # 429 hint: "seconds", "date", "ms" (retry-after-ms), "none"
    ratelimit_headers: bool = False  # announce the policy and what is left (IETF and X-)
    latency_in_ms: float = 0.0  # spent before the request is counted (the way in)
    latency_in_jitter_ms: float = 0.0  # uniform +- on top of latency_in_ms
    latency_ms: float = 0.0  # added to every API answer (the way out)
    latency_jitter_ms: float = 0.0  # uniform +- on top of latency_ms
    spike_rate: float = 0.0  # probability an answer is held spike_ms more (past read timeouts)
    spike_ms: float = 0.0
    fail_rate: float = 0.0  # POST /videos answers 500/502/503 before creating anything
    drop_rate: float = 0.0  # POST /videos creates the video, then closes without an answer
    # POST /videos creates the video, then answers 200 with something that is not a Video.
    odd_rate: float = 0.0
    # POST /videos creates the video, then answers with the previous create's video (a stale
    # answer from a cache on the way): an id another row already holds.
    stale_rate: float = 0.0
    render_seconds: float = 3.0  # IDLE -> GENERATING_AUDIO -> GENERATING_VIDEO -> final
    render_fail_rate: float = 0.0  # probability a render ends FAILED
    credits: int | None = None  # creates allowed, then 402
    # The workspace's credit balance: GET /videos/{id}/estimate answers the balance a render
    # would leave (newBalance), and a render debits its price or is refused (402) when the
    # balance cannot pay it. None: no balance (the estimate answers the price alone).
    balance: float | None = None
    # How GET /videos/{id}/estimate words its answer (the docs name newBalance alone):
    # "credits" {totalCredits, newBalance}, "balances" {balance, newBalance}, "bare"
    # {newBalance} (no price a client can read).
    estimate_shape: str = "credits"
    # Videos kept across restarts and crashes: each change appended as it happens, the file
    # rewritten whole now and then and at a stop.
    state_file: Path | None = None
    seed: int | None = None  # for the random knobs
    clock: Callable[[], float] = time.monotonic  # render progress and the rate window
    transcript_chars: int = DEFAULT_TRANSCRIPT_CHARS  # per moment, UTF-16 code units
    list_fail_rate: float = 0.0  # GET /videos (the list) answers 503
    list_extras: bool = True  # False: GET /videos lists videos without their extras
    # A hostile or broken server, on the answers ``hostile_on`` names (see HOSTILE_ON):
    hostile_on: str = "all"
    # The work is done (a create creates), then the answer is this many bytes: the real one
    # after that much JSON whitespace, streamed in chunks without a Content-Length. 0: off.
    oversize_bytes: int = 0
    # The work is done, then the answer's headers go at once and its body one byte every that
    # many seconds (a read timeout, restarted at each byte, never fires). 0: off.
    drip_seconds: float = 0.0
    redirect_to: str | None = None  # 307 to this location before anything is done
    # Probability of a 429 before anything is done, whatever the rate window: with
    # answer_headers saying how long to wait, a server that asks for absurd waits.
    throttle_rate: float = 0.0
    # Added to the answers (errors and 429s too), over the announced limit's own: e.g.
    # {"Retry-After": "999999"} or {"RateLimit": '"w";r=0;t=1000000000000'}.
    answer_headers: dict[str, str] = field(default_factory=dict)
    # The files of DONE videos (GET /media/{name}, see media.py): their size in bytes, and the
    # share of whole-file answers cut a third of the way in (a broken CDN connection).
    media_size: int = 262_144
    cut_downloads: float = 0.0

    def __post_init__(self) -> None:
        if self.retry_after not in RETRY_AFTER_FORMS:
            raise EmulatorSettingsError(
                f"retry_after must be one of {', '.join(RETRY_AFTER_FORMS)}, "
                f"not {self.retry_after!r}"
            )
        for name in (
            "spike_rate",
            "fail_rate",
            "drop_rate",
            "odd_rate",
            "stale_rate",
            "render_fail_rate",
            "list_fail_rate",
            "throttle_rate",
            "cut_downloads",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise EmulatorSettingsError(f"{name} must be between 0 and 1, not {value}")
        if self.rate_window_kind not in WINDOW_KINDS:
            raise EmulatorSettingsError(
                f"rate_window_kind must be one of {', '.join(WINDOW_KINDS)}, "
                f"not {self.rate_window_kind!r}"
            )
        for name in (
            "latency_ms",
            "latency_jitter_ms",
            "latency_in_ms",
            "latency_in_jitter_ms",
            "spike_ms",
            "render_seconds",
            "oversize_bytes",
            "drip_seconds",
            "media_size",
        ):
            if getattr(self, name) < 0:
                raise EmulatorSettingsError(f"{name} must not be negative")
        if self.estimate_shape not in ESTIMATE_SHAPES:
            raise EmulatorSettingsError(
                f"estimate_shape must be one of {', '.join(ESTIMATE_SHAPES)}, "
                f"not {self.estimate_shape!r}"
            )
        if self.hostile_on not in HOSTILE_ON:
            raise EmulatorSettingsError(
                f"hostile_on must be one of {', '.join(HOSTILE_ON)}, not {self.hostile_on!r}"
            )
        if self.redirect_to is not None and not self.redirect_to.strip():
            raise EmulatorSettingsError("redirect_to must not be empty (None: no redirect)")
        self.answer_headers = dict(self.answer_headers)
        for name, value in self.answer_headers.items():
            # Checked here: an illegal header would only fail inside the server, per request.
            if not name.isascii() or not name or any(c in name for c in " :\r\n\t"):
                raise EmulatorSettingsError(f"answer header name {name!r} is not a header name")
            if any(c in value for c in "\r\n\x00"):
                raise EmulatorSettingsError(f"answer header {name} has a line break in its value")
        for name in ("rpm", "read_rpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise EmulatorSettingsError(f"{name} must be positive, not {value}")
        if self.rate_window <= 0:
            raise EmulatorSettingsError(f"rate_window must be positive, not {self.rate_window}")
        if self.credits is not None and self.credits < 0:
            raise EmulatorSettingsError(f"credits must not be negative, not {self.credits}")
        if self.api_key == "":
            raise EmulatorSettingsError("api_key must not be empty (None accepts any key)")
        if self.state_file is not None:
            self.state_file = Path(self.state_file)

    def budgets(self) -> tuple[Budget | None, Budget | None]:
        """(writes, reads): the budget each kind of request is counted in; the same one for
        both without ``read_rpm``, None without ``rpm``."""
        kind: WindowKind = "fixed" if self.rate_window_kind == "fixed" else "sliding"
        window = self.rate_window
        if self.read_rpm is None:
            both = None if self.rpm is None else Budget.per_minute("api", self.rpm, window, kind)
            return both, both
        reads = Budget.per_minute("reads", self.read_rpm, window, kind)
        writes = None if self.rpm is None else Budget.per_minute("writes", self.rpm, window, kind)
        return writes, reads


@dataclass
class EmulatorStats:
    """Counters since the emulator started (not persisted in the state file)."""

    requests: int = 0  # every request to an API endpoint, whatever its answer
    reads: int = 0  # of which GET requests (lists, polls, catalogue)
    creates: int = 0  # POST /videos requests that got past auth and the rate limit
    created: int = 0  # videos actually created (dropped answers included)
    rate_limited: int = 0  # 429 answers
    failed_injected: int = 0  # injected 5xx answers on POST /videos
    dropped: int = 0  # creates whose connection was closed without an answer
    create_times: list[float] = field(default_factory=list)  # clock time of each creation
    # Clock time the first request arrived, and the first create (before their latency on
    # the way in): the time between is what a run spent before its first create left.
    first_arrival: float | None = None
    first_create_arrival: float | None = None
    renders: int = 0  # renders started
    estimates: int = 0  # GET /videos/{id}/estimate answered
    credits_spent: float = 0.0  # the prices of the renders started
    odd_answers: int = 0  # creates answered with something that is not a Video
    stale_answers: int = 0  # creates answered with the previous create's video
    # GET /videos/{id} by id: what a listing did not answer for.
    # (A plain dict: dataclasses.asdict rebuilds a Counter from its pairs, as keys.)
    video_reads: dict[str, int] = field(default_factory=dict)
    oversized: int = 0  # answers padded past oversize_bytes
    dripped: int = 0  # answers dripped a byte at a time
    redirected: int = 0  # requests answered with a redirect
    throttled: int = 0  # 429s of throttle_rate (also counted in rate_limited)
    media_requests: int = 0  # GET and HEAD /media/{name}, whatever their answer
    media_bytes_sent: int = 0  # bytes of files' bodies sent (cut ones and ranges included)
    media_cut: int = 0  # whole-file answers cut a third of the way in (cut_downloads)
