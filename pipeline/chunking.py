"""Splitting a long transcript into pieces that each fit the API's per-moment limit.

Lengths are counted in UTF-16 code units, as the server most likely counts them (an emoji
counts 2). Every piece becomes a moment, and every moment is a cut in the video, so the split
uses as few pieces as the limit allows, and among the splits of that many pieces it takes the
one whose cuts fall where a speaker pauses: at sentence ends if it can, else at clause marks,
else at spaces, and among equals the one of the most even lengths (a last moment of a few
words is a jarring cut).

A cut may fall after sentence ends (. ! ? … 。！？ ؟ ۔ । with any closing quotes or brackets),
after clause marks (; : , ، ؛ — – and their CJK forms) and at whitespace. Latin-style marks
allow a cut only where whitespace follows, so "3.5", "example.com", "12:30" and "1,000" stay
whole; full-width (CJK) marks and dashes allow one without it. A unit between cuts that is
longer than the limit (a long URL) is cut between grapheme clusters, and its first part fills
the piece before it up to the limit; a text holding one is split that way, filling each piece.

How: a greedy pass finds the fewest pieces (each piece ends at the last cut that fits; it
stops as soon as more than ``most`` are needed) and a greedy pass from the end the earliest
place each cut may fall: in any split into that many pieces, the j-th cut lies between the
two passes' j-th cuts. A dynamic programme over the cuts in those windows, first sentence ends
only, then clause marks too, then every cut, picks the split: the fewest cuts at spaces, then
the fewest at clause marks, then the least sum of squared lengths. Cuts are found by compiled
patterns searched only near the places pieces can end, never by a Python step per character.

Guarantees: every piece is within the limit, non-empty and stripped; no cut falls inside a
grapheme cluster (an emoji with a skin tone or a ZWJ sequence, a letter with combining
accents); the same text gives the same pieces; and nothing is lost: joining the pieces with
spaces gives the source text with only its whitespace changed. One caveat follows from the
last two: a whitespace character that belongs to a cluster (a combining accent written on a
space) is content, not whitespace, and stays at the edge of its piece.

Exceptions: :class:`ChunkingError` (a ``ValueError``) when the limit is not positive or a
single grapheme cluster is longer than the limit, so no split can fit; callers report it as
the row's error. Its subclass :class:`TooManyPieces` when the text needs more pieces than the
caller allows: said as soon as the next piece starts, so that a 200 MB cell costs no more than
the pieces allowed.
"""

from __future__ import annotations

import operator
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from functools import partial

import regex

from pipeline.argil.models import utf16_len
from pipeline.errors import ArgilBatchError

__all__ = ["ChunkingError", "TooManyPieces", "split_transcript"]


class ChunkingError(ArgilBatchError, ValueError):
    """The text cannot be split into pieces within the limit."""


class TooManyPieces(ChunkingError):
    """The text needs more than ``most`` pieces; only that many were cut."""

    def __init__(self, most: int) -> None:
        super().__init__(f"the text needs more than {most} pieces")
        self.most = most


_SENTENCE_MARKS = ".!?…؟۔।。！？"
_CLAUSE_MARKS = ";:,،؛—–、，；："
_MARKS = _SENTENCE_MARKS + _CLAUSE_MARKS
_CUT_WITHOUT_SPACE = "。！？—–、，；："
_CLOSERS = "\"'”’»)]}」』】》〉）〕"
_MARKS_AND_CLOSERS = _MARKS + _CLOSERS

# Kinds of cut, in the order a speaker prefers them.
_SENTENCE, _CLAUSE, _SPACE = 0, 1, 2
_Cut = tuple[int, int]  # (end of the piece before, start of the next)

