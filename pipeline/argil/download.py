"""Downloading a finished video's file, resumably: :func:`fetch_file`, and :func:`safe_file_name`
for naming it.

A video's URL points at a file host (a CDN), not at the API: it is fetched with a client that
carries no API key, and it may be signed, with secrets in its query string, so no message or log
line ever shows more of it than scheme, host and path.

The file is streamed into ``.NAME.part`` beside its destination and moved into place only once
complete (flushed and fsynced first), so an existing destination is always a whole file and is
never fetched again. A body that ends short (a dropped connection, a server that sends less than
it announced) is resumed from where it stopped with a ``Range`` request, in this run or the next;
a server that ignores ranges is read again from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import unicodedata
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

import httpx
import regex

from pipeline.argil.errors import ArgilError

logger = logging.getLogger("pipeline.argil.download")

ProgressCallback = Callable[[int, int | None], None]

# Statuses worth another try: the host is busy or failing, not refusing this file.
_RETRIED: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
# Between two tries: 1, 2, 4... seconds, at most this.
_MAX_WAIT: Final = 60.0
_CONTENT_RANGE: Final = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")

# What no file system takes in a name (Windows' set is the widest), control characters, and
# characters that make a name read other than it is (bidirectional overrides, line
# separators); lone surrogates cannot even be encoded. Each run becomes one "_".
_UNSAFE: Final = regex.compile(
    r'[/\\:*?"<>|\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029'
    r"\ud800-\udfff]+"
)
# Windows refuses these as a name's part before its first dot, whatever the case.
_RESERVED: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789¹²³"}
)
_FALLBACK: Final = "video"


class DownloadError(ArgilError):
    """A file could not be fetched: the host refused it (403, 404, 410, another 4xx) or it
    still failed after every attempt. ``url`` and the message name the URL without its query
    string (a signed URL carries its secrets there)."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message, status=status, method="GET")
        self.url = url


def safe_file_name(text: str, *, suffix: str = ".mp4", max_bytes: int = 180) -> str:
    """A name every file system takes: no / \\ : * ? " < > | or control characters, no leading
    dot or dash, no trailing dot/space, not a Windows reserved name (CON, PRN, AUX, NUL,
    COM1-9, LPT1-9), NFC-normalised, at most max_bytes UTF-8 bytes with the suffix, never
    empty."""
    if _UNSAFE.search(suffix) or suffix != suffix.strip() or suffix.endswith("."):
        raise ValueError(f"the suffix {suffix!r} is not safe in a file name")
    budget = max_bytes - len(suffix.encode())
    if budget < 1:
        raise ValueError(f"{max_bytes} bytes leave no room for a name before {suffix!r}")
    stem = _UNSAFE.sub("_", unicodedata.normalize("NFC", text))
    # Runs of any whitespace (tabs became "_" above; no-break and other spaces stay) as one.
    stem = _trimmed(" ".join(stem.split()))
    stem = _trimmed(_fit(stem, budget)) or _fit(_FALLBACK, budget)
    # Checked once cut to length, which can make a name reserved ("CONCERT" cut to 3).
    if stem.split(".", 1)[0].rstrip(" ").upper() in _RESERVED:
        # In front, so that cutting it to length again cannot make it reserved.
        stem = _trimmed(_fit("_" + stem, budget))
    return stem + suffix


def _trimmed(stem: str) -> str:
    # A leading dot hides a file, a leading dash reads as an option; Windows drops a trailing
    # dot or space, so the name would not be the one asked for.
    return stem.lstrip(" .-").rstrip(" .")


def _fit(stem: str, budget: int) -> str:
    """``stem`` cut to at most ``budget`` UTF-8 bytes between two user-perceived characters,
    never inside one (an emoji sequence or a letter and its accents)."""
    if len(stem.encode()) <= budget:
        return stem
    kept: list[str] = []
    used = 0
    for cluster in regex.findall(r"\X", stem):
        size = len(cluster.encode())
        if used + size > budget:
            break
        kept.append(cluster)
        used += size
    return "".join(kept)


