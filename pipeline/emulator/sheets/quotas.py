"""Tokens and quotas of the fake Google Sheets: the ``POST /token`` grant, the bearer-token
check and the per-minute read and write quotas per service account and per project.

:class:`Gatekeeper` is the part of :class:`~pipeline.emulator.sheets.state.SheetsWorld` that
keeps them; the world sets up the attributes declared here and shares its lock with it.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from pipeline.emulator.sheets.accounts import check_assertion
from pipeline.emulator.sheets.errors import SheetsError, TokenError

SCOPE = "https://www.googleapis.com/auth/spreadsheets"
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_QUOTA = (
    "Quota exceeded for quota metric '{kind} requests' and limit '{kind} requests per minute"
    "{scope}' of service 'sheets.googleapis.com' for consumer 'project_number:000000000000'."
)


class Gatekeeper:
    """Service accounts, tokens and quota windows (thread-safe under ``_lock``)."""

    clock: Callable[[], float]
    token_lifetime: float
    window: float
    limits: dict[tuple[str, bool], int]
    accounts: dict[str, str]
    rate_limited: int
    tokens: int
    _lock: threading.RLock
    _tokens: dict[str, tuple[str, float]]
    _windows: dict[tuple[str, bool], deque[float]]

    def register(self, email: str, public_pem: str) -> None:
        with self._lock:
            self.accounts[email] = public_pem

    def issue_token(self, assertion: str, audience: str | list[str]) -> dict[str, Any]:
        """The answer to a JWT-bearer grant, or :class:`TokenError`."""
        with self._lock:
            accounts = dict(self.accounts)
        try:
            email = check_assertion(assertion, accounts, audience, SCOPE)
        except ValueError as exc:
            error = "invalid_scope" if "Scope" in str(exc) else "invalid_grant"
            raise TokenError(str(exc), error) from exc
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (email, self.clock() + self.token_lifetime)
            self.tokens += 1
        return {
            "access_token": token,
            "expires_in": int(self.token_lifetime),
            "token_type": "Bearer",
        }

    def authenticate(self, authorization: str | None) -> str:
        """The account behind a live bearer token, or a 401."""
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            owner = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            if owner is None or owner[1] <= self.clock():
                self._tokens.pop(token.strip(), None)
                raise SheetsError(401, _UNAUTHENTICATED, "UNAUTHENTICATED")
            return owner[0]

    def admit(self, email: str, write: bool) -> None:
        """Count a request against the per-account and project quotas, or a 429."""
        kind = "Write" if write else "Read"
        with self._lock:
            now = self.clock()
            queues = []
            for who, scope in ((email, " per user"), ("", "")):
                queue = self._windows.setdefault((who, write), deque())
                while queue and queue[0] <= now - self.window:
                    queue.popleft()
                if len(queue) >= self.limits[("user" if who else "project", write)]:
                    self.rate_limited += 1
                    message = _QUOTA.format(kind=kind, scope=scope)
                    raise SheetsError(429, message, "RESOURCE_EXHAUSTED")
                queues.append(queue)
            for queue in queues:
                queue.append(now)
