"""A run wired from files: sheet and config in, journal and lock held, output sheet out.

This is what ``argil-batch run`` calls; it owns the order of things that keeps the user's
promises: everything that can be refused (sheet, config, state file, output folder, API key)
is checked before the first request, the cost is estimated and checked (the budget, the
user's answer) on the rows the run will really send, and the output sheet is rewritten every
few seconds and always at the end, whatever stopped the run. The exceptions are
:mod:`pipeline.job_spec`'s.

A write that fails once the run is under way (the journal's or the output's: a full disk, a
file turned read-only) is not raised: sending stops at once, the output is written if it can
be, and the outcome carries the error (exit 3, as any run that stopped before its end).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pipeline import journal as j
from pipeline.argil.client import ArgilClient, ArgilError
from pipeline.argil.gate import PRIOR_SPAN
from pipeline.config import Config, ConfigError, load_config
from pipeline.cost import Forecast, forecast, over_budget_message
from pipeline.dryrun import PlannedRow, planned_rows
from pipeline.interrupts import INTERRUPT_GRACE as INTERRUPT_GRACE
from pipeline.interrupts import (
    install_signal_handlers,
    plain_interrupts,
    remove_signal_handlers,
    settled,
)
from pipeline.job_spec import SANDBOX_KEY as SANDBOX_KEY
from pipeline.job_spec import SANDBOX_RPM as SANDBOX_RPM
from pipeline.job_spec import SANDBOX_TARGET as SANDBOX_TARGET
from pipeline.job_spec import ApiRefusedError as ApiRefusedError
from pipeline.job_spec import JobError as JobError
from pipeline.job_spec import JobSpec as JobSpec
from pipeline.job_spec import NotConfirmed as NotConfirmed
from pipeline.job_spec import OutputError as OutputError
from pipeline.job_spec import OverBudget as OverBudget
from pipeline.job_spec import Prepared as Prepared
from pipeline.job_spec import RunStopped as RunStopped
from pipeline.job_spec import api_access as api_access
from pipeline.job_spec import open_journal
from pipeline.job_spec import parse_rows as parse_rows
from pipeline.job_spec import resolve_api as resolve_api
from pipeline.job_spec import sandbox_output_path as sandbox_output_path
from pipeline.job_spec import state_path_for as state_path_for
from pipeline.mapping import FieldError, RowPlan
from pipeline.output_writer import OutputWriter
from pipeline.progress import Progress
from pipeline.reconcile import OtherBatch
from pipeline.runner import Runner, RunSummary
from pipeline.sheets import (
    Sheet,
    SheetError,
    check_output_fits,
    default_output_path,
    output_notes,
    read_sheet,
)
from pipeline.sheets.output import has_result_columns
from pipeline.status import locate_state as locate_state
from pipeline.status import status_spec as status_spec
from pipeline.validation import ValidationReport, row_ranges, validate_rows, with_refusals


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


def prepare(spec: JobSpec) -> Prepared:
    try:
        config = spec.config if isinstance(spec.config, Config) else load_config(spec.config)
        if isinstance(spec.sheet, Sheet):
            sheet = spec.sheet
        else:
            sheet = read_sheet(
                spec.sheet,
                sheet=spec.sheet_name or config.input.sheet,
                encoding=spec.encoding,
                header_row=config.input.header_row,
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
    state = spec.state or state_path_for(output, spec.sandbox)
    _check_output_ours(output, state, sandbox=spec.sandbox, overwrite=spec.overwrite)
    selected = report.plans
    if spec.rows:
        wanted = parse_rows(spec.rows)
        selected = [p for p in report.plans if wanted(p.row)]
        if report.plans and not selected:
            first, last = report.plans[0].row, report.plans[-1].row
            raise JobError(
                f"--rows {spec.rows} selects no data row: {spec.sheet}'s data rows are "
                f"{first} to {last} (row {sheet.header_row} is the header)"
            )
    return Prepared(sheet, config, report, selected, output, state)


def _check_output_ours(output: Path, state: Path, *, sandbox: bool, overwrite: bool) -> None:
    """JobError unless ``output`` may be written: ``overwrite`` says to replace whatever is
    there, or no file has that name (or an empty one), or the file is an output of
    argil-batch (the run's state file records writing it, or, that record lost, its header
    has the result columns). A sandbox run never writes a real run's output: one with its
    state beside it, or one only its header proves ours (its state may be anywhere) unless
    named as a sandbox's."""
    refused_for_sandbox = JobError(
        f"-o {output} exists and is not a sandbox run's output (a real run's, perhaps, "
        "whose state is elsewhere); a sandbox run writes only its own: drop -o, or choose "
        "another file"
    )
    if sandbox and state_path_for(output, False).exists():
        raise refused_for_sandbox
    if output.is_dir():
        raise JobError(f"{output} is a folder; give a file name for the output")
    if overwrite:
        return
    if not output.exists() or output.stat().st_size == 0:
        return  # nothing there to lose
    if j.recorded_output(state) == str(output.resolve()):
        return
    if has_result_columns(output):
        # Without its journal's record, only a sandbox's name or state proves it a sandbox's.
        sandbox_own = ".sandbox.argil" in output.name or state_path_for(output, True).exists()
        if sandbox and not sandbox_own:
            raise refused_for_sandbox
        return
    raise JobError(
        f"{output} exists and is not an output of argil-batch; choose another -o, "
        "or pass --overwrite to replace it"
    )


