"""The fake Google Sheets served by uvicorn in a background thread on loopback, as
:class:`~pipeline.emulator.server.EmulatorServer` serves the Argil emulator (same socket and
wake-up handling, reused from there)."""

from __future__ import annotations

import threading
import time

from pipeline.emulator.server import _bind, _config, _require_loopback, _Server, _url_host
from pipeline.emulator.settings import EmulatorStartError
from pipeline.emulator.sheets.app import create_app
from pipeline.emulator.sheets.state import SheetsWorld


class SheetsServer:
    """``world`` over HTTP; ``port=0`` picks a free port, known (``base_url``) once started."""

    def __init__(self, world: SheetsWorld, host: str = "127.0.0.1", port: int = 0) -> None:
        _require_loopback(host)
        self.world, self.host, self.port = world, host, port
        self.app = create_app(world)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:53211`` (``/v4/spreadsheets/...`` below it)."""
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def token_uri(self) -> str:
        return self.base_url + "/token"

    def start(self, timeout: float = 10.0) -> SheetsServer:
        if self._thread is not None:
            return self
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        server = _Server(_config(self.app, self.host, self.port, log_config=None))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="sheets-fake", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise EmulatorStartError(f"the Sheets fake did not start on {self.base_url}")
            time.sleep(0.005)  # waiting on the server thread, not backing off
        return self

    def stop(self, timeout: float = 5.0) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.should_exit = True
        server.wake()
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)

    def __enter__(self) -> SheetsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
