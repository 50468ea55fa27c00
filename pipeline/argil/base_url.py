"""The API's base URL, checked before any connection: the key travels in a header, so plain
http is allowed only to this machine."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pipeline.errors import JobError

__all__ = ["InsecureURLError", "check_base_url"]


class InsecureURLError(JobError, ValueError):
    """The base URL is refused before any connection is made."""


def _is_loopback(host: str) -> bool:
    if host.rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """The base URL without its trailing slash, or InsecureURLError.

    https is accepted for any host; plain http only for loopback (127.0.0.0/8, ::1, localhost),
    because the key travels in a header that anyone on the path could read.
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise InsecureURLError(f"not a valid base URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise InsecureURLError("the base URL must look like https://host/path")
    if parts.username is not None or parts.password is not None:
        # Never echo the URL here: its user-info part is a credential.
        raise InsecureURLError("the base URL must not contain a user name or password")
    if parts.query or parts.fragment:
        raise InsecureURLError("the base URL must not have a query or a fragment")
    netloc = parts.netloc.lower()
    normalised = f"{scheme}://{netloc}{parts.path.rstrip('/')}"
    if scheme == "http" and not _is_loopback(host):
        raise InsecureURLError(
            f"refusing plain http to {host}: use https (http is allowed only for loopback "
            f"addresses such as 127.0.0.1 or localhost): {normalised}"
        )
    return normalised
