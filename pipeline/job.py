"""A run wired from files: sheet and config in, journal and lock held, output sheet out.

This is what ``argil-batch run`` calls; it owns the order of things that keeps the user's
promises: everything that can be refused (sheet, config, state file, output folder, API key)
is checked before the first request, and the output sheet is rewritten every few seconds and
always at the end, whatever stopped the run.

Exceptions (each carries one line for the user; the command line maps them to exit codes):
    JobError                    the run cannot start: usage, input, config, state (exit 2)
    ├── OverBudget              the run's estimate is over --max-credits (exit 2)
    └── NotConfirmed            the user did not confirm the cost (exit 2)
    LockedError (journal)       another run holds the state file's lock (exit 4)
    OutputError                 the output sheet could not be written (the journal is intact)
    ApiRefusedError             ``validate --preflight``: the API refused or could not answer

A write that fails once the run is under way (the journal's or the output's: a full disk, a
file turned read-only) is not raised: sending stops at once, the output is written if it can
be, and the outcome carries the error (exit 3, as any run that stopped before its end).
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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pipeline import journal as j
from pipeline.argil.client import (
    DEFAULT_BASE_URL,
    ArgilClient,
    ArgilError,
    InsecureURLError,
    check_base_url,
)
from pipeline.config import Config, ConfigError, load_config
from pipeline.cost import Forecast, forecast, over_budget_message
from pipeline.dryrun import PlannedRow, planned_rows
from pipeline.mapping import FieldError, RowPlan
from pipeline.progress import Progress
from pipeline.runner import (
    NOT_RUN,
    RowResult,
    Runner,
    RunOptions,
    RunSummary,
    Sleep,
)
from pipeline.sheets import (
    OutputFile,
    Sheet,
    SheetError,
    check_output_fits,
    default_output_path,
    output_notes,
    read_sheet,
)
from pipeline.validation import ValidationReport, validate_rows, with_refusals

SANDBOX_TARGET = "sandbox"
SANDBOX_KEY = "sandbox-key"
SANDBOX_RPM = 6000.0


class JobError(Exception):
    """The run cannot start; nothing was sent."""


class OverBudget(JobError):
    """The estimate of what the run would send is over the budget; nothing was sent."""


class NotConfirmed(JobError):
    """The cost was shown and not confirmed; nothing was sent."""


class OutputError(Exception):
    """The output sheet could not be written; the journal still holds every row's state."""


class ApiRefusedError(Exception):
    """The API refused a check (bad key) or could not be reached; nothing was created."""


@dataclass
class JobSpec:
    sheet: Path | Sheet
    """The input file, or a sheet already read (the Python API's DataFrame), which then
    needs ``output`` and ``state``."""
    config: Path | Config
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
    max_credits: float | None = None  # default: the config's api.max_credits
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
    forecast: Forecast | None = None  # what the run was about to send, as estimated first
    output_format: str = ""
    """How the output was written ("CSV, cp1252, semicolon-separated"), for the last lines."""
    columns: dict[int, dict[str, str]] = field(default_factory=dict, repr=False)
    """The result columns last written, by row number (the Python API's DataFrame)."""
    # A write that failed mid-run (journal or output), with what to do: one line.
    error: str | None = None
    # --dry-run: what would be sent, row by row.
    planned: list[PlannedRow] = field(default_factory=list)
    # Rows the pre-flight refused: ``row N: field: why`` lines by row, as validate prints them.
    refused: dict[int, list[str]] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 3 if self.error else self.summary.exit_code


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


