"""The batch's videos on the API applied to a run's rows: adopt what already exists before
anything is created (a lost or moved journal), look up a row left in flight by its key, settle
two videos made for one row (two runs at once), and refuse a batch that looks renamed.

The decisions are :mod:`pipeline.engine.listing`'s pure functions; here they change the rows
through the :class:`~pipeline.engine.state.RunState`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pipeline import journal as j
from pipeline.argil.client import ArgilClient, ArgilError, FatalError, NotFound
from pipeline.argil.models import Video, VideoStatus
from pipeline.batch import BATCH_KEY_EXTRA, BATCH_TAG_EXTRA
from pipeline.engine.listing import (
    Listing,
    Unproven,
    decide,
    find_duplicates,
    is_draft,
    list_batch,
    precedence,
    steady_listing,
)
from pipeline.engine.plan import Work
from pipeline.engine.results import CHANGED, CHANGED_ON_API, IN_DOUBT, PENDING
from pipeline.engine.state import RunState
from pipeline.errors import ArgilBatchError, JobError
from pipeline.mapping import RowPlan

logger = logging.getLogger("pipeline.engine.reconcile")

# Rows of a batch new to the API asked for by their key alone: a campaign renamed shows on the
# first rows as much as on all of them, for a few reads.
OTHER_BATCH_SAMPLE = 3


class OtherBatch(JobError):
    """Rows about to get their first video in a batch new to the API already have videos in
    another batch: a renamed config, or a campaign that ran under another name."""


class Unresolved(ArgilBatchError):
    """The API could not say whether a row's video exists."""


async def reconcile_rows(
    client: ArgilClient, state: RunState, to_send: Work, to_resolve: Work
) -> tuple[Work, Work, list[RowPlan]]:
    """Before any create: adopt the videos the API already has for rows about to be sent
    (a lost or moved journal), and resolve rows left in flight from the same listing.
    Returns (rows to send, rows still to look up, adopted drafts to render)."""
    assert state.batch_tag is not None and state.journal is not None
    try:
        listing = await list_batch(client, state.batch_tag)
    except Unproven as exc:
        if exc.stop:
            state.stop(exc.stop)
        for plan, _ in to_send:
            if plan.key not in state.records:
                if exc.fatal:
                    state.say(plan, PENDING, f"not sent: {exc.reason}")
                else:
                    why = f"not sent: {exc.reason}; nothing proves it has no video yet"
                    state.say(plan, IN_DOUBT, why)
        return [(p, g) for p, g in to_send if p.key in state.records], to_resolve, []
    state.batch_listed = bool(listing.by_id)
    decision = decide(listing, to_send, to_resolve, state.records.keys(), state.sheet_keys)
    state.summary.not_in_sheet = decision.not_in_sheet
    render: list[RowPlan] = []
    for found in decision.adopt:
        plan, video = found.plan, found.video
        if plan.key not in state.records:
            assert plan.payload_hash is not None
            # A changed row keeps a hash no body has, so later runs find it CHANGED too.
            digest = CHANGED_ON_API if found.changed else plan.payload_hash
            state.journal.adopt(
                j.InFlight(plan.key, plan.row, digest, plan.moments, found.generation)
            )
        _note_duplicates(state, plan, found.duplicates, len(found.duplicates) + 1)
        state.adopt(plan, video)
        if video.status not in (None, VideoStatus.IDLE):
            state.rendered.add(plan.key)
        if found.changed and state.options.resend_changed:
            decision.send.append((plan, found.generation + 1))
        elif found.changed:
            state.say(
                plan,
                CHANGED,
                f"the row changed since its video was made ({', '.join(found.changed)} "
                "differ from the video on the API); the video was left alone (run with "
                "--resend-changed to make a new one)",
            )
        elif state.options.render and video.status in (None, VideoStatus.IDLE):
            render.append(plan)
    return decision.send, [], render


