"""The Sheets stand-in itself: that it answers as Google documents, checked with Google's own auth
library and plain HTTP, so that the tests that use it against the client can be trusted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.auth import crypt
from google.auth import jwt as google_jwt
from google.auth.transport.requests import Request
from google.oauth2 import service_account
from sheets_standin import SCOPE, Formula, Number, SheetsStandin, format_number

EMAIL = "tool@standin-project.iam.gserviceaccount.com"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> Iterator[SheetsStandin]:
    with SheetsStandin(write_limit=5, read_limit=50, window=2.0, clock=clock) as s:
        yield s


@pytest.fixture
def key(server: SheetsStandin) -> dict[str, str]:
    return server.make_service_account(EMAIL)


def assertion(info: dict[str, str], **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": info["client_email"], "scope": SCOPE, "aud": info["token_uri"]}
    payload |= {"iat": now, "exp": now + 3600, **claims}
    signer = crypt.RSASigner.from_service_account_info(info)
    return google_jwt.encode(signer, payload).decode()


def token_answer(server: SheetsStandin, jwt: str) -> httpx.Response:
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": jwt}
    return httpx.post(server.token_url, data=form)


@pytest.fixture
def api(server: SheetsStandin, key: dict[str, str]) -> Iterator[httpx.Client]:
    token = token_answer(server, assertion(key)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url + "/v4/spreadsheets", headers=headers) as client:
        yield client


@pytest.fixture
def book(server: SheetsStandin) -> list[int]:
    rows: list[list[object]] = [
        ["id", "code", "when", "total", "at"],
        ["r1", "0042", Number(45000.25, "yyyy-mm-dd"), Formula("=1+1", 2), 1.5],
        [],
        ["r3", True, Number(45000.5, 'yyyy-mm-dd hh:mm:ss "UTC"'), Number(3.14159, "0.00")],
    ]
    tabs = {"Main": rows, "It's": [["a", None, "c"]], "My tab": []}
    return server.add_spreadsheet("book", "Book", tabs, shared_with={EMAIL})


def update_cells(gid: int, row: int, col: int, *values: dict[str, Any]) -> dict[str, Any]:
    start = {"sheetId": gid, "rowIndex": row, "columnIndex": col}
    rows = [{"values": list(values)}]
    return {"updateCells": {"rows": rows, "fields": "userEnteredValue", "start": start}}


def test_googles_own_library_gets_a_token(server: SheetsStandin, key: dict[str, str]) -> None:
    credentials = service_account.Credentials.from_service_account_info(key, scopes=[SCOPE])
    credentials.refresh(Request())
    assert credentials.token and credentials.token.startswith("ya29.")
    assert server.tokens_issued == 1


def test_tokens_are_refused_unless_signed_by_the_registered_key(
    server: SheetsStandin, key: dict[str, str]
) -> None:
    with SheetsStandin() as other:
        forged = other.make_service_account(EMAIL)  # the same email, another key
    answer = token_answer(server, assertion(forged))
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid JWT Signature.",
    }
    wrong_audience = token_answer(server, assertion(key, aud="https://example.test/token"))
    assert wrong_audience.json()["error"] == "invalid_grant"
    too_long = token_answer(server, assertion(key, exp=int(time.time()) + 7200))
    assert "short-lived" in too_long.json()["error_description"]
    assert server.tokens_issued == 0


def test_reads_formatted_values_as_a_person_sees_them(api: httpx.Client, book: list[int]) -> None:
    answer = api.get("/book/values/Main")
    assert answer.headers["content-type"] == "application/json; charset=UTF-8"
    assert answer.json() == {
        "range": "Main!A1:Z1000",
        "majorDimension": "ROWS",
        "values": [
            ["id", "code", "when", "total", "at"],
            ["r1", "0042", "2023-03-15", "2", "1.5"],
            [],
            ["r3", "TRUE", "2023-03-15 12:00:00 UTC", "3.14"],
        ],
    }
    raw = api.get("/book/values/Main!B2:D2", params={"valueRenderOption": "UNFORMATTED_VALUE"})
    assert raw.json()["values"] == [["0042", 45000.25, 2]]
    formulas = api.get("/book/values/Main!D2", params={"valueRenderOption": "FORMULA"})
    assert formulas.json() == {"range": "Main!D2", "majorDimension": "ROWS", "values": [["=1+1"]]}


def test_ranges_name_tabs_as_google_quotes_them(api: httpx.Client, book: list[int]) -> None:
    quoted = api.get("/book/values/'It''s'!A1:C1").json()
    assert quoted == {
        "range": "'It''s'!A1:C1",
        "majorDimension": "ROWS",
        "values": [["a", "", "c"]],
    }
    assert api.get("/book/values/'My tab'").json() == {
        "range": "'My tab'!A1:Z1000",
        "majorDimension": "ROWS",
    }
    assert api.get("/book/values/Main!1:1").json()["range"] == "Main!A1:Z1"
    unknown = api.get("/book/values/'Nope'")
    assert unknown.status_code == 400
    assert unknown.json()["error"] == {
        "code": 400,
        "message": "Unable to parse range: 'Nope'",
        "status": "INVALID_ARGUMENT",
    }
    assert api.get("/book/values/Main!A1:Z1001").status_code == 400  # past the grid


def test_a_string_starting_with_an_equals_sign_stays_a_string(
    server: SheetsStandin, api: httpx.Client, book: list[int]
) -> None:
    text = '=HYPERLINK("https://x.test/v/1","watch")'
    cells = [
        {"userEnteredValue": {"stringValue": text}},
        {"userEnteredValue": {"formulaValue": text}},
    ]
    answer = api.post("/book:batchUpdate", json={"requests": [update_cells(0, 1, 5, *cells)]})
    assert answer.json() == {"spreadsheetId": "book", "replies": [{}]}
    assert server.raw_cell("book", "Main", 1, 5).value == text
    assert server.cells("book", "Main")[1][5:7] == [text, "watch"]
    assert server.writes == 1 and server.write_log[0]["requests"][0]["updateCells"]


def test_writes_outside_the_grid_are_refused_until_it_grows(
    server: SheetsStandin, api: httpx.Client, book: list[int]
) -> None:
    cell = {"userEnteredValue": {"stringValue": "x"}}
    outside = api.post("/book:batchUpdate", json={"requests": [update_cells(0, 0, 26, cell)]})
    assert outside.status_code == 400
    assert outside.json()["error"]["message"] == (
        "Invalid requests[0].updateCells: GridCoordinate.columnIndex[26] is after last col in "
        "grid[25]"
    )
    grow = {"appendDimension": {"sheetId": 0, "dimension": "COLUMNS", "length": 1}}
    assert api.post("/book:batchUpdate", json={"requests": [grow]}).status_code == 200
    assert api.post(
        "/book:batchUpdate", json={"requests": [update_cells(0, 0, 26, cell)]}
    ).is_success
    assert server.cells("book", "Main")[0][26] == "x"
    assert server.grid_size("book", "Main") == (1000, 27)


def test_a_batch_is_applied_whole_or_not_at_all(
    server: SheetsStandin, api: httpx.Client, book: list[int]
) -> None:
    good = update_cells(0, 0, 0, {"userEnteredValue": {"stringValue": "changed"}})
    bad = update_cells(99, 0, 0, {"userEnteredValue": {"stringValue": "x"}})
    answer = api.post("/book:batchUpdate", json={"requests": [good, bad]})
    assert (
        answer.json()["error"]["message"] == "Invalid requests[1].updateCells: No grid with id: 99"
    )
    no_fields = {"updateCells": {**good["updateCells"], "fields": ""}}
    assert api.post("/book:batchUpdate", json={"requests": [no_fields]}).status_code == 400
    typo = {"updateCells": {**good["updateCells"], "row": []}}
    assert "Unknown name" in api.post("/book:batchUpdate", json={"requests": [typo]}).text
    assert server.cells("book", "Main")[0][0] == "id"
    huge = {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 400_000}}
    refused = api.post("/book:batchUpdate", json={"requests": [huge]}).json()["error"]["message"]
    assert "above the limit of 10000000 cells" in refused
    assert server.grid_size("book", "Main") == (1000, 26)


def test_who_may_see_what(server: SheetsStandin, api: httpx.Client, book: list[int]) -> None:
    server.add_spreadsheet("private", tabs={"Sheet1": [["secret"]]}, shared_with={"x@y.test"})
    denied = api.get("/private/values/Sheet1")
    assert (denied.status_code, denied.json()["error"]["status"]) == (403, "PERMISSION_DENIED")
    missing = api.get("/nothing")
    assert missing.json()["error"] == {
        "code": 404,
        "message": "Requested entity was not found.",
        "status": "NOT_FOUND",
    }
    sheet = api.get("/book").json()
    assert [s["properties"]["title"] for s in sheet["sheets"]] == ["Main", "It's", "My tab"]
    assert sheet["sheets"][1]["properties"]["sheetId"] == book[1] != 0
    server.revoke_tokens()
    revoked = api.get("/book")
    assert (revoked.status_code, revoked.json()["error"]["status"]) == (401, "UNAUTHENTICATED")
    assert httpx.get(server.url + "/v4/spreadsheets/book").status_code == 401


def test_quotas_refuse_past_the_limit_until_the_window_moves(
    server: SheetsStandin, clock: Clock, api: httpx.Client, book: list[int]
) -> None:
    grow = {"requests": [{"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 1}}]}
    assert [api.post("/book:batchUpdate", json=grow).status_code for _ in range(5)] == [200] * 5
    refused = api.post("/book:batchUpdate", json=grow)
    assert refused.status_code == 429 and "retry-after" not in refused.headers
    assert refused.json()["error"]["message"] == (
        "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute "
        "per user' of service 'sheets.googleapis.com' for consumer 'project_number:123456'."
    )
    assert api.get("/book").status_code == 200  # reads have their own quota
    clock.now += 2.0
    assert api.post("/book:batchUpdate", json=grow).status_code == 200
    assert (server.writes, server.rate_limited, server.reads) == (6, 1, 1)
    assert server.grid_size("book", "Main")[0] == 1006


def test_a_colleague_can_edit_between_two_writes(
    server: SheetsStandin, api: httpx.Client, book: list[int]
) -> None:
    server.after_writes(1, lambda: server.insert_rows("book", "Main", 1, [["new row"]]))
    for text in ("first", "second"):
        cell = {"userEnteredValue": {"stringValue": text}}
        api.post("/book:batchUpdate", json={"requests": [update_cells(0, 1, 5, cell)]})
    grid = server.cells("book", "Main")
    assert (grid[1][0], grid[1][5], grid[2][0], grid[2][5]) == ("new row", "second", "r1", "first")
    server.sort_rows("book", "Main", 1, 0, descending=True)
    assert [row[0] for row in server.cells("book", "Main")] == ["id", "r3", "r1", "new row"]


def test_values_api_parses_only_what_is_user_entered(
    server: SheetsStandin, api: httpx.Client, book: list[int]
) -> None:
    body = {"values": [["=1+2", "0042", "'0042"]]}
    raw = api.put("/book/values/'My tab'!A1", params={"valueInputOption": "RAW"}, json=body)
    assert raw.json()["updatedRange"] == "'My tab'!A1:C1"
    assert [server.raw_cell("book", "My tab", 0, c).value for c in range(3)] == [
        "=1+2",
        "0042",
        "'0042",
    ]
    params = {"valueInputOption": "USER_ENTERED"}
    api.put("/book/values/'My tab'!A1", params=params, json=body)
    stored = [server.raw_cell("book", "My tab", 0, c).value for c in range(3)]
    assert stored == [Formula("=1+2", ""), 42.0, "0042"]
    assert api.put("/book/values/'My tab'!A1", json=body).status_code == 400


def test_dimensions_and_sorting_by_request(
    server: SheetsStandin, api: httpx.Client, book: list[int]
) -> None:
    span = {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}
    sort = {
        "range": {"sheetId": 0, "startRowIndex": 1},
        "sortSpecs": [{"dimensionIndex": 0, "sortOrder": "DESCENDING"}],
    }
    requests = [
        {"insertDimension": {"range": span}},
        {"deleteDimension": {"range": span}},
        {"sortRange": sort},
    ]
    assert api.post("/book:batchUpdate", json={"requests": requests}).is_success
    assert [row[0] for row in server.cells("book", "Main")] == ["id", "r3", "r1"]
    resize = {
        "properties": {"sheetId": 0, "gridProperties": {"rowCount": 10}},
        "fields": "gridProperties.rowCount",
    }
    assert api.post(
        "/book:batchUpdate", json={"requests": [{"updateSheetProperties": resize}]}
    ).is_success
    assert server.grid_size("book", "Main") == (10, 26)


def test_a_body_past_the_limit_is_refused() -> None:
    with SheetsStandin(max_body=1000) as small:
        answer = httpx.post(small.url + "/v4/spreadsheets/x:batchUpdate", content=b"x" * 5000)
    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("value", "pattern", "shown"),
    [
        (42.0, "", "42"),
        (0.1 + 0.2, "", "0.3"),
        (1 / 3, "", "0.3333333333"),
        (2.5, "0", "3"),
        (-2.5, "0", "-3"),
        (1234.5, "#,##0.00", "1,234.50"),
        (0.125, "0.0%", "12.5%"),
        (45000.0, "yyyy-mm-dd", "2023-03-15"),
        (45000.999999, "yyyy-mm-dd hh:mm:ss", "2023-03-16 00:00:00"),
        (45000.75, 'yyyy-mm-dd hh:mm:ss "UTC"', "2023-03-15 18:00:00 UTC"),
        (45000.75, "h:mm am/pm", "6:00 PM"),
        (45000.0, "d mmm yyyy", "15 Mar 2023"),
    ],
)
def test_numbers_are_shown_through_their_pattern(value: float, pattern: str, shown: str) -> None:
    assert format_number(value, ("NUMBER", pattern) if pattern else None) == shown
