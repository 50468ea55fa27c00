"""Splitting a long transcript into pieces that each fit the API's per-moment limit.

Lengths are counted in UTF-16 code units, as the server most likely counts them (an emoji
counts 2). A transcript within the limit comes back whole. A longer one is cut, in order of
preference, after sentence ends (. ! ? … 。！？ ؟ । with any closing quotes or brackets), then
after clause marks (; : , — – and their CJK forms), then at whitespace, and only a single
word longer than the limit is cut between grapheme clusters. Whole units are packed greedily
so each piece is as long as the limit allows.

Guarantees: every piece is within the limit, non-empty and stripped; no cut falls inside a
grapheme cluster (an emoji with a skin tone or a ZWJ sequence, a letter with combining
accents); and nothing is lost: joining the pieces with spaces gives the source text with only
its whitespace changed. One caveat follows from the last two: a whitespace character that
belongs to a cluster (a combining accent written on a space) is content, not whitespace, and
stays at the edge of its piece.

Exceptions: :class:`ChunkingError` (a ``ValueError``) when the limit is not positive or a
single grapheme cluster is longer than the limit, so no split can fit; callers report it as
the row's error.
"""

from __future__ import annotations

import re

import regex

from pipeline.argil.models import utf16_len

__all__ = ["ChunkingError", "split_transcript"]


class ChunkingError(ValueError):
    """The text cannot be split into pieces within the limit."""


_CLOSERS = "\"'”’»)\\]}」』】》〉）〕"
# A run of marks and closing quotes/brackets, then group 1: the whitespace after it (the
# piece ends before it, the next starts after). Latin-style marks cut only where whitespace
# follows, so "3.5", "example.com", "12:30" and "1,000" stay whole; full-width (CJK) marks and
# dashes cut without it. That rule is applied in Python on the rare space-less match: a
# lookahead alternative in the pattern makes the scan three times slower.
# The stdlib's \s is exactly str.isspace(), which str.strip() uses too; regex's differs.
_SENTENCE_END = re.compile(rf"[.!?…؟۔।。！？]+[{_CLOSERS}]*(\s*)")
_CLAUSE_END = re.compile(rf"[;:,،؛—–、，；：]+[{_CLOSERS}]*(\s*)")
_WHITESPACE = re.compile(r"(\s+)")
_CUT_WITHOUT_SPACE = frozenset("。！？—–、，；：")

_GRAPHEME = regex.compile(r"\X")
_JOINS_PREVIOUS = regex.compile(r"[\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}]")
_JOINS_NEXT = regex.compile(r"\p{GCB=Prepend}")
_CONTROL = regex.compile(r"[\p{GCB=Control}\p{GCB=CR}\p{GCB=LF}]")

_SENTENCES, _CLAUSES, _WORDS, _GRAPHEMES = range(4)


def split_transcript(text: str, limit: int) -> list[str]:
    """Split ``text`` into stripped pieces of at most ``limit`` UTF-16 code units each.

    Empty or whitespace-only text gives ``[]``; text within the limit gives one piece.
    Raises :class:`ChunkingError` if ``limit`` < 1 or one grapheme cluster exceeds it.
    """
    if limit < 1:
        raise ChunkingError(f"the transcript limit must be at least 1, not {limit}")
    lo, hi = _strip(text, 0, len(text))
    if lo == hi:
        return []
    if utf16_len(text[lo:hi]) <= limit:
        return [text[lo:hi]]
    pieces: list[str] = []
    _Splitter(text, limit, pieces).pack(lo, hi, _SENTENCES)
    return pieces