def _note_duplicates(state: RunState, plan: RowPlan, others: list[Video], count: int) -> None:
    if others:
        ids = ", ".join(v.id for v in others)
        state.note_on_adoption(plan, f"{count} videos carry this row's key: {ids}")


async def adopt_if_found(client: ArgilClient, state: RunState, plan: RowPlan, gen: int) -> None:
    """A row left in flight, looked up and adopted if its video exists (``status``: it never
    sends, so a row whose video is absent stays in flight for the next run)."""
    with contextlib.suppress(Unresolved):
        found = await lookup(client, state, plan, gen)
        if found is not None:
            try:
                state.adopt(plan, found)
            except j.JournalWriteError as exc:
                state.journal_failed(plan, exc)


async def lookup(client: ArgilClient, state: RunState, plan: RowPlan, gen: int) -> Video | None:
    """The video that carries this row's batch key, or None when there is none.

    Raises Unresolved when the API could not say; the row then stays in flight, and the
    next run asks again."""
    key = j.batch_key(plan.key, gen)
    try:
        videos = await client.find_videos({BATCH_KEY_EXTRA: key})
    except ArgilError as exc:
        if isinstance(exc, FatalError):
            state.stop(exc.message)
        why = f"could not check whether its video exists ({exc.message}); run again"
        state.say(plan, IN_DOUBT, why)
        raise Unresolved(why) from exc
    matching = [
        v
        for v in videos
        if (v.extras or {}).get(BATCH_KEY_EXTRA) == key and is_ours(state.batch_tag, v)
    ]
    if not matching:
        return None
    matching.sort(key=precedence)
    # Made outside this journal's knowledge (a lost state file, another tool): adopt the
    # oldest and say so, rather than hide credits spent twice.
    _note_duplicates(state, plan, matching[1:], len(matching))
    return matching[0]


def is_ours(batch_tag: str | None, video: Video) -> bool:
    """Not another batch's video (two campaigns may share row keys); a video made before
    batches were tagged carries no tag and is still this row's."""
    tag = (video.extras or {}).get(BATCH_TAG_EXTRA)
    return tag is None or batch_tag is None or tag == batch_tag


async def settle_duplicates(client: ArgilClient, state: RunState, to_render: list[RowPlan]) -> None:
    """Keep one video a row before any is rendered: list the batch, and where several videos
    carry one row key, keep the one :func:`~pipeline.engine.listing.precedence` puts first
    (every run picks the same), delete the other drafts (this batch's, never a rendered one),
    and move every row of this run that holds a deleted or losing video onto the one kept. Two
    runs of one batch at once thus end with one video a row and render none twice; each may
    have paid the speech of a draft that was then deleted.

    When the batch cannot be listed, nothing is deleted and nothing is rendered this run: a
    render could otherwise go to a video that another run's is about to replace."""
    assert state.batch_tag is not None and state.journal is not None
    try:
        listing = await steady_listing(client, state.batch_tag)
    except Unproven as exc:
        if exc.stop:
            state.stop(exc.stop)
        for plan in to_render:
            state.fault(
                plan,
                f"render not started: {exc.reason}, so a second video of this row made by "
                "another run at the same time cannot be ruled out; run again with --render",
            )
        return
    notes: dict[str, str] = {}
    losers: dict[str, Video] = {}  # a losing video's id -> the one kept for its row
    for duplicate in find_duplicates(listing):
        deleted = [v.id for v in duplicate.drafts if await _delete_draft(client, state, v)]
        losers.update((v.id, duplicate.keep) for v in duplicate.drafts + duplicate.rendered)
        kept = duplicate.drafts + duplicate.rendered
        state.summary.duplicates += len(kept)
        state.summary.deleted += len(deleted)
        note = (
            f"{len(kept) + 1} videos carried this row's key (another run made it at the same "
            f"time?): kept {duplicate.keep.id}"
        )
        if deleted:
            note += f", deleted the draft{'s' if len(deleted) > 1 else ''} {', '.join(deleted)}"
        undeleted = [v.id for v in kept if v.id not in deleted]
        if undeleted:
            note += f"; not deleted (rendered, or the delete failed): {', '.join(undeleted)}"
        notes[j.batch_key(duplicate.key, duplicate.generation)] = note
    for plan in state.plans:
        key = plan.key
        result = state.results.get(plan.row)
        record = state.journal.get(key)
        if result is None or not result.video_id or record is None:
            continue
        own = j.batch_key(key, record.generation)
        if own in notes:
            state.set_error(plan, notes[own])
        keep = losers.get(result.video_id)
        if keep is None and result.video_id not in listing.by_id:
            # Not listed: deleted by another run that kept a video of its own for this row,
            # or only missed by a listing that moved under its reader (then it still exists,
            # and stays).
            keep = await _kept_instead(client, result.video_id, listing, key, record.generation)
        if keep is None:
            continue
        # This row's video lost (or was already deleted by the other run): the one kept is
        # this row's video from now on, in the output and in the journal.
        old = result.video_id
        state.record_video(plan, keep, j.CREATED if is_draft(keep) else j.RENDERING)
        if not is_draft(keep):
            state.rendered.add(key)
        state.set_error(plan, notes.get(own, f"its video {old} was replaced by {keep.id}"))