def prepare(spec: JobSpec) -> Prepared:
    try:
        config = spec.config if isinstance(spec.config, Config) else load_config(spec.config)
        if isinstance(spec.sheet, Sheet):
            sheet = spec.sheet
        else:
            sheet = read_sheet(
                spec.sheet, sheet=spec.sheet_name or config.input.sheet, encoding=spec.encoding
            )
        report = validate_rows(sheet, config)
        default = sandbox_output_path if spec.sandbox else default_output_path
        output = spec.output or default(sheet.path)
        # Refused now, not at the final write after every video was made.
        check_output_fits(sheet, output)
        sheet.notes.extend(output_notes(sheet, output))
    except (ConfigError, SheetError) as exc:
        raise JobError(str(exc)) from exc
    if output.resolve() == sheet.path.resolve():
        raise JobError(f"-o {output} is the input sheet; the input is never modified")
    if spec.sandbox and state_path_for(output, False).exists():
        raise JobError(
            f"-o {output} is the output of a real run; a sandbox run writes its own: "
            "drop -o, or choose another file"
        )
    selected = report.plans
    if spec.rows:
        wanted = parse_rows(spec.rows)
        selected = [p for p in report.plans if wanted(p.row)]
        if report.plans and not selected:
            first, last = report.plans[0].row, report.plans[-1].row
            raise JobError(
                f"--rows {spec.rows} selects no data row: {spec.sheet}'s data rows are "
                f"{first} to {last} (row 1 is the header)"
            )
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
    return api_access(spec.base_url, spec.api_key)


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
def _sandbox(state: Path) -> Iterator[str]:
    from pipeline.argil.emulator import EmulatorServer, EmulatorSettings

    # The sandbox API keeps its videos beside the journal, so a re-run sees what the first
    # run made, as it would against the real API.
    store = state.with_name(state.name + ".api.json")
    server = EmulatorServer(EmulatorSettings(state_file=store, render_seconds=3.0))
    with server:
        yield server.base_url


def preflight_report(
    report: ValidationReport,
    config: Config,
    *,
    sandbox: bool = False,
    base_url: str | None = None,
    api_key: str | None = None,
) -> ValidationReport:
    """``validate --preflight``: the run's pre-flight (avatars, voices, gestures, styles) on
    every valid row, and the report with the refused rows made invalid. Creates nothing."""
    from pipeline.preflight import refusals

    async def check(url: str, key: str) -> dict[int, list[FieldError]]:
        client = ArgilClient(
            key,
            url,
            rpm="auto" if config.api.rpm == "auto" else float(config.api.rpm),
            read_rpm=config.api.read_rpm,
            concurrency=config.api.concurrency,
        )
        async with client:
            return await refusals(client, report.plans)

    try:
        if sandbox:
            from pipeline.argil.emulator import EmulatorServer

            with EmulatorServer() as server:
                refused = asyncio.run(check(server.base_url, SANDBOX_KEY))
        else:
            spec = JobSpec(sheet=Path(), config=Path(), base_url=base_url, api_key=api_key)
            url, key = resolve_api(spec)
            refused = asyncio.run(check(url, key))
    except ArgilError as exc:
        raise ApiRefusedError(f"pre-flight: {exc.message}") from None
    return with_refusals(report, refused)