def _shown(url: str) -> str:
    """``url`` as it may be shown: scheme, host, port and path; no user, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    return f"{parts.scheme}://{host}{port}{parts.path}"


async def fetch_file(
    http: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    on_bytes: ProgressCallback | None = None,
    attempts: int = 5,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Fetch ``url`` into ``dest``: True when fetched now, False when ``dest`` already existed
    (it is never fetched again: a file is only ever moved into place complete).

    ``http`` must be a client without the API key: a file host is not the API. The body is
    streamed into ``.NAME.part`` beside ``dest``; a part left by a cut download, of this run or
    an earlier one, is resumed with a ``Range`` request. A body that ends short, a 5xx, a 429
    or a transport error is tried again, ``attempts`` tries in all, waiting 1, 2, 4... seconds
    through ``sleep`` in between. ``on_bytes`` gets (bytes so far, total or None) as they come.
    Raises :class:`DownloadError` on a refusal (403, 404, 410, another 4xx: at once) or once
    every attempt failed.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be 1 or more, not {attempts}")
    if "x-api-key" in http.headers:
        raise ValueError("a file host is not the API: fetch files with a client without its key")
    dest = Path(dest)
    if dest.exists():
        return False
    shown = _shown(url)
    part = dest.with_name(f".{dest.name}.part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = 0
    while True:
        outcome = await _attempt(http, url, shown, part, on_bytes)
        if outcome == "done":
            break
        if outcome == "again":
            continue
        failures += 1
        if failures >= attempts:
            raise DownloadError(
                f"cannot download {shown} in {attempts} attempts: {outcome}", url=shown
            )
        wait = min(2.0 ** (failures - 1), _MAX_WAIT)
        have = part.stat().st_size if part.exists() else 0
        logger.info("download of %s: %s at %d bytes; again in %gs", shown, outcome, have, wait)
        await sleep(wait)
    _sync(part)
    os.replace(part, dest)
    _sync_folder(dest.parent)
    return True


async def _attempt(
    http: httpx.AsyncClient,
    url: str,
    shown: str,
    part: Path,
    on_bytes: ProgressCallback | None,
) -> Literal["done", "again"] | str:
    """One request: "done" once the part holds the whole file, "again" to ask again at once
    (the part was dropped), else why this try failed (the next one resumes)."""
    have = part.stat().st_size if part.exists() else 0
    # Identity: a compressed body's length would not be the file's, nor its ranges the file's.
    headers = {"accept-encoding": "identity"}
    if have:
        headers["range"] = f"bytes={have}-"
    try:
        async with http.stream("GET", url, headers=headers, follow_redirects=True) as response:
            status = response.status_code
            if status == 416 and have:
                if _range_total(response.headers.get("content-range")) == have:
                    return "done"  # the part was whole already (stopped before its move)
                part.unlink()
                return "again"
            if status in _RETRIED:
                return f"HTTP {status}"
            if status not in (200, 206):
                raise DownloadError(
                    f"cannot download {shown}: the file host refused it",
                    url=shown,
                    status=status,
                )
            encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
            if status == 206:
                start, total = _content_range(response.headers.get("content-range"))
                if start != have or encoded:
                    part.unlink(missing_ok=True)
                    return "a range other than the one asked for"
            else:
                # A whole file, asked for or not (a host that ignores ranges): from the start.
                have, total = 0, _length(response.headers.get("content-length"))
            if encoded:
                total = None  # the length is the compressed one
            written = have
            if on_bytes is not None:
                on_bytes(written, total)
            # Written as it comes, never held whole; a cut leaves what came in the part.
            with part.open("ab" if have else "wb") as handle:
                async for chunk in response.aiter_bytes():
                    handle.write(chunk)
                    written += len(chunk)
                    if on_bytes is not None:
                        on_bytes(written, total)
    # Their text may hold the URL, query and all: the kind of failure is said instead, and
    # the exception is not chained.
    except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.TooManyRedirects) as exc:
        raise DownloadError(f"cannot download {shown}: {type(exc).__name__}", url=shown) from None
    except (httpx.TransportError, httpx.DecodingError) as exc:
        return f"connection failed ({type(exc).__name__})"
    if total is None or written == total:
        return "done"
    if written > total:
        part.unlink()
        return f"{written} bytes of {total}"
    return f"cut at {written} of {total} bytes"


def _length(raw: str | None) -> int | None:
    return int(raw) if raw is not None and raw.strip().isdigit() else None


def _content_range(raw: str | None) -> tuple[int | None, int | None]:
    """(first byte, total or None) of a 206's ``Content-Range``; (None, None) unreadable."""
    found = _CONTENT_RANGE.fullmatch((raw or "").strip())
    if found is None:
        return None, None
    total = found.group(3)
    return int(found.group(1)), None if total == "*" else int(total)


def _range_total(raw: str | None) -> int | None:
    """The total of a 416's ``Content-Range: bytes */TOTAL``."""
    found = re.fullmatch(r"bytes\s+\*/(\d+)", (raw or "").strip())
    return int(found.group(1)) if found else None


def _sync(path: Path) -> None:
    # Flushed and on disk before the move: a crash never leaves a short file under the name.
    with path.open("ab") as handle:
        handle.flush()
        os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    # The move itself made durable where the OS allows it (not on Windows: no folder handles).
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
