"""The few calls of the Google Sheets API v4 a run makes, over httpx: the spreadsheet's tabs,
a tab's values as the sheet shows them, and one ``batchUpdate`` for every write.

Google allows 60 reads and 60 writes a minute per user and answers 429 past them; a 429 or a
5xx is waited out with growing, jittered waits (Google's advice: 1, 2, 4... seconds, at most
32), long enough in all (about 95 s) for a minute's quota to come back. A refused token is
fetched again once. Everything else is a :class:`SheetsApiError` whose message names the
sheet and says what to do."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from pipeline.argil.base_url import InsecureURLError, check_base_url
from pipeline.errors import JobError
from pipeline.gsheets.auth import Tokens
from pipeline.sheets import SheetError

SHEETS_URL_ENV = "ARGIL_BATCH_SHEETS_URL"
DEFAULT_SHEETS_URL = "https://sheets.googleapis.com"
# Enough for Google's per-minute quota to come back: 1 + 2 + 4 + ... + 32 + 32 s, jittered.
MAX_ATTEMPTS = 8
_RETRIED = frozenset({429, 500, 502, 503, 504})
_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=None)


class SheetsApiError(SheetError):
    """The Sheets API refused a call; the message is one line for the user."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class _Again(Exception):
    """An answer worth asking again (429, 5xx, a lost connection)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def sheets_url() -> str:
    """``ARGIL_BATCH_SHEETS_URL``, else Google's; plain http only to this machine."""
    url = os.environ.get(SHEETS_URL_ENV, "").strip() or DEFAULT_SHEETS_URL
    try:
        return check_base_url(url)
    except InsecureURLError as exc:
        raise JobError(f"{SHEETS_URL_ENV}: {exc}") from None


class SheetsClient:
    """Calls to the Sheets API as ``tokens``' service account. Thread-safe: the run reads on
    its own thread and writes on the writer's."""

    def __init__(
        self,
        base_url: str,
        tokens: Tokens,
        *,
        http: httpx.Client,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.tokens = tokens
        self.email = tokens.account.email
        self._http = http
        self._sleep = sleep
        self.rate_limited = 0  # 429s met (and waited out)
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    # --- the calls ---------------------------------------------------------------------------

    def spreadsheet(self, sid: str) -> dict[str, Any]:
        """The spreadsheet's title and its tabs' properties (gid, title, grid size)."""
        fields = "spreadsheetId,properties.title,sheets.properties"
        return self._call("GET", sid, f"/{quote(sid)}", params={"fields": fields})

    def values(self, sid: str, tab: str) -> list[list[str]]:
        """Every cell of the tab as the sheet shows it (formatted), row by row from row 1;
        Google leaves out trailing blank cells and rows."""
        answer = self._call(
            "GET",
            sid,
            f"/{quote(sid)}/values/{quote(a1_tab(tab), safe='')}",
            params={"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"},
        )
        rows = answer.get("values") or []
        return [[_text(cell) for cell in row] for row in rows if isinstance(row, list)]

    def batch_update(self, sid: str, requests: list[dict[str, Any]]) -> None:
        """The requests applied together, or none of them (Google applies a batch whole)."""
        self._call(
            "POST", sid, f"/{quote(sid)}:batchUpdate", json={"requests": requests}, write=True
        )

    # --- the plumbing ------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        sid: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        write: bool = False,
    ) -> dict[str, Any]:
        url = f"{self.base_url}/v4/spreadsheets{path}"
        renewed = False
        retrying = Retrying(
            sleep=self._sleep,
            wait=wait_exponential_jitter(initial=1, max=32, jitter=1),
            stop=stop_after_attempt(MAX_ATTEMPTS),
            retry=retry_if_exception_type(_Again),
            retry_error_callback=_gave_up,
            reraise=False,
        )
        for attempt in retrying:
            with attempt:
                self.requests += 1
                headers = {"Authorization": f"Bearer {self.tokens.token(renew=renewed)}"}
                try:
                    response = self._http.request(
                        method, url, params=params, json=json, headers=headers
                    )
                except httpx.HTTPError as exc:
                    raise _Again(f"the connection failed ({type(exc).__name__})") from None
                if response.status_code == 401 and not renewed:
                    renewed = True  # a token revoked or expired early: fetch one more
                    raise _Again("the token was refused")
                if response.status_code in _RETRIED:
                    if response.status_code == 429:
                        self.rate_limited += 1
                    raise _Again(f"{response.status_code} {_google_message(response)}")
                if response.is_success:
                    try:
                        answer = response.json()
                    except ValueError:
                        answer = {}
                    return answer if isinstance(answer, dict) else {}
                raise self._refused(response, sid, write)
        raise AssertionError("unreachable: the retry either returns or raises")

    def _refused(self, response: httpx.Response, sid: str, write: bool) -> SheetsApiError:
        status, said = response.status_code, _google_message(response)
        email = self.email
        if status == 403 and write:
            text = (
                f"the service account {email} may not edit the Google Sheet {sid} ({said}); "
                f"share the sheet with {email} as an editor"
            )
        elif status == 403:
            text = (
                f"the Google Sheet {sid} is not shared with the service account {email}; "
                f"open the sheet, click Share and add {email} as an editor"
            )
        elif status == 404:
            text = f"there is no Google Sheet {sid}; check the URL (the id is the part after /d/)"
        elif status == 401:
            text = f"the Sheets API refused the service account {email}'s token ({said})"
        else:
            text = f"the Sheets API refused a request on the Google Sheet {sid}: {status} {said}"
        return SheetsApiError(text, status)


def _gave_up(state: RetryCallState) -> None:
    outcome = state.outcome
    exc = outcome.exception() if outcome is not None else None
    why = exc.why if isinstance(exc, _Again) else str(exc)
    raise SheetsApiError(
        f"the Sheets API did not answer after {state.attempt_number} tries (last: {why}); "
        "run again later",
        429 if why.startswith("429") else 0,
    )


def _google_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message = error["message"]
    elif isinstance(error, str):
        message = error
    else:
        message = response.reason_phrase or "no message"
    return " ".join(message.split())[:300]


def _text(cell: object) -> str:
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    return "" if cell is None else str(cell)


def a1_tab(title: str) -> str:
    """A tab's name as A1 notation quotes it: 'It''s' for It's."""
    return "'" + title.replace("'", "''") + "'"
