"""The Google Sheets parts alone: the URL, the key file, the client's waits and refusals (over
httpx.MockTransport), and the cells a write sends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.errors import JobError
from pipeline.gsheets import GoogleSheetRef, google_state_path, parse_sheet_url, sheet_source
from pipeline.gsheets.auth import AuthError, ServiceAccount, Tokens, load_service_account
from pipeline.gsheets.client import MAX_ATTEMPTS, SheetsApiError, SheetsClient, a1_tab, sheets_url
from pipeline.gsheets.writing import MAX_PAYLOAD, _chunks, _merged, _result_cell, _shown, _update

# --- the URL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "sid", "gid"),
    [
        ("https://docs.google.com/spreadsheets/d/1AbC-_9/edit#gid=0", "1AbC-_9", 0),
        ("https://docs.google.com/spreadsheets/d/1AbC/edit?gid=123#gid=123", "1AbC", 123),
        ("https://docs.google.com/spreadsheets/d/1AbC/edit", "1AbC", None),
        ("https://docs.google.com/spreadsheets/d/1AbC", "1AbC", None),
        ("https://docs.google.com/spreadsheets/u/1/d/1AbC/edit#gid=7", "1AbC", 7),
        ("docs.google.com/spreadsheets/d/1AbC/edit#gid=7", "1AbC", 7),
        ("  https://docs.google.com/a/acme.com/spreadsheets/d/1AbC/edit  ", "1AbC", None),
    ],
)
def test_a_url_as_copied_from_the_browser(url: str, sid: str, gid: int | None) -> None:
    assert parse_sheet_url(url) == GoogleSheetRef(sid, gid)


def test_a_file_is_no_url_and_a_strange_url_is_refused() -> None:
    assert parse_sheet_url("leads.csv") is None
    assert sheet_source("exports/leads 2026-12-04.xlsx") == Path("exports/leads 2026-12-04.xlsx")
    with pytest.raises(JobError, match="is not a Google Sheets URL"):
        sheet_source("https://example.com/spreadsheets/d/1AbC/edit")
    with pytest.raises(JobError, match="names no spreadsheet"):
        sheet_source("https://docs.google.com/document/d/1AbC/edit")


def test_the_state_is_kept_per_spreadsheet_and_tab_in_the_state_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    ref = GoogleSheetRef("1AbC", 5)
    assert (
        google_state_path(ref, 5, False) == tmp_path / "argil-batch/google-sheets/1AbC-gid5.state"
    )
    assert google_state_path(ref, 6, True).name == "1AbC-gid6.sandbox-state"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/is/ignored")
    assert google_state_path(ref, 5, False).is_relative_to(Path.home() / ".local" / "state")


# --- the key file -------------------------------------------------------------------------


def key_file(tmp_path: Path, **info: Any) -> Path:
    path = tmp_path / "key.json"
    base = {
        "type": "service_account",
        "client_email": "runner@acme.iam.gserviceaccount.com",
        "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path.write_text(json.dumps({**base, **info}), encoding="utf-8")
    return path


def test_each_unusable_key_file_is_said_in_one_line(tmp_path: Path) -> None:
    wrong_type = key_file(tmp_path, type="authorized_user")
    with pytest.raises(
        AuthError, match=r"is not a service account's key \(its type is 'authorized_user'\)"
    ):
        load_service_account(wrong_type)
    lacking = key_file(tmp_path, private_key="")
    with pytest.raises(AuthError, match="lacks private_key"):
        load_service_account(lacking)
    insecure = key_file(tmp_path, token_uri="http://tokens.example.com/token")
    with pytest.raises(AuthError, match="its token_uri cannot be used: refusing plain http"):
        load_service_account(insecure)
    garbled = tmp_path / "garbled.json"
    garbled.write_bytes(b"\xff{not json")
    with pytest.raises(AuthError, match="is not a JSON key file"):
        load_service_account(garbled)
    with pytest.raises(AuthError, match="which is a folder"):
        load_service_account(tmp_path)
    account = load_service_account(key_file(tmp_path))
    with pytest.raises(AuthError, match="private key cannot be read"):
        Tokens(account, httpx.Client())
    assert "not a key" not in repr(account)


def test_the_sheets_url_is_https_or_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARGIL_BATCH_SHEETS_URL", raising=False)
    assert sheets_url() == "https://sheets.googleapis.com"
    monkeypatch.setenv("ARGIL_BATCH_SHEETS_URL", "http://127.0.0.1:9/")
    assert sheets_url() == "http://127.0.0.1:9"
    monkeypatch.setenv("ARGIL_BATCH_SHEETS_URL", "http://proxy.corp.example")
    with pytest.raises(JobError, match="ARGIL_BATCH_SHEETS_URL: refusing plain http"):
        sheets_url()


# --- the client ---------------------------------------------------------------------------


class FixedTokens(Tokens):
    """Tokens without Google: each renewal hands out the next one."""

    def __init__(self) -> None:
        self.account = ServiceAccount("runner@acme.iam.gserviceaccount.com", "test", {})
        self.given = 0

    def token(self, *, renew: bool = False) -> str:
        if renew or not self.given:
            self.given += 1
        return f"token-{self.given}"


def client_of(
    answers: list[httpx.Response], seen: list[httpx.Request]
) -> tuple[SheetsClient, list[float]]:
    waits: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0) if answers else httpx.Response(200, json={})

    http = httpx.Client(transport=httpx.MockTransport(handle))
    return SheetsClient("https://sheets.test", FixedTokens(), http=http, sleep=waits.append), waits


def error(code: int, message: str) -> httpx.Response:
    return httpx.Response(code, json={"error": {"code": code, "message": message, "status": "X"}})


def test_429s_are_waited_out_with_growing_waits_and_counted() -> None:
    seen: list[httpx.Request] = []
    client, waits = client_of([error(429, "Quota exceeded")] * 4, seen)

    client.batch_update("S1", [{"updateCells": {}}])

    assert len(seen) == 5 and client.rate_limited == 4
    assert waits == sorted(waits) and waits[0] >= 1 and sum(waits) > 15


def test_a_quota_that_never_comes_back_gives_up_after_about_a_minute_and_a_half() -> None:
    seen: list[httpx.Request] = []
    client, waits = client_of([error(429, "Quota exceeded")] * 20, seen)

    with pytest.raises(SheetsApiError, match="did not answer after 8 tries"):
        client.values("S1", "Leads")

    assert len(seen) == MAX_ATTEMPTS
    assert 63 <= sum(waits) <= 63 + 32 + MAX_ATTEMPTS


def test_a_refused_token_is_renewed_once() -> None:
    seen: list[httpx.Request] = []
    client, _ = client_of(
        [error(401, "expired"), httpx.Response(200, json={"values": [["a"]]})], seen
    )

    assert client.values("S1", "It's") == [["a"]]
    assert [r.headers["authorization"] for r in seen] == ["Bearer token-1", "Bearer token-2"]
    assert seen[0].url.path == "/v4/spreadsheets/S1/values/'It''s'"


def test_refusals_say_what_to_do() -> None:
    seen: list[httpx.Request] = []
    client, _ = client_of(
        [error(404, "Requested entity was not found."), error(400, "Bad range")], seen
    )
    with pytest.raises(SheetsApiError, match="there is no Google Sheet S1; check the URL"):
        client.spreadsheet("S1")
    with pytest.raises(
        SheetsApiError, match="refused a request on the Google Sheet S1: 400 Bad range"
    ):
        client.values("S1", "Leads")


def test_a1_quotes_a_tab_name() -> None:
    assert a1_tab("Leads") == "'Leads'"
    assert a1_tab("Bob's leads") == "'Bob''s leads'"


# --- what a write sends ------------------------------------------------------------------


def test_results_are_typed_cells_and_text_is_never_a_formula() -> None:
    assert _result_cell("argil_error", "=HYPERLINK(1)") == {
        "userEnteredValue": {"stringValue": "=HYPERLINK(1)"}
    }
    assert _result_cell("argil_moments", "3") == {"userEnteredValue": {"numberValue": 3}}
    moment = _result_cell("argil_updated_at", "2026-12-04T10:00:00+00:00")
    assert moment["userEnteredValue"]["numberValue"] == pytest.approx(46360 + 10 / 24)
    assert moment["userEnteredFormat"]["numberFormat"]["type"] == "DATE_TIME"
    link = _result_cell("argil_video_url", "https://cdn.example/v.mp4")
    assert link["userEnteredFormat"]["textFormat"]["link"]["uri"] == "https://cdn.example/v.mp4"
    assert "backgroundColor" in _result_cell("argil_status", "DONE")["userEnteredFormat"]
    assert _result_cell("argil_error", "") == {}  # cleared under the field mask
    assert _shown("argil_updated_at", "2026-12-04T10:00:00+00:00") == "2026-12-04 10:00:00 UTC"


def test_a_rows_neighbouring_cells_go_in_one_request() -> None:
    cell = {"userEnteredValue": {"stringValue": "x"}}
    requests = [
        _update(0, 5, 4, [cell]),
        _update(0, 5, 5, [cell]),
        _update(0, 5, 7, [cell]),
        _update(0, 6, 8, [cell]),
    ]

    merged = _merged(requests)

    assert [len(r["updateCells"]["rows"][0]["values"]) for r in merged] == [2, 1, 1]
    assert [r["updateCells"]["start"]["columnIndex"] for r in merged] == [4, 7, 8]


def test_a_block_of_rows_is_one_request_and_a_big_write_goes_in_2_mb_batches() -> None:
    cell = {"userEnteredValue": {"stringValue": "x" * 100}}
    rows = [_update(7, row, column, [cell]) for row in range(2, 6002) for column in range(4, 13)]

    merged = _merged(rows)
    batches = _chunks(merged)

    assert len(merged) == 1 and len(merged[0]["updateCells"]["rows"]) == 6000
    sizes = [len(json.dumps(batch, separators=(",", ":"))) for batch in batches]
    assert len(batches) > 1 and max(sizes) <= MAX_PAYLOAD
    starts = [r["updateCells"]["start"]["rowIndex"] for batch in batches for r in batch]
    assert starts == list(range(1, 6001, 500))  # every row, once, in order
    assert sum(len(r["updateCells"]["rows"]) for b in batches for r in b) == 6000
