"""Splitting a long transcript into pieces that each fit the API's per-moment limit.

Lengths are counted in UTF-16 code units, as the server most likely counts them (an emoji
counts 2). Every piece becomes a moment, and every moment is a cut in the video, so the split
uses as few pieces as the limit allows: a piece ends early only where the next unit would not
fit. The units are what lies between the places a cut may fall: after sentence ends
(. ! ? … 。！？ ؟ । with any closing quotes or brackets), after clause marks (; : , — – and
their CJK forms) and at whitespace. Latin-style marks allow a cut only where whitespace
follows, so "3.5", "example.com", "12:30" and "1,000" stay whole; full-width (CJK) marks and
dashes allow one without it. A single unit longer than the limit (a long URL) is cut between
grapheme clusters, and its first part fills the piece before it up to the limit.

Guarantees: every piece is within the limit, non-empty and stripped; no cut falls inside a
grapheme cluster (an emoji with a skin tone or a ZWJ sequence, a letter with combining
accents); and nothing is lost: joining the pieces with spaces gives the source text with only
its whitespace changed. One caveat follows from the last two: a whitespace character that
belongs to a cluster (a combining accent written on a space) is content, not whitespace, and
stays at the edge of its piece.

Exceptions: :class:`ChunkingError` (a ``ValueError``) when the limit is not positive or a
single grapheme cluster is longer than the limit, so no split can fit; callers report it as
the row's error. Its subclass :class:`TooManyPieces` when the text needs more pieces than the
caller allows: said as soon as the next piece starts, so that a 200 MB cell costs no more than
the pieces allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import regex

from pipeline.argil.models import utf16_len

__all__ = ["ChunkingError", "TooManyPieces", "split_transcript"]


class ChunkingError(ValueError):
    """The text cannot be split into pieces within the limit."""


class TooManyPieces(ChunkingError):
    """The text needs more than ``most`` pieces; only that many were cut."""

    def __init__(self, most: int) -> None:
        super().__init__(f"the text needs more than {most} pieces")
        self.most = most


_MARKS = ".!?…؟۔।。！？;:,،؛—–、，；："
_CUT_WITHOUT_SPACE = "。！？—–、，；："
_CLOSERS = "\"'”’»)\\]}」』】》〉）〕"
# A cut: whitespace, with the marks and closers before it (group 1 is the whitespace: a piece
# ends before it, the next starts after), or else a run of marks holding a full-width one or a
# dash, with its closers (a cut with no whitespace).
# The stdlib's \s is exactly str.isspace(), which str.strip() uses too; regex's differs.
# Every cut starts with whitespace or a mark: saying so first lets the search skip the text in
# between five times faster, which counts in a long cell without a space (a pasted file).
_CUT = re.compile(
    rf"(?=[\s{_MARKS}])(?:(?:[{_MARKS}]+[{_CLOSERS}]*)?(\s+)"
    rf"|[{_MARKS}]*[{_CUT_WITHOUT_SPACE}][{_MARKS}]*[{_CLOSERS}]*)"
)

_GRAPHEME = regex.compile(r"\X")
_JOINS_PREVIOUS = regex.compile(r"[\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}]")
_JOINS_NEXT = regex.compile(r"\p{GCB=Prepend}")
_CONTROL = regex.compile(r"[\p{GCB=Control}\p{GCB=CR}\p{GCB=LF}]")


def split_transcript(text: str, limit: int, *, most: int | None = None) -> list[str]:
    """Split ``text`` into as few stripped pieces of at most ``limit`` UTF-16 units as fit.

    Empty or whitespace-only text gives ``[]``; text within the limit gives one piece.
    Raises :class:`ChunkingError` if ``limit`` < 1 or one grapheme cluster exceeds it, and
    :class:`TooManyPieces` once it is known that more than ``most`` pieces are needed.
    """
    if limit < 1:
        raise ChunkingError(f"the transcript limit must be at least 1, not {limit}")
    lo, hi = _strip(text)
    if lo == hi:
        return []
    atoms = _atoms(text, lo, hi, limit)
    start, end, length = next(atoms)  # the piece being built: text[start:end]
    pieces: list[str] = []
    for a, b, size in atoms:
        # Atoms are separated by whitespace only, and whitespace is one UTF-16 unit.
        if length + (a - end) + size <= limit:
            length += (a - end) + size
            end = b
        else:
            pieces.append(text[start:end])
            if most is not None and len(pieces) >= most:
                raise TooManyPieces(most)
            start, end, length = a, b, size
    pieces.append(text[start:end])
    if most is not None and len(pieces) > most:
        raise TooManyPieces(most)
    return pieces


def _atoms(text: str, lo: int, hi: int, limit: int) -> Iterator[tuple[int, int, int]]:
    """The spans no piece may be cut inside, with their lengths, in order.

    These are the units between cuts, except that a unit longer than the limit gives its
    grapheme clusters one by one (a cluster of whitespace only is a cut, like a space).
    """
    for a, b in _units(text, lo, hi):
        # More code points than the limit is over it (each is one UTF-16 unit or two), and is
        # not copied to be counted: a unit may be a whole 200 MB cell without a space.
        size = utf16_len(text[a:b]) if b - a <= limit else limit + 1
        if size <= limit:
            yield a, b, size
            continue
        pos = a
        for match in _GRAPHEME.finditer(text, a, b):
            cluster = match.group()
            size = utf16_len(cluster)
            if size > limit:
                points = " ".join(f"U+{ord(c):04X}" for c in cluster[:6])
                more = " ..." if len(cluster) > 6 else ""
                raise ChunkingError(
                    f"one character ({points}{more}) is {size} UTF-16 units long, over the "
                    f"transcript limit of {limit}; no split can fit it"
                )
            if not cluster.isspace():
                yield pos, pos + len(cluster), size
            pos += len(cluster)


def _units(text: str, lo: int, hi: int) -> Iterator[tuple[int, int]]:
    """The spans of text[lo:hi] (already stripped) between the places a cut may fall.

    A mark at the very end leaves an empty last unit, which joins the piece before it.
    """
    start = lo
    for match in _CUT.finditer(text, lo, hi):
        if match.group(1) is None:
            end = nxt = match.end()
        else:
            end, nxt = match.span(1)
        if not (_is_boundary(text, nxt) and _is_boundary(text, end)):
            continue
        yield start, end
        start = nxt
    yield start, hi


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
    if _CONTROL.match(before) or _CONTROL.match(after):
        return True
    return not (_JOINS_PREVIOUS.match(after) or _JOINS_NEXT.match(before))
