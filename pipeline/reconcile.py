"""What the API already holds for a batch: its videos, read by listing the batch tag.

The journal makes a crash safe; this makes a lost, moved or new journal safe. Before a run
sends a row the journal does not know, it lists every video carrying the batch's tag (pages
of 100) and adopts the one whose ``argilBatchKey`` is the row's key. Absence has to be
proven: a listing that fails, that changes under the reader, or whose videos come back
without their ``extras`` says nothing about which rows have a video, and :class:`Unproven`
is raised so that those rows wait rather than being sent.

The same listing also answers status polls (``--wait``, ``status``; see ``follow``): a page
of 100 videos is one read, where polling each video is one read per video.

:func:`list_batch`, :func:`choose`, :func:`differences` and :func:`decide` are pure of the
run; :func:`reconcile_rows` and :func:`lookup` (a row left in flight, asked for by its key)
apply them to a :class:`~pipeline.runner.Runner`'s rows and journal.

Exceptions:
    Unproven    the listing cannot prove which videos the batch has; ``reason`` says why
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline import journal as j
from pipeline.argil.client import (
    ArgilClient,
    ArgilError,
    FatalError,
    NotFound,
    RowError,
    TransportError,
)
from pipeline.argil.models import Video, VideoStatus
from pipeline.batch import BATCH_TAG_EXTRA
from pipeline.config import BATCH_KEY_EXTRA
from pipeline.mapping import RowPlan
from pipeline.outcomes import CHANGED, CHANGED_ON_API, IN_DOUBT, PENDING
from pipeline.render import fault

if TYPE_CHECKING:
    from pipeline.runner import Runner

logger = logging.getLogger("pipeline.reconcile")

PAGE_SIZE = 100
# Past this many pages (100,000 videos) the batch is not one campaign's videos: the server is
# not paging as it should, and reading on would only spend the read budget.
MAX_PAGES = 1_000
# A listing this many pages long says so at -v as it goes: it may take minutes.
PAGES_BETWEEN_NOTES = 10
_RESERVED = frozenset({BATCH_KEY_EXTRA, BATCH_TAG_EXTRA})
# (wire name in the body, attribute of VideoMomentOut) of what a Video echoes per moment.
_MOMENT_FIELDS = (
    ("transcript", "transcript"),
    ("audioUrl", "audio_url"),
    ("avatarId", "avatar_id"),
    ("voiceId", "voice_id"),
    ("gestureSlug", "gesture_slug"),
)


class OtherBatch(Exception):
    """Rows about to get their first video in a batch new to the API already have videos in
    another batch: a renamed config, or a campaign that ran under another name."""


class Unproven(Exception):
    """The batch's videos could not all be read; nothing may be concluded from absence."""

    def __init__(self, reason: str, *, fatal: bool = False, stop: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        # The key itself was refused: no other request will succeed either.
        self.fatal = fatal
        # Why the whole run must stop (the key refused, the API unreachable), if it must.
        self.stop = stop or (reason if fatal else None)


@dataclass
class Listing:
    """The batch's videos as one listing read them."""

    by_id: dict[str, Video] = field(default_factory=dict)
    # Row key -> [(generation, video)] for every video whose argilBatchKey could be read.
    by_key: dict[str, list[tuple[int, Video]]] = field(default_factory=dict)
    # Tagged videos whose argilBatchKey is missing (edited by hand?): no row can claim them.
    unattributed: int = 0
    reads: int = 0
    # The total the API gave with each page: the same on every page when nothing was
    # created or deleted while the pages were read.
    totals: list[int] = field(default_factory=list)

    @property
    def steady(self) -> bool:
        return len(set(self.totals)) <= 1


async def list_batch(
    client: ArgilClient,
    tag: str,
    *,
    until_seen: set[str] | None = None,
    need_extras: bool = True,
) -> Listing:
    """Every video carrying ``tag``, page by page (newest first, as the API lists them).

    ``until_seen``: stop as soon as every one of these video ids was read (a status poll
    needs only the videos it follows, and those are the newest). ``need_extras``: the
    videos' extras must be readable (to tell which row a video belongs to); a status poll,
    which matches videos by id, does without.
    """
    listing = Listing()
    wanted = {BATCH_TAG_EXTRA: tag}
    returned: set[str] = set()
    totals = listing.totals
    page = 1
    while True:
        try:
            result = await client.list_videos(page=page, limit=PAGE_SIZE, extras_filter=wanted)
        except ArgilError as exc:
            reason = f"the batch's videos could not be listed ({exc.message})"
            if isinstance(exc, TransportError):
                reason = f"the API cannot be reached ({exc.message})"
            # Past every retry: the requests after this one would fare no better, so the run
            # stops and leaves what it could not check to the next one. A listing refused
            # for itself (400) says nothing of the creates: only the rows it covers wait.
            stop = None if isinstance(exc, RowError) else reason
            raise Unproven(reason, fatal=isinstance(exc, FatalError), stop=stop) from exc
        listing.reads += 1
        totals.append(result.total_items)
        claimed = f"it claimed {result.total_items} videos in {result.total_pages} pages"
        new = {video.id for video in result.videos} - returned
        if result.videos and not new:
            # A server that answers every page with the same videos would be read forever.
            raise Unproven(
                f"the API's listing of the batch repeats itself: page {page} held only videos "
                f"already listed ({claimed})"
            )
        for video in result.videos:
            if video.id in returned:
                # Videos created while the pages are read push older ones onto the next
                # page, where they show again: each is taken once.
                continue
            returned.add(video.id)
            if video.extras is None:
                if need_extras:
                    raise Unproven(
                        "the API listed the batch's videos without their extras, so which row "
                        "each belongs to cannot be read"
                    )
                listing.by_id[video.id] = video
                continue
            if video.extras.get(BATCH_TAG_EXTRA) != tag:
                continue  # the server ignored the filter: not this batch's video
            _add(listing, video)
        if until_seen is not None and until_seen <= listing.by_id.keys():
            return listing
        # The first empty page ends it, and so does having read as many videos as the server
        # says there are: a page count it inflates must not be followed.
        if not result.videos or page >= result.total_pages or len(returned) >= min(totals):
            break
        if page >= MAX_PAGES:
            raise Unproven(
                f"the API's listing of the batch did not end after {MAX_PAGES} pages "
                f"({claimed}); no batch is that large"
            )
        if page % PAGES_BETWEEN_NOTES == 0:
            logger.info("listing the batch's videos: %d pages read (%s)", page, claimed)
        page += 1
    # A video deleted while the pages were read shifts the later ones forward: one of them
    # may then have been skipped between two pages.
    if need_extras and totals and len(returned) < min(totals):
        raise Unproven(
            f"the API's listing of the batch ended at page {page} after {len(returned)} "
            f"videos though {claimed} (were videos deleted while it was read?)"
        )
    return listing


def _add(listing: Listing, video: Video) -> None:
    listing.by_id[video.id] = video
    assert video.extras is not None
    value = video.extras.get(BATCH_KEY_EXTRA)
    if not isinstance(value, str) or not value:
        listing.unattributed += 1
        return
    key, generation = j.parse_batch_key(value)
    listing.by_key.setdefault(key, []).append((generation, video))


def precedence(video: Video) -> tuple[bool, str, str]:
    """Which of several videos made for one row stands for it, the same in every run that
    reads them: one already rendered (its credits are spent; it is never deleted), then the
    earliest created, then the smallest id. Two runs that made the same rows at once thus
    keep the same video for each row, whichever of them settles first."""
    return (is_draft(video), video.created_at or "", video.id)


def is_draft(video: Video) -> bool:
    return video.status in (None, VideoStatus.IDLE)


def choose(found: list[tuple[int, Video]]) -> tuple[int, Video, list[Video]]:
    """The video that stands for a row: its latest generation (a row resent on purpose) and,
    of several made for it, the first by :func:`precedence`; with the others, which cost
    credits twice."""
    latest = max(generation for generation, _ in found)
    videos = sorted((video for generation, video in found if generation == latest), key=precedence)
    return latest, videos[0], videos[1:]


def differences(body: Mapping[str, Any], video: Video) -> list[str]:
    """The fields where ``video`` (as the API answers it) differs from ``body``.

    The API keeps no hash of a body, so the comparison is over what a Video echoes: its name,
    aspect ratio, the user's extras and each moment's script, audio, avatar, voice and
    gesture. A field is compared only when both sides have it: the API may leave some out, or
    fill in a default (a voice) that the body did not name.
    """
    changed: list[str] = []
    if video.name is not None and video.name != body.get("name"):
        changed.append("name")
    ratio = body.get("aspectRatio")
    if video.aspect_ratio is not None and ratio is not None and video.aspect_ratio != ratio:
        changed.append("aspectRatio")
    if video.extras is not None:
        mine = {k: v for k, v in (body.get("extras") or {}).items() if k not in _RESERVED}
        theirs = {k: v for k, v in video.extras.items() if k not in _RESERVED}
        if mine != theirs:
            changed.append("extras")
    sent = body.get("moments") or []
    if video.moments is not None:
        if len(video.moments) != len(sent):
            changed.append("moments")
            return changed
        for index, (moment, echoed) in enumerate(zip(sent, video.moments, strict=True)):
            for wire, attribute in _MOMENT_FIELDS:
                theirs = getattr(echoed, attribute)
                if theirs is not None and wire in moment and moment[wire] != theirs:
                    changed.append(f"moments[{index}].{wire}")
    return changed


@dataclass
class Adoption:
    """A row's video, found on the API: adopted instead of being created."""

    plan: RowPlan
    generation: int
    video: Video
    duplicates: list[Video]  # more videos made for the same row and generation
    # Fields where the video differs from the row's body today (the row was edited since).
    changed: list[str]


@dataclass
class Decision:
    send: list[tuple[RowPlan, int]] = field(default_factory=list)
    adopt: list[Adoption] = field(default_factory=list)
    not_in_sheet: int = 0


def decide(
    listing: Listing,
    to_send: list[tuple[RowPlan, int]],
    to_resolve: list[tuple[RowPlan, int]],
    known: Collection[str],
    sheet_keys: Collection[str],
) -> Decision:
    """Which rows about to be sent (``to_send``) or left in flight (``to_resolve``) already
    have their video on the API, by a listing that proved every other one absent.

    A row the journal does not know (not in ``known``) claims its latest video whatever its
    generation; a known row only a video of the generation it is about to send or sent."""
    decision = Decision()
    decision.not_in_sheet = listing.unattributed + sum(
        len(found) for key, found in listing.by_key.items() if key not in sheet_keys
    )
    for plan, generation in to_send + to_resolve:
        found = listing.by_key.get(plan.key, [])
        if plan.key in known:
            found = [(g, video) for g, video in found if g == generation]
        if not found:
            # Proven absent: never created, or a create in flight that never landed.
            decision.send.append((plan, generation))
            continue
        made, video, others = choose(found)
        changed = differences(plan.body, video) if plan.body else []
        decision.adopt.append(Adoption(plan, made, video, others, changed))
    return decision


class Unresolved(Exception):
    """The API could not say whether a row's video exists."""


async def reconcile_rows(
    runner: Runner, to_send: list[tuple[RowPlan, int]], to_resolve: list[tuple[RowPlan, int]]
) -> tuple[list[tuple[RowPlan, int]], list[tuple[RowPlan, int]], list[RowPlan]]:
    """Before any create: adopt the videos the API already has for rows about to be sent
    (a lost or moved journal), and resolve rows left in flight from the same listing."""
    assert runner.client is not None and runner.batch_tag is not None
    assert runner.journal is not None
    try:
        listing = await list_batch(runner.client, runner.batch_tag)
    except Unproven as exc:
        if exc.stop:
            runner.stop(exc.stop)
        for plan, _ in to_send:
            if plan.key not in runner.records:
                result = runner.results[plan.row]
                if exc.fatal:
                    result.status, result.error = PENDING, f"not sent: {exc.reason}"
                else:
                    result.status = IN_DOUBT
                    result.error = f"not sent: {exc.reason}; nothing proves it has no video yet"
        return [(p, g) for p, g in to_send if p.key in runner.records], to_resolve, []
    runner.batch_listed = bool(listing.by_id)
    decision = decide(listing, to_send, to_resolve, runner.records.keys(), runner.sheet_keys)
    runner.summary.not_in_sheet = decision.not_in_sheet
    render: list[RowPlan] = []
    for found in decision.adopt:
        plan, video = found.plan, found.video
        if plan.key not in runner.records:
            assert plan.payload_hash is not None
            # A changed row keeps a hash no body has, so later runs find it CHANGED too.
            digest = CHANGED_ON_API if found.changed else plan.payload_hash
            runner.journal.adopt(
                j.InFlight(plan.key, plan.row, digest, plan.moments, found.generation)
            )
        note_duplicates(runner, plan, found.duplicates, len(found.duplicates) + 1)
        runner._adopt(plan, video)
        if video.status not in (None, VideoStatus.IDLE):
            runner._rendered.add(plan.key)
        if found.changed and runner.options.resend_changed:
            decision.send.append((plan, found.generation + 1))
        elif found.changed:
            result = runner.results[plan.row]
            result.status = CHANGED
            result.error = (
                f"the row changed since its video was made ({', '.join(found.changed)} "
                "differ from the video on the API); the video was left alone (run with "
                "--resend-changed to make a new one)"
            )
        elif runner.options.render and video.status in (None, VideoStatus.IDLE):
            render.append(plan)
    return decision.send, [], render


def note_duplicates(runner: Runner, plan: RowPlan, others: list[Video], count: int) -> None:
    if others:
        ids = ", ".join(v.id for v in others)
        runner._adopt_notes[plan.row] = f"{count} videos carry this row's key: {ids}"


async def adopt_if_found(runner: Runner, plan: RowPlan, generation: int) -> None:
    with contextlib.suppress(Unresolved):
        found = await lookup(runner, plan, generation)
        if found is not None:
            try:
                runner._adopt(plan, found)
            except j.JournalWriteError as exc:
                runner._journal_failed(plan, exc)


async def lookup(runner: Runner, plan: RowPlan, generation: int) -> Video | None:
    """The video that carries this row's batch key, or None when there is none.

    Raises Unresolved when the API could not say; the row then stays in flight, and the
    next run asks again."""
    assert runner.client is not None
    key = j.batch_key(plan.key, generation)
    try:
        videos = await runner.client.find_videos({BATCH_KEY_EXTRA: key})
    except ArgilError as exc:
        if isinstance(exc, FatalError):
            runner.stop(exc.message)
        result = runner.results[plan.row]
        result.status = IN_DOUBT
        result.error = f"could not check whether its video exists ({exc.message}); run again"
        raise Unresolved from exc
    matching = [
        v for v in videos if (v.extras or {}).get(BATCH_KEY_EXTRA) == key and is_ours(runner, v)
    ]
    if not matching:
        return None
    matching.sort(key=precedence)
    # Made outside this journal's knowledge (a lost state file, another tool): adopt the
    # oldest and say so, rather than hide credits spent twice.
    note_duplicates(runner, plan, matching[1:], len(matching))
    return matching[0]


def is_ours(runner: Runner, video: Video) -> bool:
    """Not another batch's video (two campaigns may share row keys); a video made before
    batches were tagged carries no tag and is still this row's."""
    tag = (video.extras or {}).get(BATCH_TAG_EXTRA)
    return tag is None or runner.batch_tag is None or tag == runner.batch_tag


@dataclass
class Duplicates:
    """Several videos made for one row and generation (two runs at once on two state files):
    the one that stands for the row, the other drafts, and the others already rendered."""

    key: str
    generation: int
    keep: Video
    drafts: list[Video]
    rendered: list[Video]  # their credits are spent: never deleted, only reported


def find_duplicates(listing: Listing) -> list[Duplicates]:
    found: list[Duplicates] = []
    for key, videos in listing.by_key.items():
        by_generation: dict[int, list[Video]] = {}
        for generation, video in videos:
            by_generation.setdefault(generation, []).append(video)
        for generation, group in sorted(by_generation.items()):
            if len(group) < 2:
                continue
            keep, *others = sorted(group, key=precedence)
            drafts = [v for v in others if is_draft(v)]
            rendered = [v for v in others if not is_draft(v)]
            found.append(Duplicates(key, generation, keep, drafts, rendered))
    return found


async def settle_duplicates(runner: Runner) -> None:
    """Keep one video a row before any is rendered: list the batch, and where several videos
    carry one row key, keep the one :func:`precedence` puts first (every run picks the same),
    delete the other drafts (this batch's, never a rendered one), and move every row of this
    run that holds a deleted or losing video onto the one kept. Two runs of one batch at once
    thus end with one video a row and render none twice; each may have paid the speech of a
    draft that was then deleted.

    When the batch cannot be listed, nothing is deleted and nothing is rendered this run: a
    render could otherwise go to a video that another run's is about to replace."""
    assert runner.client is not None and runner.batch_tag is not None
    assert runner.journal is not None
    try:
        listing = await _steady_listing(runner.client, runner.batch_tag)
    except Unproven as exc:
        if exc.stop:
            runner.stop(exc.stop)
        for plan in runner._to_render:
            fault(
                runner,
                plan,
                f"render not started: {exc.reason}, so a second video of this row made by "
                "another run at the same time cannot be ruled out; run again with --render",
            )
        return
    plans = {plan.key: plan for plan in runner.plans}
    notes: dict[str, str] = {}
    losers: dict[str, Video] = {}  # a losing video's id -> the one kept for its row
    for duplicate in find_duplicates(listing):
        deleted = [v.id for v in duplicate.drafts if await _delete_draft(runner, v)]
        losers.update((v.id, duplicate.keep) for v in duplicate.drafts + duplicate.rendered)
        kept = duplicate.drafts + duplicate.rendered
        runner.summary.duplicates += len(kept)
        runner.summary.deleted += len(deleted)
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
    for key, plan in plans.items():
        result = runner.results.get(plan.row)
        record = runner.journal.get(key)
        if result is None or not result.video_id or record is None:
            continue
        own = j.batch_key(key, record.generation)
        if own in notes:
            result.error = notes[own]
            runner.journal.set_error(key, notes[own])
        keep = losers.get(result.video_id)
        if keep is None and result.video_id not in listing.by_id:
            # Not listed: deleted by another run that kept a video of its own for this row,
            # or only missed by a listing that moved under its reader (then it still exists,
            # and stays).
            keep = await _kept_instead(runner, result.video_id, listing, key, record.generation)
        if keep is None:
            continue
        # This row's video lost (or was already deleted by the other run): the one kept is
        # this row's video from now on, in the output and in the journal.
        state = j.CREATED if is_draft(keep) else j.RENDERING
        runner._record_video(plan, keep, state)
        if not is_draft(keep):
            runner._rendered.add(key)
        note = notes.get(own, f"its video {result.video_id} was replaced by {keep.id}")
        result.error = note
        runner.journal.set_error(key, note)


# Rows of a batch new to the API asked for by their key alone: a campaign renamed shows on the
# first rows as much as on all of them, for a few reads.
OTHER_BATCH_SAMPLE = 3


async def other_batch(runner: Runner, plans: list[RowPlan]) -> str | None:
    """Why the run must not send, when one of the first rows about to be sent already has a
    video in another batch; the run asks only when its own batch has no video on the API
    yet: a renamed campaign would otherwise make every video again, silently."""
    assert runner.client is not None
    sample = plans[:OTHER_BATCH_SAMPLE]
    finds = [runner.client.find_videos({BATCH_KEY_EXTRA: plan.key}) for plan in sample]
    answers = await asyncio.gather(*finds, return_exceptions=True)
    for plan, videos in zip(sample, answers, strict=True):
        if isinstance(videos, ArgilError):
            logger.warning("row %d: other batches not checked: %s", plan.row, videos.message)
            continue
        if isinstance(videos, BaseException):
            raise videos
        for video in videos:
            tag = (video.extras or {}).get(BATCH_TAG_EXTRA)
            if tag and tag != runner.batch_tag:
                return (
                    f"row {plan.row} already has video {video.id} in another batch ({tag}), "
                    "and this batch has none yet: the config or its sheet tab was renamed, or "
                    "this campaign ran under another name. Nothing was sent. To go on with "
                    f"that batch (its videos kept, none made twice), set `batch: {tag}` under "
                    "input in the config; to make new videos for these rows, run with "
                    "--new-batch"
                )
    return None


async def _steady_listing(client: ArgilClient, tag: str, tries: int = 3) -> Listing:
    """The batch's listing, read again while videos were created or deleted as its pages
    were read (another run at work): such a listing may have skipped a video, and a video it
    skipped could be deleted or rendered on a wrong belief."""
    for _ in range(tries):
        listing = await list_batch(client, tag)
        if listing.steady:
            return listing
    raise Unproven(f"the batch's videos kept changing while they were listed ({tries} times)")


async def _kept_instead(
    runner: Runner, video_id: str, listing: Listing, key: str, generation: int
) -> Video | None:
    """The video kept for a row whose own video the listing did not show, when its own is
    really gone (404); None while it exists."""
    assert runner.client is not None
    candidates = [v for g, v in listing.by_key.get(key, []) if g == generation]
    if not candidates:
        return None
    try:
        await runner.client.get_video(video_id)
    except NotFound:
        return min(candidates, key=precedence)
    except ArgilError as exc:
        logger.warning("video %s not read again: %s", video_id, exc.message)
    return None


async def _delete_draft(runner: Runner, video: Video) -> bool:
    """Delete a losing draft, read again first: a draft another run started rendering since
    the listing is no longer a draft, and is kept."""
    assert runner.client is not None
    try:
        current = await runner.client.get_video(video.id)
        if current.id != video.id or not is_draft(current) or not is_ours(runner, current):
            return False
        await runner.client.delete_video(video.id)
    except ArgilError as exc:
        if isinstance(exc, FatalError):
            runner.stop(exc.message)
        logger.warning("duplicate video %s not deleted: %s", video.id, exc.message)
        return False
    logger.info("deleted video %s: a second draft of one row", video.id)
    return True
