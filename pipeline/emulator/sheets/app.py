"""The fake Google Sheets' HTTP face: ``POST /token`` and the ``/v4/spreadsheets`` calls the
client makes, in Google's shapes. All decisions about who may do what are the
:class:`SheetsWorld`'s; this module routes each call to the module that answers it.

Paths are dispatched from the raw (still percent-encoded) path, because an A1 range is one
encoded segment that may itself hold a ``/`` once decoded.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipeline.emulator.sheets.errors import SheetsError, TokenError, invalid
from pipeline.emulator.sheets.grid import Spreadsheet, Tab
from pipeline.emulator.sheets.state import SheetsWorld
from pipeline.emulator.sheets.updates import batch_update
from pipeline.emulator.sheets.values import input_option, read_values, write_values

MAX_BODY = 10 * 1024 * 1024
GOOGLE_TOKEN_AUDIENCES = (
    "https://oauth2.googleapis.com/token",
    "https://www.googleapis.com/oauth2/v4/token",
    "https://accounts.google.com/o/oauth2/token",
)


# --- spreadsheets.get -------------------------------------------------------------------------


def _metadata(sheet: Spreadsheet) -> dict[str, Any]:
    return {
        "spreadsheetId": sheet.sid,
        "properties": {"title": sheet.title, "locale": "en_US", "timeZone": "Etc/GMT"},
        "sheets": [
            {
                "properties": {
                    **{"sheetId": tab.gid, "title": tab.title, "index": tab.index},
                    "sheetType": "GRID",
                    "gridProperties": {"rowCount": tab.rows, "columnCount": tab.columns},
                }
            }
            for tab in sorted(sheet.tabs, key=lambda tab: tab.index)
        ],
        "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{sheet.sid}/edit",
    }


# --- HTTP -------------------------------------------------------------------------------------


def _error(fault: SheetsError) -> JSONResponse:
    return JSONResponse(fault.body(), status_code=fault.code)


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"{}")
    except ValueError as exc:
        raise invalid(f"Invalid JSON payload received. {exc}") from exc


async def _token(request: Request) -> Response:
    world: SheetsWorld = request.app.state.world
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    grant = form.get("grant_type", "")
    if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        body = {
            "error": "unsupported_grant_type",
            "error_description": f"Invalid grant_type: {grant}",
        }
        return JSONResponse(body, status_code=400)
    # google-auth's service-account credentials always sign for Google's own endpoint,
    # whatever the key's token_uri says; Google accepts its older addresses too.
    audience = [f"{request.url.scheme}://{request.url.netloc}/token", *GOOGLE_TOKEN_AUDIENCES]
    try:
        return JSONResponse(world.issue_token(form.get("assertion", ""), audience))
    except TokenError as exc:
        body = {"error": exc.error, "error_description": exc.description}
        return JSONResponse(body, status_code=400)


async def _v4(request: Request) -> Response:
    world: SheetsWorld = request.app.state.world
    try:
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            raise SheetsError(413, f"Request payload size exceeds the limit: {MAX_BODY} bytes.")
        email = world.authenticate(request.headers.get("authorization"))
        world.admit(email, write=request.method != "GET")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise SheetsError(413, f"Request payload size exceeds the limit: {MAX_BODY} bytes.")
        return JSONResponse(_dispatch(request, world, email, raw))
    except SheetsError as fault:
        return _error(fault)


def _dispatch(request: Request, world: SheetsWorld, email: str, raw: bytes) -> Any:
    path = request.scope.get("raw_path") or request.url.path.encode()
    parts = path.decode("latin-1").split("?")[0].split("/")[3:]  # after /v4/spreadsheets
    method, query = request.method, request.query_params
    sid, _, verb = unquote(parts[0]).partition(":") if parts else ("", "", "")
    rest = [unquote(part) for part in parts[1:]]
    if method == "GET" and not verb and not rest:
        return world.read(sid, email, _metadata)
    if method == "POST" and verb == "batchUpdate" and not rest:
        body = _parse(raw)
        reply = world.write(sid, email, body, lambda tabs: batch_update(world, tabs, body))
        return {"spreadsheetId": sid, "replies": reply}
    if not verb and len(rest) == 2 and rest[0] == "values" and method == "GET":
        return world.read(sid, email, lambda sheet: read_values(sheet, rest[1], query))
    if not verb and len(rest) == 2 and rest[0] == "values" and method == "PUT":
        body = _parse(raw)
        user = input_option(query.get("valueInputOption"))
        item = {**body, "range": rest[1]}
        answer = world.write(sid, email, body, lambda tabs: write_values(tabs, item, user))
        return {**answer, "spreadsheetId": sid}
    if not verb and rest == ["values:batchUpdate"] and method == "POST":
        body = _parse(raw)
        user = input_option(body.get("valueInputOption"))
        data = body.get("data") or []

        def change(tabs: list[Tab]) -> list[dict[str, Any]]:
            return [{**write_values(tabs, item, user), "spreadsheetId": sid} for item in data]

        responses = world.write(sid, email, body, change)
        return {
            "spreadsheetId": sid,
            "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
            "totalUpdatedColumns": sum(r["updatedColumns"] for r in responses),
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
            "totalUpdatedSheets": len({r["updatedRange"].rpartition("!")[0] for r in responses}),
            "responses": responses,
        }
    raise SheetsError(404, "Requested entity was not found.", "NOT_FOUND")


def create_app(world: SheetsWorld) -> Starlette:
    """The ASGI app; ``app.state.world`` is ``world``."""
    app = Starlette(
        routes=[
            Route("/token", _token, methods=["POST"]),
            Route("/v4/spreadsheets/{rest:path}", _v4, methods=["GET", "POST", "PUT"]),
        ]
    )
    app.state.world = world
    return app
