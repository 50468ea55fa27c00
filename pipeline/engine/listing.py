"""What the API holds for a batch, read by listing the batch tag, and the pure decisions
made on it.

The journal makes a crash safe; the listing makes a lost, moved or new journal safe. Before a
run sends a row the journal does not know, it lists every video carrying the batch's tag (pages
of 100) and adopts the one whose ``argilBatchKey`` is the row's key. Absence has to be proven:
a listing that fails, that changes under the reader, or whose videos come back without their
``extras`` says nothing about which rows have a video, and :class:`Unproven` is raised so that
those rows wait rather than being sent. The same listing answers status polls (``--wait``,
``status``): a page of 100 videos is one read, where polling each video is one read per video.

:func:`list_batch` reads; :func:`choose`, :func:`differences`, :func:`decide` and
:func:`find_duplicates` are pure functions of what it read, tested alone. The steps that apply
them to a run's rows are in :mod:`pipeline.engine.reconcile`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline import journal as j
from pipeline.argil.client import ArgilClient, ArgilError, FatalError, RowError, TransportError
from pipeline.argil.models import Video, VideoStatus
from pipeline.batch import BATCH_KEY_EXTRA, BATCH_TAG_EXTRA
from pipeline.errors import ArgilBatchError
from pipeline.mapping import RowPlan

logger = logging.getLogger("pipeline.engine.listing")

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


class Unproven(ArgilBatchError):
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


async def steady_listing(client: ArgilClient, tag: str, tries: int = 3) -> Listing:
    """The batch's listing, read again while videos were created or deleted as its pages
    were read (another run at work): such a listing may have skipped a video, and a video it
    skipped could be deleted or rendered on a wrong belief."""
    for _ in range(tries):
        listing = await list_batch(client, tag)
        if listing.steady:
            return listing
    raise Unproven(f"the batch's videos kept changing while they were listed ({tries} times)")
