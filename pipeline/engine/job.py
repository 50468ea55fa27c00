"""A run wired from files: sheet and config in, journal and locks held, output sheet out.

It owns the order of things that keeps the user's promises: everything that can be refused
(sheet, config, state file, output path, API key) is refused before the first request; the
cost is known (and the budget checked) on the rows the run will really send, between two
calls of the library, where the caller may ask the user; and the output sheet is rewritten
every few seconds and always at the end, whatever stopped the run::

    job = prepare(resolve(spec))
    with open_run(job) as run:
        forecast = run.plan()       # the reads; OverBudget, OtherBatch
        ...                         # show the forecast, ask; raise NotConfirmed to send nothing
        outcome = run.send()

A write that fails once the run is under way (the journal's or the output's: a full disk, a
file turned read-only) is not raised: sending stops at once, the output is written if it can
be, and the outcome carries the error (exit 3, as any run that stopped before its end).
:func:`dry_run` and :func:`refresh` (``status``) are their own small paths.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from pipeline import journal as j
from pipeline.argil.client import ArgilClient
from pipeline.argil.gate import PRIOR_SPAN
from pipeline.cost import Forecast, forecast, over_budget_message
from pipeline.engine.dryrun import PlannedRow, planned_rows
from pipeline.engine.files import Prepared, open_journal, prepare, read_records, run_files, run_meta
from pipeline.engine.interrupts import install_signal_handlers, remove_signal_handlers, settled
from pipeline.engine.output import OutputWriter
from pipeline.engine.plan import plan_rows
from pipeline.engine.results import PENDING, WOULD_SEND, RunSummary
from pipeline.engine.review import write_review
from pipeline.engine.run import Engine
from pipeline.engine.state import ApiCounts, RunState
from pipeline.errors import (
    EXIT_INTERRUPTED,
    EXIT_STOPPED,
    OutputError,
    OverBudget,
)
from pipeline.mapping import FieldError, RowPlan
from pipeline.progress import Progress
from pipeline.settings import JobSpec, Settings, api_endpoint, make_client, resolve
from pipeline.validation import row_ranges

OnProgress = Callable[[Progress], None]
T = TypeVar("T")
# Progress is shown also between events: a wait for renders or a long pause still moves.
PROGRESS_TICK = 1.0


@dataclass
class JobOutcome:
    summary: RunSummary
    output: Path | str | None
    """The output file, or a Google Sheet's URL (written in place); None when unwritten."""
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
    # A dry run: what would be sent, row by row.
    planned: list[PlannedRow] = field(default_factory=list)
    # Rows the pre-flight refused: ``row N: field: why`` lines by row, as validate prints them.
    refused: dict[int, list[str]] = field(default_factory=dict)
    # The review page written beside the output (None: not written).
    review: Path | None = None

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_STOPPED if self.error else self.summary.exit_code


def run_job(spec: JobSpec | Settings, *, on_progress: OnProgress | None = None) -> JobOutcome:
    """The whole of ``run``, ``run --dry-run`` or ``status``, asking no one: what the Python
    API and scripts call. A run over its budget raises OverBudget before sending."""
    settings = spec if isinstance(spec, Settings) else resolve(spec)
    job = prepare(settings)
    if settings.command == "dry-run":
        return dry_run(job)
    if settings.command == "status":
        return refresh(job, on_progress=on_progress)
    with open_run(job, on_progress=on_progress) as run:
        run.plan()
        return run.send()


# --- a run, in two halves ---------------------------------------------------------------------


@contextlib.contextmanager
def open_run(job: Prepared, *, on_progress: OnProgress | None = None) -> Iterator[Run]:
    """The run's files and locks, its journal, its API (the sandbox started when asked) and
    its event loop, held until the block ends. Refused before anything is sent: the state
    file and lock files it made are removed again."""
    settings = job.settings
    with run_files(job), contextlib.ExitStack() as stack:
        if job.google is not None:
            stack.callback(job.google.client.close)
        journal = open_journal(job.state, settings.target)
        stack.callback(journal.close)
        base_url, api_key = stack.enter_context(_api(settings))
        loop = stack.enter_context(asyncio.Runner())
        run = Run(job, journal, base_url, api_key, loop, on_progress)
        stack.callback(run.close)
        yield run


