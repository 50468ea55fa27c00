"""The exactly-once create: every row sent ends in exactly one video or a stated reason.

The invariant that makes this hold across crashes: a row is committed ``in_flight`` before its
create is sent, and a row in flight (left by a crash, or answered "in doubt") is only ever
resolved by looking its video up by ``extras.argilBatchKey``; it is sent again only when the
lookup says no video carries it.

:class:`Submitter` works a queue of rows (creates, lookups, renders) with a few workers; the
gate in the client, not the worker count, bounds the requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from typing import Any, Literal

from pipeline import journal as j
from pipeline.argil.client import (
    ArgilClient,
    ArgilError,
    FatalError,
    InDoubt,
    NotSent,
    RowError,
    TransportError,
)
from pipeline.batch import BATCH_KEY_EXTRA, carried_key
from pipeline.cost import Budget
from pipeline.engine.changes import field_digests
from pipeline.engine.price import read_price
from pipeline.engine.reconcile import Unresolved, lookup
from pipeline.engine.render import render
from pipeline.engine.results import IN_DOUBT, PENDING
from pipeline.engine.state import RunState
from pipeline.mapping import RowPlan

logger = logging.getLogger("pipeline.engine.submit")

Kind = Literal["send", "resolve", "render"]
Task = tuple[Kind, RowPlan, int]  # what to do, the row, the generation of its key


class Submitter:
    def __init__(self, client: ArgilClient, state: RunState, fresh: set[str]) -> None:
        self.client = client
        self.state = state
        options = state.options
        self._budget = (
            Budget(options.max_credits, options.budget_source)
            if options.max_credits is not None
            else None
        )
        # Rows never sent before (no record, or pending): committed in flight a few at a time.
        self._fresh = fresh
        # Committed in flight ahead of their turn, not sent yet.
        self._reserved: set[str] = set()
        self._queue: deque[Task] = deque()
        self._batch = 1
        # Rows a worker holds right now: what an abandoned run must not report as settled.
        self._active: dict[int, Kind] = {}
        # Rows whose render is their only work this run: counted as rows when it is done.
        self.render_only: set[str] = set()
        # The estimates read as the drafts are made (see price_on_create), awaited by the
        # engine before it renders.
        self.pricing: list[asyncio.Future[float | None]] = []

    async def drain(self, work: list[Task]) -> None:
        if not work:
            return
        queue = self._queue = deque(work)
        # More workers than request slots: a worker waiting out an in-doubt delay must not
        # leave the API idle. The gate, not the worker count, bounds requests in flight.
        workers = max(1, self.client.gate.concurrency) * 2
        self._batch = workers

        async def worker() -> None:
            while not self.state.stopping:
                try:
                    kind, plan, generation = queue.popleft()
                except IndexError:
                    return
                self._active[plan.row] = kind
                try:
                    if kind == "render":
                        await render(self.client, self.state, plan, self._budget)
                    else:
                        await self._submit(plan, generation, look_first=kind == "resolve")
                except j.JournalWriteError as exc:
                    self.state.journal_failed(plan, exc)
                del self._active[plan.row]
                if kind != "render" or plan.key in self.render_only:
                    self.state.row_finished(plan)

        await asyncio.gather(*(worker() for _ in range(min(workers, len(work)))))
        self.release_queue()

    def price_on_create(self, plan: RowPlan) -> bool:
        """A draft that will stay one this run is priced as soon as it is made; one about to
        be rendered is priced just before its render, and only when a budget needs it."""
        options = self.state.options
        return not options.render or (options.approval is not None and not plan.approved)

    async def priced(self) -> None:
        """The estimates read while creating, all in."""
        if self.pricing:
            await asyncio.gather(*self.pricing)
            self.pricing.clear()

    def release_queue(self) -> None:
        """Rows still queued when the run stops: say why each was not sent or checked."""
        state = self.state
        assert state.journal is not None
        while self._queue:
            kind, plan, _ = self._queue.popleft()
            if kind == "resolve":
                why = f"not checked: {state.stop_reason}; the next run looks it up"
                state.say(plan, IN_DOUBT, why)
            elif kind == "send":
                state.say(plan, PENDING, f"not sent: {state.stop_reason}")
                if plan.key in self._reserved:
                    # Committed in flight ahead of its turn, and known never to have left.
                    # Should that write fail too, the next run's lookup finds nothing, and sends.
                    with contextlib.suppress(j.JournalWriteError):
                        state.journal.mark_pending(plan.key, state.results[plan.row].error)

    def abandon(self) -> None:
        """The rows of a run cancelled mid-request (a second Ctrl-C, or requests still out
        when the grace after the first ran out). A row whose create was out may have its
        video: the journal holds it in flight, and the next run looks it up before sending."""
        state = self.state
        reason = state.stop_reason or "interrupted"
        for row, kind in self._active.items():
            result = state.results[row]
            if kind != "render" and not result.video_id:
                result.status = IN_DOUBT
                result.error = f"{reason} while it was being sent; the next run looks it up"
            elif kind == "render":
                result.error = f"{reason} before its render was confirmed; run again with --render"
        self._active.clear()
        if state.journal is not None:
            self.release_queue()

    async def _submit(self, plan: RowPlan, generation: int, *, look_first: bool) -> None:
        """Make sure this row has exactly one video: look it up whenever a create may have
        landed (a crash left it in flight, or the answer was lost), send only when no video
        carries its key."""
        state = self.state
        assert state.journal is not None
        assert plan.body is not None and plan.payload_hash is not None
        body = _body_for(plan, generation)
        sends = 0
        # Why the first answer was in doubt: what the user needs when the lookup fails too.
        cause: str | None = None
        # A video id the API answered with that another row holds.
        shared: str | None = None
        while True:
            if look_first:
                try:
                    found = await lookup(self.client, state, plan, generation)
                except Unresolved:
                    if cause:
                        state.set_error(
                            plan, f"{state.results[plan.row].error} (the create's answer: {cause})"
                        )
                    return  # still in flight: the next run asks again
                if found is not None:
                    state.adopt(plan, found)
                    self._settled(plan, shared, found.id)
                    return
            if sends == state.options.max_sends:
                why = f" (first: {cause})" if cause else ""
                state.leave_pending(plan, f"every attempt was answered in doubt{why}; run again")
                return
            if self._budget is not None and not state.stopping and not self._budget.take(body):
                state.stop(self._budget.reason())
            if state.stopping:
                state.leave_pending(plan, str(state.stop_reason))
                return
            sends += 1
            self._mark_in_flight(plan, generation)
            try:
                video = await self.client.create_video(body)
            except InDoubt as exc:
                cause = cause or exc.message
                logger.info("row %d: %s; looking its video up by its key", plan.row, exc.message)
                # The create may still be landing: give it a moment, then look it up.
                await state.nap(state.options.doubt_delay)
                look_first = True
                continue
            except RowError as exc:
                state.mark_failed(plan, exc.message)
                return
            except FatalError as exc:
                # Refused outright (bad key, no credits): nothing was created for this row.
                state.leave_pending(plan, exc.message)
                state.stop(exc.message)
                return
            except NotSent:
                # The run stopped while this create waited for its turn: it never left.
                state.leave_pending(plan, str(state.stop_reason))
                return
            except TransportError as exc:
                state.leave_pending(plan, exc.message)
                state.stop(f"the API cannot be reached ({exc.message})")
                return
            except ArgilError as exc:
                # Rate limited or refused past every retry: nothing was created; next run.
                state.leave_pending(plan, exc.message)
                return
            if carried_key(video) != j.batch_key(plan.key, generation):
                # A stale or crossed answer (a cache on the way, a server mixing up answers),
                # or one that does not say whose video it is: only the video's own key proves
                # it is this row's. This row's video, if the create landed, carries that key.
                shared = video.id
                cause = cause or state.foreign_message(video)
                logger.warning("row %d: %s; looking its own video up by its key", plan.row, cause)
                look_first = True
                continue
            state.created(plan, video)
            self._settled(plan, shared, video.id)
            if self.price_on_create(plan):
                # Priced while the next creates go out: the reads have a gate of their own, so
                # the prices are in by the time the last create is.
                self.pricing.append(asyncio.ensure_future(read_price(self.client, state, plan)))
            return

    def _settled(self, plan: RowPlan, foreign: str | None, own_id: str) -> None:
        """The row has its video. When its create was answered with another video, the row
        says so and which is its own; the row that video belongs to needs no word: its video
        is proven by its own key."""
        if foreign:
            row = self.state.whose_video(foreign)
            whose = f"row {row}'s video" if row is not None else "a video that is not this row's"
            self.state.set_error(
                plan,
                f"the API answered with video {foreign} ({whose}); this row's own video "
                f"{own_id} was found by its key",
            )

    def _mark_in_flight(self, plan: RowPlan, generation: int) -> None:
        """Commit this row in flight before its request leaves, and with it the next fresh
        rows in line (as many as there are workers): one wait on the disk for all of them
        instead of one each. A crash then leaves a few rows in flight that were never sent;
        the next run looks each up, finds no video, and sends it, as after any crash. A clean
        stop puts the ones it did not send back to pending."""
        assert self.state.journal is not None
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
        self.state.journal.mark_many_in_flight(rows)
        self._reserved.update(row.key for row in rows[1:])


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