_M, _W, _C = re.escape(_MARKS), re.escape(_CUT_WITHOUT_SPACE), re.escape(_CLOSERS)
# Every cut starts with a run of whitespace or ends a run of marks holding a full-width one or a
# dash: these "sites" say where to look. The stdlib's \s is exactly str.isspace(), which
# str.strip() uses too; regex's differs. The patterns see only a few characters around a site,
# so a search may start anywhere near the place it is about: what it finds does not depend on
# where it started, and the text far from where pieces can end is never read.
_SITE = rf"(?<!\s)\s|[{_W}]"
_NEXT_SITE = re.compile(_SITE)
# The greedy ``.*`` runs to the search's end and backs off: the rightmost site, in C.
_LAST_SITE = re.compile(rf"(?s:.*)(?:{_SITE})")
_LAST_NON_MARK = re.compile(rf"(?s:.*)[^{_M}]")
_TAIL = re.compile(rf"[{_M}]*[{_C}]*")
_SPACES = re.compile(r"\s*")


def _marks_pattern(marks: str) -> re.Pattern[str]:
    """A mark of ``marks`` that ends its run of marks, with its closers: where such a cut ends."""
    return re.compile(rf"[{re.escape(marks)}](?:[{_C}]++|(?![{_M}]))")


# Per kind of cut, what finds the cuts of that kind or better.
_FINDERS = (_marks_pattern(_SENTENCE_MARKS), _marks_pattern(_MARKS), _NEXT_SITE)

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
# A text up to this long is checked for characters past U+FFFF at once (encoding it is faster
# than any search); a longer one is learnt only as far as the split goes.
_CHECKED_WHOLE = 1 << 20
# Up to this many pairs of states and ends, trying every pair costs less than halving.
_EVERY_PAIR = 64
_GRAPHEME = regex.compile(r"\X")
_JOINS_PREVIOUS = regex.compile(r"[\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}]")
_JOINS_NEXT = regex.compile(r"\p{GCB=Prepend}")
_CONTROL = regex.compile(r"[\p{GCB=Control}\p{GCB=CR}\p{GCB=LF}]")


def split_transcript(text: str, limit: int, *, most: int | None = None) -> list[str]:
    """Split ``text`` into as few stripped pieces of at most ``limit`` UTF-16 units as fit,
    cut where a speaker pauses.

    Empty or whitespace-only text gives ``[]``; text within the limit gives one piece.
    Raises :class:`ChunkingError` if ``limit`` < 1 or one grapheme cluster exceeds it, and
    :class:`TooManyPieces` once it is known that more than ``most`` pieces are needed.
    """
    if limit < 1:
        raise ChunkingError(f"the transcript limit must be at least 1, not {limit}")
    lo, hi = _strip(text)
    if lo == hi:
        return []
    splitter = _Splitter(text, lo, hi, limit)
    fewest, filled = splitter.fewest(most)
    # A unit over the limit is cut where it fills a piece, wherever the cuts around it fall:
    # such a text keeps the greedy split (no sentence of it fits a piece whole anyway).
    cuts = fewest if filled or not fewest else splitter.natural(fewest)
    pieces: list[str] = []
    start = lo
    for end, nxt in cuts:
        pieces.append(text[start:end])
        start = nxt
    pieces.append(text[start:hi])
    return pieces