class _Splitter:
    def __init__(self, text: str, limit: int, out: list[str]) -> None:
        self.text = text
        self.limit = limit
        self.out = out
        # Plain ASCII (most transcripts) cannot hold a multi-character grapheme cluster
        # other than CR LF, which only ever sits inside whitespace that is dropped anyway.
        self.simple = text.isascii()

    def pack(self, lo: int, hi: int, level: int) -> None:
        """Append pieces of text[lo:hi] (already stripped) cut at ``level`` or finer."""
        if level == _GRAPHEMES:
            self._pack_graphemes(lo, hi)
            return
        text, limit = self.text, self.limit
        start = end = -1  # the piece being built: text[start:end]
        length = 0
        simple = self.simple
        for a, b in self._units(lo, hi, level):
            size = b - a if simple else utf16_len(text[a:b])
            if size > limit:
                if start >= 0:
                    self.out.append(text[start:end])
                    start = -1
                self.pack(a, b, level + 1)
            elif start < 0:
                start, end, length = a, b, size
            elif length + (a - end) + size <= limit:
                # Units are separated by whitespace only, and whitespace is one UTF-16 unit.
                length += (a - end) + size
                end = b
            else:
                self.out.append(text[start:end])
                start, end, length = a, b, size
        if start >= 0:
            self.out.append(text[start:end])

    def _units(self, lo: int, hi: int, level: int) -> list[tuple[int, int]]:
        """The spans of text[lo:hi] between the valid cuts of ``level``."""
        text = self.text
        pattern = (_SENTENCE_END, _CLAUSE_END, _WHITESPACE)[level]
        units: list[tuple[int, int]] = []
        start = lo
        for match in pattern.finditer(text, lo, hi):
            end, nxt = match.span(1)
            if end <= start or nxt >= hi:
                continue
            if end == nxt and _CUT_WITHOUT_SPACE.isdisjoint(match.group()):
                continue
            if not self.simple and not (
                _is_boundary(text, end) and (nxt == end or _is_boundary(text, nxt))
            ):
                continue
            units.append((start, end))
            start = nxt
        units.append((start, hi))
        return units

    def _pack_graphemes(self, lo: int, hi: int) -> None:
        text, limit = self.text, self.limit
        start = pos = lo
        length = 0
        for cluster in _GRAPHEME.findall(text[lo:hi]):
            size = utf16_len(cluster)
            if size > limit:
                points = " ".join(f"U+{ord(c):04X}" for c in cluster[:6])
                more = " ..." if len(cluster) > 6 else ""
                raise ChunkingError(
                    f"one character ({points}{more}) is {size} UTF-16 units long, over the "
                    f"transcript limit of {limit}; no split can fit it"
                )
            if length + size > limit:
                self._emit(start, pos)
                start, length = pos, 0
            length += size
            pos += len(cluster)
        self._emit(start, pos)

    def _emit(self, lo: int, hi: int) -> None:
        lo, hi = _strip(self.text, lo, hi)
        if lo < hi:
            self.out.append(self.text[lo:hi])


def _strip(text: str, lo: int, hi: int) -> tuple[int, int]:
    """Like str.strip() on text[lo:hi], but keeping whitespace that is part of a cluster."""
    while lo < hi and text[lo].isspace():
        nxt = lo + 1
        if nxt < hi and not text[nxt].isspace() and not _is_boundary(text, nxt):
            break
        lo = nxt
    while hi > lo and text[hi - 1].isspace():
        prev = hi - 1
        if prev > lo and not text[prev - 1].isspace() and not _is_boundary(text, prev):
            break
        hi = prev
    return lo, hi


def _is_boundary(text: str, pos: int) -> bool:
    """Whether a grapheme cluster boundary lies before text[pos].

    Only called where one side is whitespace or one of the punctuation marks above
    (Grapheme_Cluster_Break Other or Control). For such pairs the rules of UAX #29 reduce to
    these: the Hangul, emoji, regional-indicator and Indic-conjunct rules need letters or
    symbols on both sides. That makes the check O(1) instead of a \\X scan from the start.
    """
    if pos <= 0 or pos >= len(text):
        return True
    before, after = text[pos - 1], text[pos]
    if before < "\x80" and after < "\x80":
        return not (before == "\r" and after == "\n")
    if before == "\r" and after == "\n":
        return False
    if _CONTROL.match(before) or _CONTROL.match(after):
        return True
    return not (_JOINS_PREVIOUS.match(after) or _JOINS_NEXT.match(before))
