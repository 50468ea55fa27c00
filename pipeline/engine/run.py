"""The order of a run's steps on its rows, in two halves the caller runs one after the other:
:meth:`Engine.read` (the reads before the first create: the batch listed and adopted, the
pre-flight, a renamed batch refused) says which rows will be sent; :meth:`Engine.send` sends
them, settles duplicates, renders and waits. Between the two the caller may price the rows
and ask the user. :meth:`Engine.refresh` is ``status``: reads only.

Pure library: no printing, no exit codes, no files but the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pipeline.argil.catalogue import Catalogue, fetch_catalogue
from pipeline.argil.client import ArgilClient, ArgilError, FatalError
from pipeline.cost import estimate_body
from pipeline.engine.download import download_files
from pipeline.engine.follow import Follower
from pipeline.engine.plan import Plan, Work
from pipeline.engine.preflight import check_rows, uses_styles
from pipeline.engine.price import price_drafts
from pipeline.engine.reconcile import (
    OtherBatch,
    adopt_if_found,
    other_batch,
    reconcile_rows,
    settle_duplicates,
)
from pipeline.engine.results import PENDING, RunSummary
from pipeline.engine.state import RunState
from pipeline.engine.submit import Submitter, Task
from pipeline.mapping import RowPlan
from pipeline.progress import CHECKING, LISTING, SENDING

logger = logging.getLogger("pipeline.engine.run")


class Engine:
    def __init__(self, client: ArgilClient, state: RunState, plan: Plan) -> None:
        self.client = client
        self.state = state
        self.follower = Follower(client, state)
        self.submitter = Submitter(client, state, plan.fresh)
        self._send: Work = plan.send
        self._resolve: Work = plan.resolve
        self._render: list[RowPlan] = list(plan.render)
        state.summary.already = plan.already

    # --- a run ------------------------------------------------------------------------------

    async def read(self) -> list[RowPlan]:
        """The reads a run needs before its first create, which are independent and go out
        together, one round trip in all: the catalogue, the batch's listing and (a batch this
        journal has no video of) the first rows asked for in another batch. Returns the rows
        the run will send (none when it stopped). Raises OtherBatch."""
        state, to_send = self.state, self._send
        options = state.options
        catalogue = self._catalogue(to_send) if options.preflight and to_send else None
        elsewhere = (
            asyncio.ensure_future(other_batch(self.client, state, [p for p, _ in to_send]))
            if self._may_be_new() and to_send
            else None
        )
        try:
            if state.batch_tag is not None and any(p.key not in state.records for p, _ in to_send):
                state.phase = LISTING
                to_send, self._resolve, adopted = await reconcile_rows(
                    self.client, state, to_send, self._resolve
                )
                self._render += adopted
            if catalogue is not None and to_send and not state.stopping:
                state.phase = CHECKING
                to_send = await check_rows(state, to_send, catalogue)
            if elsewhere is not None and self._batch_is_new() and to_send:
                found = await elsewhere
                if found and not state.stopping:
                    raise OtherBatch(found)
        finally:
            for task in (catalogue, elsewhere):
                if task is None:
                    continue
                # Not needed after all (every row adopted, the batch not new): cancelled, or
                # its failure read here, which nothing then depends on.
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ArgilError):
                    await task
        self._send = to_send
        # A stopped run sends nothing, and has nothing to price.
        return [] if state.stopping else [p for p, _ in self._resolve + self._send]

    async def send(self) -> RunSummary:
        """Send what :meth:`read` left to send, settle the batch's duplicates, render, wait."""
        state, options = self.state, self.state.options
        state.phase = SENDING
        work: list[Task] = [("resolve", p, g) for p, g in self._resolve]
        work += [("send", p, g) for p, g in self._send]
        # A row is counted once: sent (its render, if any, follows), or only rendered.
        state.work_total = len(work) + len(self._render)
        self.submitter.render_only = {plan.key for plan in self._render}
        await self.submitter.drain(work)
        await self.submitter.priced()
        # Renders wait until every create of the run is done and the batch's duplicates (two
        # runs at once) are settled: a video that loses to another must never be rendered.
        candidates: list[RowPlan] = []
        if options.render:
            rows = {p.row: p for p in self._render + [p for _, p, _ in work]}
            candidates = [p for p in rows.values() if state.renderable(p)]
        if self._settles(candidates) and not state.stopping:
            await settle_duplicates(self.client, state, candidates)
        renders = [p for p in candidates if state.renderable(p)]
        if options.approval is not None:
            # render.when: only what a person approved is rendered; the others wait as drafts.
            renders = [p for p in renders if p.approved]
        if not state.stopping:
            # Every draft that stays a draft priced exactly (the reads after the creates, never
            # before them): the price in the sheet is what rendering it would cost. A draft
            # about to be rendered is priced just before its render only when a budget needs
            # it: a render run reads no estimate it does not use.
            rendering = {p.row for p in renders}
            waiting = [p for p in state.plans if p.row not in rendering]
            await price_drafts(self.client, state, waiting)
        state.work_total -= len(self.submitter.render_only - {p.key for p in renders})
        await self.submitter.drain([("render", p, 0) for p in renders])
        if options.approval is not None:
            for plan in state.plans:
                if plan.approved is False and state.renderable(plan):
                    state.waiting_for_approval(plan)
        if options.wait and not state.stopping:
            following = [p for p in state.plans if state.needs_follow(p)]
            await self.follower.follow(following, options.wait_timeout, immediate=False)
        if options.download is not None:
            await download_files(state, state.plans, options.download)
        return await self._finish()

    def drafts_to_render(self, going: list[RowPlan]) -> list[tuple[RowPlan, float]]:
        """The drafts made before that this run will render (approved, when render.when says
        which), with their prices: the API's exact one kept in the state file, else the local
        estimate. The rows it creates are priced in the forecast itself."""
        state, options = self.state, self.state.options
        if not options.render:
            return []
        new = {p.row for p in going}
        found = []
        for plan in self._render:
            if plan.row in new or not state.renderable(plan):
                continue
            if options.approval is not None and not plan.approved:
                continue
            result = state.results[plan.row]
            price = result.credits
            if price is None and plan.body is not None:
                price = estimate_body(plan.body).credits
            found.append((plan, price or 0.0))
        return found

    # --- status -------------------------------------------------------------------------------

    async def refresh(self) -> RunSummary:
        """``status``: rows left in flight are looked up (a read): found videos are adopted,
        the others stay in flight for the next run, which alone may send. Rows not sent yet
        are said so; every unfinished video is refreshed (and followed, with --wait)."""
        state, options = self.state, self.state.options
        lookups = (adopt_if_found(self.client, state, p, g) for p, g in self._resolve)
        await asyncio.gather(*lookups)
        for plan, _ in self._send:
            state.say(plan, PENDING, "not sent yet: the next argil-batch run sends it")
        if options.preflight and self._send:
            # A row the catalogue refuses is INVALID, as the run that refused it said, not a
            # row waiting to be sent.
            await check_rows(state, self._send, self._catalogue(self._send), reading=True)
        unfinished = [p for p in state.plans if state.has_unfinished_video(p)]
        timeout = options.wait_timeout if options.wait else 0.0
        await self.follower.follow(unfinished, timeout, immediate=True)
        if options.download is not None:
            await download_files(state, state.plans, options.download)
        return await self._finish()

    def abandon(self) -> RunSummary:
        """The summary of a run cancelled mid-request; see :meth:`Submitter.abandon`."""
        self.submitter.abandon()
        return self.state.summarise()

    # --- between ------------------------------------------------------------------------------

    async def _finish(self) -> RunSummary:
        if not self.client.stats.requests and not self.state.stopping:
            await self._check_key()
        return self.state.summarise()

    async def _check_key(self) -> None:
        """A run with nothing to send asked the API nothing: one small read still tells a
        key that was revoked or mistyped tonight, rather than a quiet exit 0 every night."""
        try:
            await self.client.list_videos(page=1, limit=1)
        except FatalError as exc:
            self.state.stop(exc.message)
        except ArgilError as exc:
            logger.info("the key was not checked: %s", exc.message)

    def _catalogue(self, to_send: Work) -> asyncio.Future[Catalogue]:
        """The API's avatars, voices (and styles, when a row names one), being fetched."""
        bodies = [p.body for p, _ in to_send if p.body is not None]
        return asyncio.ensure_future(fetch_catalogue(self.client, need_styles=uses_styles(bodies)))

    def _may_be_new(self) -> bool:
        """Before the listing: the journal knows no video of this batch (a first run, a lost
        state), so the listing may show the batch new to the API."""
        state = self.state
        known = any(record.video_id for record in state.records.values())
        return state.batch_tag is not None and not known and not state.options.new_batch

    def _batch_is_new(self) -> bool:
        """No video of this batch on the API, none in the journal: the batch's first run, or
        a campaign renamed (which --new-batch says is meant)."""
        return self._may_be_new() and self.state.batch_listed is False

    def _settles(self, to_render: list[RowPlan]) -> bool:
        """Whether the batch may hold duplicates this run should settle: it made videos
        (another run may have made the same rows at once), or is about to render. A run that
        made none leaves the settling to the runs that did."""
        return self.state.batch_tag is not None and bool(self.state.summary.created or to_render)