class _Scale:
    """UTF-16 offsets of code point positions, learnt only as far as they are asked for: a
    200 MB cell refused after a few pieces is never scanned whole."""

    def __init__(self, text: str, lo: int, hi: int) -> None:
        self._text = text
        self._hi = hi
        self._seen = lo  # astral characters before this are in _astral
        self._astral: list[int] = []  # their positions
        self._shifted: list[int] = []  # position + index: where each shifts the offsets

    def _learn(self, upto: int) -> None:
        # In steps that double, and a few thousand characters at least: few calls either way.
        upto = min(self._hi, max(upto, 2 * self._seen, self._seen + 4096))
        for match in _ASTRAL.finditer(self._text, self._seen, upto):
            self._shifted.append(match.start() + len(self._astral))
            self._astral.append(match.start())
        self._seen = upto

    def offset(self, pos: int) -> int:
        """UTF-16 units before ``pos`` (whitespace before the text counts as it is: 1 each)."""
        if pos > self._seen:
            self._learn(pos)
        return pos + bisect_left(self._astral, pos) if self._astral else pos

    def upto(self, units: int) -> int:
        """The furthest position at most ``units`` from the start, at most the text's end."""
        # Positions count no more units than they are: below the end, the end is not learnt.
        if units >= self._hi and units >= self.offset(self._hi):
            return self._hi
        if units > self._seen:
            self._learn(units)
        # With j astral characters before it, a position p is at p + j: the furthest fit has
        # the most astral characters whose own position leaves room for them.
        before = bisect_right(self._shifted, units - 2)
        pos = units - before
        return min(pos, self._astral[before]) if before < len(self._astral) else pos

    def since(self, units: int) -> int:
        """The first position at least ``units`` from the start."""
        return self.upto(units - 1) + 1


