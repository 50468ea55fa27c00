"""A run's settings, resolved once: what was asked (:class:`JobSpec`, the command line's flags
or the Python API's keywords) becomes every effective value of the run (:class:`Settings`) in
one function, :func:`resolve`, that the command line and the Python API both call, with every
check in it. Precedence, everywhere: a flag, then the config, then the sandbox's default, then
the environment (``ARGIL_API_KEY``, ``ARGIL_BASE_URL``), then the built-in default.

Here too are the one place that starts the sandbox (:func:`api_endpoint`) and the one client
factory (:func:`make_client`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pipeline.argil.client import DEFAULT_BASE_URL, ArgilClient, InsecureURLError, check_base_url
from pipeline.config import ApiConfig, Config, load_config
from pipeline.errors import JobError
from pipeline.gsheets.ref import GoogleSheetRef, google_state_path
from pipeline.sheets import Sheet, default_output_path

Sleep = Callable[[float], Awaitable[None]]
Rpm = float | Literal["auto"]
Command = Literal["run", "dry-run", "status"]

SANDBOX_TARGET = "sandbox"
SANDBOX_KEY = "sandbox-key"
# The sandbox has no rate limit to respect: a bulk tryout of thousands of rows takes seconds
# (5,000 rows in about 13 s), not the minutes a made-up limit would cost.
SANDBOX_RPM = 600_000.0
# The config's api section as it is when the config says nothing: the defaults, written once.
API_DEFAULTS = ApiConfig()
# How long --wait follows renders at most, unless told.
WAIT_TIMEOUT = 3600.0


@dataclass(frozen=True)
class RunOptions:
    """What the engine's steps are asked to do."""

    render: bool = False
    wait: bool = False
    retry_failed: bool = False
    resend_changed: bool = False
    # A batch new to the API may make videos for rows that have some in another batch.
    new_batch: bool = False
    preflight: bool = True
    callback_url: str | None = None
    wait_timeout: float = WAIT_TIMEOUT
    # Stop sending before the estimated credits of the creates sent would pass this.
    max_credits: float | None = None
    budget_source: str = "--max-credits"  # where the budget was set, as messages name it
    # An in-doubt create may still be landing on the server: give it a moment before the
    # lookup decides that no video exists and the row may be sent again.
    doubt_delay: float = 2.0
    max_sends: int = 5
    # render.when's template, as the config writes it: only the rows it approves are rendered.
    approval: str | None = None
    # --download DIR: the finished videos' MP4s saved there.
    download: Path | None = None
    poll_initial: float = 2.0
    poll_max: float = 60.0


@dataclass
class JobSpec:
    """What was asked: the flags of ``run``, ``run --dry-run`` or ``status``, or the Python
    API's keywords. Unset values (None) are filled by :func:`resolve`."""

    sheet: Path | Sheet | GoogleSheetRef
    """The input file, a sheet already read (the Python API's DataFrame), which then needs
    ``output`` and ``state``, or a Google Sheet, whose results go back into it."""
    config: Path | Config
    command: Command = "run"
    output: Path | None = None
    # Replace a file at ``output`` that is not an output of argil-batch (refused otherwise).
    overwrite: bool = False
    sheet_name: str | None = None
    encoding: str | None = None
    state: Path | None = None
    sandbox: bool = False
    base_url: str | None = None
    # Kept out of repr: a spec printed in a log or a traceback must not show the key.
    api_key: str | None = field(default=None, repr=False)
    rpm: Rpm | None = None
    read_rpm: float | None = None
    concurrency: int | None = None
    rows: str | None = None
    # --sample N: only N rows chosen to show the batch's range; the rest for the next run.
    sample: int | None = None
    max_credits: float | None = None  # default: the config's api.max_credits
    flush_interval: float = 5.0
    options: RunOptions = field(default_factory=RunOptions)
    # For tests and embedding: the waits and the clock of the run and the client (so no
    # test sleeps through a backoff), and any other ArgilClient keyword (timeouts, attempts).
    sleep: Sleep | None = None
    clock: Callable[[], float] | None = None
    client_options: dict[str, Any] = field(default_factory=dict)
    # The Google Sheets client's waits (its backoff on 429), likewise.
    sheets_sleep: Callable[[float], None] | None = None


