"""The API key never leaves the request header, and the header never leaves TLS (or loopback).

Every scenario runs with a sentinel key and then looks for it everywhere the tool writes: the
output sheet, the journal and its WAL, the lock file, the sandbox's store, the payloads file,
standard output and error at every verbosity, every log record (down to DEBUG), and the
message of every error, a 401 and a server that echoes the key back included.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import logging
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from support import ROOT, VirtualTime, spawn

from pipeline import settings as job_module
from pipeline.argil.client import ArgilClient, InsecureURLError, TransportError, check_base_url
from pipeline.cli import run as cli_module
from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import run_job
from pipeline.settings import JobSpec, RunOptions

SENTINEL = "sk-SENTINEL-9f8e7d6c"
# A partial leak is a leak: a prefix cut by truncation, the distinctive middle.
MARKERS = (SENTINEL, "SENTINEL", "9f8e7d6c")

VERBOSITY = ["", "-v", "-vv"]


def write_leads(path: Path, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "first_name", "script"])
        for i in range(count):
            writer.writerow([f"lead{i}@example.com", f"Lead{i}", f"Hello lead {i}, a short idea."])


def assert_no_secret(*texts: str, folder: Path | None = None) -> None:
    for text in texts:
        for marker in MARKERS:
            assert marker not in text, (
                f"the key leaked: ...{text[max(0, text.find(marker) - 80) :][:200]}..."
            )
    if folder is not None:
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert files, "nothing was written: the check would prove nothing"
        for path in files:
            data = path.read_bytes()
            for marker in MARKERS:
                assert marker.encode() not in data, f"the key is in {path}"
                assert marker.encode("utf-16-le") not in data, f"the key is in {path}"


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> VirtualTime:
    """No real waiting in a command-line run: virtual backoff, no in-doubt delay."""
    vt = VirtualTime()
    real = job_module.ArgilClient

    def client(*args: Any, **kwargs: Any) -> Any:
        return real(*args, **{**kwargs, "sleep": vt.sleep, "clock": vt})

    monkeypatch.setattr(job_module, "ArgilClient", client)
    monkeypatch.setattr(cli_module, "RunOptions", functools.partial(RunOptions, doubt_delay=0))
    return vt


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """Every log record of the test, formatted with its traceback, at DEBUG and below."""
    caplog.set_level(1)
    for name in ("httpx", "httpcore", "uvicorn", "pipeline"):
        caplog.set_level(1, logger=name)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return lambda: "\n".join(formatter.format(record) for record in caplog.records)


@pytest.fixture
def work(tmp_path: Path, config: Callable[..., Path]) -> dict[str, Path]:
    folder = tmp_path / "work"
    folder.mkdir()
    # The sheet below has no company to name the video by.
    leads = config("work/leads.yaml", video={"name": "Intro for {{ first_name }}"})
    sheet = folder / "leads.csv"
    write_leads(sheet, 12)
    return {"folder": folder, "sheet": sheet, "config": leads, "output": folder / "out.csv"}


@pytest.fixture
def sentinel_cli(cli: Callable[..., Result]) -> Callable[..., tuple[int, str]]:
    """The command line with the sentinel key: its exit code and all it printed."""

    def invoke(args: list[str], **env: str) -> tuple[int, str]:
        result = cli(*args, key=SENTINEL, env=env)
        return result.exit_code, result.stdout + result.stderr

    return invoke


def run_args(work: dict[str, Path], base_url: str, *extra: str) -> list[str]:
    return [
        "run",
        str(work["sheet"]),
        "-c",
        str(work["config"]),
        "-o",
        str(work["output"]),
        "--base-url",
        base_url,
        "--no-progress",
        *[e for e in extra if e],
    ]


class EchoKey:
    """ASGI middleware: the API answers every request with an error quoting the key it got,
    once whole and once at the very end of a long message (where a cut would halve it)."""

    def __init__(self, app: ASGIApp, status: int) -> None:
        self.app, self.status = app, status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        key = dict(scope["headers"]).get(b"x-api-key", b"").decode()
        message = f"Invalid API key {key}; " + "x" * 247 + key  # the second straddles 300
        await JSONResponse({"code": self.status, "message": message}, self.status)(
            scope, receive, send
        )


# --- the scenarios, at every verbosity --------------------------------------------------------


@pytest.mark.parametrize("verbosity", VERBOSITY)
def test_a_run_through_faults_then_status_leaks_no_key(
    verbosity: str,
    work: dict[str, Path],
    fast: VirtualTime,
    logs: Callable[[], str],
    sentinel_cli: Callable[..., tuple[int, str]],
) -> None:
    write_leads(work["sheet"], 40)
    settings = EmulatorSettings(
        fail_rate=0.2,
        drop_rate=0.3,
        rpm=600,
        rate_window=1,
        retry_after="seconds",
        seed=5,
        clock=fast,
    )
    with EmulatorServer(settings) as server:
        code, first = sentinel_cli(run_args(work, server.base_url, verbosity, "--render"))
        assert code in (0, 1), first
        code, again = sentinel_cli(run_args(work, server.base_url, verbosity, "--json"))
        code, status = sentinel_cli(
            ["status", str(work["output"]), "--no-progress", verbosity or "-v"]
        )
        assert code in (0, 1), status
        assert server.emulator.stats.rate_limited and server.emulator.stats.dropped
    assert_no_secret(first, again, status, logs(), folder=work["folder"])


@pytest.mark.parametrize("verbosity", VERBOSITY)
def test_a_refused_key_leaks_nothing(
    verbosity: str,
    work: dict[str, Path],
    fast: VirtualTime,
    logs: Callable[[], str],
    sentinel_cli: Callable[..., tuple[int, str]],
) -> None:
    with EmulatorServer(EmulatorSettings(api_key="the-other-key")) as server:
        code, out = sentinel_cli(run_args(work, server.base_url, verbosity))
    assert code == 3 and "Invalid API key" in out
    assert_no_secret(out, logs(), folder=work["folder"])


@pytest.mark.parametrize("status", [401, 400])
@pytest.mark.parametrize("verbosity", VERBOSITY)
def test_an_api_that_echoes_the_key_back_is_blanked(
    status: int,
    verbosity: str,
    work: dict[str, Path],
    fast: VirtualTime,
    logs: Callable[[], str],
    sentinel_cli: Callable[..., tuple[int, str]],
) -> None:
    server = EmulatorServer()
    server.app.add_middleware(EchoKey, status=status)
    with server:
        code, out = sentinel_cli(run_args(work, server.base_url, verbosity, "--no-preflight"))
    assert code == (3 if status == 401 else 1), out
    assert "***" in out + work["output"].read_text()
    assert_no_secret(out, logs(), folder=work["folder"])


@pytest.mark.parametrize("verbosity", VERBOSITY)
def test_credits_running_out_leaks_no_key(
    verbosity: str,
    work: dict[str, Path],
    fast: VirtualTime,
    logs: Callable[[], str],
    sentinel_cli: Callable[..., tuple[int, str]],
) -> None:
    with EmulatorServer(EmulatorSettings(credits=3)) as server:
        code, out = sentinel_cli(run_args(work, server.base_url, verbosity))
    assert code == 3
    assert_no_secret(out, logs(), folder=work["folder"])


def test_validate_dry_run_and_sandbox_leak_no_key(
    work: dict[str, Path], logs: Callable[[], str], sentinel_cli: Callable[..., tuple[int, str]]
) -> None:
    payloads = work["folder"] / "payloads.jsonl"
    outs = [
        sentinel_cli(
            ["validate", str(work["sheet"]), "-c", str(work["config"]), "--payloads", str(payloads)]
        )[1],
        sentinel_cli(run_args(work, "https://api.invalid/v1", "--dry-run", "-vv"))[1],
    ]
    # The sandbox has its own key; the user's, set in the environment, stays unused.
    args = ["run", str(work["sheet"]), "-c", str(work["config"]), "--sandbox", "--no-progress"]
    code, out = sentinel_cli([*args, "-vv"])
    assert code == 0, out
    assert list(work["folder"].glob("*.api.json")), "the sandbox kept its videos"
    assert_no_secret(*outs, out, logs(), folder=work["folder"])


@pytest.mark.parametrize(
    "url",
    [
        f"https://user:{SENTINEL}@api.example.com/v1",
        f"https://api.example.com/v1?api_key={SENTINEL}",
        f"https://api.example.com/v1#{SENTINEL}",
        f"http://user:{SENTINEL}@127.0.0.1:9/v1",
    ],
)
def test_a_base_url_carrying_the_key_is_refused_without_repeating_it(
    url: str, work: dict[str, Path], sentinel_cli: Callable[..., tuple[int, str]]
) -> None:
    code, out = sentinel_cli(run_args(work, url))
    assert code == 2 and out.startswith("Error: ")
    assert_no_secret(out)
    with pytest.raises(InsecureURLError) as refused:
        check_base_url(url)
    assert_no_secret(str(refused.value), repr(refused.value))


def test_a_key_that_cannot_be_sent_is_one_error_line(
    work: dict[str, Path], cli: Callable[..., Result]
) -> None:
    with EmulatorServer() as server:
        result = cli(*run_args(work, server.base_url), key=SENTINEL + "\x01")
        assert server.emulator.stats.requests == 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2 and result.stderr.startswith("Error: ")
    assert_no_secret(result.stderr)


def test_a_job_spec_does_not_show_its_key() -> None:
    spec = JobSpec(sheet=Path("a.csv"), config=Path("a.yaml"), api_key=SENTINEL)
    assert_no_secret(repr(spec))


def test_library_run_with_every_logger_at_debug_leaks_no_key(
    work: dict[str, Path], logs: Callable[[], str]
) -> None:
    """httpx and the transport under it at DEBUG too (the command line keeps httpx at WARNING)."""
    with EmulatorServer(EmulatorSettings(drop_rate=0.3, fail_rate=0.2, seed=2)) as server:
        spec = JobSpec(
            sheet=work["sheet"],
            config=work["config"],
            output=work["output"],
            base_url=server.base_url,
            api_key=SENTINEL,
            options=RunOptions(doubt_delay=0),
        )
        outcome = run_job(spec)
        assert outcome.summary.created + outcome.summary.adopted > 0
    text = logs()
    assert "httpcore.connection DEBUG connect_tcp" in text, "the HTTP stack's DEBUG logs"
    assert_no_secret(text, repr(outcome), folder=work["folder"])


# --- real processes: -vv on a real stderr, kill -9 leaving a WAL behind ----------------------


def spawn_run(work: dict[str, Path], base_url: str, *extra: str) -> subprocess.Popen[str]:
    return spawn(*run_args(work, base_url, "-vv", *extra), key=SENTINEL)


def test_processes_killed_refused_and_finished_leak_no_key(work: dict[str, Path]) -> None:
    write_leads(work["sheet"], 60)
    with EmulatorServer(EmulatorSettings(latency_ms=30)) as server:
        process = spawn_run(work, server.base_url, "--concurrency", "2")
        deadline = time.monotonic() + 30
        while server.emulator.stats.creates < 5:
            assert time.monotonic() < deadline
            time.sleep(0.01)  # waiting on another process, not a backoff
        process.send_signal(signal.SIGKILL)
        killed_out, killed_err = process.communicate(timeout=30)
        # The journal's WAL is left behind by the kill: it is scanned as it is.
        assert_no_secret(killed_out, killed_err, folder=work["folder"])
        finished = spawn_run(work, server.base_url)
        out, err = finished.communicate(timeout=60)
        assert finished.returncode == 0, err
        assert " DEBUG " in err, "debug logging was on"
    with EmulatorServer(EmulatorSettings(api_key="other")) as server:
        refused = spawn_run(work, server.base_url, "--state", str(work["folder"] / "refused.state"))
        refused_out, refused_err = refused.communicate(timeout=60)
        assert refused.returncode == 3, refused_err
    assert_no_secret(out, err, refused_out, refused_err, folder=work["folder"])


# --- transport: no plain http off loopback, TLS verified, no redirects -----------------------


@contextlib.contextmanager
def listener(host: str = "0.0.0.0") -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server that records whatever reaches it (it should be nothing)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, 0))
    server.listen(8)
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            with connection:
                connection.settimeout(1)
                with contextlib.suppress(OSError):
                    received.append(connection.recv(65536) or b"<connected>")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], received
    finally:
        stop.set()
        thread.join(5)
        server.close()


def outward_address() -> str | None:
    """This machine's address on its way out (no packet is sent to learn it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_plain_http_to_this_machine_s_network_address_is_refused_before_connecting(
    work: dict[str, Path],
    sentinel_cli: Callable[..., tuple[int, str]],
) -> None:
    address = outward_address()
    if address is None:
        pytest.skip("no network interface besides loopback")
    with listener() as (port, received):
        url = f"http://{address}:{port}/v1"
        code, out = sentinel_cli(run_args(work, url))
        assert code == 2 and out.startswith("Error: refusing plain http")
        code, env_out = sentinel_cli(
            ["run", str(work["sheet"]), "-c", str(work["config"]), "--no-progress"],
            ARGIL_BASE_URL=url,
        )
        assert code == 2 and env_out.startswith("Error: refusing plain http")
        time.sleep(0.3)  # give a connection, were there one, the time to be recorded
    assert received == [], "a connection was made"