class Run:
    """One run's two halves on one event loop: :meth:`plan`, then :meth:`send`."""

    def __init__(
        self,
        job: Prepared,
        journal: j.Journal,
        base_url: str,
        api_key: str,
        loop: asyncio.Runner,
        on_progress: OnProgress | None,
    ) -> None:
        self.job = job
        self.settings = settings = job.settings
        self.journal = journal
        self._loop = loop
        self._on_progress = on_progress
        self._received: list[int] = []
        self._going: list[RowPlan] | None = None
        self.forecast: Forecast | None = None
        # Read once, for the plan and the run: a re-run of a big batch reads it once.
        records = journal.all()
        # The last run's writes still count in the API's window: a re-run right after a stop
        # paces around them instead of meeting a 429 that would slow it for minutes.
        prior = j.recent_sends(records.values(), PRIOR_SPAN)
        self.client = make_client(settings, base_url, api_key, prior_sends=prior)
        plan = plan_rows(job.selected, records, settings.options)
        self.state = _state(job, journal, records, plan.results, self.client, on_progress)
        self.engine = Engine(self.client, self.state, plan)
        self.writer = OutputWriter(job, journal)
        self._loop.run(self.client.__aenter__())

    def plan(self) -> Forecast:
        """The reads before the first create; the forecast of the rows the run will send
        (not the videos it found and adopts). OverBudget when over the budget; OtherBatch when
        its rows have videos in another batch."""
        reading = _guarded(self.state, self.engine.read(), list, self._received, self._on_progress)
        going: list[RowPlan] = self._loop.run(reading)
        self._going = going
        self.forecast = _forecast(self.settings, going, self.engine.drafts_to_render(going))
        return self.forecast

    def send(self) -> JobOutcome:
        """Send the rows :meth:`plan` priced; render, wait; write the output sheet."""
        if self._going is None:
            self.plan()
        # Recorded once the run is going to send: what ``status`` rebuilds it from.
        self.journal.set_meta(run_meta(self.job))
        outcome = self._loop.run(self._send())
        outcome.forecast = self.forecast
        if self.settings.sandbox and outcome.summary.rows:
            outcome.notes.append(
                "the sandbox's preview links point to the emulator of this run, which "
                "stopped with it: they are placeholders, not videos"
            )
        return outcome

    def close(self) -> None:
        self._loop.run(self.client.aclose())

    async def _send(self) -> JobOutcome:
        state, writer = self.state, self.writer
        flusher = asyncio.create_task(writer.every(self.settings.flush_interval, state))
        try:
            sending = self.engine.send()
            summary = await _guarded(
                state, sending, self.engine.abandon, self._received, self._on_progress
            )
            return await _written(self.job, state, writer, summary, self._received)
        finally:
            await _cancel(flusher)


# --- the other two paths ----------------------------------------------------------------------


def dry_run(job: Prepared) -> JobOutcome:
    """What a run would send, planned from the journal alone: nothing is sent, nothing is
    locked or written, the API is not asked. OverBudget when the estimate is over the budget."""
    settings = job.settings
    plan = plan_rows(job.selected, read_records(job.state), settings.options)
    for outgoing in plan.outgoing:
        result = plan.results[outgoing.row]
        if result.status in ("", PENDING):
            result.status = WOULD_SEND
    state = RunState(job.selected, plan.results, settings.options)
    summary = state.summarise()
    summary.already = plan.already
    summary.would_send = len(plan.outgoing)
    estimate = _forecast(settings, plan.outgoing)
    planned = planned_rows(job.selected, plan.results)
    return JobOutcome(summary, None, job.state, forecast=estimate, planned=planned)


def refresh(job: Prepared, *, on_progress: OnProgress | None = None) -> JobOutcome:
    """``status``: refresh every unfinished video of a run and rewrite its output sheet;
    create nothing."""
    settings = job.settings
    with run_files(job, status=True), contextlib.ExitStack() as stack:
        if job.google is not None:
            stack.callback(job.google.client.close)
        journal = open_journal(job.state, settings.target)
        stack.callback(journal.close)
        base_url, api_key = stack.enter_context(_api(settings))
        records = journal.all()
        client = make_client(settings, base_url, api_key)
        plan = plan_rows(job.selected, records, settings.options)
        state = _state(job, journal, records, plan.results, client, on_progress)
        engine = Engine(client, state, plan)
        writer = OutputWriter(job, journal)

        async def work() -> JobOutcome:
            received: list[int] = []
            async with client:
                refreshing = engine.refresh()
                summary = await _guarded(state, refreshing, state.summarise, received, on_progress)
            return await _written(job, state, writer, summary, received)

        return asyncio.run(work())


# --- shared -----------------------------------------------------------------------------------


