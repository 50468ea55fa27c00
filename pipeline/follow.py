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
from typing import TYPE_CHECKING

from pipeline import journal as j
from pipeline.argil.models import FINAL_STATUSES, Video, VideoStatus
from pipeline.mapping import RowPlan
from pipeline.outcomes import CHANGED
from pipeline.progress import WAITING
from pipeline.reconcile import Unproven, list_batch
from pipeline.render import fault, get_video, is_answer_about

if TYPE_CHECKING:
    from pipeline.runner import Runner

# Seconds between sweeps per read a sweep costs: following a large batch spends about one
# read a second at most, whatever the number of videos.
SECONDS_PER_READ = 1.0


def has_unfinished_video(runner: Runner, plan: RowPlan) -> bool:
    result = runner.results.get(plan.row)
    # A CHANGED row's video belongs to an older version of the row: left alone.
    return bool(
        result
        and result.video_id
        and result.status not in FINAL_STATUSES
        and result.status != CHANGED
        and plan.row not in runner._gone
    )


def needs_follow(runner: Runner, plan: RowPlan) -> bool:
    """A video that will change without us: rendering, or asked to render."""
    if not has_unfinished_video(runner, plan):
        return False
    return plan.key in runner._rendered or runner.results[plan.row].status != VideoStatus.IDLE


async def follow(
    runner: Runner, plans: Iterable[RowPlan], timeout: float, *, immediate: bool
) -> None:
    """Sweep unfinished videos until each is final or ``timeout`` seconds have passed.

    While videos keep finishing, sweeps come every ``poll_initial`` seconds (more for a
    sweep of many pages); a sweep that saw none finish makes the next wait longer."""
    waiting = list(plans)
    runner._phase, runner._following = WAITING, list(waiting)
    deadline = runner._clock() + timeout
    delay = runner.options.poll_initial
    first = immediate
    while waiting and not runner.stopping:
        if not first:
            remaining = deadline - runner._clock()
            if remaining <= 0:
                break
            await runner._nap(min(delay, remaining))
            if runner.stopping:
                break
        first = False
        # Sweeps are reads: a stop cancels the ones out, and nothing is lost.
        reads = await runner._unless_stopped(sweep(runner, waiting)) or 0
        still = [p for p in waiting if needs_follow(runner, p)]
        if len(still) < len(waiting):
            delay = max(runner.options.poll_initial, reads * SECONDS_PER_READ)
        else:
            delay = min(max(delay * 1.5, reads * SECONDS_PER_READ), runner.options.poll_max)
        waiting = still
        if timeout <= 0:
            break
    if runner._on_progress is not None:
        runner._on_progress(runner.progress())  # the wait's end, as it is
    if runner.options.wait and waiting and not runner.stopping:
        runner.summary.wait_timed_out = True
    if runner.options.wait:
        for plan in waiting:
            runner.results[plan.row].error = (
                "still rendering when the wait ended; argil-batch status with --wait "
                "follows it later"
            )


async def sweep(runner: Runner, waiting: list[RowPlan]) -> int:
    """Refresh every followed video once; the number of reads it took."""
    assert runner.client is not None
    listed: dict[str, Video] = {}
    reads = 0
    if runner.batch_tag is not None and len(waiting) > max(1, runner._sweep_pages):
        ids = {runner.results[plan.row].video_id for plan in waiting}
        try:
            listing = await list_batch(
                runner.client, runner.batch_tag, until_seen=ids, need_extras=False
            )
        except Unproven as exc:
            if exc.stop:
                runner.stop(exc.stop)
            # Asking for each video now would spend the reads a listing just failed on:
            # the next sweep lists again.
            for plan in waiting:
                runner.results[plan.row].error = f"status not refreshed: {exc.reason}"
            return 1
        listed, reads = listing.by_id, listing.reads
        runner._sweep_pages = reads
    unanswered = []
    for plan in waiting:
        video = listed.get(runner.results[plan.row].video_id)
        if video is None:
            unanswered.append(plan)
        else:
            refresh(runner, plan, video)
    videos = await asyncio.gather(*(get_video(runner, plan) for plan in unanswered))
    for plan, video in zip(unanswered, videos, strict=True):
        if video is not None:
            refresh(runner, plan, video)
    return reads + len(unanswered)


def refresh(runner: Runner, plan: RowPlan, video: Video) -> None:
    if not is_answer_about(video, runner.results[plan.row].video_id, plan.key):
        fault(runner, plan, f"status not refreshed: the API answered with video {video.id}")
        return
    state = j.RENDERING if plan.key in runner._rendered or video.status != "IDLE" else j.CREATED
    try:
        runner._record_video(plan, video, state)
    except j.JournalWriteError as exc:
        runner._journal_failed(plan, exc)
