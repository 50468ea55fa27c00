"""A run wired from files: sheet and config in, journal and lock held, output sheet out.

This is what ``argil-batch run`` calls; it owns the order of things that keeps the user's
promises: everything that can be refused (sheet, config, state file, output folder, API key)
is checked before the first request, and the output sheet is rewritten every few seconds and
always at the end, whatever stopped the run.

Exceptions (each carries one line for the user; the command line maps them to exit codes):
    JobError                    the run cannot start: usage, input, config, state (exit 2)
    LockedError (journal)       another run holds the state file's lock (exit 4)
    OutputError                 the output sheet could not be written (the journal is intact)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline import journal as j
from pipeline.argil.client import DEFAULT_BASE_URL, ArgilClient, InsecureURLError, check_base_url
from pipeline.config import Config, ConfigError, load_config
from pipeline.mapping import RowPlan
from pipeline.runner import (
    NOT_RUN,
    Progress,
    RowResult,
    Runner,
    RunOptions,
    RunSummary,
    Sleep,
)
from pipeline.sheets import (
    Sheet,
    SheetError,
    check_output_fits,
    default_output_path,
    read_sheet,
    write_output,
)
from pipeline.validation import ValidationReport, validate_rows

SANDBOX_TARGET = "sandbox"
SANDBOX_KEY = "sandbox-key"
SANDBOX_RPM = 6000.0


class JobError(Exception):
    """The run cannot start; nothing was sent."""


class OutputError(Exception):
    """The output sheet could not be written; the journal still holds every row's state."""


@dataclass
class JobSpec:
    sheet: Path
    config: Path
    output: Path | None = None
    sheet_name: str | None = None
    encoding: str | None = None
    state: Path | None = None
    sandbox: bool = False
    base_url: str | None = None
    # Kept out of repr: a spec printed in a log or a traceback must not show the key.
    api_key: str | None = field(default=None, repr=False)
    rpm: float | Literal["auto"] | None = None
    read_rpm: float | None = None
    concurrency: int | None = None
    rows: str | None = None
    flush_interval: float = 5.0
    options: RunOptions = field(default_factory=RunOptions)
    # For tests and embedding: the waits and the clock of the runner and the client (so no
    # test sleeps through a backoff), and any other ArgilClient keyword (timeouts, attempts).
    sleep: Sleep | None = None
    clock: Callable[[], float] | None = None
    client_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    sheet: Sheet
    config: Config
    report: ValidationReport
    selected: list[RowPlan]
    output: Path
    state: Path


@dataclass
class JobOutcome:
    summary: RunSummary
    output: Path | None
    state: Path
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else self.summary.exit_code


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


def state_path_for(output: Path, sandbox: bool) -> Path:
    # The sandbox keeps its own journal: its video ids mean nothing to the real API.
    return output.with_name(output.name + (".sandbox-state" if sandbox else ".state"))


def prepare(spec: JobSpec) -> Prepared:
    try:
        config = load_config(spec.config)
        sheet = read_sheet(
            spec.sheet, sheet=spec.sheet_name or config.input.sheet, encoding=spec.encoding
        )
        report = validate_rows(sheet, config)
        output = spec.output or default_output_path(spec.sheet)
        # Refused now, not at the final write after every video was made.
        check_output_fits(sheet, output)
    except (ConfigError, SheetError) as exc:
        raise JobError(str(exc)) from exc
    if output.resolve() == spec.sheet.resolve():
        raise JobError(f"-o {output} is the input sheet; the input is never modified")
    selected = report.plans
    if spec.rows:
        wanted = parse_rows(spec.rows)
        selected = [p for p in report.plans if wanted(p.row)]
    state = spec.state or state_path_for(output, spec.sandbox)
    return Prepared(sheet, config, report, selected, output, state)


def _check_writable(folder: Path, what: str) -> None:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".argil-check-"):
            pass
    except OSError as exc:
        raise JobError(
            f"cannot write the {what} in {folder} ({exc.strerror or exc}); "
            "choose a writable place with -o or --state"
        ) from None


def resolve_api(spec: JobSpec) -> tuple[str, str]:
    """(base_url, api_key) for a real run, refused before anything is sent."""
    key = spec.api_key if spec.api_key is not None else os.environ.get("ARGIL_API_KEY", "")
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
    url = spec.base_url or os.environ.get("ARGIL_BASE_URL") or DEFAULT_BASE_URL
    try:
        return check_base_url(url), key
    except InsecureURLError as exc:
        raise JobError(str(exc)) from None