async def other_batch(client: ArgilClient, state: RunState, plans: list[RowPlan]) -> str | None:
    """Why the run must not send, when one of the first rows about to be sent already has a
    video in another batch; the run asks only when its own batch has no video on the API
    yet: a renamed campaign would otherwise make every video again, silently."""
    sample = plans[:OTHER_BATCH_SAMPLE]
    finds = [client.find_videos({BATCH_KEY_EXTRA: plan.key}) for plan in sample]
    answers = await asyncio.gather(*finds, return_exceptions=True)
    for plan, videos in zip(sample, answers, strict=True):
        if isinstance(videos, ArgilError):
            logger.warning("row %d: other batches not checked: %s", plan.row, videos.message)
            continue
        if isinstance(videos, BaseException):
            raise videos
        for video in videos:
            tag = (video.extras or {}).get(BATCH_TAG_EXTRA)
            if tag and tag != state.batch_tag:
                return (
                    f"row {plan.row} already has video {video.id} in another batch ({tag}), "
                    "and this batch has none yet: the config or its sheet tab was renamed, or "
                    "this campaign ran under another name. Nothing was sent. To go on with "
                    f"that batch (its videos kept, none made twice), set `batch: {tag}` under "
                    "input in the config; to make new videos for these rows, run with "
                    "--new-batch"
                )
    return None


async def _kept_instead(
    client: ArgilClient, video_id: str, listing: Listing, key: str, generation: int
) -> Video | None:
    """The video kept for a row whose own video the listing did not show, when its own is
    really gone (404); None while it exists."""
    candidates = [v for g, v in listing.by_key.get(key, []) if g == generation]
    if not candidates:
        return None
    try:
        await client.get_video(video_id)
    except NotFound:
        return min(candidates, key=precedence)
    except ArgilError as exc:
        logger.warning("video %s not read again: %s", video_id, exc.message)
    return None


async def _delete_draft(client: ArgilClient, state: RunState, video: Video) -> bool:
    """Delete a losing draft, read again first: a draft another run started rendering since
    the listing is no longer a draft, and is kept."""
    try:
        current = await client.get_video(video.id)
        if current.id != video.id or not is_draft(current) or not is_ours(state.batch_tag, current):
            return False
        await client.delete_video(video.id)
    except ArgilError as exc:
        if isinstance(exc, FatalError):
            state.stop(exc.message)
        logger.warning("duplicate video %s not deleted: %s", video.id, exc.message)
        return False
    logger.info("deleted video %s: a second draft of one row", video.id)
    return True
