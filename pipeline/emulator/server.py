"""Running the emulator: in-process for ``--sandbox`` and tests, or in the foreground.

:class:`EmulatorServer` serves the app from ``app.py`` with uvicorn in a background
thread, on a socket bound here (so the port is known before serving and can be taken again right
after a stop), and stops without waiting for uvicorn's next tick. :func:`serve` is what the
``emulator`` command runs until interrupted. Both refuse any host that is not loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette

from pipeline.emulator.app import _quiet_drops, create_app
from pipeline.emulator.settings import (
    EmulatorSettings,
    EmulatorSettingsError,
    EmulatorStartError,
)
from pipeline.emulator.state import Emulator


def _require_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise EmulatorSettingsError(
            f"the emulator only listens on loopback (127.0.0.1, ::1, localhost), not {host!r}"
        )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class _Server(uvicorn.Server):
    """uvicorn's server, woken by :meth:`wake` instead of noticing ``should_exit`` at its next
    0.1 s tick: tests start and stop a server each, and the ticks add up."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wakeup: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wakeup = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), 0.1)

    def wake(self) -> None:
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(wakeup.set)


class ThreadedServer:
    """An ASGI app served by uvicorn in a background thread, on loopback: the Argil emulator
    (:class:`EmulatorServer`) and the fake of Google Sheets
    (:class:`~pipeline.emulator.sheets.SheetsServer`).

    ``port=0`` picks a free port; the socket is bound here (with SO_REUSEADDR) so the URL is
    known before serving and a new server can take the same port right after ``stop()``.
    """

    # Who it is, in the thread's name and in the error when it does not start.
    what = "the server"

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        _require_loopback(host)
        self.host = host
        self.port = port
        self.app = app
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.port}"

    def start(self, timeout: float = 10.0) -> Self:
        if self._thread is not None:
            return self
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        config = _config(self.app, self.host, self.port, log_config=None)
        server = _Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=self.what, daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise EmulatorStartError(f"{self.what} did not start on {self.root_url}")
            time.sleep(0.005)  # waiting on the server thread, not backing off
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; answers still being held (latency, spikes) are cut after ``timeout``."""
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
        self.stopped()

    def stopped(self) -> None:
        """What a kind of server does once it has stopped serving."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class EmulatorServer(ThreadedServer):
    """The emulator served by uvicorn in a background thread, on loopback."""

    what = "the emulator"

    def __init__(
        self, settings: EmulatorSettings | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(create_app(settings), host, port)
        self.emulator: Emulator = self.app.state.emulator

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:53211/v1`` (the port is known once started)."""
        return f"{self.root_url}/v1"

    def stopped(self) -> None:
        # Its state file as one snapshot again, for the next start (or anyone) to read.
        self.emulator.close()


def _bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket, bound here rather than by uvicorn, which would exit the process
    when the port is taken; SO_REUSEADDR lets a restarted emulator take its port back at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it every answer on a kept-alive connection waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise EmulatorStartError(f"the emulator cannot listen on {host}:{port}: {exc}") from exc
    return sock


def _config(app: Starlette, host: str, port: int, log_config: Any) -> uvicorn.Config:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        log_config=log_config,
        # Held answers (spikes) must not keep a stopping server alive for long.
        timeout_graceful_shutdown=2,
    )
    _quiet_drops()  # after the config, which may have (re)configured uvicorn's loggers
    return config


def serve(
    settings: EmulatorSettings,
    host: str = "127.0.0.1",
    port: int = 8787,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve the emulator in the foreground until interrupted (Ctrl-C).

    ``on_listening`` gets the base URL once the socket is bound (port 0 picks a free one).
    uvicorn re-raises the interrupting signal once it has shut down, so a Ctrl-C ends as a
    ``KeyboardInterrupt`` in the caller.
    """
    _require_loopback(host)
    sock = _bind(host, port)
    if on_listening is not None:
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        on_listening(f"http://{shown}:{bound}/v1")
    app = create_app(settings)
    config = _config(app, host, port, log_config=uvicorn.config.LOGGING_CONFIG)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        app.state.emulator.close()
