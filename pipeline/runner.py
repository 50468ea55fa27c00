"""The batch: plan from the journal, reconcile, submit at the API's pace, follow statuses.

Every valid row ends in exactly one video or a stated reason. The invariant that makes this
hold across crashes: a row is committed ``in_flight`` before its create is sent, and a row in
flight (left by a crash, or answered "in doubt") is only ever resolved by looking its video up
by ``extras.argilBatchKey``; it is sent again only when the lookup says no video carries it.

The runner is pure library: no printing, no exit codes. It reports progress through a
callback and returns a :class:`RunSummary` from which the command line derives its exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from pipeline import journal as j
from pipeline import mapping
from pipeline.argil.client import (
    ArgilClient,
    ArgilError,
    FatalError,
    InDoubt,
    NotSent,
    RowError,
    TransportError,
)
from pipeline.argil.models import FAILED_STATUSES, FINAL_STATUSES, Video, VideoStatus
from pipeline.batch import BATCH_KEY_EXTRA, carried_key
from pipeline.changes import field_digests
from pipeline.cost import Budget
from pipeline.follow import follow, has_unfinished_video, needs_follow
from pipeline.mapping import RowPlan
from pipeline.outcomes import (
    CHANGED,
    FAILED,
    FAILED_OUTCOMES,
    IN_DOUBT,
    INVALID,
    PENDING,
    SKIPPED,
)
from pipeline.outcomes import (
    NOT_RUN as NOT_RUN,  # the job module's word for rows outside --rows
)
from pipeline.outcomes import WOULD_SEND as WOULD_SEND
from pipeline.planning import plan_rows
from pipeline.preflight import Catalogue, fetch_catalogue, uses_styles
from pipeline.preflight import check_body as check_catalogue
from pipeline.progress import CHECKING, LISTING, SENDING, Progress, RateMeter
from pipeline.reconcile import (
    OtherBatch,
    Unresolved,
    adopt_if_found,
    lookup,
    other_batch,
    reconcile_rows,
    settle_duplicates,
)
from pipeline.render import render
from pipeline.run_types import MAX_ERROR_CHARS as MAX_ERROR_CHARS
from pipeline.run_types import RowResult as RowResult
from pipeline.run_types import RunOptions as RunOptions
from pipeline.run_types import RunSummary as RunSummary
from pipeline.run_types import one_line as one_line

logger = logging.getLogger("pipeline.runner")
T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]


class Runner:
    def __init__(
        self,
        plans: list[RowPlan],
        journal: j.Journal | None,
        client: ArgilClient | None,
        options: RunOptions,
        *,
        records: Mapping[str, j.Record] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        batch_tag: str | None = None,
        sheet_keys: Iterable[str] | None = None,
        before_send: Callable[[list[RowPlan]], None] | None = None,
    ) -> None:
        self.plans = plans
        # Shown the rows this run will send, once the API was read and before any of them
        # is checked or sent; it may raise to send nothing (the budget, the user's answer).
        self._before_send = before_send
        # The extras.argilBatch of this batch's videos: None lists nothing (reconcile, follow).
        self.batch_tag = batch_tag
        # Every row key of the sheet (rows outside --rows too): a batch video whose key is
        # none of them belongs to a row since removed.
        self.sheet_keys = set(sheet_keys) if sheet_keys is not None else {p.key for p in plans}
        self.journal = journal
        self.client = client
        self.options = options
        self.records = dict(records if records is not None else journal.all() if journal else {})
        self.results: dict[int, RowResult] = {}
        self.summary = RunSummary(rows=len(plans))
        self._on_progress = on_progress
        self._sleep = sleep
        self._clock = clock
        self._stop_reason: str | None = None
        self._stop = asyncio.Event()
        self._meter = RateMeter()
        self._phase = SENDING
        self._following: list[RowPlan] = []
        # Rows the pre-flight refused, with why: shown like validate's row errors.
        self.refused: dict[int, list[mapping.FieldError]] = {}
        # A write to the journal failed (a full disk): the run stopped on it, and says so.
        self.storage_error: str | None = None
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
        self._finished = 0
        self._rendered = {k for k, r in self.records.items() if r.render_requested}
        self._adopt_notes: dict[int, str] = {}
        self._failed = 0
        self._work_total = 0
        self._queue: deque[tuple[str, RowPlan, int]] = deque()
        # Whether the batch's listing found any video of it (None: not listed this run).
        self.batch_listed: bool | None = None
        # Rows to render once the sends are done and the batch's duplicates settled, and of
        # those, the ones this run did not send (counted as rows when their render is done).
        self._to_render: list[RowPlan] = []
        self._render_only: set[str] = set()
        # Rows never sent before (no record, or pending): committed in flight a few at a time.
        self._fresh: set[str] = set()
        # Committed in flight ahead of their turn, not sent yet.
        self._reserved: set[str] = set()
        self._batch = 1
        self._budget = (
            Budget(options.max_credits, options.budget_source)
            if options.max_credits is not None
            else None
        )
        # Pages the last status sweep read: fewer followed videos than that are asked for one
        # by one.
        self._sweep_pages = 0
        # Rows a worker holds right now: what an abandoned run must not report as settled.
        self._active: dict[int, str] = {}
        self._started = clock()
        # Bumped whenever a row's result changes: the output writer skips a refresh that would
        # write the same sheet again.
        self.changes = 0

    # --- public ----------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Send nothing new; work already in flight finishes. The first reason is kept."""
        if self._stop_reason is None:
            self._stop_reason = reason
        self._stop.set()
        if self.client is not None:
            # Creates and renders waiting for their turn at the gate leave unsent (NotSent).
            self.client.gate.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def outgoing(self) -> list[RowPlan]:
        """The rows this run may create a video for, planned from the journal alone (what a
        dry run shows): new, pending, retried and resent rows, and rows left in flight (their
        lookup may find no video). Planning fills this runner's results: call it on a runner
        that does not run."""
        to_send, to_resolve, _ = plan_rows(self)
        return [plan for plan, _ in to_resolve] + [plan for plan, _ in to_send]

    async def run(self) -> RunSummary:
        started = self._started = self._clock()
        to_send, to_resolve, to_render = plan_rows(self)
        if self.options.refresh_only:
            # Rows left in flight are looked up (a read): found videos are adopted, the others
            # stay in flight for the next run, which alone may send.
            await asyncio.gather(*(adopt_if_found(self, p, g) for p, g in to_resolve))
            if self.options.preflight and to_send:
                # A row the catalogue refuses is INVALID, as the run that refused it said,
                # not a row waiting to be sent.
                await self._preflight(to_send, self._catalogue(to_send), reading=True)
            unfinished = [p for p in self.plans if has_unfinished_video(self, p)]
            timeout = self.options.wait_timeout if self.options.wait else 0.0
            await follow(self, unfinished, timeout, immediate=True)
        elif not self.options.dry_run:
            # The reads a run needs before its first create are independent: the catalogue,
            # the batch's listing and (a batch this journal has no video of) the first rows
            # asked for in another batch go out together, one round trip in all.
            catalogue = self._catalogue(to_send) if self.options.preflight and to_send else None
            elsewhere = (
                asyncio.ensure_future(other_batch(self, [p for p, _ in to_send]))
                if self._may_be_new() and to_send
                else None
            )
            try:
                if self.batch_tag is not None and any(
                    p.key not in self.records for p, _ in to_send
                ):
                    self._phase = LISTING
                    to_send, to_resolve, adopted = await reconcile_rows(self, to_send, to_resolve)
                    to_render += adopted
                if catalogue is not None and to_send and not self.stopping:
                    self._phase = CHECKING
                    to_send = await self._preflight(to_send, catalogue)
                if elsewhere is not None and self._batch_is_new() and to_send:
                    found = await elsewhere
                    if found and not self.stopping:
                        raise OtherBatch(found)
            finally:
                for task in (catalogue, elsewhere):
                    if task is None:
                        continue
                    # Not needed after all (every row adopted, the batch not new): cancelled,
                    # or its failure read here, which nothing then depends on.
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ArgilError):
                        await task
            if self._before_send is not None:
                # After the pre-flight: the estimate and the question count only the rows
                # that will be sent. A stopped run sends nothing, and has nothing to ask.
                going = [] if self.stopping else [p for p, _ in to_resolve + to_send]
                self._before_send(going)
            self._phase = SENDING
            work: list[tuple[str, RowPlan, int]] = [("resolve", p, g) for p, g in to_resolve]
            work += [("send", p, g) for p, g in to_send]
            for plan in to_render:
                self._queue_render(plan)
            # A row is counted once: sent (its render, if any, follows), or only rendered.
            self._work_total = len(work) + len(to_render)
            self._render_only = {plan.key for plan in to_render}
            await self._drain(work)
            if self._wrote_or_renders() and not self.stopping:
                await settle_duplicates(self)
            renders = [p for p in self._to_render if self._renderable(p)]
            self._work_total -= len(self._render_only - {p.key for p in renders})
            await self._drain([("render", p, 0) for p in renders])
            if self.options.wait and not self.stopping:
                following = [p for p in self.plans if needs_follow(self, p)]
                await follow(self, following, self.options.wait_timeout, immediate=False)
        if self.client is not None and not self.client.stats.requests and not self.stopping:
            await self._check_key()
        self._summarise(started)
        return self.summary

    async def _check_key(self) -> None:
        """A run with nothing to send asked the API nothing: one small read still tells a
        key that was revoked or mistyped tonight, rather than a quiet exit 0 every night."""
        assert self.client is not None
        try:
            await self.client.list_videos(page=1, limit=1)
        except FatalError as exc:
            self.stop(exc.message)
        except ArgilError as exc:
            logger.info("the key was not checked: %s", exc.message)

    def _catalogue(self, to_send: list[tuple[RowPlan, int]]) -> asyncio.Future[Catalogue]:
        """The API's avatars, voices (and styles, when a row names one), being fetched."""
        assert self.client is not None
        bodies = [p.body for p, _ in to_send if p.body is not None]
        return asyncio.ensure_future(fetch_catalogue(self.client, need_styles=uses_styles(bodies)))

    async def _preflight(
        self,
        to_send: list[tuple[RowPlan, int]],
        fetching: Awaitable[Catalogue],
        *,
        reading: bool = False,
    ) -> list[tuple[RowPlan, int]]:
        """Rows naming an avatar, voice, gesture or style the API does not have are that row's
        error before anything is created. ``reading``: only to report them (``status``), so a
        catalogue that cannot be read leaves the rows as they were."""
        try:
            catalogue = await fetching
        except ArgilError as exc:
            if reading:
                return to_send
            reason = exc.message if isinstance(exc, FatalError) else f"pre-flight: {exc.message}"
            self.stop(reason)
            for plan, _ in to_send:
                self.results[plan.row].status = PENDING
                self.results[plan.row].error = f"not sent: {reason}"
            return []
        kept = []
        for plan, generation in to_send:
            assert plan.body is not None
            errors = check_catalogue(plan.body, catalogue)
            if errors:
                self.refused[plan.row] = errors
                result = self.results[plan.row]
                result.status = INVALID
                result.error = "; ".join(str(e) for e in errors)
            else:
                kept.append((plan, generation))
        return kept

    # --- submission ------------------------------------------------------------------------

    async def _drain(self, work: list[tuple[str, RowPlan, int]]) -> None:
        if not work:
            return
        queue = self._queue = deque(work)
        assert self.client is not None and self.journal is not None
        # More workers than request slots: a worker waiting out an in-doubt delay must not
        # leave the API idle. The gate, not the worker count, bounds requests in flight.
        workers = max(1, self.client.gate.concurrency) * 2
        self._batch = workers

        async def worker() -> None:
            while not self.stopping:
                try:
                    kind, plan, generation = queue.popleft()
                except IndexError:
                    return
                self._active[plan.row] = kind
                try:
                    if kind == "render":
                        await render(self, plan)
                    else:
                        await self._submit(plan, generation, look_first=kind == "resolve")
                except j.JournalWriteError as exc:
                    self._journal_failed(plan, exc)
                del self._active[plan.row]
                if kind != "render" or plan.key in self._render_only:
                    self._row_finished(plan)

        await asyncio.gather(*(worker() for _ in range(min(workers, len(work)))))
        self._release_queue()

    def _journal_failed(self, plan: RowPlan, exc: j.JournalWriteError) -> None:
        """Nothing more is sent once the journal cannot record it. The row at hand: sent or
        not, the journal holds what it last committed (in flight at worst, resolved by the
        next run's lookup)."""
        self.storage_error = self.storage_error or str(exc)
        self.stop("the state file could not be written")
        result = self.results[plan.row]
        if not result.video_id and result.status in ("", PENDING):
            result.status = PENDING
            result.error = "not sent: the state file could not be written"

    def _release_queue(self) -> None:
        """Rows still queued when the run stops: say why each was not sent or checked."""
        assert self.journal is not None
        queue = self._queue
        while queue:
            kind, plan, _ = queue.popleft()
            result = self.results[plan.row]
            if kind == "resolve":
                result.status = IN_DOUBT
                result.error = f"not checked: {self._stop_reason}; the next run looks it up"
            elif kind == "send":
                result.status = PENDING
                result.error = f"not sent: {self._stop_reason}"
                if plan.key in self._reserved:
                    # Committed in flight ahead of its turn, and known never to have left.
                    # Should that write fail too, the next run's lookup finds nothing, and sends.
                    with contextlib.suppress(j.JournalWriteError):
                        self.journal.mark_pending(plan.key, result.error)

    async def _submit(self, plan: RowPlan, generation: int, *, look_first: bool) -> None:
        """Make sure this row has exactly one video: look it up whenever a create may have
        landed (a crash left it in flight, or the answer was lost), send only when no video
        carries its key."""
        assert self.client is not None and self.journal is not None
        assert plan.body is not None and plan.payload_hash is not None
        body = _body_for(plan, generation)
        result = self.results[plan.row]
        sends = 0
        # Why the first answer was in doubt: what the user needs when the lookup fails too.
        cause: str | None = None
        # A video id the API answered with that another row holds.
        shared: str | None = None
        while True:
            if look_first:
                try:
                    found = await lookup(self, plan, generation)
                except Unresolved:
                    if cause:
                        result.error = f"{result.error} (the create's answer: {cause})"
                        self.journal.set_error(plan.key, result.error)
                    return  # still in flight: the next run asks again
                if found is not None:
                    self._adopt(plan, found)
                    if shared:
                        self._note_foreign(plan, shared, found.id)
                    self._queue_render(plan)
                    return
            if sends == self.options.max_sends:
                why = f" (first: {cause})" if cause else ""
                self._leave_pending(plan, f"every attempt was answered in doubt{why}; run again")
                return
            if self._budget is not None and not self.stopping and not self._budget.take(body):
                self.stop(self._budget.reason())
            if self.stopping:
                self._leave_pending(plan, str(self._stop_reason))
                return
            sends += 1
            self._mark_in_flight(plan, generation)
            try:
                video = await self.client.create_video(body)
            except InDoubt as exc:
                cause = cause or exc.message
                logger.info("row %d: %s; looking its video up by its key", plan.row, exc.message)
                # The create may still be landing: give it a moment, then look it up.
                await self._nap(self.options.doubt_delay)
                look_first = True
                continue
            except RowError as exc:
                self.journal.mark_failed(plan.key, exc.message)
                result.status, result.error, result.video_id = FAILED, exc.message, ""
                return
            except FatalError as exc:
                # Refused outright (bad key, no credits): nothing was created for this row.
                self._leave_pending(plan, exc.message)
                self.stop(exc.message)
                return
            except NotSent:
                # The run stopped while this create waited for its turn: it never left.
                self._leave_pending(plan, str(self._stop_reason))
                return
            except TransportError as exc:
                self._leave_pending(plan, exc.message)
                self.stop(f"the API cannot be reached ({exc.message})")
                return
            except ArgilError as exc:
                # Rate limited or refused past every retry: nothing was created; next run.
                self._leave_pending(plan, exc.message)
                return
            if carried_key(video) != j.batch_key(plan.key, generation):
                # A stale or crossed answer (a cache on the way, a server mixing up answers),
                # or one that does not say whose video it is: only the video's own key proves
                # it is this row's. This row's video, if the create landed, carries that key.
                shared = video.id
                cause = cause or self._foreign_message(video)
                logger.warning("row %d: %s; looking its own video up by its key", plan.row, cause)
                look_first = True
                continue
            self.summary.created += 1
            self._record_video(plan, video, j.CREATED)
            if shared:
                self._note_foreign(plan, shared, video.id)
            self._queue_render(plan)
            return

    def _foreign_message(self, video: Video) -> str:
        """Why an answer's video is not taken as the row's: whose key it carries."""
        carried = carried_key(video)
        if carried is None:
            return f"the API answered with video {video.id}, which carries no row key"
        key, _ = j.parse_batch_key(carried)
        row = self._key_rows.get(key)
        whose = f"row {row}'s key" if row is not None else "another row's key"
        return f"the API answered with video {video.id}, which carries {whose}"

    def _note_foreign(self, plan: RowPlan, foreign: str, own_id: str) -> None:
        """The row says that its create was answered with another video, and which is its own.
        The row that video belongs to needs no word: its video is proven by its own key."""
        assert self.journal is not None
        holder = self._video_keys.get(foreign)
        row = self._key_rows.get(holder) if holder else None
        whose = f"row {row}'s video" if row is not None else "a video that is not this row's"
        note = (
            f"the API answered with video {foreign} ({whose}); this row's own video {own_id} "
            "was found by its key"
        )
        self.results[plan.row].error = note
        self.journal.set_error(plan.key, note)

    def _may_be_new(self) -> bool:
        """Before the listing: the journal knows no video of this batch (a first run, a lost
        state), so the listing may show the batch new to the API."""
        known = any(record.video_id for record in self.records.values())
        return self.batch_tag is not None and not known and not self.options.new_batch

    def _batch_is_new(self) -> bool:
        """No video of this batch on the API, none in the journal: the batch's first run, or
        a campaign renamed (which --new-batch says is meant)."""
        return self._may_be_new() and self.batch_listed is False

    def _wrote_or_renders(self) -> bool:
        """Whether the batch may hold duplicates this run should settle: it made videos
        (another run may have made the same rows at once), or is about to render. A run that
        made none leaves the settling to the runs that did."""
        return self.batch_tag is not None and bool(self.summary.created or self._to_render)

    def _renderable(self, plan: RowPlan) -> bool:
        """A draft still this row's after the duplicates were settled, not yet rendered."""
        result = self.results[plan.row]
        return (
            bool(result.video_id)
            and result.status in ("", VideoStatus.IDLE)
            and plan.key not in self._rendered
            and plan.row not in self._faults
        )

    def _queue_render(self, plan: RowPlan) -> None:
        """Renders wait until every create of the run is done and the batch's duplicates
        (two runs at once) are settled: a video that loses to another must never be rendered."""
        if self.options.render and plan not in self._to_render:
            self._to_render.append(plan)

    def abandon(self) -> RunSummary:
        """The summary of a run cancelled mid-request (a second Ctrl-C, or requests still
        out when the grace after the first ran out). A row whose create was out may have its
        video: the journal holds it in flight, and the next run looks it up before sending."""
        reason = self._stop_reason or "interrupted"
        for row, kind in self._active.items():
            result = self.results[row]
            if kind != "render" and not result.video_id:
                result.status = IN_DOUBT
                result.error = f"{reason} while it was being sent; the next run looks it up"
            elif kind == "render":
                result.error = f"{reason} before its render was confirmed; run again with --render"
        self._active.clear()
        if self.journal is not None:
            self._release_queue()
        self._summarise(self._started)
        return self.summary

    def _mark_in_flight(self, plan: RowPlan, generation: int) -> None:
        """Commit this row in flight before its request leaves, and with it the next fresh
        rows in line (as many as there are workers): one wait on the disk for all of them
        instead of one each. A crash then leaves a few rows in flight that were never sent;
        the next run looks each up, finds no video, and sends it, as after any crash. A clean
        stop puts the ones it did not send back to pending."""
        assert self.journal is not None and plan.payload_hash is not None
        if plan.key in self._reserved:
            self._reserved.discard(plan.key)
            return
        rows = [_in_flight(plan, generation)]
        # Bounded look-ahead: a long run of rows that are not fresh ends the batch early.
        for kind, upcoming, upcoming_generation in itertools.islice(self._queue, 2 * self._batch):
            if len(rows) >= self._batch:
                break
            key = upcoming.key
            if kind != "send" or key not in self._fresh or key in self._reserved:
                continue
            rows.append(_in_flight(upcoming, upcoming_generation))
        self.journal.mark_many_in_flight(rows)
        self._reserved.update(row.key for row in rows[1:])

    def _leave_pending(self, plan: RowPlan, reason: str) -> None:
        """Nothing was created for this row (refused, or looked up and absent)."""
        assert self.journal is not None
        self.journal.mark_pending(plan.key, reason)
        result = self.results[plan.row]
        result.status, result.error = PENDING, f"not sent: {reason}"

    def _adopt(self, plan: RowPlan, video: Video) -> None:
        state = j.RENDERING if video.status not in (None, VideoStatus.IDLE) else j.CREATED
        self._record_video(plan, video, state)
        self.summary.adopted += 1
        note = self._adopt_notes.pop(plan.row, None)
        if note:
            self.results[plan.row].error = note
            assert self.journal is not None
            self.journal.set_error(plan.key, note)

    def _record_video(self, plan: RowPlan, video: Video, state: str) -> None:
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
        self.journal.mark_video(plan.key, state, _fields(video, error))

    # --- waits that a stop cuts short ------------------------------------------------------

    async def _nap(self, seconds: float) -> None:
        if not self.stopping:
            await self._unless_stopped(self._sleep(seconds))

    async def _unless_stopped(self, work: Awaitable[T]) -> T | None:
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

    # --- bookkeeping -----------------------------------------------------------------------

    def _row_finished(self, plan: RowPlan) -> None:
        self._finished += 1
        self.changes += 1
        if self.results[plan.row].status in FAILED_OUTCOMES or plan.row in self._faults:
            self._failed += 1
        if self._on_progress is not None:
            self._on_progress(self.progress())

    def progress(self) -> Progress:
        """Where the run is now: rows sent, or renders done; the request rate as measured."""
        requests = self.client.stats.requests if self.client else 0
        done = sum(1 for p in self._following if self.results[p.row].status in FINAL_STATUSES)
        return Progress(
            total=self._work_total,
            finished=self._finished,
            failed=self._failed,
            requests=requests,
            rpm=self._meter.rate(self._clock(), requests),
            phase=self._phase,
            renders_done=done,
            renders_total=len(self._following),
            paused=self.client.gate.paused_for if self.client else 0.0,
        )

    def output_columns(self) -> dict[int, dict[str, str]]:
        return {row: result.columns() for row, result in self.results.items()}

    def _summarise(self, started: float) -> None:
        s = self.summary
        s.stopped = self._stop_reason
        s.elapsed = round(self._clock() - started, 3)
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
        if self.client is not None:
            s.requests = self.client.stats.requests
            s.rate_limited = self.client.stats.rate_limited
            s.found_rpm = self.client.gate.found_rpm
            s.found_rpm_is_floor = s.found_rpm is not None and not self.client.gate.limit_met


def _in_flight(plan: RowPlan, generation: int) -> j.InFlight:
    assert plan.payload_hash is not None and plan.body is not None
    digests = field_digests(plan.body)
    return j.InFlight(plan.key, plan.row, plan.payload_hash, plan.moments, generation, digests)


def _body_for(plan: RowPlan, generation: int) -> dict[str, Any]:
    assert plan.body is not None
    if generation == 0:
        return plan.body
    extras = dict(plan.body.get("extras") or {})
    extras[BATCH_KEY_EXTRA] = j.batch_key(plan.key, generation)
    return {**plan.body, "extras": extras}


def _fields(video: Video, error: str | None) -> j.VideoFields:
    return j.VideoFields(
        video_id=video.id,
        status=video.status,
        preview_url=video.preview_url,
        video_url=video.video_url,
        duration=video.duration,
        error=error,
    )