@contextlib.contextmanager
def _sandbox(state: Path) -> Iterator[str]:
    from pipeline.argil.emulator import EmulatorServer, EmulatorSettings

    # The sandbox API keeps its videos beside the journal, so a re-run sees what the first
    # run made, as it would against the real API.
    store = state.with_name(state.name + ".api.json")
    server = EmulatorServer(EmulatorSettings(state_file=store, render_seconds=3.0))
    with server:
        yield server.base_url


def run_job(
    spec: JobSpec,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    prepared: Prepared | None = None,
) -> JobOutcome:
    """Run the batch described by ``spec`` to its end (or to a clean stop)."""
    job = prepared or prepare(spec)
    options = spec.options
    api_key, base_url = "", ""
    if not spec.sandbox and not options.dry_run:
        base_url, api_key = resolve_api(spec)
    if options.dry_run:
        records = _read_records(job.state)
        runner = Runner(job.selected, None, None, options, records=records)
        summary = asyncio.run(runner.run())
        return JobOutcome(summary, None, job.state)

    _check_writable(job.output.parent, "output sheet")
    _check_writable(job.state.parent, "state file")
    target = SANDBOX_TARGET if spec.sandbox else base_url
    with j.run_lock(job.state):
        journal = _open_journal(job.state, target)
        try:
            if not options.refresh_only:
                journal.set_meta(_run_meta(spec, job))
            with contextlib.ExitStack() as stack:
                if spec.sandbox:
                    base_url, api_key = stack.enter_context(_sandbox(job.state)), SANDBOX_KEY
                return asyncio.run(_run(spec, job, journal, base_url, api_key, on_progress))
        finally:
            journal.close()


def _run_meta(spec: JobSpec, job: Prepared) -> dict[str, str]:
    meta = {
        "input": str(spec.sheet.resolve()),
        "config": str(spec.config.resolve()),
        "output": str(job.output.resolve()),
    }
    if spec.sheet_name:
        meta["sheet_name"] = spec.sheet_name
    if spec.encoding:
        meta["encoding"] = spec.encoding
    return meta


def locate_state(target: Path) -> Path:
    """``status`` takes an output sheet or a state file; find the state file."""
    if not target.exists():
        raise JobError(f"{target} does not exist; pass the output sheet or the state file of a run")
    if target.suffix.lower() in (".csv", ".xlsx", ".xlsm", ".ods"):
        found = [
            state_path_for(target, sandbox)
            for sandbox in (False, True)
            if state_path_for(target, sandbox).exists()
        ]
        if not found:
            raise JobError(
                f"no state file beside {target}; pass the state file of its run (--state)"
            )
        return max(found, key=lambda p: p.stat().st_mtime)
    return target


def status_spec(
    target: Path,
    *,
    wait: bool,
    wait_timeout: float,
    base_url: str | None = None,
    read_rpm: float | None = None,
) -> JobSpec:
    """A run that creates nothing: it refreshes the statuses of the videos a run made and
    rewrites its output sheet, from the input and config that run recorded."""
    state = locate_state(target)
    journal = _open_journal(state, None)
    try:
        meta = journal.meta()
    finally:
        journal.close()
    if "input" not in meta or "target" not in meta:
        raise JobError(f"{state} holds no finished run yet; run `argil-batch run` first")
    sandbox = meta["target"] == SANDBOX_TARGET
    return JobSpec(
        sheet=Path(meta["input"]),
        config=Path(meta["config"]),
        output=Path(meta["output"]),
        state=state,
        sheet_name=meta.get("sheet_name"),
        encoding=meta.get("encoding"),
        sandbox=sandbox,
        base_url=base_url or (None if sandbox else meta["target"]),
        read_rpm=read_rpm,
        options=RunOptions(refresh_only=True, wait=wait, wait_timeout=wait_timeout),
    )


def _open_journal(state: Path, target: str | None) -> j.Journal:
    try:
        return j.Journal(state, target=target)
    except j.JournalError as exc:
        raise JobError(str(exc)) from None


def _read_records(state: Path) -> dict[str, j.Record]:
    if not state.exists():
        return {}
    journal = _open_journal(state, None)
    try:
        return journal.all()
    finally:
        journal.close()


