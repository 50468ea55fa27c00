"""The fake Google Sheets served by uvicorn in a background thread on loopback, as the Argil
emulator is (:class:`~pipeline.emulator.server.ThreadedServer`)."""

from __future__ import annotations

from pipeline.emulator.server import ThreadedServer
from pipeline.emulator.sheets.app import create_app
from pipeline.emulator.sheets.state import SheetsWorld


class SheetsServer(ThreadedServer):
    """``world`` over HTTP; ``port=0`` picks a free port, known (``base_url``) once started."""

    what = "the Sheets fake"

    def __init__(self, world: SheetsWorld, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_app(world), host, port)
        self.world = world

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:53211`` (``/v4/spreadsheets/...`` below it)."""
        return self.root_url

    @property
    def token_uri(self) -> str:
        return self.base_url + "/token"
