"""The state of one run, and the only writer of its bookkeeping: every row's result, the
summary, why the run stopped, which videos were rendered or are gone, and the journal writes
that go with each (a video recorded, adopted, a row left pending).

The steps (:mod:`~pipeline.engine.submit`, :mod:`~pipeline.engine.reconcile`,
:mod:`~pipeline.engine.render`, :mod:`~pipeline.engine.follow`) are functions of a client, a
:class:`RunState` and the run's options; they change a row only through this public API, so
that what a row says, what the journal holds and what the progress counts never disagree.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from pipeline import journal as j
from pipeline.argil.models import FAILED_STATUSES, FINAL_STATUSES, Video, VideoStatus
from pipeline.batch import carried_key
from pipeline.engine.results import (
    CHANGED,
    FAILED,
    FAILED_OUTCOMES,
    IN_DOUBT,
    INVALID,
    LOCAL_PRICE_NOTE,
    PENDING,
    SKIPPED,
    RowResult,
    RunSummary,
)
from pipeline.mapping import FieldError, RowPlan
from pipeline.progress import DOWNLOADING, SENDING, Progress, RateMeter
from pipeline.settings import RunOptions, Sleep

T = TypeVar("T")


@dataclass(frozen=True)
class ApiCounts:
    """What the API client has counted so far, for the progress and the summary."""

    requests: int = 0
    rate_limited: int = 0
    paused: float = 0.0  # seconds the API asked the run to wait, still to go
    found_rpm: float | None = None
    limit_met: bool = False


class RunState:
    def __init__(
        self,
        plans: list[RowPlan],
        results: Mapping[int, RowResult],
        options: RunOptions,
        *,
        journal: j.Journal | None = None,
        records: Mapping[str, j.Record] | None = None,
        batch_tag: str | None = None,
        sheet_keys: Iterable[str] | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_progress: Callable[[Progress], None] | None = None,
        api_counts: Callable[[], ApiCounts] | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.plans = plans
        self.results: dict[int, RowResult] = dict(results)
        self.options = options
        self.journal = journal
        self.records: dict[str, j.Record] = dict(records or {})
        # The extras.argilBatch of this batch's videos: None lists nothing.
        self.batch_tag = batch_tag
        # Every row key of the sheet (rows outside --rows too): a batch video whose key is
        # none of them belongs to a row since removed.
        self.sheet_keys = set(sheet_keys) if sheet_keys is not None else {p.key for p in plans}
        self.summary = RunSummary(rows=len(plans))
        # The workspace's balance as the last estimate said it (before any render it priced).
        self.balance: float | None = None
        self.started_renders: set[str] = set()  # this run's
        self.files_done = self.files_total = 0  # --download
        # Rows the pre-flight refused, with why: shown like validate's row errors.
        self.refused: dict[int, list[FieldError]] = {}
        # A write to the journal failed (a full disk): the run stopped on it, and says so.
        self.storage_error: str | None = None
        # Whether the batch's listing found any video of it (None: not listed this run).
        self.batch_listed: bool | None = None
        # Row keys whose video was asked to render (this run or before).
        self.rendered = {k for k, r in self.records.items() if r.render_requested}
        # Bumped whenever a row's result changes: the output writer skips a refresh that would
        # write the same sheet again.
        self.changes = 0
        # What the progress shows: the phase, the rows of work, the videos followed.
        self.phase = SENDING
        self.work_total = 0
        self.following: list[RowPlan] = []
        self.clock = clock
        self.started = clock()
        self._sleep = sleep
        self._on_progress = on_progress
        self._api_counts = api_counts or ApiCounts
        self._on_stop = on_stop
        self._stop_reason: str | None = None
        self._stop = asyncio.Event()
        self._meter = RateMeter()
        # Which row key holds each video id: an answer naming a video another row holds is
        # flagged on both, never taken as this row's.
        self._video_keys = {r.video_id: k for k, r in self.records.items() if r.video_id}
        self._key_rows = {k: r.row for k, r in self.records.items()}
        self._key_rows.update((p.key, p.row) for p in plans)
        # Rows whose video could not be rendered or read this run (a refused render, a 404):
        # failed rows, though their status column keeps the video's last known status.
        self._faults: set[int] = set()
        # Rows whose video the API no longer knows (404): not polled again.
        self._gone: set[int] = set()
        self._adopt_notes: dict[int, str] = {}
        self._finished = 0
        self._failed = 0

    # --- stopping --------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Send nothing new; work already in flight finishes. The first reason is kept."""
        if self._stop_reason is None:
            self._stop_reason = reason
        self._stop.set()
        if self._on_stop is not None:
            self._on_stop()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    async def nap(self, seconds: float) -> None:
        """Sleep, cut short by a stop."""
        if not self.stopping:
            await self.unless_stopped(self._sleep(seconds))

    async def unless_stopped(self, work: Awaitable[T]) -> T | None:
        """Await ``work`` unless the run is stopped first; then cancel it (None)."""
        task = asyncio.ensure_future(work)
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return task.result() if not task.cancelled() else None

    # --- rows and the journal ---------------------------------------------------------------

    def record_video(self, plan: RowPlan, video: Video, state: str) -> None:
        """The row's video as the API answered it, in the output and in the journal."""
        assert self.journal is not None
        if video.status in FINAL_STATUSES:
            state = j.FAILED if video.status in FAILED_STATUSES else j.DONE
        error = f"the video ended {video.status}" if video.status in FAILED_STATUSES else None
        self.changes += 1
        self._faults.discard(plan.row)
        self._video_keys[video.id] = plan.key
        # The output shows the video even should the journal fail to record it (a full disk):
        # the journal then still holds the row in flight, and the next run adopts the video.
        result = self.results[plan.row]
        result.video_id = video.id
        result.status = video.status or ""
        result.error = error or ""
        result.preview_url = video.preview_url or result.preview_url
        result.video_url = video.video_url or result.video_url
        result.duration = video.duration if video.duration is not None else result.duration
        result.updated_at = j.now_iso()
        self.journal.mark_video(
            plan.key,
            state,
            j.VideoFields(
                video_id=video.id,
                status=video.status,
                preview_url=video.preview_url,
                video_url=video.video_url,
                duration=video.duration,
                error=error,
            ),
        )

    def adopt(self, plan: RowPlan, video: Video) -> None:
        """A video found on the API (not created by this run) becomes the row's."""
        state = j.RENDERING if video.status not in (None, VideoStatus.IDLE) else j.CREATED
        self.record_video(plan, video, state)
        self.summary.adopted += 1
        note = self._adopt_notes.pop(plan.row, None)
        if note:
            self.set_error(plan, note)

    def note_on_adoption(self, plan: RowPlan, note: str) -> None:
        """What the row says once its video is adopted (several videos carried its key)."""
        self._adopt_notes[plan.row] = note

    def created(self, plan: RowPlan, video: Video) -> None:
        self.summary.created += 1
        self.record_video(plan, video, j.CREATED)

    def render_started(self, plan: RowPlan, video: Video) -> None:
        assert self.journal is not None
        self.journal.mark_render_requested(plan.key)
        self.rendered.add(plan.key)
        self.started_renders.add(plan.key)
        self.record_video(plan, video, j.RENDERING)
        self.summary.renders += 1

    def priced(
        self,
        plan: RowPlan,
        credits: float,
        *,
        exact: bool,
        new_balance: float | None = None,
        why: str = "",
    ) -> None:
        """The price of rendering the row's draft: the API's exact estimate, or the local one
        (``why`` the API's could not be used), said in the row."""
        assert self.journal is not None
        result = self.results[plan.row]
        result.credits, result.credits_exact = credits, exact
        self.journal.set_credits(plan.key, credits, exact)
        if new_balance is not None:
            # The balance before this render, which every estimate of the run shares.
            self.balance = new_balance + credits
        if not exact and not result.error:
            self.set_error(plan, f"{LOCAL_PRICE_NOTE} ({why})")
        self.changes += 1

    def downloaded(self, plan: RowPlan, file: str) -> None:
        """The row's MP4 is on disk at ``file``."""
        assert self.journal is not None
        self.results[plan.row].file = file
        self.journal.set_file(plan.key, file)
        self.files_done += 1
        self.changes += 1

    def waiting_for_approval(self, plan: RowPlan) -> None:
        """A draft render.when does not approve: left a draft, said why."""
        when = self.options.approval or "render.when"
        self.say(
            plan,
            self.results[plan.row].status,
            f"a draft waiting for approval: render.when ({when}) is not yes for this row",
        )

    def leave_pending(self, plan: RowPlan, reason: str) -> None:
        """Nothing was created for this row (refused, or looked up and absent)."""
        assert self.journal is not None
        self.journal.mark_pending(plan.key, reason)
        self.say(plan, PENDING, f"not sent: {reason}")

    def mark_failed(self, plan: RowPlan, message: str) -> None:
        """The API refused the row's create: nothing was made, and it is not sent again unless
        edited or retried."""
        assert self.journal is not None
        self.journal.mark_failed(plan.key, message)
        result = self.results[plan.row]
        result.status, result.error, result.video_id = FAILED, message, ""

    def set_error(self, plan: RowPlan, note: str) -> None:
        """The row's error column, in the output and in the journal."""
        assert self.journal is not None
        self.results[plan.row].error = note
        self.journal.set_error(plan.key, note)

    def say(self, plan: RowPlan, status: str, error: str) -> None:
        """The row's status and error for this run's output only (the journal is unchanged)."""
        result = self.results[plan.row]
        result.status, result.error = status, error

    def refuse(self, plan: RowPlan, errors: list[FieldError]) -> None:
        """The pre-flight refused the row: INVALID, with why."""
        self.refused[plan.row] = errors
        self.say(plan, INVALID, "; ".join(str(e) for e in errors))

    def fault(self, plan: RowPlan, error: str) -> None:
        """A failed row, though its status column keeps the video's last known status."""
        self._faults.add(plan.row)
        self.results[plan.row].error = error

    def gone(self, plan: RowPlan) -> None:
        """The API no longer knows the row's video (404): failed, and not polled again."""
        self._gone.add(plan.row)
        self.fault(plan, "the video no longer exists on the API")

    def journal_failed(self, plan: RowPlan, exc: j.JournalWriteError) -> None:
        """Nothing more is sent once the journal cannot record it. The row at hand: sent or
        not, the journal holds what it last committed (in flight at worst, resolved by the
        next run's lookup)."""
        self.storage_error = self.storage_error or str(exc)
        self.stop("the state file could not be written")
        result = self.results[plan.row]
        if not result.video_id and result.status in ("", PENDING):
            self.say(plan, PENDING, "not sent: the state file could not be written")

    def whose_key(self, key: str) -> int | None:
        """The row number that holds a row key (this run's rows, or the journal's)."""
        return self._key_rows.get(key)

    def whose_video(self, video_id: str) -> int | None:
        """The row number that holds a video id, if any row does."""
        holder = self._video_keys.get(video_id)
        return self._key_rows.get(holder) if holder else None

    def foreign_message(self, video: Video) -> str:
        """Why an answer's video is not taken as the row's: whose key it carries."""
        carried = carried_key(video)
        if carried is None:
            return f"the API answered with video {video.id}, which carries no row key"
        row = self.whose_key(j.parse_batch_key(carried)[0])
        whose = f"row {row}'s key" if row is not None else "another row's key"
        return f"the API answered with video {video.id}, which carries {whose}"

    # --- which rows are what ----------------------------------------------------------------

    def has_unfinished_video(self, plan: RowPlan) -> bool:
        result = self.results.get(plan.row)
        # A CHANGED row's video belongs to an older version of the row: left alone.
        return bool(
            result
            and result.video_id
            and result.status not in FINAL_STATUSES
            and result.status != CHANGED
            and plan.row not in self._gone
        )

    def needs_follow(self, plan: RowPlan) -> bool:
        """A video that will change without us: rendering, or asked to render."""
        if not self.has_unfinished_video(plan):
            return False
        return plan.key in self.rendered or self.results[plan.row].status != VideoStatus.IDLE

    def renderable(self, plan: RowPlan) -> bool:
        """A draft still this row's, not yet rendered, its row not failed this run."""
        result = self.results[plan.row]
        return (
            bool(result.video_id)
            and result.status in ("", VideoStatus.IDLE)
            and plan.key not in self.rendered
            and plan.row not in self._faults
        )

    # --- progress and summary ---------------------------------------------------------------

    def row_finished(self, plan: RowPlan) -> None:
        self._finished += 1
        self.changes += 1
        if self.results[plan.row].status in FAILED_OUTCOMES or plan.row in self._faults:
            self._failed += 1
        self.show_progress()

    def show_progress(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.progress())

    def progress(self) -> Progress:
        """Where the run is now: rows sent, or renders done; the request rate as measured."""
        counts = self._api_counts()
        done = sum(1 for p in self.following if self.results[p.row].status in FINAL_STATUSES)
        total = len(self.following)
        if self.phase == DOWNLOADING:
            done, total = self.files_done, self.files_total
        return Progress(
            total=self.work_total,
            finished=self._finished,
            failed=self._failed,
            requests=counts.requests,
            rpm=self._meter.rate(self.clock(), counts.requests),
            phase=self.phase,
            renders_done=done,
            renders_total=total,
            paused=counts.paused,
        )

    def output_columns(self) -> dict[int, dict[str, str]]:
        return {row: result.columns() for row, result in self.results.items()}

    def summarise(self) -> RunSummary:
        s = self.summary
        s.stopped = self._stop_reason
        s.elapsed = round(self.clock() - self.started, 3)
        statuses = Counter(r.status for r in self.results.values())
        s.statuses = dict(statuses)
        s.invalid = statuses[INVALID]
        s.skipped = statuses[SKIPPED]
        s.changed = statuses[CHANGED]
        s.pending = statuses[PENDING]
        s.in_doubt = statuses[IN_DOUBT]
        s.failed = sum(statuses[x] for x in FAILED_OUTCOMES)
        s.failed += sum(
            1 for row in self._faults if self.results[row].status not in FAILED_OUTCOMES
        )
        s.done = statuses[VideoStatus.DONE]
        generating = (VideoStatus.GENERATING_AUDIO, VideoStatus.GENERATING_VIDEO)
        s.rendering = statuses[generating[0]] + statuses[generating[1]]
        # A video the API no longer knows is not rendering, whatever it last said.
        s.rendering -= sum(1 for row in self._gone if self.results[row].status in generating)
        drafts = [r for r in self.results.values() if r.video_id and r.status == VideoStatus.IDLE]
        s.drafts = len(drafts)
        priced = [r for r in drafts if r.credits is not None]
        s.draft_credits = round(sum(r.credits or 0.0 for r in priced), 2)
        s.local_prices = sum(1 for r in priced if not r.credits_exact)
        s.balance_after = None
        if self.balance is not None and priced:
            s.balance_after = round(self.balance - s.draft_credits, 2)
        s.render_credits = round(
            sum(
                r.credits or 0.0
                for p in self.plans
                if p.key in self.started_renders and (r := self.results[p.row]).credits
            ),
            2,
        )
        counts = self._api_counts()
        s.requests = counts.requests
        s.rate_limited = counts.rate_limited
        s.found_rpm = counts.found_rpm
        s.found_rpm_is_floor = s.found_rpm is not None and not counts.limit_met
        return s