def run_job(
    spec: JobSpec,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    prepared: Prepared | None = None,
    before_send: Callable[[Forecast], bool] | None = None,
) -> JobOutcome:
    """Run the batch described by ``spec`` to its end (or to a clean stop).

    ``before_send`` is shown what the run would send before anything is sent (a dry run
    included) and may refuse it: nothing is sent then (NotConfirmed). A run whose estimate is
    over the budget raises OverBudget first. Both come after the batch was listed on the API
    (when the journal does not know every row), so that they count only the rows the run will
    really send, not the videos it finds and adopts; a dry run plans from the journal alone.
    """
    job = prepared or prepare(spec)
    limit, source = spec.max_credits, "--max-credits"
    if limit is None:
        limit, source = job.config.api.max_credits, "api.max_credits"
    if limit is not None:
        spec = replace(spec, options=replace(spec.options, max_credits=limit, budget_source=source))
    options = spec.options
    api_key, base_url = "", ""
    if not spec.sandbox and not options.dry_run:
        base_url, api_key = resolve_api(spec)
    if options.dry_run:
        records = _read_records(job.state)
        planner = Runner(job.selected, None, None, options, records=records)
        estimate = _check_cost(spec, job, planner.outgoing(), before_send)
        runner = Runner(job.selected, None, None, options, records=records)
        summary = asyncio.run(runner.run())
        planned = planned_rows(job.selected, runner.results)
        return JobOutcome(summary, None, job.state, forecast=estimate, planned=planned)

    _check_writable(job.output.parent, "output sheet")
    _check_writable(job.state.parent, "state file")
    target = SANDBOX_TARGET if spec.sandbox else base_url
    with _lock_for(job.state, options.refresh_only):
        journal = _open_journal(job.state, target)
        try:
            # Read once, for the plan and the run: a re-run of a big batch reads it once.
            records = journal.all()
            found: list[Forecast] = []

            def check(plans: list[RowPlan]) -> None:
                # On the event loop, with nothing out: the question may block it. Ctrl-C
                # there ends the question (not confirmed), as it did before the run began.
                with _plain_interrupts():
                    found.append(_check_cost(spec, job, plans, before_send))
                journal.set_meta(_run_meta(spec, job))

            hook = None if options.refresh_only else check
            with contextlib.ExitStack() as stack:
                if spec.sandbox:
                    base_url, api_key = stack.enter_context(_sandbox(job.state)), SANDBOX_KEY
                outcome = asyncio.run(
                    _run(spec, job, journal, base_url, api_key, on_progress, records, hook)
                )
            outcome.forecast = found[0] if found else None
            return outcome
        finally:
            journal.close()