class _Splitter:
    """One text's cuts, found where they are needed."""

    def __init__(self, text: str, lo: int, hi: int, limit: int) -> None:
        self.text, self.lo, self.hi, self.limit = text, lo, hi, limit
        # offset(pos): UTF-16 units before pos; upto(units): the furthest position at most that
        # far; since(units): the first position at least that far (only asked below the end).
        # Without a character past U+FFFF they are positions themselves, and C calls are a
        # third of the time of ours.
        self.offset: Callable[[int], int]
        self.upto: Callable[[int], int]
        self.since: Callable[[int], int]
        if text.isascii() or (hi - lo <= _CHECKED_WHOLE and utf16_len(text[lo:hi]) == hi - lo):
            self.offset, self.upto, self.since = operator.index, partial(min, hi), operator.index
        else:
            scale = _Scale(text, lo, hi)
            self.offset, self.upto, self.since = scale.offset, scale.upto, scale.since

    def reach(self, start: int) -> int:
        """The furthest end of a piece that starts at ``start``."""
        return self.upto(self.offset(start) + self.limit)

    def fewest(self, most: int | None) -> tuple[list[_Cut], bool]:
        """The greedy split's cuts (each piece ends at the last cut that fits, or fills a unit
        over the limit), and whether it filled one."""
        cuts: list[_Cut] = []
        filled = False
        start = self.lo
        inside: _Cut | None = None  # the cut ending the unit over the limit that start is in
        room = -1  # the reach of the piece before, if it ended at a cut: it may fill further
        while (reach := self.reach(start)) < self.hi:
            cut = self._last_cut(start, reach)
            if cut is None and inside is not None and inside[0] <= reach:
                cut = inside  # its marks may start before this piece, out of the search's sight
            if cut is not None:
                inside, room = None, reach
            else:
                # No cut fits: the unit from here is over the limit. The piece before takes
                # its first clusters if it has room, else this one does.
                fill = self._fill(start, room, fresh=False) if room >= 0 else None
                if inside is None:  # a unit not met before: its end is looked for once
                    # (hi, hi) when the unit runs to the end: no piece reaches that far.
                    inside = self._first_cut(self.reach(start) + 1) or (self.hi, self.hi)
                filled, room = True, -1
                if fill is not None:
                    cuts[-1] = fill
                    start = fill[1]
                    continue
                cut = self._fill(start, reach, fresh=True)
                assert cut is not None  # a fresh piece holds a cluster, or _fill raised
            if most is not None and len(cuts) + 1 >= most:
                raise TooManyPieces(most)  # the next piece starts: one too many
            cuts.append(cut)
            start = cut[1]
        if most is not None and len(cuts) >= most:
            raise TooManyPieces(most)
        return cuts, filled

    def natural(self, fewest: list[_Cut]) -> list[_Cut]:
        """As many cuts as ``fewest`` holds, where a speaker would pause."""
        latest = self._earliest(len(fewest))
        if latest is None:
            return fewest
        windows = [(early[0], late[0]) for early, late in zip(latest, fewest, strict=True)]
        for kind in (_SENTENCE, _CLAUSE, _SPACE):
            layers = [self._cuts_between(first, last, kind) for first, last in windows]
            chosen = self._even(layers)
            if chosen is not None:
                return chosen
        return fewest

    # --- finding cuts --------------------------------------------------------------------

    def _cut(self, end: int, *, wide: bool = False) -> _Cut | None:
        """The cut ending a piece at ``end`` (where whitespace starts, or after marks and
        closers), if a cut is allowed there; ``wide``: the marks are known to hold a
        full-width one or a dash (they began at one), so a long run is not walked back."""
        text = self.text
        if end >= self.hi:
            return None
        if text[end].isspace():
            nxt = _run_end(_SPACES, text, end + 1, self.hi)
            if nxt >= self.hi:
                return None
            # Below these nothing joins a neighbour (see _is_boundary): most cuts stop here.
            if text[end - 1] < "\u0600" and text[nxt] < "\u0300":
                return end, nxt
            ok = _is_boundary(text, end) and _is_boundary(text, nxt)
        else:
            nxt = end
            ok = (wide or self._after_wide_mark(end)) and _is_boundary(text, end)
        return (end, nxt) if ok else None

    def _after_wide_mark(self, end: int) -> bool:
        """Whether the marks before ``end`` (and its closers) hold a full-width one or a dash."""
        text = self.text
        at = end - 1
        while at > self.lo and text[at] in _CLOSERS:
            at -= 1
        while at >= self.lo and text[at] in _MARKS:
            if text[at] in _CUT_WITHOUT_SPACE:
                return True
            at -= 1
        return False

    def _kind(self, end: int) -> int:
        """What a piece ending at ``end`` ends at: its last mark, past any closers."""
        text = self.text
        at = end - 1
        while at > self.lo and text[at] in _CLOSERS:
            at -= 1
        if text[at] in _SENTENCE_MARKS:
            return _SENTENCE
        return _CLAUSE if text[at] in _CLAUSE_MARKS else _SPACE

    def _site_end(self, site: int, bound: int) -> int:
        """Where a piece ends at a site: before its whitespace, or after its marks (read up to
        ``bound`` at most: past the reach, how far a run of marks goes does not matter)."""
        if self.text[site].isspace():
            return site
        return _run_end(_TAIL, self.text, site, bound)

    def _last_cut(self, start: int, reach: int) -> _Cut | None:
        """The last cut after ``start`` whose piece ends at ``reach`` or before."""
        text = self.text
        stop = min(reach + 1, self.hi)
        while (match := _LAST_SITE.search(text, start, stop)) is not None:
            site = match.end() - 1
            end = self._site_end(site, reach + 1)
            if start < end <= reach and (cut := self._cut(end, wide=True)) is not None:
                return cut
            if end <= reach:
                stop = site
            else:  # marks running past the reach: the run's next cut back ends before them
                plain = _LAST_NON_MARK.search(text, start, site)
                stop = start if plain is None else plain.end()
        return None

    def _first_cut(self, since: int) -> _Cut | None:
        """The first cut whose next piece starts at ``since`` or later."""
        text = self.text
        pos = since
        # A run of whitespace or marks that reaches ``since`` may be a cut that began before it.
        while pos > self.lo and (text[pos - 1].isspace() or text[pos - 1] in _MARKS_AND_CLOSERS):
            pos -= 1
        while (match := _NEXT_SITE.search(text, pos, self.hi)) is not None:
            site = match.start()
            end = self._site_end(site, self.hi)
            cut = self._cut(end, wide=True)
            if cut is not None and cut[1] >= since:
                return cut
            pos = max(end, site + 1)
        return None

    def _cuts_between(self, first: int, last: int, kind: int) -> list[tuple[int, int, int]]:
        """(end, next start, kind) of the cuts of ``kind`` or better ending in first..last."""
        text = self.text
        pos = first
        while pos > self.lo and text[pos - 1] in _MARKS_AND_CLOSERS:
            pos -= 1
        found: list[tuple[int, int, int]] = []
        previous = -1
        # A cut ending at last begins there at the latest, and its marks' closers or its
        # lookahead need one character more: the search stops there, not at the text's end.
        for match in _FINDERS[kind].finditer(text, pos, min(last + 1, self.hi)):
            site = match.start()
            end = match.end() if kind < _SPACE else self._site_end(site, self.hi)
            if end > last:
                break
            if end < first or end == previous:  # the marks of one run end at one place
                continue
            previous = end
            # Among every cut, a run of marks is found by its full-width mark or dash.
            cut = self._cut(end, wide=kind == _SPACE)
            if cut is not None:
                if kind == _SPACE:
                    found.append((end, cut[1], self._kind(end)))
                else:  # the match starts at the run's last mark, which says the kind
                    found.append(
                        (end, cut[1], _CLAUSE if text[site] in _CLAUSE_MARKS else _SENTENCE)
                    )
        return found

    def _fill(self, start: int, reach: int, *, fresh: bool) -> _Cut | None:
        """The whole clusters from ``start`` that fit before ``reach`` (whitespace clusters at
        their edge left out), or None if not one does; ChunkingError if even a piece of its
        own (``fresh``) cannot hold the first."""
        text = self.text
        end = start
        for match in _GRAPHEME.finditer(text, start):
            if match.end() > reach:
                if fresh and end == start:
                    _too_long(match.group(), self.limit)
                break
            if not match.group().isspace():
                end = match.end()
        if end == start:
            return None
        # The text's last cluster is no whitespace alone (it is stripped): one follows.
        clusters = _GRAPHEME.finditer(text, end)
        return end, next(m.start() for m in clusters if not m.group().isspace())

    def _earliest(self, count: int) -> list[_Cut] | None:
        """The greedy split from the end: the earliest each of ``count`` cuts may fall."""
        cuts: list[_Cut] = []
        end = self.hi
        for _ in range(count):
            cut = self._first_cut(self.since(self.offset(end) - self.limit))
            if cut is None:
                return None
            cuts.append(cut)
            end = cut[0]
        cuts.reverse()
        return cuts

    # --- choosing among them -------------------------------------------------------------

    def _even(self, layers: list[list[tuple[int, int, int]]]) -> list[_Cut] | None:
        """The cheapest split taking one cut from each layer in turn, or None if none fits.

        The cost is lexicographic: cuts at spaces, then cuts at clause marks, then the sum
        of squared lengths; it is one integer, each kind's penalty above all that the
        cheaper terms can add up to.
        """
        offset = self.offset
        pieces = len(layers) + 1
        squares = pieces * self.limit**2 + 1
        penalty = (0, squares, squares * pieces)
        # A state: where its next piece starts, what it cost, and the cuts that led there.
        starts, costs = [offset(self.lo)], [0]
        paths: list[_Path] = [None]
        for layer in layers:
            links = _cheapest_links(starts, costs, [offset(c[0]) for c in layer], self.limit)
            starts, costs, before, paths = [], [], paths, []
            for (end, nxt, kind), link in zip(layer, links, strict=True):
                if link is not None:
                    starts.append(offset(nxt))
                    costs.append(link[0] + penalty[kind])
                    paths.append(((end, nxt), before[link[1]]))
            if not paths:
                return None
        last = _cheapest_links(starts, costs, [offset(self.hi)], self.limit)[0]
        if last is None:
            return None
        chosen: list[_Cut] = []
        path = paths[last[1]]
        while path is not None:
            cut, path = path
            chosen.append(cut)
        chosen.reverse()
        return chosen


