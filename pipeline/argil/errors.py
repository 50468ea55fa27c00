"""The errors of the Argil client (:mod:`pipeline.argil.client` raises them).

Exceptions (every message is safe to print: it never contains the API key)::

    ArgilError                  base; .status (HTTP status or None), .code, .message
    ├── RowError                400/422 and other 4xx: the request's own fault; never retried
    ├── FatalError              401, 402, 403, a refusal that mentions credits or the plan, a
    │   │                       redirect (3xx: the base URL is likely wrong), or an API key
    │   │                       that cannot be sent: stop the whole run
    │   └── Stalled             the server asked for a wait past the cap (Retry-After, a
    │                           reset, a policy's window) answer after answer: a run would
    │                           crawl, so it stops; .asked (seconds), .header
    ├── NotFound                404
    ├── RateLimited             429, still refused after every attempt; .retry_after
    ├── ServerError             5xx (or an unreadable or oversized 2xx) on an idempotent call,
    │                           after retries
    ├── TransportError          no usable answer on an idempotent call (connect failures,
    │   │                       timeouts, dropped connections, the request's deadline
    │   │                       passed), after retries
    │   └── CertificateError    the server's TLS certificate is not trusted: never retried
    ├── InDoubt                 a create or render that was sent but whose answer never came
    │                           (read timeout, dropped connection, deadline passed, 5xx,
    │                           unreadable or oversized 2xx): it may have happened. Never
    │                           resend blindly: look the video up.
    └── NotSent                 the request never left: the gate was closed (a stopping run)
    InsecureURLError(JobError)    a base URL that is not https (plain http only on loopback),
                                  or that is not a usable base URL at all
"""

from __future__ import annotations

from typing import Any

from pipeline.errors import EXIT_STOPPED, ArgilBatchError


class ArgilError(ArgilBatchError):
    """Base of every error of this module; ``message`` is safe to show to a user."""

    exit_code = EXIT_STOPPED

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.method = method
        self.path = path

    def __str__(self) -> str:
        if self.status is None:
            return self.message
        return f"HTTP {self.status}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class RowError(ArgilError):
    """The API refused this request for a reason of its own (400/422): never retried."""


class FatalError(ArgilError):
    """Bad key, no permission, no credits or no plan: nothing else will succeed either."""


class Stalled(FatalError):
    """The server asked for a wait past the client's cap on answer after answer: a run would
    crawl at one request per cap, so it stops and leaves the rest for later. ``asked`` is the
    wait last asked for, in seconds, and ``header`` the header that asked for it."""

    def __init__(self, message: str, *, asked: float, header: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.asked = asked
        self.header = header


class NotFound(ArgilError):
    """404: the video (or endpoint) does not exist."""


class RateLimited(ArgilError):
    """429 on every attempt. ``retry_after`` is the server's last hint in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        # The wait chosen for this refusal (hint or backoff), shared by the gate pause and the
        # retry so that both wait the same time.
        self.wait: float | None = None


class ServerError(ArgilError):
    """A 5xx (or an unreadable or oversized answer) on an idempotent call, after every
    retry."""


class TransportError(ArgilError):
    """No usable answer at all (connection refused, timeouts, dropped connections)."""


class CertificateError(TransportError):
    """The server's TLS certificate could not be verified: nothing was sent, and trying again
    would meet the same certificate."""


class InDoubt(ArgilError):
    """A create or render was sent but its answer was lost: it may or may not have happened."""


class NotSent(ArgilError):
    """The request never left: the client's gate was closed (the run is stopping)."""
