"""Shared fixtures: the Argil emulator served on a free loopback port, the command line run
in-process, and the leads config written to a file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from support import CLI_KEY, leads_config

from pipeline.emulator import EmulatorServer, EmulatorSettings

# The helpers of hostile input: their asserts were a test module's, and are rewritten to fail a
# test with the same detail (imported by the test modules, after this).
pytest.register_assert_rewrite("hostile_files")


@pytest.fixture(autouse=True)
def _state_folder(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's state folder (XDG_STATE_HOME), where a Google Sheet's run keeps its state,
    is a test's own: no test writes into the home folder of whoever runs them."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))


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


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run ``argil-batch`` in-process: ``cli("validate", sheet, "-c", config)`` gives click's
    Result (exit_code, stdout and stderr apart, exception).

    ARGIL_API_KEY is ``key`` (CLI_KEY unless given; None: no key at all); ``env`` adds to or
    overrides the environment (a value of None unsets a variable); ``input`` is fed to stdin.
    An exception the command line lets through fails the test, whatever the exit code.
    """

    def invoke(
        *args: str | Path,
        key: str | None = CLI_KEY,
        env: dict[str, str | None] | None = None,
        input: str | bytes | None = None,
    ) -> Result:
        from click.testing import CliRunner

        # Imported when called: the command line imports the whole run, which tests of the
        # lower floors never need.
        from pipeline.cli import main

        environment: dict[str, str | None] = {"ARGIL_API_KEY": key, **(env or {})}
        result = CliRunner().invoke(main, [str(arg) for arg in args], env=environment, input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"uncaught {result.exception!r}") from result.exception
        return result

    return invoke


@pytest.fixture
def config(tmp_path: Path) -> Callable[..., Path]:
    """Write the leads config (``support.leads_config``), with changes, to a file in tmp_path:
    ``config()`` is ``tmp_path / "c.yaml"``; ``config("fr.yaml", api={"rpm": "auto"})``."""

    def write(name: str = "c.yaml", /, **changes: Any) -> Path:
        path = tmp_path / name
        path.write_text(leads_config(**changes), encoding="utf-8")
        return path

    return write
