"""A stand-in for the Google Sheets API v4 and Google's OAuth token endpoint, written from Google's
public documentation alone (nothing of ``pipeline`` is imported): a server the client's authors
did not write, so that a client is held to Google's rules and not to its own reading of them.

As strict as the documentation lets it be: tokens only for JWTs signed by a registered service
account; per-user and per-project read and write quotas, refused with 429 and no Retry-After;
batchUpdate applied all or nothing; no write outside a tab's grid; 10,000,000 cells at most.
Formulas are not computed: a test gives each its value (a ``=HYPERLINK(url, label)`` written
through the API shows its label, any other formula nothing).

Cells, number formats, rendering and A1 notation are in ``sheets_standin_format``; the checks
of request bodies and the batchUpdate requests in ``sheets_standin_requests``."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from random import Random
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sheets_standin_format import (
    EPOCH,
    Cell,
    Formula,
    Number,
    Scalar,
    Tab,
    a1,
    col_letters,
    format_number,
    general,
    is_date_format,
    parse_cells,
    quote_title,
    render,
    split_range,
)
from sheets_standin_requests import (
    MAX_CELLS,
    ApiError,
    Json,
    batch_update,
    check_size,
    enum_value,
    expand_mask,
    formula_value,
    json_object,
    names,
    sorted_rows,
)

SCOPE = "https://www.googleapis.com/auth/spreadsheets"
_DRIVE = "https://www.googleapis.com/auth/drive"
WRITE_SCOPES = {SCOPE, _DRIVE, _DRIVE + ".file"}
READ_SCOPES = WRITE_SCOPES | {SCOPE + ".readonly", _DRIVE + ".readonly"}
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
CONSUMER = "project_number:123456"
_AUTH = (
    "authentication credential{}. Expected OAuth 2 access token, login cookie or other valid "
    "authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)

_SYSTEM_PARAMS = names("fields key alt prettyPrint quotaUser $.xgafv access_token")
_PARAMS = {
    "get": names("includeGridData ranges excludeTablesInBandedRanges"),
    "valuesGet": names("valueRenderOption dateTimeRenderOption majorDimension"),
    "valuesUpdate": names(
        "valueInputOption includeValuesInResponse responseValueRenderOption "
        "responseDateTimeRenderOption"
    ),
}


@dataclass
class _Book:
    id: str
    title: str
    tabs: list[Tab]
    editors: set[str]
    viewers: set[str]


@dataclass
class _Grant:
    email: str
    scopes: set[str]
    expires: float


def _to_cell(v: object) -> Cell | None:
    """A value as a test hands it over."""
    if isinstance(v, Cell):
        return v if v != Cell() else None
    if v is None or v == "":
        return None
    if isinstance(v, Number):
        return Cell(float(v.value), (v.type, v.pattern))
    if isinstance(v, (Formula, bool, str)):
        return Cell(v)
    if isinstance(v, (int, float)):
        return Cell(float(v))
    raise TypeError(f"cannot put {v!r} in a cell")


def _entered(v: Any, user: bool, path: str) -> Cell | None:
    """A value of the values API; None leaves the cell as it is, as Google documents."""
    if v is None or isinstance(v, bool):
        return None if v is None else Cell(v)
    if isinstance(v, (int, float)):
        return Cell(float(v))
    if not isinstance(v, str):
        raise ApiError(400, f"Invalid value at '{path}', {json.dumps(v)}")
    if not user or not v or v[0] == "'":
        return Cell((v[1:] if user and v else v) or None)  # an apostrophe keeps text as text
    if v[0] == "=" and len(v) > 1:
        return Cell(Formula(v, formula_value(v)))
    if v.upper() in ("TRUE", "FALSE"):
        return Cell(v.upper() == "TRUE")
    if re.fullmatch(r"[-+]?(\d{1,3}(,\d{3})+|\d+)?(\.\d*)?([eE][-+]?\d+)?", v) and re.search(
        r"\d", v
    ):
        return Cell(float(v.replace(",", "")))
    return Cell(v)


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


Answer = tuple[int, Any, dict[str, str], list[Callable[[], None]]]
_ROUTE = re.compile(r"/v4/spreadsheets/([^/:]+)(:batchUpdate|/values:batchUpdate|/values/(.+))?")
_ROUTES = {
    ("GET", None): "get",
    ("POST", ":batchUpdate"): "batchUpdate",
    ("GET", "/values/"): "valuesGet",
    ("PUT", "/values/"): "valuesUpdate",
    ("POST", "/values:batchUpdate"): "valuesBatchUpdate",
}


class SheetsStandin:
    """Serves /token and /v4/spreadsheets/... on 127.0.0.1 while in a ``with`` block."""

    def __init__(
        self,
        *,
        read_limit: int = 60,
        write_limit: int = 60,
        project_read_limit: int = 300,
        project_write_limit: int = 300,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        token_lifetime: float = 3600.0,
        max_body: int = 10 * 1024 * 1024,
        seed: int = 1,
    ) -> None:
        # (kind, per user) -> requests allowed in any ``window`` seconds (a sliding window).
        self.limits = {
            ("read", True): read_limit,
            ("write", True): write_limit,
            ("read", False): project_read_limit,
            ("write", False): project_write_limit,
        }
        self.window, self.clock, self.wall_clock = window, clock, wall_clock
        self.token_lifetime, self.max_body = token_lifetime, max_body
        self.reads = self.writes = self.rate_limited = self.tokens_issued = 0
        self.successful_writes = self.successful_reads = 0
        self.write_log: list[Any] = []  # the body of every write counted against the quotas
        self.errors: list[BaseException] = []  # the stand-in's own failures, answered with 500
        self._books: dict[str, _Book] = {}
        self._keys: dict[str, tuple[rsa.RSAPublicKey, str | None]] = {}
        self._tokens: dict[str, _Grant] = {}
        self._used: defaultdict[tuple[str, str | None], deque[float]] = defaultdict(deque)
        self._hooks: defaultdict[int, list[Callable[[], None]]] = defaultdict(list)
        self._read_hooks: defaultdict[int, list[Callable[[], None]]] = defaultdict(list)
        self._rng = Random(seed)
        self._lock = threading.RLock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # kept alive, as by Google's front end

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.serve("GET")

            def do_POST(self) -> None:
                self.serve("POST")

            def do_PUT(self) -> None:
                self.serve("PUT")

            def do_PATCH(self) -> None:  # answered as Google does a method it has no route for
                self.serve("PATCH")

            def do_DELETE(self) -> None:
                self.serve("DELETE")

            def serve(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > api.max_body:
                    while length > 0 and (chunk := self.rfile.read(min(length, 1 << 16))):
                        length -= len(chunk)  # read, so that the client gets to the answer
                    too_big = f"Request payload size exceeds the limit: {api.max_body} bytes."
                    status, body = 413, ApiError(413, too_big).body()
                    headers: dict[str, str] = {}
                    hooks: list[Callable[[], None]] = []
                else:
                    raw = self.rfile.read(length)
                    status, body, headers, hooks = api._handle(method, self.path, self.headers, raw)
                for hook in hooks:  # before the answer, so before the client's next write
                    hook()
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll: stopping waits for it, and tests start and stop many servers.
        serve = partial(self._server.serve_forever, poll_interval=0.02)
        self._thread = threading.Thread(target=serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    def __enter__(self) -> SheetsStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- set-up and inspection by tests, never counted against the quotas ----------------------

    def add_spreadsheet(
        self,
        spreadsheet_id: str,
        title: str = "Untitled spreadsheet",
        tabs: dict[str, list[list[object]]] | None = None,
        shared_with: Iterable[str] = (),
        viewers: Iterable[str] = (),
        grid: dict[str, tuple[int, int]] | None = None,
    ) -> list[int]:
        """The tabs' gids: 0 for the first, large distinct ones after, as Google makes them.
        ``grid`` gives a tab (rows, columns) other than 1000 x 26; data grows it to fit."""
        made: list[Tab] = []
        for name, rows in (tabs or {"Sheet1": []}).items():
            height, width = (grid or {}).get(name, (1000, 26))
            gid = self._new_gid(made) if made else 0
            tab = Tab(gid, name, max(height, len(rows)), max([width, *map(len, rows)]))
            for r, row in enumerate(rows):
                for c, v in enumerate(row):
                    tab.put(r, c, _to_cell(v))
            made.append(tab)
        with self._lock:
            book = _Book(spreadsheet_id, title, made, set(shared_with), set(viewers))
            self._books[spreadsheet_id] = book
        return [t.sheet_id for t in made]

    def share(self, spreadsheet_id: str, email: str, *, editor: bool = True) -> None:
        with self._lock:
            book = self._books[spreadsheet_id]
            (book.editors if editor else book.viewers).add(email)

    def unshare(self, spreadsheet_id: str) -> None:
        """Nobody may read or write it any more (share again with :meth:`share`)."""
        with self._lock:
            book = self._books[spreadsheet_id]
            book.editors, book.viewers = set(), set()

    def rename_tab(self, spreadsheet_id: str, tab: str, title: str) -> None:
        """A colleague renames a tab (its gid stays)."""
        with self._lock:
            self._tab(spreadsheet_id, tab).title = title

    def sheet_ids(self, spreadsheet_id: str) -> dict[str, int]:
        with self._lock:
            return {t.title: t.sheet_id for t in self._books[spreadsheet_id].tabs}

    def grid_size(self, spreadsheet_id: str, tab: str) -> tuple[int, int]:
        with self._lock:
            t = self._tab(spreadsheet_id, tab)
            return t.row_count, t.column_count

    def cells(self, spreadsheet_id: str, tab: str) -> list[list[str]]:
        """The used part of the grid as the text a person sees, '' where empty."""
        with self._lock:
            rows = self._tab(spreadsheet_id, tab).rows
            width = max((c + 1 for row in rows for c in row), default=0)
            grid = [
                [str(render(row.get(c), "FORMATTED_VALUE")) for c in range(width)] for row in rows
            ]
        while grid and not any(grid[-1]):
            grid.pop()
        return grid

    def raw_cell(self, spreadsheet_id: str, tab: str, row: int, col: int) -> Cell | None:
        with self._lock:
            return self._tab(spreadsheet_id, tab).get(row, col)

    def set_cell(self, spreadsheet_id: str, tab: str, row: int, col: int, value: object) -> None:
        with self._lock:
            t = self._tab(spreadsheet_id, tab)
            t.row_count, t.column_count = max(t.row_count, row + 1), max(t.column_count, col + 1)
            t.put(row, col, _to_cell(value))

    def insert_rows(self, spreadsheet_id: str, tab: str, at: int, rows: list[list[object]]) -> None:
        """As a person inserts rows above row ``at`` (zero-based) and types into them."""
        with self._lock:
            t = self._tab(spreadsheet_id, tab)
            t.rows += [{} for _ in range(at - len(t.rows))]
            new = [{c: cell for c, v in enumerate(row) if (cell := _to_cell(v))} for row in rows]
            t.rows[at:at] = new
            t.row_count += len(rows)
            t.column_count = max([t.column_count, *map(len, rows)])

    def delete_row(self, spreadsheet_id: str, tab: str, row: int) -> None:
        with self._lock:
            t = self._tab(spreadsheet_id, tab)
            del t.rows[row : row + 1]
            t.row_count -= 1

    def sort_rows(
        self, spreadsheet_id: str, tab: str, first: int, key_col: int, descending: bool = False
    ) -> None:
        """As a person sorts the rows below a header: whole rows move, every column with them."""
        with self._lock:
            t = self._tab(spreadsheet_id, tab)
            t.rows[first:] = sorted_rows(t.rows[first:], key_col, descending)

    def after_writes(self, n: int, hook: Callable[[], None]) -> None:
        """Run ``hook`` once the ``n``-th successful write is applied, before it is answered."""
        with self._lock:
            self._hooks[n].append(hook)

    def after_reads(self, n: int, hook: Callable[[], None]) -> None:
        """Run ``hook`` once the ``n``-th successful read is answered from the tabs, before the
        answer is sent: an edit between a client's read and the write it bases on it."""
        with self._lock:
            self._read_hooks[n].append(hook)

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def register_service_account(
        self, email: str, public_key_pem: str | bytes, key_id: str | None = None
    ) -> None:
        pem = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, rsa.RSAPublicKey):
            raise TypeError("a service account's key is an RSA key")
        with self._lock:
            self._keys[email] = (key, key_id)

    def make_service_account(
        self, email: str = "tool@standin-project.iam.gserviceaccount.com"
    ) -> dict[str, str]:
        """A new key, registered, as the JSON key file Google hands out (token_uri: this one)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key_id = secrets.token_hex(20)
        self.register_service_account(email, public, key_id)
        return {
            "type": "service_account",
            "project_id": email.partition("@")[2].split(".")[0] or "standin-project",
            "private_key_id": key_id,
            "private_key": private.decode(),
            "client_email": email,
            "client_id": str(self._rng.randrange(10**20, 10**21)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_url,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
            + quote(email),
            "universe_domain": "googleapis.com",
        }

    def _tab(self, spreadsheet_id: str, title: str) -> Tab:
        return next(t for t in self._books[spreadsheet_id].tabs if t.title == title)

    def _new_gid(self, tabs: list[Tab]) -> int:
        taken = {t.sheet_id for t in tabs}
        return next(g for g in iter(lambda: self._rng.randrange(1, 2**31), 0) if g not in taken)

    # ---- HTTP ------------------------------------------------------------------------------

    def _handle(self, method: str, target: str, headers: Any, raw: bytes) -> Answer:
        url = urlsplit(target)
        query = parse_qs(url.query, keep_blank_values=True)
        try:
            with self._lock:
                if url.path == "/token" and method == "POST":
                    return (*self._token(raw), {}, [])
                return self._api(method, url.path, query, headers.get("authorization"), raw)
        except ApiError as e:
            realm = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
            return e.code, e.body(), realm if e.code == 401 else {}, []
        except Exception as e:  # the stand-in's own bug: kept for the test to see
            self.errors.append(e)
            return 500, ApiError(500, "Internal error encountered.", "INTERNAL").body(), {}, []

    def _api(
        self, method: str, path: str, query: dict[str, list[str]], auth: str | None, raw: bytes
    ) -> Answer:
        m = _ROUTE.fullmatch(unquote(path))
        name = _ROUTES.get((method, "/values/" if m.group(3) else m.group(2))) if m else None
        if m is None or name is None:
            raise ApiError(404, "Not Found", "NOT_FOUND")
        for param in query:
            if param not in _PARAMS.get(name, set()) | _SYSTEM_PARAMS:
                raise ApiError(
                    400,
                    f'Invalid JSON payload received. Unknown name "{param}": Cannot bind query '
                    f"parameter. Field '{param}' could not be found in request message.",
                )
        q = {k: v[-1] for k, v in query.items()}
        grant = self._authenticate(
            auth or ("Bearer " + q["access_token"] if "access_token" in q else None)
        )
        kind = "read" if method == "GET" else "write"
        if not grant.scopes & (READ_SCOPES if kind == "read" else WRITE_SCOPES):
            error = ApiError(
                403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED"
            )
            info = {"reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com"}
            error.details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", **info}]
            raise error
        self._admit(grant.email, kind)
        body: Any = None
        if kind == "write":
            self.writes += 1
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = raw.decode("utf-8", "replace")
            self.write_log.append(body)
        else:
            self.reads += 1
        book = self._books.get(m.group(1))
        if book is None:
            raise ApiError(404, "Requested entity was not found.", "NOT_FOUND")
        if grant.email not in book.editors and (kind == "write" or grant.email not in book.viewers):
            raise ApiError(403, "The caller does not have permission", "PERMISSION_DENIED")
        if isinstance(body, str):
            raise ApiError(400, "Invalid JSON payload received. Unexpected token.")
        if name in ("get", "valuesGet"):
            answer = (
                self._spreadsheet(book)
                if name == "get"
                else self._values_get(book.tabs, m.group(3), q)
            )
            self.successful_reads += 1
            return 200, answer, {}, self._read_hooks.pop(self.successful_reads, [])
        tabs = [t.copy() for t in book.tabs]  # changed together, kept only if all succeed
        if name == "batchUpdate":
            answer = batch_update(tabs, body)
        elif name == "valuesUpdate":
            answer = self._write_values(tabs, m.group(3), body, self._input(q), "")
        else:
            body = json_object(
                body,
                names(
                    "valueInputOption data includeValuesInResponse "
                    "responseValueRenderOption responseDateTimeRenderOption"
                ),
                "",
            )
            option = self._input(body)
            data = body.get("data") or []
            answers = [
                self._write_values(tabs, "", vr, option, f"data[{i}]") for i, vr in enumerate(data)
            ]
            totals = {
                f"totalUpdated{k}": sum(a[f"updated{k}"] for a in answers)
                for k in ("Rows", "Columns", "Cells")
            }
            sheets = len({a["updatedRange"].rpartition("!")[0] for a in answers})
            answer = {**totals, "totalUpdatedSheets": sheets, "responses": answers}
        book.tabs = tabs
        self.successful_writes += 1
        hooks = self._hooks.pop(self.successful_writes, [])
        return 200, {"spreadsheetId": book.id, **answer}, {}, hooks

    def _authenticate(self, header: str | None) -> _Grant:
        if not header:
            raise ApiError(
                401, "Request is missing required " + _AUTH.format(""), "UNAUTHENTICATED"
            )
        scheme, _, token = header.partition(" ")
        grant = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None or grant.expires <= self.clock():
            raise ApiError(401, "Request had invalid " + _AUTH.format("s"), "UNAUTHENTICATED")
        return grant

    def _admit(self, email: str, kind: str) -> None:
        now = self.clock()
        for per_user in (True, False):
            used = self._used[(kind, email if per_user else None)]
            while used and used[0] <= now - self.window:
                used.popleft()
            limit = self.limits[(kind, per_user)]
            if len(used) < limit:
                continue
            self.rate_limited += 1
            metric = "Read requests" if kind == "read" else "Write requests"
            quota = f"{metric} per minute" + (" per user" if per_user else "")
            error = ApiError(
                429,
                f"Quota exceeded for quota metric '{metric}' and limit '{quota}' of service "
                f"'sheets.googleapis.com' for consumer '{CONSUMER}'.",
                "RESOURCE_EXHAUSTED",
            )
            metadata = {
                "quota_metric": f"sheets.googleapis.com/{kind}_requests",
                "quota_limit": quota.title().replace(" ", ""),
                "quota_limit_value": str(limit),
                "service": "sheets.googleapis.com",
                "consumer": "projects/" + CONSUMER.rpartition(":")[2],
            }
            info = {
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com",
                "metadata": metadata,
            }
            error.details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", **info}]
            raise error
        for who in (email, None):
            self._used[(kind, who)].append(now)

    def _token(self, raw: bytes) -> tuple[int, Json]:
        def fail(description: str, error: str = "invalid_grant") -> tuple[int, Json]:
            return 400, {"error": error, "error_description": description}

        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != JWT_GRANT:
            return fail(
                f"Invalid grant_type: {form.get('grant_type', '')}", "unsupported_grant_type"
            )
        try:
            head64, claims64, sig64 = form.get("assertion", "").split(".")
            header, claims = json.loads(_b64(head64)), json.loads(_b64(claims64))
            signature = _b64(sig64)
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError(head64)
        except ValueError:
            return fail("Invalid JWT: not a JWS.", "invalid_request")
        key, key_id = self._keys.get(str(claims.get("iss")), (None, None))
        if key is None:
            return fail("Invalid grant: account not found")
        kid = header.get("kid")
        if header.get("alg") != "RS256" or (kid and key_id and kid != key_id):
            return fail("Invalid JWT Signature.")
        try:
            signed = f"{head64}.{claims64}".encode()
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return fail("Invalid JWT Signature.")
        # Google's documentation says aud is always its own token URL, and its libraries send
        # that even to another token_uri; this server's own URL is taken as well.
        if claims.get("aud") not in (self.token_url, GOOGLE_TOKEN_URL):
            return fail(
                "Invalid JWT: Failed audience check. The right audience is " + GOOGLE_TOKEN_URL
            )
        iat, exp, now = claims.get("iat"), claims.get("exp"), self.wall_clock()
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)):
            return fail(_SHORT_LIVED)
        # Google allows for some clock skew; five minutes here.
        if not 0 < exp - iat <= 3600 or iat > now + 300 or exp < now - 300:
            return fail(_SHORT_LIVED)
        scopes = set(str(claims.get("scope") or "").split())
        if not scopes:
            return fail("Invalid OAuth scope or ID token audience provided.", "invalid_scope")
        token = "ya29." + secrets.token_urlsafe(48)
        self._tokens[token] = _Grant(str(claims["iss"]), scopes, self.clock() + self.token_lifetime)
        self.tokens_issued += 1
        lifetime = max(0, int(self.token_lifetime) - 1)
        return 200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    # ---- the Sheets API --------------------------------------------------------------------

    def _spreadsheet(self, book: _Book) -> Json:
        return {
            "spreadsheetId": book.id,
            "properties": {"title": book.title, "locale": "en_US", "timeZone": "Etc/GMT"},
            "sheets": [{"properties": self._properties(t, i)} for i, t in enumerate(book.tabs)],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.id}/edit",
        }

    @staticmethod
    def _properties(tab: Tab, index: int) -> Json:
        grid = {"rowCount": tab.row_count, "columnCount": tab.column_count}
        props = {"sheetId": tab.sheet_id, "title": tab.title, "index": index, "sheetType": "GRID"}
        return {**props, "gridProperties": grid}

    @staticmethod
    def _resolve(tabs: list[Tab], text: str) -> tuple[Tab, int, int, int | None, int | None]:
        bad = ApiError(400, f"Unable to parse range: {text}")
        try:
            title, cells = split_range(text)
        except ValueError:
            raise bad from None
        by_title = {t.title: t for t in tabs}
        if title is None and cells in by_title:
            return by_title[cells], 0, 0, None, None
        tab = tabs[0] if title is None else by_title.get(title)  # a bare A1 range: the first tab
        bounds = parse_cells(cells) if cells or title is None else (0, 0, None, None)
        if tab is None or bounds is None:
            raise bad
        return (tab, *bounds)

    def _values_get(self, tabs: list[Tab], text: str, q: dict[str, str]) -> Json:
        option = q.get("valueRenderOption", "FORMATTED_VALUE")
        enum_value(
            option,
            "FORMATTED_VALUE UNFORMATTED_VALUE FORMULA",
            "valueRenderOption",
            "ValueRenderOption",
        )
        dates = q.get("dateTimeRenderOption", "SERIAL_NUMBER")
        enum_value(
            dates, "SERIAL_NUMBER FORMATTED_STRING", "dateTimeRenderOption", "DateTimeRenderOption"
        )
        major = q.get("majorDimension", "ROWS")
        enum_value(major, "ROWS COLUMNS DIMENSION_UNSPECIFIED", "majorDimension", "Dimension")
        tab, r0, c0, r1, c1 = self._resolve(tabs, text)
        r1 = tab.row_count if r1 is None else r1
        c1 = tab.column_count if c1 is None else c1
        if r1 > tab.row_count or c1 > tab.column_count or r0 >= r1 or c0 >= c1:
            asked = a1(tab.title, r0, c0, max(r1, r0 + 1), max(c1, c0 + 1))
            limits = f"Max rows: {tab.row_count}, max columns: {tab.column_count}"
            raise ApiError(400, f"Range ({asked}) exceeds grid limits. {limits}")
        grid = [
            [
                render(tab.get(r, c), option, dates)
                for c in range(c0, min(c1, 1 + max(tab.rows[r], default=-1)))
            ]
            for r in range(r0, min(r1, len(tab.rows)))
        ]
        if major == "COLUMNS":
            width = max(map(len, grid), default=0)
            grid = [[row[j] if j < len(row) else "" for row in grid] for j in range(width)]
        for line in grid:  # trailing empty cells, then trailing empty lines, are left out
            while line and line[-1] == "":
                line.pop()
        while grid and not grid[-1]:
            grid.pop()
        answer = {
            "range": a1(tab.title, r0, c0, r1, c1),
            "majorDimension": major.replace("DIMENSION_UNSPECIFIED", "ROWS"),
        }
        return {**answer, "values": grid} if grid else answer

    @staticmethod
    def _input(given: dict[str, Any]) -> bool:
        """Whether values are parsed as if typed (USER_ENTERED) rather than stored as sent (RAW)."""
        option = given.get("valueInputOption", "INPUT_VALUE_OPTION_UNSPECIFIED")
        if option == "INPUT_VALUE_OPTION_UNSPECIFIED":
            raise ApiError(400, "'valueInputOption' is required but not specified")
        return (
            enum_value(option, "RAW USER_ENTERED", "valueInputOption", "ValueInputOption") != "RAW"
        )

    def _write_values(self, tabs: list[Tab], text: str, body: Any, user: bool, path: str) -> Json:
        body = json_object(body, {"range", "majorDimension", "values"}, path)
        text = text or str(body.get("range", ""))
        tab, r0, c0, r1, c1 = self._resolve(tabs, text)
        if ":" not in text.rpartition("!")[2]:
            r1 = c1 = None  # one cell is where the values start, not a bound
        values = body.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, list) for v in values):
            raise ApiError(
                400, f"Invalid value at '{(path + '.values').lstrip('.')}', {json.dumps(values)}"
            )
        major = enum_value(
            body.get("majorDimension", "ROWS"),
            "ROWS COLUMNS DIMENSION_UNSPECIFIED",
            "majorDimension",
            "Dimension",
        )
        placed = [
            ((j, i) if major == "COLUMNS" else (i, j), v)
            for i, line in enumerate(values)
            for j, v in enumerate(line)
        ]
        height = 1 + max((p[0] for p, _ in placed), default=0)
        width = 1 + max((p[1] for p, _ in placed), default=0)
        if r1 is not None and r0 + height > r1:
            raise ApiError(
                400,
                f"Requested writing within range [{text}], but tried writing to row "
                f"[{r0 + height}]",
            )
        if c1 is not None and c0 + width > c1:
            raise ApiError(
                400,
                f"Requested writing within range [{text}], but tried writing to column "
                f"[{col_letters(c0 + width - 1)}]",
            )
        # The values API grows the grid to fit what it writes.
        tab.row_count, tab.column_count = (
            max(tab.row_count, r0 + height),
            max(tab.column_count, c0 + width),
        )
        check_size(tabs, "request")
        for (i, j), v in placed:
            cell = _entered(v, user, f"{path}.values[{i}][{j}]".lstrip("."))
            if cell is not None:
                old = tab.get(r0 + i, c0 + j) or Cell()
                tab.put(r0 + i, c0 + j, replace(old, value=cell.value))
        written = [p for p, v in placed if v is not None]
        return {
            "updatedRange": a1(tab.title, r0, c0, r0 + height, c0 + width),
            "updatedRows": len({i for i, _ in written}),
            "updatedColumns": len({j for _, j in written}),
            "updatedCells": len(written),
        }


__all__ = [
    "CONSUMER",
    "EPOCH",
    "GOOGLE_TOKEN_URL",
    "JWT_GRANT",
    "MAX_CELLS",
    "READ_SCOPES",
    "SCOPE",
    "WRITE_SCOPES",
    "Answer",
    "ApiError",
    "Cell",
    "Formula",
    "Json",
    "Number",
    "Scalar",
    "SheetsStandin",
    "a1",
    "col_letters",
    "expand_mask",
    "format_number",
    "general",
    "is_date_format",
    "parse_cells",
    "quote_title",
    "render",
    "split_range",
]