_Path = tuple[_Cut, "_Path"] | None  # the cuts taken so far, the last first


def _cheapest_links(
    starts: list[int], costs: list[int], ends: list[int], limit: int
) -> list[tuple[int, int] | None]:
    """For each end, the cheapest state to come from: (its cost, its index), or None if none
    reaches it; among equals, the first.

    A piece from a state's start to an end costs the state's cost plus its length squared, and
    may not be empty or over ``limit``. Lengths squared make the costs a Monge array, so the
    best state is never earlier for a later end: halving the ends, each half searches only the
    states on its side of the middle's best, O(n log n) rather than every pair.
    """
    links: list[tuple[int, int] | None] = [None] * len(ends)
    if len(starts) * len(ends) <= _EVERY_PAIR:
        for index, end in enumerate(ends):
            for i, start in enumerate(starts):
                if 0 < end - start <= limit:
                    cost = costs[i] + (end - start) ** 2
                    link = links[index]
                    if link is None or cost < link[0]:
                        links[index] = cost, i
        return links
    todo = [(0, len(ends) - 1, 0, len(starts) - 1)]
    while todo:
        first, last, low, high = todo.pop()
        mid = (first + last) // 2
        end = ends[mid]
        best: tuple[int, int] | None = None
        for i in range(max(low, bisect_left(starts, end - limit)), high + 1):
            if starts[i] >= end:
                break
            cost = costs[i] + (end - starts[i]) ** 2
            if best is None or cost < best[0]:
                best = cost, i
        links[mid] = best
        # An end no state reaches tells nothing about its neighbours: they search it all.
        split_low, split_high = (low, high) if best is None else (best[1], best[1])
        if first < mid:
            todo.append((first, mid - 1, low, split_high))
        if mid < last:
            todo.append((mid + 1, last, split_low, high))
    return links