@dataclass(frozen=True)
class Settings:
    """Every effective value of one run; built by :func:`resolve` alone."""

    command: Command
    sheet: Path | Sheet | GoogleSheetRef
    config: Config
    # The config's file (None: given as an object), recorded so that ``status`` can rebuild.
    config_path: Path | None
    # None: the results go back into the sheet itself (a Google Sheet).
    output: Path | None
    state: Path
    # --state (or the Python API's state=) named it; else it is the default, which for a
    # Google Sheet is known once its tab is (prepare).
    state_given: bool
    overwrite: bool
    sheet_name: str | None
    # As given on the command line (recorded for ``status``); sheet_name is the effective one.
    sheet_flag: str | None
    encoding: str | None
    sandbox: bool
    # "" for the sandbox (its address is known once started) and a dry run (no API).
    base_url: str
    api_key: str = field(repr=False)
    rpm: Rpm
    read_rpm: float
    concurrency: int
    # The rate the cost forecast times a run at (None: auto), and whether that is the real
    # API's (a sandbox run is timed as the real run would be, not at the sandbox's pace).
    forecast_rpm: float | None
    forecast_real_rate: bool
    rows: str | None
    sample: int | None
    flush_interval: float
    options: RunOptions
    sleep: Sleep | None
    clock: Callable[[], float] | None
    client_options: dict[str, Any]
    sheets_sleep: Callable[[float], None] | None

    @property
    def target(self) -> str:
        """Whose videos the state file records: the sandbox's, or an API's base URL."""
        return SANDBOX_TARGET if self.sandbox else self.base_url

    @property
    def sandbox_store(self) -> Path:
        # The sandbox API keeps its videos beside the journal, so a re-run sees what the first
        # run made, as it would against the real API.
        return self.state.with_name(self.state.name + ".api.json")


def resolve(spec: JobSpec) -> Settings:
    """Every effective value of the run ``spec`` asks for; JobError (or ConfigError) when
    one cannot be used. Nothing is read but the config and the environment."""
    options = spec.options
    if spec.sandbox and spec.command == "dry-run":
        raise JobError("--sandbox and --dry-run go separately: pick one")
    if spec.sandbox and spec.base_url:
        raise JobError("--sandbox runs against a local emulator; drop --base-url or --sandbox")
    if options.callback_url and not options.callback_url.lower().startswith("https://"):
        raise JobError(f"--callback-url must be an https:// URL, got {options.callback_url!r}")
    # --wait waits for renders: it implies --render.
    render = options.render or options.wait
    if options.callback_url and not render:
        raise JobError("--callback-url goes with --render")
    if spec.rows:
        parse_rows(spec.rows)  # refused now, before the sheet is read
    if spec.sample is not None and spec.sample < 1:
        raise JobError(f"--sample {spec.sample}: give the number of rows to send first, 1 or more")
    config = spec.config if isinstance(spec.config, Config) else load_config(spec.config)
    api = config.api
    budget, source = spec.max_credits, "--max-credits"
    if budget is None:
        budget, source = api.max_credits, "api.max_credits"
    options = replace(
        options,
        render=render,
        max_credits=budget,
        budget_source=source,
        approval=config.render.when,
    )

    base_url, api_key = "", ""
    if not spec.sandbox and spec.command != "dry-run":
        base_url, api_key = api_access(spec.base_url, spec.api_key)
    configured = as_rpm(spec.rpm or api.rpm)
    # The sandbox has no rate limit: unless --rpm says otherwise, a tryout does not wait out
    # the real API's pace; its forecast still says how long the real run would take.
    rpm = as_rpm(spec.rpm or (SANDBOX_RPM if spec.sandbox else api.rpm))
    read_rpm = spec.read_rpm or (SANDBOX_RPM if spec.sandbox else api.read_rpm)
    forecast_rpm = None if configured == "auto" else configured

    output: Path | None
    if isinstance(spec.sheet, GoogleSheetRef):
        if spec.output is not None:
            raise JobError(
                "-o names an output file, but a Google Sheet gets its results back in place, "
                "in its argil_* columns; drop -o"
            )
        output = None
        # The tab's gid may be known only once the sheet is read: prepare sets it then.
        state = spec.state or google_state_path(spec.sheet, spec.sheet.gid or 0, spec.sandbox)
    else:
        sheet_path = spec.sheet.path if isinstance(spec.sheet, Sheet) else spec.sheet
        default = sandbox_output_path if spec.sandbox else default_output_path
        output = spec.output or default(sheet_path)
        state = spec.state or state_path_for(output, spec.sandbox)
    return Settings(
        command=spec.command,
        sheet=spec.sheet,
        config=config,
        config_path=None if isinstance(spec.config, Config) else spec.config,
        output=output,
        state=state,
        state_given=spec.state is not None,
        overwrite=spec.overwrite,
        sheet_name=spec.sheet_name or config.input.sheet,
        sheet_flag=spec.sheet_name,
        encoding=spec.encoding,
        sandbox=spec.sandbox,
        base_url=base_url,
        api_key=api_key,
        rpm=rpm,
        read_rpm=float(read_rpm),
        concurrency=spec.concurrency or api.concurrency,
        forecast_rpm=forecast_rpm,
        forecast_real_rate=not (spec.sandbox and spec.rpm is None),
        rows=spec.rows,
        sample=spec.sample,
        flush_interval=spec.flush_interval,
        options=options,
        sleep=spec.sleep,
        clock=spec.clock,
        client_options=dict(spec.client_options),
        sheets_sleep=spec.sheets_sleep,
    )


