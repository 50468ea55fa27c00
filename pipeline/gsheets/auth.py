"""Who reads and writes the sheet: a Google service account, the ecosystem's convention for a
job that runs with no one at the keyboard. ``GOOGLE_APPLICATION_CREDENTIALS`` names its JSON
key file; google-auth signs the token request with its key and sends it to the ``token_uri``
the file names, through the project's own HTTP client (httpx, see :class:`_Transport`).

Nothing here ever prints the private key or a token: messages name the file and the
account's e-mail only."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pipeline.argil.base_url import InsecureURLError, check_base_url
from pipeline.sheets import SheetError

CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
SCOPE = "https://www.googleapis.com/auth/spreadsheets"
HOW_TO = "docs/google-sheets.md says how to make one"


class AuthError(SheetError):
    """The service account cannot be used: its key file, or Google's answer to it."""


@dataclass(frozen=True)
class ServiceAccount:
    email: str
    source: str
    """Where the key came from (the file), as messages name it."""
    info: dict[str, Any] = field(repr=False)


def load_service_account(path: str | Path | None = None) -> ServiceAccount:
    """The service account whose key file ``path`` (else ``GOOGLE_APPLICATION_CREDENTIALS``)
    names; AuthError, one line, when it cannot be used."""
    if path is None:
        text = os.environ.get(CREDENTIALS_ENV, "").strip()
        if not text:
            raise AuthError(
                f"a Google Sheet is read and written as a Google service account: set "
                f"{CREDENTIALS_ENV} to its JSON key file ({HOW_TO}), or try it with --sandbox"
            )
        path = text
    path = Path(path).expanduser()
    named = f"{CREDENTIALS_ENV} names {path}"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AuthError(
            f"{named}, which does not exist; set it to the service account's JSON key file"
        ) from None
    except IsADirectoryError:
        raise AuthError(f"{named}, which is a folder; set it to the JSON key file") from None
    except OSError as exc:
        raise AuthError(
            f"cannot read the service account key {path} ({exc.strerror or exc}); check the "
            "file's permissions"
        ) from None
    try:
        info = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise AuthError(
            f"{path} is not a JSON key file; download the service account's key as JSON ({HOW_TO})"
        ) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        kind = info.get("type") if isinstance(info, dict) else None
        what = f"its type is {kind!r}" if kind else "it has no type"
        raise AuthError(
            f"{path} is not a service account's key ({what}); create a key for a service "
            f"account ({HOW_TO})"
        )
    missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
    if missing:
        raise AuthError(
            f"{path} lacks {', '.join(missing)}; download a new JSON key for the service account"
        )
    try:
        check_base_url(str(info["token_uri"]))
    except InsecureURLError as exc:
        raise AuthError(f"{path}: its token_uri cannot be used: {exc}") from None
    return ServiceAccount(str(info["client_email"]), str(path), info)


class Tokens:
    """Access tokens for ``account``, fetched when first needed and again shortly before they
    expire; shared by the reads of the main thread and the writes of the writer's thread."""

    def __init__(self, account: ServiceAccount, http: httpx.Client) -> None:
        from google.oauth2 import service_account

        self.account = account
        self._http = http
        self._lock = threading.Lock()
        try:
            self._credentials = service_account.Credentials.from_service_account_info(
                account.info, scopes=[SCOPE]
            )
        except (ValueError, TypeError) as exc:
            raise AuthError(
                f"{account.source}: the service account's private key cannot be read "
                f"({_first_line(exc)}); download a new JSON key"
            ) from None

    def token(self, *, renew: bool = False) -> str:
        """A live access token; ``renew``: a fresh one (the last was refused)."""
        with self._lock:
            credentials = self._credentials
            if renew or not credentials.valid:
                self._refresh()
            return str(credentials.token)

    def _refresh(self) -> None:
        from google.auth import exceptions

        try:
            self._credentials.refresh(_Transport(self._http))
        except exceptions.RefreshError as exc:
            raise AuthError(
                f"Google refused the service account {self.account.email} "
                f"({_refusal(exc)}); its key may have been deleted or disabled: create a new "
                f"key ({HOW_TO})"
            ) from None
        except exceptions.TransportError as exc:
            raise AuthError(
                f"cannot reach Google's token service for {self.account.email} "
                f"({_first_line(exc)}); check the network and run again"
            ) from None


def _refusal(exc: Exception) -> str:
    # google-auth puts the token endpoint's answer (error, description) in its arguments.
    for arg in exc.args[1:]:
        if isinstance(arg, dict) and arg.get("error"):
            described = arg.get("error_description")
            return f"{arg['error']}: {described}" if described else str(arg["error"])
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


class _Response:
    """google-auth's transport response (status, headers, data) over an httpx response."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.headers = dict(response.headers)
        self.data = response.content


class _Transport:
    """google-auth's ``transport.Request`` (a callable) over httpx: google-auth's own
    transports need ``requests`` or ``urllib3``, which the project does not otherwise use."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        from google.auth import exceptions

        try:
            response = self._http.request(
                method, url, content=body, headers=headers, timeout=timeout or 30.0
            )
        except httpx.HTTPError as exc:
            raise exceptions.TransportError(_first_line(exc)) from exc
        return _Response(response)