async def _run(
    spec: JobSpec,
    job: Prepared,
    journal: j.Journal,
    base_url: str,
    api_key: str,
    on_progress: Callable[[Progress], None] | None,
) -> JobOutcome:
    api = job.config.api
    # The sandbox has no rate limit: unless --rpm says otherwise, a tryout should not wait
    # out the real API's pace.
    configured = spec.rpm or (SANDBOX_RPM if spec.sandbox else api.rpm)
    rpm: float | Literal["auto"] = "auto" if configured == "auto" else float(configured)
    read_rpm = spec.read_rpm or (SANDBOX_RPM if spec.sandbox else api.read_rpm)
    timing: dict[str, Any] = {}
    if spec.sleep is not None:
        timing["sleep"] = spec.sleep
    if spec.clock is not None:
        timing["clock"] = spec.clock
    client = ArgilClient(
        api_key,
        base_url,
        rpm=rpm,
        read_rpm=read_rpm,
        concurrency=spec.concurrency or api.concurrency,
        **{**timing, **spec.client_options},
    )
    runner = Runner(job.selected, journal, client, spec.options, on_progress=on_progress, **timing)
    interrupted = _install_signal_handlers(runner)
    writer = _OutputWriter(job, journal)
    flusher = asyncio.create_task(writer.every(spec.flush_interval, runner))
    try:
        async with client:
            summary = await runner.run()
    finally:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        _remove_signal_handlers()
    outcome = JobOutcome(summary, job.output, job.state, interrupted=bool(interrupted))
    await asyncio.to_thread(writer.write, *writer.snapshot(runner))
    return outcome


def _install_signal_handlers(runner: Runner) -> list[int]:
    """First Ctrl-C (or SIGTERM from a scheduler): send nothing new, let requests in flight
    finish and write the output. A second one ends at once; in-flight rows are then resolved
    by the next run's lookup, so nothing is lost either way."""
    received: list[int] = []
    loop = asyncio.get_running_loop()

    def handle(signum: int) -> None:
        received.append(signum)
        if len(received) == 1:
            runner.stop("interrupted")
        else:
            for task in asyncio.all_tasks(loop):
                task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, handle, signum)
    return received


def _remove_signal_handlers() -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signum)


class _OutputWriter:
    """Writes the whole output sheet: the run's rows, and every other row as the journal
    knows it (rows outside ``--rows`` included).

    Snapshots are taken on the event loop (the runner mutates results there) and written in a
    thread; a lock and a sequence number keep an older snapshot from replacing a newer one.
    """

    def __init__(self, job: Prepared, journal: j.Journal) -> None:
        self.job = job
        selected = {p.row for p in job.selected}
        others = [p for p in job.report.plans if p.row not in selected]
        records = journal.all() if others else {}
        self._others = {p.row: _unselected_result(p, records.get(p.key)) for p in others}
        self._lock = threading.Lock()
        self._written = -1
        self._seq = 0
        self.last_seconds = 0.0

    def snapshot(self, runner: Runner) -> tuple[int, dict[int, dict[str, str]]]:
        self._seq += 1
        return self._seq, {**self._others, **runner.output_columns()}

    def write(self, seq: int, columns: dict[int, dict[str, str]]) -> None:
        with self._lock:
            if seq <= self._written:
                return
            started = time.monotonic()
            try:
                write_output(self.job.sheet, columns, self.job.output)
            except SheetError as exc:
                raise OutputError(
                    f"{exc}; every row's state is kept in {self.job.state}: run again with a "
                    "writable -o to get the full sheet"
                ) from None
            self._written = seq
            self.last_seconds = time.monotonic() - started

    async def every(self, seconds: float, runner: Runner) -> None:
        written_changes = runner.changes
        while True:
            # Rewriting a 100,000-row sheet takes seconds: spend at most a tenth of the run on
            # it, and none when no row changed since the last write.
            await asyncio.sleep(max(seconds, 9 * self.last_seconds))
            if runner.changes == written_changes:
                continue
            written_changes = runner.changes
            # A failed refresh is not fatal mid-run: the final write reports it.
            with contextlib.suppress(OutputError):
                await asyncio.to_thread(self.write, *self.snapshot(runner))


def _unselected_result(plan: RowPlan, record: j.Record | None) -> dict[str, str]:
    result = RowResult(key=plan.key, status=NOT_RUN)
    if record is not None:
        result.video_id = record.video_id or ""
        result.status = record.status or record.state.upper()
        result.video_url = record.video_url or ""
        result.preview_url = record.preview_url or ""
        result.updated_at = record.updated_at
        result.duration = record.duration
    return result.columns()