def _state(
    job: Prepared,
    journal: j.Journal,
    records: dict[str, j.Record],
    results: dict[int, Any],
    client: ArgilClient,
    on_progress: OnProgress | None,
) -> RunState:
    settings = job.settings

    def counts() -> ApiCounts:
        gate = client.gate
        return ApiCounts(
            requests=client.stats.requests,
            rate_limited=client.stats.rate_limited,
            paused=gate.paused_for,
            found_rpm=gate.found_rpm,
            limit_met=gate.limit_met,
        )

    timing: dict[str, Any] = {}
    if settings.sleep is not None:
        timing["sleep"] = settings.sleep
    if settings.clock is not None:
        timing["clock"] = settings.clock
    return RunState(
        job.selected,
        results,
        settings.options,
        journal=journal,
        records=records,
        batch_tag=job.report.batch_tag or None,
        sheet_keys=[plan.key for plan in job.report.plans],
        on_progress=on_progress,
        api_counts=counts,
        # Creates and renders waiting for their turn at the gate leave unsent (NotSent).
        on_stop=client.gate.close,
        **timing,
    )


def _api(settings: Settings) -> contextlib.AbstractContextManager[tuple[str, str]]:
    """The run's API: the sandbox (its videos kept beside the state file), or the real one."""
    return api_endpoint(
        sandbox=settings.sandbox,
        base_url=settings.base_url,
        api_key=settings.api_key,
        store=settings.sandbox_store,
    )


def _forecast(
    settings: Settings, plans: list[RowPlan], drafts: Sequence[tuple[RowPlan, float]] = ()
) -> Forecast:
    """The estimate of the rows a run would send, timed at the rate configured for the real
    API (a sandbox run too: it says how long the real run would take), and of the ``drafts``
    it renders (row, price); OverBudget when the creates are over the budget (the renders
    are held to it one by one, at their exact prices)."""
    bodies = [plan.body for plan in plans if plan.body is not None]
    options = settings.options
    found = forecast(
        bodies,
        rpm=settings.forecast_rpm,
        render=options.render,
        real_rate=settings.forecast_real_rate,
        max_credits=options.max_credits,
        budget_source=options.budget_source,
    )
    if found.max_credits is not None and found.estimate.credits > found.max_credits:
        raise OverBudget(over_budget_message(found))
    if drafts:
        found = replace(
            found, renders=len(drafts), render_credits=round(sum(p for _, p in drafts), 2)
        )
    return found


async def _written(
    job: Prepared, state: RunState, writer: OutputWriter, summary: RunSummary, received: list[int]
) -> JobOutcome:
    """The output written once more at the end, whatever stopped the run, and the outcome."""
    output = job.output if job.google is None else job.google.ref.url
    outcome = JobOutcome(summary, output, job.state, interrupted=bool(received))
    outcome.refused = refusal_lines(state.refused)
    seq, columns = writer.snapshot(state)
    try:
        await asyncio.to_thread(writer.write, seq, columns)
    except OutputError as exc:
        outcome.output = None
        writer.error = writer.error or str(exc)
    else:
        if job.google is not None and job.settings.sandbox:
            from pipeline.gsheets.sandbox import sandbox_view

            view = sandbox_view(job.google.ref.spreadsheet_id, job.google.tab.title)
            if view is not None:
                outcome.notes.append(f"the sandbox's sheet, as a person would see it: {view}")
    outcome.columns = columns
    outcome.review = write_review(job, summary, columns)
    outcome.notes.extend(writer.notes)
    outcome.output_format = writer.describe()
    outcome.error = state.storage_error or writer.error
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


async def _guarded(
    state: RunState,
    work: Coroutine[Any, Any, T],
    abandon: Callable[[], T],
    received: list[int],
    on_progress: OnProgress | None,
) -> T:
    """``work`` with Ctrl-C and SIGTERM turned into a clean stop (see
    :mod:`~pipeline.engine.interrupts`), and the progress shown every second meanwhile: a long
    listing, a wait for renders or a long pause still moves."""
    ticker = asyncio.create_task(_tick(state)) if on_progress else None
    future = asyncio.ensure_future(work)
    install_signal_handlers(state.stop, future, received)
    try:
        return await settled(future, abandon)
    finally:
        remove_signal_handlers()
        await _cancel(ticker)


async def _cancel(task: asyncio.Task[Any] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _tick(state: RunState) -> None:
    while True:
        await asyncio.sleep(PROGRESS_TICK)
        state.show_progress()