def test_a_proxy_from_the_environment_never_sees_a_plain_http_request(
    work: dict[str, Path], fast: VirtualTime, sentinel_cli: Callable[..., tuple[int, str]]
) -> None:
    """HTTP_PROXY would carry a loopback request, key in clear, to the proxy's host."""
    with listener() as (port, received), EmulatorServer() as server:
        proxy = f"http://127.0.0.2:{port}"
        environment = {"HTTP_PROXY": proxy, "http_proxy": proxy, "ALL_PROXY": proxy}
        with pytest.MonkeyPatch.context() as patched:
            for name, value in environment.items():
                patched.setenv(name, value)
            code, out = sentinel_cli(run_args(work, server.base_url))
        assert code == 0, out
        assert server.emulator.stats.created == 12
    assert received == [], "the request went through the proxy"


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextlib.contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[tuple[int, list[bytes]]]:
    """A TLS server with a certificate no authority signed; records any request that gets
    through the handshake (it should be none)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            connection.settimeout(2)
            try:
                with context.wrap_socket(connection, server_side=True) as secure:
                    received.append(secure.recv(65536))
            except (ssl.SSLError, OSError):
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], received
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_a_certificate_no_authority_signed_is_refused_and_the_key_never_sent(
    self_signed: tuple[Path, Path],
    work: dict[str, Path],
    fast: VirtualTime,
    sentinel_cli: Callable[..., tuple[int, str]],
) -> None:
    with tls_server(*self_signed) as (port, received):
        url = f"https://127.0.0.1:{port}/v1"

        async def call() -> None:
            async with ArgilClient(
                SENTINEL, url, rpm=60_000, sleep=fast.sleep, clock=fast
            ) as client:
                await client.list_avatars()

        with pytest.raises(TransportError) as refused:
            asyncio.run(call())
        assert_no_secret(str(refused.value))
        code, out = sentinel_cli(run_args(work, url))
        assert code == 3 and "could not connect" in out, out
        time.sleep(0.2)
    assert received == [], "a request got through an unverified certificate"
    assert_no_secret(out)


def test_certificate_checks_are_never_switched_off_in_the_code() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "pipeline").rglob("*.py"))
    assert not re.search(r"verify\s*=\s*(False|0|None)", source)
    assert "CERT_NONE" not in source and "check_hostname" not in source
    assert "_create_unverified_context" not in source


class RedirectAll:
    def __init__(self, app: ASGIApp, location: str) -> None:
        self.app, self.location = app, location

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            target = self.location + scope["path"]
            await Response(status_code=307, headers={"location": target})(scope, receive, send)
            return
        await self.app(scope, receive, send)


def test_a_redirect_is_not_followed_so_the_key_goes_nowhere_else(
    work: dict[str, Path], fast: VirtualTime, sentinel_cli: Callable[..., tuple[int, str]]
) -> None:
    with listener("127.0.0.1") as (port, received):
        server = EmulatorServer()
        server.app.add_middleware(RedirectAll, location=f"http://127.0.0.1:{port}")
        with server:
            code, out = sentinel_cli(run_args(work, server.base_url))
        assert code == 3, out
        time.sleep(0.2)
    assert received == [], "the redirect was followed"
    assert_no_secret(out)
