"""What the API's answers say, read safely: an error body's code and message, server text made
safe to print (control characters out, the key blanked, cut short), a body read within a cap,
the TLS failure behind a connect error, and which errors are worth another attempt."""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Callable
from typing import Any

import httpx

from pipeline.argil.errors import CertificateError, RateLimited, ServerError, TransportError

# A 5xx worth another attempt on an idempotent call (a create's is InDoubt instead).
_RETRIED_SERVER_STATUSES = frozenset({500, 502, 503, 504})

# Server text ends up on a terminal (the "Error: the run stopped:" line) and in a spreadsheet
# cell: control characters (escape sequences) and bidirectional overrides would act there, so
# they are shown as U+FFFD instead.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def truncate(text: str, limit: int) -> str:
    text = " ".join(_UNSAFE_CHARS.sub("\ufffd", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retryable(exc: BaseException) -> bool:
    # ServerError is raised only for idempotent calls; a create's 5xx is InDoubt instead.
    if isinstance(exc, ServerError):
        return exc.status in _RETRIED_SERVER_STATUSES
    if isinstance(exc, CertificateError):
        return False  # the same certificate would be met again
    return isinstance(exc, RateLimited | TransportError)


async def read_capped(response: httpx.Response, limit: int) -> bytes | None:
    """The answer's body, or None as soon as it passes ``limit`` bytes (the rest is never
    read, so a huge answer costs no more memory than the limit and one chunk)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    # Decoded bytes are counted: a small compressed answer may inflate to any size.
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a connect failure, if that is what it was (httpx wraps it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def seconds(value: float) -> str:
    """Seconds as a server asked for them, whole when they are (999999, not 1e+06)."""
    return f"{value:.0f}" if value >= 1 or value == 0 else f"{value:.2f}"


def message_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        # Validation frameworks often send one message per field.
        return "; ".join(str(item) for item in value)
    return None


def error_body(
    response: httpx.Response, body: bytes | None, safe: Callable[[str], str]
) -> tuple[int | None, str]:
    """``(code, message)`` from an ``{code, message}`` body, or a generic message (also when
    the body was too large to read)."""
    generic = f"the server answered {response.status_code} {response.reason_phrase}".strip()
    if body is None:
        return None, generic
    try:
        data = json.loads(body)
    except ValueError:
        try:
            text = body.decode(response.encoding or "utf-8", errors="replace").strip()
        except LookupError:  # a charset Python does not know
            text = body.decode("utf-8", errors="replace").strip()
        content_type = response.headers.get("content-type", "")
        if text and "html" not in content_type and not text.startswith("<"):
            return None, safe(f"{generic}: {text}")
        return None, generic
    if not isinstance(data, dict):
        return None, generic
    code = data.get("code") if isinstance(data.get("code"), int) else None
    message = message_of(data.get("message")) or message_of(data.get("error"))
    return code, safe(message) if message else generic