def as_rpm(value: float | str) -> Rpm:
    """A rate as the client takes it: a number, or "auto" (the config's validator has
    already refused anything else)."""
    return "auto" if value == "auto" else float(value)


def parse_rows(text: str) -> Callable[[int], bool]:
    """``--rows 2-50,60,70-``: spreadsheet row numbers (the header is row 1)."""
    spans: list[tuple[int, int]] = []
    for part in text.replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)?(-)?(\d+)?", part)
        if not part or match is None or (match[1] is None and match[3] is None):
            raise JobError(f"--rows {text!r}: use row numbers and ranges, e.g. 2-50,60,70-")
        low = int(match[1]) if match[1] else 2
        high = int(match[3]) if match[3] else (low if match[2] is None else 10**12)
        if low > high:
            raise JobError(f"--rows {text!r}: {low} comes after {high}")
        spans.append((low, high))
    return lambda row: any(low <= row <= high for low, high in spans)


def sandbox_output_path(sheet: Path) -> Path:
    """A sandbox run's default output: leads.csv -> leads.sandbox.argil.csv, never the real
    run's leads.argil.csv (its ids mean nothing to the real API)."""
    return default_output_path(sheet.with_name(f"{sheet.stem}.sandbox{sheet.suffix}"))


def state_path_for(output: Path, sandbox: bool) -> Path:
    # The sandbox keeps its own journal: its video ids mean nothing to the real API.
    return output.with_name(output.name + (".sandbox-state" if sandbox else ".state"))


def api_access(base_url: str | None, api_key: str | None = None) -> tuple[str, str]:
    """(base_url, api_key) from the arguments, else the environment; JobError when unusable."""
    key = api_key if api_key is not None else os.environ.get("ARGIL_API_KEY", "")
    key = key.strip()
    if not key:
        raise JobError(
            "no API key: set ARGIL_API_KEY (export ARGIL_API_KEY=...), "
            "or try the whole run locally with --sandbox"
        )
    if not key.isprintable() or not key.isascii():
        # A stray byte from a secrets file (a newline, a BOM) cannot go in a header; say so
        # here, before anything is sent, without quoting the key.
        raise JobError(
            "ARGIL_API_KEY holds characters that cannot be sent in a header (a newline or "
            "another control character?); check where the key comes from"
        )
    url = base_url or os.environ.get("ARGIL_BASE_URL") or DEFAULT_BASE_URL
    try:
        return check_base_url(url), key
    except InsecureURLError as exc:
        raise JobError(str(exc)) from None


@contextlib.contextmanager
def api_endpoint(
    *,
    sandbox: bool,
    base_url: str | None = None,
    api_key: str | None = None,
    store: Path | None = None,
) -> Iterator[tuple[str, str]]:
    """(base_url, api_key) of the API to talk to: the sandbox's, started here for as long as
    the block lasts (its videos kept in ``store``, when given, so a re-run sees them), or the
    real API's, from the arguments or the environment."""
    if not sandbox:
        yield api_access(base_url, api_key)
        return
    from pipeline.emulator import EmulatorServer, EmulatorSettings

    emulated = EmulatorSettings(state_file=store, render_seconds=3.0)
    with EmulatorServer(emulated) as server:
        yield server.base_url, SANDBOX_KEY


def make_client(
    settings: Settings | None,
    base_url: str,
    api_key: str,
    *,
    rpm: Rpm | None = None,
    read_rpm: float | None = None,
    concurrency: int | None = None,
    prior_sends: Sequence[float] = (),
) -> ArgilClient:
    """The API client of a run (its rates, waits and clock from ``settings``), or of a few
    reads (``settings`` None: the rates given)."""
    extra: dict[str, Any] = {"prior_sends": prior_sends}
    if settings is not None:
        rpm, read_rpm, concurrency = settings.rpm, settings.read_rpm, settings.concurrency
        if settings.sleep is not None:
            extra["sleep"] = settings.sleep
        if settings.clock is not None:
            extra["clock"] = settings.clock
        extra.update(settings.client_options)
    return ArgilClient(
        api_key,
        base_url,
        rpm=rpm if rpm is not None else as_rpm(API_DEFAULTS.rpm),
        read_rpm=read_rpm,
        concurrency=concurrency or API_DEFAULTS.concurrency,
        # The settings' client options last: a test or an embedding may set any of these.
        **extra,
    )


def run_in_loop(work: Callable[[], Any]) -> Any:
    """``work()`` where no event loop runs: a notebook already runs one in this thread, where
    asyncio.run cannot start, so the work goes in a thread of its own there."""
    import concurrent.futures

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()
