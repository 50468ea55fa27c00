"""Shared fixtures: the Argil emulator served on a free loopback port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pipeline.argil.emulator import EmulatorServer, EmulatorSettings


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    """Start an emulator with custom knobs: ``make_emulator(rpm=60, port=0, host=...)``.

    Every server started through it is stopped at teardown.
    """
    servers: list[EmulatorServer] = []

    def make(*, host: str = "127.0.0.1", port: int = 0, **settings: Any) -> EmulatorServer:
        server = EmulatorServer(EmulatorSettings(**settings), host=host, port=port)
        servers.append(server)
        return server.start()

    yield make
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def emulator(make_emulator: Callable[..., EmulatorServer]) -> EmulatorServer:
    """A running emulator with default settings (any non-empty key, no limits, no faults)."""
    return make_emulator()
