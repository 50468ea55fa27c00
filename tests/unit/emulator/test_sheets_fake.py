"""The fake Google Sheets, spoken to over real HTTP on loopback with tokens google-auth signs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from google.auth import crypt, jwt

from pipeline.emulator.sheets import (
    Formula,
    SheetsServer,
    SheetsWorld,
    new_service_account,
    seed_from_example,
)

SCOPE = "https://www.googleapis.com/auth/spreadsheets"
SID = "sheet-123"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Fake:
    """A world, its server, one registered account and an HTTP client."""

    def __init__(self, world: SheetsWorld, server: SheetsServer, http: httpx.Client) -> None:
        self.world, self.server, self.http = world, server, http
        self.info, pem = new_service_account(server.token_uri)
        world.register(self.info["client_email"], pem)
        self.email: str = self.info["client_email"]

    def assertion(self, scope: str = SCOPE, info: dict[str, Any] | None = None) -> str:
        info = info or self.info
        now = int(time.time())
        claims = {
            "iss": info["client_email"],
            "scope": scope,
            "aud": info["token_uri"],
            "iat": now,
            "exp": now + 3600,
        }
        signer = crypt.RSASigner.from_service_account_info(info)
        return jwt.encode(signer, claims).decode()

    def token(self) -> str:
        answer = self.http.post(
            self.server.token_uri,
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": self.assertion(),
            },
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        url = f"{self.server.base_url}/v4/spreadsheets/{path}"
        return self.http.request(method, url, headers=headers, **kw)

    def values(self, sid: str, a1: str, token: str | None = None, **params: str) -> Any:
        answer = self.call("GET", f"{sid}/values/{quote(a1, safe='')}", token, params=params)
        return answer.json()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[Fake]:
    world = SheetsWorld(clock=clock)
    with SheetsServer(world) as server, httpx.Client() as http:
        yield Fake(world, server, http)


def _sheet(fake: Fake, **tabs: list[list[object]]) -> dict[str, int]:
    return fake.world.add_spreadsheet(SID, "Leads", tabs or {"Sheet1": []}, editors=[fake.email])


def test_the_token_grant_checks_the_signature_the_account_and_the_scope(fake: Fake) -> None:
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    answer = fake.http.post(fake.server.token_uri, data={"grant_type": grant, "assertion": "x.y"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    stranger, _ = new_service_account(fake.server.token_uri, "x@p.iam.gserviceaccount.com")
    for assertion in (fake.assertion(info=stranger), fake.assertion(scope="other")):
        answer = fake.http.post(
            fake.server.token_uri, data={"grant_type": grant, "assertion": assertion}
        )
        assert answer.status_code == 400 and "error_description" in answer.json()
    # Signed with another key under a registered name: the signature is refused.
    forged = {**stranger, "client_email": fake.email}
    answer = fake.http.post(
        fake.server.token_uri,
        data={"grant_type": grant, "assertion": fake.assertion(info=forged)},
    )
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid JWT Signature.",
    }
    token = fake.token()
    assert fake.world.tokens == 1 and token


def test_tokens_expire_on_the_worlds_clock(fake: Fake, clock: Clock) -> None:
    _sheet(fake)
    token = fake.token()
    assert fake.call("GET", SID, token).status_code == 200
    clock.now += 3600
    answer = fake.call("GET", SID, token)
    assert answer.status_code == 401
    assert answer.json()["error"]["status"] == "UNAUTHENTICATED"
    assert fake.call("GET", SID, "nonsense").status_code == 401


def test_metadata_sharing_and_unknown_spreadsheets(fake: Fake) -> None:
    gids = fake.world.add_spreadsheet(SID, "Leads", {"Sheet1": [], "My tab": []}, editors=[])
    assert gids["Sheet1"] == 0 and gids["My tab"] > 0
    token = fake.token()
    denied = fake.call("GET", SID, token)
    assert denied.status_code == 403
    assert denied.json()["error"] == {
        "code": 403,
        "message": "The caller does not have permission",
        "status": "PERMISSION_DENIED",
    }
    assert fake.call("GET", "nope", token).json()["error"]["status"] == "NOT_FOUND"
    fake.world.add_spreadsheet(SID, "Leads", {"Sheet1": [["a"]]}, viewers=[fake.email])
    meta = fake.call("GET", SID, token).json()
    grid = meta["sheets"][0]["properties"]
    assert grid["gridProperties"] == {"rowCount": 1000, "columnCount": 26}
    assert meta["spreadsheetUrl"].endswith(f"/d/{SID}/edit")
    assert fake.values(SID, "Sheet1", token)["values"] == [["a"]]
    write = fake.call(
        "PUT", f"{SID}/values/Sheet1!A1", token, params={"valueInputOption": "RAW"},
        json={"values": [["b"]]},
    )  # fmt: skip
    assert write.status_code == 403, "a viewer reads but does not write"


def test_formatted_reads_trim_and_keep_leading_blank_rows(fake: Fake) -> None:
    stamp = 45_292.5  # 2024-01-01 12:00:00
    rows: list[list[object]] = [[], ["0042", 5, 12.5, True, Formula("=1+1", 2), None, ""], [stamp]]
    _sheet(fake, **{"It's": rows})
    fake.world.spreadsheets[SID].tabs[0].cells[(2, 0)].number_format = 'yyyy-mm-dd hh:mm:ss "UTC"'
    token = fake.token()
    answer = fake.values(SID, "'It''s'", token)
    assert answer["range"] == "'It''s'!A1:Z1000"
    assert answer["values"] == [
        [],
        ["0042", "5", "12.5", "TRUE", "2"],
        ["2024-01-01 12:00:00 UTC"],
    ]
    raw = fake.values(SID, "'It''s'!A2:E2", token, valueRenderOption="UNFORMATTED_VALUE")
    assert raw["values"] == [["0042", 5, 12.5, True, 2]]
    formulas = fake.values(SID, "'It''s'!2:2", token, valueRenderOption="FORMULA")
    assert formulas["values"][0][4] == "=1+1" and formulas["range"] == "'It''s'!A2:Z2"
    assert "values" not in fake.values(SID, "'It''s'!H:H", token)
    bad = fake.values(SID, "Nope", token)
    assert bad["error"] == {
        "code": 400,
        "message": "Unable to parse range: Nope",
        "status": "INVALID_ARGUMENT",
    }
    assert fake.world.shown(SID, "It's")[1] == ["0042", "5", "12.5", "TRUE", "2"]


def _batch(fake: Fake, requests: list[dict[str, Any]], token: str | None = None) -> Any:
    return fake.call("POST", f"{SID}:batchUpdate", token, json={"requests": requests})


def _cells(row: int, col: int, values: list[dict[str, Any]], fields: str) -> dict[str, Any]:
    return {
        "updateCells": {
            "rows": [{"values": values}],
            "fields": fields,
            "start": {"sheetId": 0, "rowIndex": row, "columnIndex": col},
        }
    }


def test_update_cells_typed_values_formats_and_a_string_that_looks_like_a_formula(
    fake: Fake,
) -> None:
    _sheet(fake, Sheet1=[["keep", "old"]])
    values: list[dict[str, Any]] = [
        {"userEnteredValue": {"stringValue": '=HYPERLINK("x")'}},
        {
            "userEnteredValue": {"numberValue": 45292},
            "userEnteredFormat": {"numberFormat": {"type": "DATE", "pattern": "yyyy-mm-dd"}},
        },
        {"userEnteredValue": {"boolValue": False}},
        {
            "userEnteredValue": {"numberValue": 3.14159},
            "userEnteredFormat": {"numberFormat": {"type": "NUMBER", "pattern": "0.00"}},
        },
        {
            "userEnteredValue": {"formulaValue": '=HYPERLINK("https://a.b/c", "open")'},
            "userEnteredFormat": {"textFormat": {"bold": True, "link": {"uri": "https://x"}}},
        },
    ]
    fields = "userEnteredValue,userEnteredFormat.numberFormat"
    answer = _batch(fake, [_cells(1, 0, values, fields), _cells(0, 1, [{}], "userEnteredValue")])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"spreadsheetId": SID, "replies": [{}, {}]}
    assert fake.world.shown(SID, "Sheet1") == [
        ["keep"],
        ['=HYPERLINK("x")', "2024-01-01", "FALSE", "3.14", "open"],
    ]
    cell = fake.world.cell(SID, "Sheet1", 1, 0)
    assert cell.value == '=HYPERLINK("x")' and cell.formula is None
    linked = fake.world.cell(SID, "Sheet1", 1, 4)
    assert linked.link is None and not linked.bold, "textFormat was not in the mask"
    _batch(fake, [_cells(1, 4, values[4:], "userEnteredFormat.textFormat.link")])
    assert fake.world.cell(SID, "Sheet1", 1, 4).link == "https://x"


def test_the_grid_limit_and_append_dimension(fake: Fake) -> None:
    _sheet(fake)
    token = fake.token()
    cell: list[dict[str, Any]] = [{"userEnteredValue": {"stringValue": "z"}}]
    refused = _batch(fake, [_cells(0, 26, cell, "userEnteredValue")], token)
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "Invalid requests[0].updateCells: GridCoordinate.columnIndex[26] is after last col "
        "in grid[25]"
    )
    grow = {"appendDimension": {"sheetId": 0, "dimension": "COLUMNS", "length": 1}}
    assert _batch(fake, [grow, _cells(0, 26, cell, "userEnteredValue")], token).status_code == 200
    assert fake.world.shown(SID, "Sheet1") == [[""] * 26 + ["z"]]
    unknown = _batch(fake, [{"appendDimension": {"sheetId": 99, "dimension": "ROWS", "length": 1}}])
    assert unknown.json()["error"]["message"].endswith("No grid with id: 99")
    huge = {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 10_000_000}}
    assert "above the limit" in _batch(fake, [huge], token).json()["error"]["message"]


def test_a_batch_is_atomic(fake: Fake) -> None:
    _sheet(fake, Sheet1=[["a"]])
    good = _cells(0, 0, [{"userEnteredValue": {"stringValue": "b"}}], "userEnteredValue")
    bad = _cells(2000, 0, [{"userEnteredValue": {"stringValue": "c"}}], "userEnteredValue")
    answer = _batch(fake, [good, bad])
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("Invalid requests[1].updateCells:")
    assert fake.world.shown(SID, "Sheet1") == [["a"]]
    assert fake.world.writes == 0 and fake.world.write_log == []


def test_value_writes_raw_and_user_entered(fake: Fake) -> None:
    _sheet(fake)
    token = fake.token()
    body = {
        "valueInputOption": "USER_ENTERED",
        "data": [{"range": "Sheet1!A1:C1", "values": [["=A2", "0042", "x"]]}],
    }
    answer = fake.call("POST", f"{SID}/values:batchUpdate", token, json=body)
    assert answer.json()["totalUpdatedCells"] == 3
    raw = fake.call(
        "PUT", f"{SID}/values/{quote('Sheet1!A2')}", token, params={"valueInputOption": "RAW"},
        json={"values": [["=A1", "0042"]]},
    )  # fmt: skip
    assert raw.json()["updatedRange"] == "Sheet1!A2:B2"
    assert fake.values(SID, "Sheet1", token, valueRenderOption="FORMULA")["values"] == [
        ["=A2", 42, "x"],
        ["=A1", "0042"],
    ]
    assert fake.world.cell(SID, "Sheet1", 1, 0).formula is None
    over = fake.call(
        "PUT", f"{SID}/values/{quote('Sheet1!A1000')}", token,
        params={"valueInputOption": "RAW"}, json={"values": [["a"], ["b"]]},
    )  # fmt: skip
    assert over.status_code == 400 and "exceeds grid limits" in over.text


def test_quotas_refuse_past_the_limit_and_recover_after_the_window(clock: Clock) -> None:
    world = SheetsWorld(clock=clock, window=2.0, user_writes=3, project_reads=2)
    with SheetsServer(world) as server, httpx.Client() as http:
        fake = Fake(world, server, http)
        _sheet(fake)
        token = fake.token()
        grow = {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 1}}
        assert [_batch(fake, [grow], token).status_code for _ in range(3)] == [200] * 3
        refused = _batch(fake, [grow], token)
        assert refused.status_code == 429 and "retry-after" not in refused.headers
        assert refused.json()["error"]["message"].startswith(
            "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per "
            "minute per user'"
        )
        assert world.rate_limited == 1 and world.writes == 3
        clock.now += 2.0
        assert _batch(fake, [grow], token).status_code == 200
        assert [fake.call("GET", SID, token).status_code for _ in range(3)] == [200, 200, 429]
        assert world.tokens == 1, "the token endpoint is not counted"


def test_colleagues_edit_between_two_writes(fake: Fake) -> None:
    _sheet(fake, Sheet1=[["name"], ["b"], ["a"], ["c"]])
    fake.world.after_write(1, lambda: fake.world.insert_rows(SID, "Sheet1", 1, [["new"]]))
    fake.world.after_write(2, lambda: fake.world.sort_rows(SID, "Sheet1", 1, 0))
    fake.world.after_write(3, lambda: fake.world.delete_rows(SID, "Sheet1", 1, 2))
    mark = _cells(0, 1, [{"userEnteredValue": {"stringValue": "x"}}], "userEnteredValue")
    _batch(fake, [mark])
    assert fake.world.shown(SID, "Sheet1") == [["name", "x"], ["new"], ["b"], ["a"], ["c"]]
    _batch(fake, [mark])
    assert fake.world.shown(SID, "Sheet1") == [["name", "x"], ["a"], ["b"], ["c"], ["new"]]
    _batch(fake, [mark])
    assert fake.world.shown(SID, "Sheet1") == [["name", "x"], ["c"], ["new"]]
    assert fake.world.spreadsheets[SID].tabs[0].rows == 1000 + 1 - 2


def test_save_and_load_round_trip(tmp_path: Path, fake: Fake) -> None:
    state = tmp_path / "sheets.json"
    world = SheetsWorld(state_file=state)
    world.add_spreadsheet(SID, "T", {"A": [["0042", 1.5, True, Formula("=B1", 1.5)]]}, ["e@x"])
    world.spreadsheets[SID].tabs[0].cells[(0, 1)].number_format = "0.00"
    world.save(state)  # changed behind the world's back, so saved by hand
    again = SheetsWorld(state_file=state)
    assert again.shown(SID, "A") == [["0042", "1.50", "TRUE", "1.5"]]
    assert again.cell(SID, "A", 0, 3).formula == "=B1"
    assert again.spreadsheets[SID].editors == {"e@x"}
    other = tmp_path / "copy.json"
    again.save(other)
    loaded = SheetsWorld()
    loaded.load(other)
    assert loaded.shown(SID, "A") == again.shown(SID, "A")


def test_an_unknown_id_is_seeded_for_every_account(clock: Clock) -> None:
    world = SheetsWorld(clock=clock, seed=lambda sid: seed_from_example(sid) if sid else None)
    with SheetsServer(world) as server, httpx.Client() as http:
        fake = Fake(world, server, http)
        meta = fake.call("GET", "anything").json()
        assert meta["properties"]["title"] == "Sandbox leads"
        assert [s["properties"]["title"] for s in meta["sheets"]] == ["Leads", "Notes"]
        leads = fake.values("anything", "Leads")["values"]
        assert leads[0][:3] == ["First Name", "Last Name", "Company"] and len(leads) > 2
        assert len(world.shown("anything", "Notes")) == 2


def test_oversized_bodies_are_refused(fake: Fake) -> None:
    _sheet(fake)
    answer = _batch(fake, [{"note": "x" * (10 * 1024 * 1024)}])
    assert answer.status_code == 413