def _check_writable(folder: Path, what: str) -> None:
    """The folder exists (made if need be, as `-o out/leads.argil.xlsx` in a cron line asks)
    and takes a file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".argil-check-"):
            pass
    except OSError as exc:
        raise JobError(
            f"cannot write the {what} in {folder} ({exc.strerror or exc}); "
            "choose a writable place with -o or --state"
        ) from None


def _sandbox_store(state: Path) -> Path:
    # The sandbox API keeps its videos beside the journal, so a re-run sees what the first
    # run made, as it would against the real API.
    return state.with_name(state.name + ".api.json")


@contextlib.contextmanager
def _sandbox(state: Path) -> Iterator[str]:
    from pipeline.argil.emulator import EmulatorServer, EmulatorSettings

    server = EmulatorServer(EmulatorSettings(state_file=_sandbox_store(state), render_seconds=3.0))
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

    target = SANDBOX_TARGET if spec.sandbox else base_url
    with _run_files(job, spec.sandbox, options.refresh_only):
        journal = open_journal(job.state, target)
        try:
            # Read once, for the plan and the run: a re-run of a big batch reads it once.
            records = journal.all()
            found: list[Forecast] = []

            def check(plans: list[RowPlan]) -> None:
                # On the event loop, with nothing out: the question may block it. Ctrl-C
                # there ends the question (not confirmed), as it did before the run began.
                with plain_interrupts():
                    found.append(_check_cost(spec, job, plans, before_send))
                journal.set_meta(_run_meta(spec, job))

            hook = None if options.refresh_only else check
            with contextlib.ExitStack() as stack:
                if spec.sandbox:
                    base_url, api_key = stack.enter_context(_sandbox(job.state)), SANDBOX_KEY
                try:
                    outcome = asyncio.run(
                        _run(spec, job, journal, base_url, api_key, on_progress, records, hook)
                    )
                except OtherBatch as exc:
                    raise JobError(str(exc)) from None
            outcome.forecast = found[0] if found else None
            if spec.sandbox and outcome.summary.rows:
                outcome.notes.append(
                    "the sandbox's preview links point to the emulator of this run, which "
                    "stopped with it: they are placeholders, not videos"
                )
            return outcome
        finally:
            journal.close()


@contextlib.contextmanager
def _run_files(job: Prepared, sandbox: bool, refresh_only: bool) -> Iterator[None]:
    """The folders of the output and the state made, and the run's locks held: its state
    file's and its output sheet's. A run refused before it sends anything (a lock held, a
    state file of another API, over budget, not confirmed) leaves the folders as it found
    them: no empty state file or lock file to wonder about."""
    made = _absent_files(job, sandbox)
    with contextlib.ExitStack() as stack:
        try:
            _check_writable(job.output.parent, "output sheet")
            _check_writable(job.state.parent, "state file")
            stack.enter_context(_lock_for(job, refresh_only))
            yield
        except (JobError, j.LockedError):
            # Under the locks still: once they are let go, these files may be another run's.
            _remove(made)
            raise


def _absent_files(job: Prepared, sandbox: bool) -> list[Path]:
    """The files and folders a run may make before it sends, that do not exist yet."""
    state = j.real_path(job.state)
    # Not the output: the run may have written rows it found on the API into it, and anything
    # at that path now could be someone else's.
    files = [j.lock_path(job.state), j.output_lock_path(job.output)]
    if not state.exists():
        # Its log too, which SQLite leaves only while another connection has the file open:
        # an older journal's log is never touched, it may hold commits not yet in the file.
        files += [state, *(state.with_name(state.name + end) for end in ("-wal", "-shm"))]
    if sandbox:
        files.append(j.real_path(_sandbox_store(job.state)))
    folders = [j.real_path(job.output.parent), j.real_path(job.state.parent)]
    for folder in list(folders):
        folders += folder.parents
    absent = [path for path in dict.fromkeys(files + folders) if not path.exists()]
    # Deepest first, files before their folders.
    return sorted(absent, key=lambda path: (path in folders, -len(path.parts)))


def _remove(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()  # only if empty: nothing of anyone else's goes
            else:
                path.unlink()


@contextlib.contextmanager
def _lock_for(job: Prepared, refresh_only: bool) -> Iterator[None]:
    """The run's locks; refused for ``status`` with what helps there (it has no other state
    file or output to turn to: the run holding the lock is the one it would refresh)."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(j.run_lock(job.state))
        except j.LockedError as exc:
            if not refresh_only:
                raise
            raise j.LockedError(
                f"a run holds the lock on {job.state} ({exc.holder}); wait for it to finish, "
                "then run status again",
                exc.holder,
            ) from None
        try:
            stack.enter_context(j.output_lock(job.output))
        except j.LockedError as exc:
            if not refresh_only:
                raise
            raise j.LockedError(
                f"a run writes {job.output} ({exc.holder}); wait for it to finish, "
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


def _read_records(state: Path) -> dict[str, j.Record]:
    if not state.exists():
        return {}
    journal = open_journal(state, None)
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
        # The last run's writes still count in the API's window: a re-run right after a stop
        # paces around them instead of meeting a 429 that would slow it for minutes.
        **{
            "prior_sends": j.recent_sends(records.values(), PRIOR_SPAN),
            **timing,
            **spec.client_options,
        },
    )
    writer = OutputWriter(job, journal)
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
    interrupted = install_signal_handlers(runner, work)
    flusher = asyncio.create_task(writer.every(spec.flush_interval, runner))
    # Progress also between events: a wait for renders or a long pause still shows it.
    ticker = asyncio.create_task(_tick(runner, on_progress)) if on_progress else None
    try:
        async with client:
            summary = await settled(work, runner)
        outcome = JobOutcome(summary, job.output, job.state, interrupted=bool(interrupted))
        outcome.refused = refusal_lines(runner.refused)
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
        remove_signal_handlers()
    return outcome


def refusal_lines(refused: dict[int, list[FieldError]]) -> dict[int, list[str]]:
    """The pre-flight's refusals, each said once with the rows it hits: an avatar mistyped
    in the config is one line for 29 rows, not 29 (or one per moment)."""
    rows_of: dict[str, list[int]] = {}
    for row, errors in sorted(refused.items()):
        for error in errors:
            rows_of.setdefault(str(error), []).append(row)
    lines: dict[int, list[str]] = {}
    for message, rows in rows_of.items():
        where = f"row {rows[0]}" if len(rows) == 1 else f"rows {row_ranges(rows)}"
        lines.setdefault(rows[0], []).append(f"{where}: {message}")
    return dict(sorted(lines.items()))


PROGRESS_TICK = 1.0


async def _tick(runner: Runner, on_progress: Callable[[Progress], None]) -> None:
    while True:
        await asyncio.sleep(PROGRESS_TICK)
        on_progress(runner.progress())