def _run_end(pattern: re.Pattern[str], text: str, pos: int, endpos: int) -> int:
    """Where a run of ``pattern`` (which matches the empty string too) from ``pos`` ends."""
    match = pattern.match(text, pos, endpos)
    assert match is not None
    return match.end()


def _too_long(cluster: str, limit: int) -> None:
    size = utf16_len(cluster)
    points = " ".join(f"U+{ord(c):04X}" for c in cluster[:6])
    more = " ..." if len(cluster) > 6 else ""
    raise ChunkingError(
        f"one character ({points}{more}) is {size} UTF-16 units long, over the "
        f"transcript limit of {limit}; no split can fit it"
    )


def _strip(text: str) -> tuple[int, int]:
    """Where str.strip() would cut ``text``, but keeping whitespace that is part of a cluster."""
    lo, hi = 0, len(text)
    while lo < hi and text[lo].isspace():
        if not _is_boundary(text, lo + 1):
            break
        lo += 1
    while hi > lo and text[hi - 1].isspace():
        prev = hi - 1  # > lo: whitespace left at lo is followed by something else
        if not _is_boundary(text, prev):
            break
        hi = prev
    return lo, hi


def _is_boundary(text: str, pos: int) -> bool:
    """Whether a grapheme cluster boundary lies before text[pos], for 0 < pos <= len(text).

    Only called where one side is whitespace or one of the punctuation marks above
    (Grapheme_Cluster_Break Other or Control). For such pairs the rules of UAX #29 reduce to
    these: the Hangul, emoji, regional-indicator and Indic-conjunct rules need letters or
    symbols on both sides. That makes the check O(1) instead of a \\X scan from the start.
    It says yes inside CR LF, which is whitespace on both sides and dropped at a cut anyway.
    """
    if pos >= len(text):
        return True
    before, after = text[pos - 1], text[pos]
    # Nothing joins the character before it below U+0300, nor the one after it below U+0600.
    if after < "\u0300" and before < "\u0600":
        return True
    if _CONTROL.match(before) or _CONTROL.match(after):
        return True
    return not (_JOINS_PREVIOUS.match(after) or _JOINS_NEXT.match(before))
