"""Following videos to their end (``--wait``, ``status``) by listing the batch, not one read
per video: a page of the batch's listing answers for 100 videos at once.

A sweep reads the batch's pages (newest first) until every followed video was seen, then
asks with a single ``GET /videos/{id}`` only for what the listing could not answer (a video
made before batches were tagged, or one whose tag was edited away). When the followed videos
are so few that their pages would cost more than asking for each, each is asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from pipeline import journal as j
from pipeline.argil.client import ArgilClient
from pipeline.argil.models import Video
from pipeline.engine.listing import Unproven, list_batch
from pipeline.engine.render import get_video, is_answer_about
from pipeline.engine.state import RunState
from pipeline.mapping import RowPlan
from pipeline.progress import WAITING

# Seconds between sweeps per read a sweep costs: following a large batch spends about one
# read a second at most, whatever the number of videos.
SECONDS_PER_READ = 1.0


class Follower:
    """Sweeps a run's unfinished videos; remembers how many pages the last sweep read."""

    def __init__(self, client: ArgilClient, state: RunState) -> None:
        self.client = client
        self.state = state
        # Pages the last sweep read: fewer followed videos than that are asked for one by one.
        self.pages = 0

    async def follow(self, plans: Iterable[RowPlan], timeout: float, *, immediate: bool) -> None:
        """Sweep unfinished videos until each is final or ``timeout`` seconds have passed.

        While videos keep finishing, sweeps come every ``poll_initial`` seconds (more for a
        sweep of many pages); a sweep that saw none finish makes the next wait longer."""
        state, options = self.state, self.state.options
        waiting = list(plans)
        state.phase, state.following = WAITING, list(waiting)
        deadline = state.clock() + timeout
        delay = options.poll_initial
        first = immediate
        while waiting and not state.stopping:
            if not first:
                remaining = deadline - state.clock()
                if remaining <= 0:
                    break
                await state.nap(min(delay, remaining))
                if state.stopping:
                    break
            first = False
            # Sweeps are reads: a stop cancels the ones out, and nothing is lost.
            reads = await state.unless_stopped(self.sweep(waiting)) or 0
            still = [p for p in waiting if state.needs_follow(p)]
            if len(still) < len(waiting):
                delay = max(options.poll_initial, reads * SECONDS_PER_READ)
            else:
                delay = min(max(delay * 1.5, reads * SECONDS_PER_READ), options.poll_max)
            waiting = still
            if timeout <= 0:
                break
        state.show_progress()  # the wait's end, as it is
        if options.wait and waiting and not state.stopping:
            state.summary.wait_timed_out = True
        if options.wait:
            for plan in waiting:
                state.results[plan.row].error = (
                    "still rendering when the wait ended; argil-batch status with --wait "
                    "follows it later"
                )

    async def sweep(self, waiting: list[RowPlan]) -> int:
        """Refresh every followed video once; the number of reads it took."""
        state = self.state
        listed: dict[str, Video] = {}
        reads = 0
        if state.batch_tag is not None and len(waiting) > max(1, self.pages):
            ids = {state.results[plan.row].video_id for plan in waiting}
            try:
                listing = await list_batch(
                    self.client, state.batch_tag, until_seen=ids, need_extras=False
                )
            except Unproven as exc:
                if exc.stop:
                    state.stop(exc.stop)
                # Asking for each video now would spend the reads a listing just failed on:
                # the next sweep lists again.
                for plan in waiting:
                    state.results[plan.row].error = f"status not refreshed: {exc.reason}"
                return 1
            listed, reads = listing.by_id, listing.reads
            self.pages = reads
        unanswered = []
        for plan in waiting:
            video = listed.get(state.results[plan.row].video_id)
            if video is None:
                unanswered.append(plan)
            else:
                self.refresh(plan, video)
        videos = await asyncio.gather(*(get_video(self.client, state, p) for p in unanswered))
        for plan, video in zip(unanswered, videos, strict=True):
            if video is not None:
                self.refresh(plan, video)
        return reads + len(unanswered)

    def refresh(self, plan: RowPlan, video: Video) -> None:
        state = self.state
        if not is_answer_about(video, state.results[plan.row].video_id, plan.key):
            state.fault(plan, f"status not refreshed: the API answered with video {video.id}")
            return
        rendering = plan.key in state.rendered or video.status != "IDLE"
        try:
            state.record_video(plan, video, j.RENDERING if rendering else j.CREATED)
        except j.JournalWriteError as exc:
            state.journal_failed(plan, exc)