@contextlib.contextmanager
def _lock_for(state: Path, refresh_only: bool) -> Iterator[None]:
    """The run lock; refused for ``status`` with what helps there (it has no other state
    file to turn to: the run holding the lock is the one it would refresh)."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(j.run_lock(state))
        except j.LockedError as exc:
            if not refresh_only:
                raise
            raise j.LockedError(
                f"a run holds the lock on {state} ({exc.holder}); wait for it to finish, "
                "then run status again",
                exc.holder,
            ) from None
        yield


def _check_cost(
    spec: JobSpec,
    job: Prepared,
    plans: list[RowPlan],
    before_send: Callable[[Forecast], bool] | None,
) -> Forecast:
    """The estimate of the rows this run would send, against the budget and the user."""
    bodies = [plan.body for plan in plans if plan.body is not None]
    # A sandbox try runs faster than the real API allows; the time it reports is the real
    # run's, at the rate configured for it.
    real_rate = not (spec.sandbox and spec.rpm is None)
    configured = spec.rpm or job.config.api.rpm
    found = forecast(
        bodies,
        rpm=None if configured == "auto" else float(configured),
        render=spec.options.render,
        real_rate=real_rate,
        max_credits=spec.options.max_credits,
        budget_source=spec.options.budget_source,
    )
    if found.max_credits is not None and found.estimate.credits > found.max_credits:
        raise OverBudget(over_budget_message(found))
    if before_send is not None and not before_send(found):
        raise NotConfirmed("not confirmed; nothing was sent (--yes skips the question)")
    return found


def _run_meta(spec: JobSpec, job: Prepared) -> dict[str, str]:
    meta = {"input": str(job.sheet.path.resolve()), "output": str(job.output.resolve())}
    if not isinstance(spec.config, Config):
        meta["config"] = str(spec.config.resolve())
    if spec.sheet_name:
        meta["sheet_name"] = spec.sheet_name
    if spec.encoding:
        meta["encoding"] = spec.encoding
    return meta


def _is_sheet(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".tsv", ".xlsx", ".xlsm", ".ods")


def locate_state(target: Path, sandbox: bool = False) -> Path:
    """``status`` takes an output sheet or a state file; find the state file. ``sandbox``:
    only a sandbox run's, beside the sheet or beside its sandbox twin (leads.argil.csv ->
    leads.sandbox.argil.csv)."""
    if not target.exists():
        raise JobError(f"{target} does not exist; pass the output sheet or the state file of a run")
    if not _is_sheet(target):
        return target
    candidates = [state_path_for(target, True)]
    if sandbox and ".argil." in target.name and ".sandbox.argil." not in target.name:
        candidates.append(state_path_for(_sandbox_twin(target), True))
    if not sandbox:
        candidates.insert(0, state_path_for(target, False))
    found = [path for path in candidates if path.exists()]
    if not found:
        which = "no sandbox state file" if sandbox else "no state file"
        raise JobError(f"{which} beside {target}; pass the state file of its run with --state")
    return max(found, key=lambda p: p.stat().st_mtime)


def _sandbox_twin(output: Path) -> Path:
    return output.with_name(output.name.replace(".argil.", ".sandbox.argil.", 1))


def status_spec(
    target: Path,
    *,
    wait: bool,
    wait_timeout: float,
    base_url: str | None = None,
    state: Path | None = None,
    sandbox: bool = False,
    read_rpm: float | None = None,
) -> JobSpec:
    """A run that creates nothing: it refreshes the statuses of the videos a run made and
    rewrites its output sheet, from the input and config that run recorded.

    ``state``: the run's state file, wherever it is (then ``target`` may name the output
    sheet to rewrite). ``sandbox``: the sandbox run's, refused for a real run's state."""
    if state is not None and not state.exists():
        raise JobError(f"--state {state} does not exist; pass the state file of a run")
    # With --state, a sheet named beside it is the output to rewrite (moved since the run).
    output_named = state is not None and target != state and _is_sheet(target)
    state = state or locate_state(target, sandbox)
    journal = _open_journal(state, None)
    try:
        meta = journal.meta()
    finally:
        journal.close()
    if "input" not in meta or "target" not in meta:
        raise JobError(f"{state} holds no finished run yet; run `argil-batch run` first")
    if "config" not in meta:
        raise JobError(
            f"{state} was made from Python with a config given as an object; refresh it with "
            "pipeline.run(..., state=...) and the same config"
        )
    for what, recorded in (("sheet", meta["input"]), ("config", meta["config"])):
        if not Path(recorded).exists():
            # status rebuilds the output from the very files the run used: say which.
            raise JobError(
                f"the run recorded in {state} used the {what} {recorded}, which is not there "
                f"any more; put it back there, then run status again"
            )
    recorded_sandbox = meta["target"] == SANDBOX_TARGET
    if sandbox and not recorded_sandbox:
        raise JobError(f"{state} is the state of a real run, not a sandbox one; drop --sandbox")
    sandbox = recorded_sandbox
    output = Path(meta["output"])
    if output_named:
        output = target
    return JobSpec(
        sheet=Path(meta["input"]),
        config=Path(meta["config"]),
        output=output,
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
    records: dict[str, j.Record],
    before_send: Callable[[list[RowPlan]], None] | None = None,
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
    writer = _OutputWriter(job, journal)
    runner = Runner(
        job.selected,
        journal,
        client,
        spec.options,
        records=records,
        on_progress=on_progress,
        batch_tag=job.report.batch_tag or None,
        sheet_keys=[plan.key for plan in job.report.plans],
        before_send=before_send,
        **timing,
    )
    work = asyncio.ensure_future(runner.run())
    interrupted = _install_signal_handlers(runner, work)
    flusher = asyncio.create_task(writer.every(spec.flush_interval, runner))
    # Progress also between events: a wait for renders or a long pause still shows it.
    ticker = asyncio.create_task(_tick(runner, on_progress)) if on_progress else None
    try:
        async with client:
            summary = await _settled(work, runner)
        outcome = JobOutcome(summary, job.output, job.state, interrupted=bool(interrupted))
        outcome.refused = {
            row: [f"row {row}: {error}" for error in errors]
            for row, errors in sorted(runner.refused.items())
        }
        seq, columns = writer.snapshot(runner)
        try:
            await asyncio.to_thread(writer.write, seq, columns)
        except OutputError as exc:
            outcome.output = None
            writer.error = writer.error or str(exc)
        outcome.columns = columns
        outcome.notes.extend(writer.notes)
        outcome.output_format = writer.describe()
        outcome.error = runner.storage_error or writer.error
    finally:
        for task in (flusher, ticker):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        _remove_signal_handlers()
    return outcome


PROGRESS_TICK = 1.0


async def _tick(runner: Runner, on_progress: Callable[[Progress], None]) -> None:
    while True:
        await asyncio.sleep(PROGRESS_TICK)
        on_progress(runner.progress())


# After a first Ctrl-C, requests already out get this long to finish before they are
# abandoned: a create waiting out a long Retry-After must not hold the user's terminal.
INTERRUPT_GRACE = 3.0


async def _settled(work: asyncio.Future[RunSummary], runner: Runner) -> RunSummary:
    """The runner's summary, or, when an interrupt cancelled it mid-request, the summary of
    what it had settled (rows it held are then in flight in the journal, as after a crash)."""
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            work.cancel()
            raise
        return runner.abandon()


def _install_signal_handlers(runner: Runner, work: asyncio.Future[RunSummary]) -> list[int]:
    """First Ctrl-C (or SIGTERM from a scheduler): send nothing new, cut every wait short,
    give requests in flight a few seconds and write the output. A second one abandons the
    requests at once; in-flight rows are then resolved by the next run's lookup, so nothing is
    lost either way. Only the runner is cancelled, never the run itself: the output is always
    written, and no cancellation reaches the user as a traceback."""
    received: list[int] = []
    loop = asyncio.get_running_loop()

    def handle(signum: int) -> None:
        received.append(signum)
        if len(received) == 1:
            runner.stop("interrupted")
            loop.call_later(INTERRUPT_GRACE, work.cancel)
        else:
            work.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, handle, signum)
    return received


@contextlib.contextmanager
def _plain_interrupts() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt again (a question waiting for its answer ends), while
    the run's own handler is set aside."""
    try:
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread: no handler of ours is set either
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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
        # A refresh that failed mid-run: the run stopped on it.
        self.error: str | None = None
        selected = {p.row for p in job.selected}
        others = [p for p in job.report.plans if p.row not in selected]
        records = journal.all() if others else {}
        self._others = {p.row: _unselected_result(p, records.get(p.key)) for p in others}
        try:
            # A workbook to hand back is loaded now: one that cannot be is refused before
            # anything is sent, not at the last write.
            self._file = OutputFile(job.sheet, job.output)
            self._file.load()
        except SheetError as exc:
            raise JobError(str(exc)) from None
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
                self._file.write(columns)
            except SheetError as exc:
                raise OutputError(
                    f"{exc}; every row's state is kept in {self.job.state}: free space (or "
                    "choose a writable -o) and run again: it resumes where this run stopped"
                ) from None
            self._written = seq
            self.last_seconds = time.monotonic() - started

    @property
    def notes(self) -> list[str]:
        return self._file.notes

    def describe(self) -> str:
        return self._file.describe()

    async def every(self, seconds: float, runner: Runner) -> None:
        written_changes = runner.changes
        while True:
            # Rewriting a 100,000-row sheet takes seconds: spend at most a tenth of the run on
            # it, and none when no row changed since the last write.
            await asyncio.sleep(max(seconds, 9 * self.last_seconds))
            if runner.changes == written_changes:
                continue
            written_changes = runner.changes
            try:
                await asyncio.to_thread(self.write, *self.snapshot(runner))
            except OutputError as exc:
                # A disk that cannot take the output will not take the journal's next rows
                # either: stop sending now rather than after every row was made unseen.
                self.error = str(exc)
                runner.stop("the output sheet could not be written")
                return


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
