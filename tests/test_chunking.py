"""Tests of transcript splitting: examples of each cut level, and properties over any text."""

from __future__ import annotations

import itertools

import pytest
import regex
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support import count_calls

from pipeline.argil.models import utf16_len
from pipeline.chunking import ChunkingError, TooManyPieces, _is_boundary, split_transcript

GRAPHEME = regex.compile(r"\X")


def grapheme_boundaries(text: str) -> set[int]:
    bounds = {0}
    pos = 0
    for cluster in GRAPHEME.findall(text):
        pos += len(cluster)
        bounds.add(pos)
    return bounds


def non_space(text: str) -> str:
    return "".join(text.split())


def locate(source: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Where each piece sits in the source; pieces are verbatim substrings, in order."""
    spans = []
    cursor = 0
    for piece in pieces:
        start = source.find(piece, cursor)
        assert start >= 0, f"piece {piece!r} is not a substring of the source after {cursor}"
        assert not source[cursor:start].strip(), "something other than whitespace was dropped"
        spans.append((start, start + len(piece)))
        cursor = start + len(piece)
    assert not source[cursor:].strip()
    return spans


# --- examples ---------------------------------------------------------------------------


def test_text_within_the_limit_is_one_stripped_piece() -> None:
    text = "  Hello there.\nSecond line,  kept as is.  \n"
    assert split_transcript(text, 500) == [text.strip()]
    assert split_transcript(text, utf16_len(text.strip())) == [text.strip()]


@pytest.mark.parametrize("text", ["", "   ", "\n\t \u3000 \r\n"])
def test_blank_text_gives_no_pieces(text: str) -> None:
    assert split_transcript(text, 10) == []


def test_a_piece_ends_only_where_the_next_unit_would_not_fit() -> None:
    text = "One two. Three four! Five six? Seven eight."
    # "One two. Three four!" is 20 units; adding " Five" would make 25.
    assert split_transcript(text, 20) == ["One two. Three four!", "Five six? Seven", "eight."]
    assert split_transcript(text, 29) == ["One two. Three four! Five", "six? Seven eight."]
    assert split_transcript(text, 30) == ["One two. Three four! Five six?", "Seven eight."]


def test_short_sentences_around_a_long_url_share_its_moments() -> None:
    url = "https://example.com/" + "a" * 700
    text = f"Visit {url} today. Thanks."  # 741 units: one moment used to be five
    assert utf16_len(text) == 741
    assert split_transcript(text, 500) == [f"Visit {url[:494]}", f"{url[494:]} today. Thanks."]


def test_closing_quotes_and_brackets_stay_with_their_sentence() -> None:
    text = 'He said "Stop." Then (quietly.) she left… «Fin!» Done'
    assert split_transcript(text, 16) == [
        'He said "Stop."',
        "Then (quietly.)",
        "she left… «Fin!»",
        "Done",
    ]


def test_numbers_and_domains_are_not_sentence_ends() -> None:
    text = "Version 3.5 is at example.com today. Then more."
    assert split_transcript(text, 36) == ["Version 3.5 is at example.com today.", "Then more."]


def test_cjk_sentence_ends_need_no_space() -> None:
    text = "今日は晴れです。明日は雨でしょう！本当ですか？はい。"
    assert split_transcript(text, 10) == [
        "今日は晴れです。",
        "明日は雨でしょう！",
        "本当ですか？はい。",
    ]


def test_a_run_of_marks_holding_a_full_width_one_needs_no_space() -> None:
    assert split_transcript("Really?！Yes", 8) == ["Really?！", "Yes"]
    assert split_transcript("a.b。c", 4) == ["a.b。", "c"]


def test_danda_and_arabic_question_marks_end_sentences() -> None:
    assert split_transcript("नमस्ते दुनिया। आप कैसे हैं?", 16) == ["नमस्ते दुनिया।", "आप कैसे हैं?"]
    assert split_transcript("كيف حالك؟ أنا بخير.", 10) == ["كيف حالك؟", "أنا بخير."]


def test_a_long_sentence_shares_its_moments_with_its_neighbours() -> None:
    text = "Short one. This sentence is long, with clauses; and more: parts — and a tail."
    assert split_transcript(text, 25) == [
        "Short one. This sentence",
        "is long, with clauses;",
        "and more: parts — and a",
        "tail.",
    ]


def test_clause_marks_inside_numbers_and_times_do_not_cut() -> None:
    text = "Meet at 12:30 or 13:45 with 1,000 people please now"
    assert split_transcript(text, 20) == [
        "Meet at 12:30 or",
        "13:45 with 1,000",
        "people please now",
    ]


def test_a_long_clause_falls_back_to_words() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta"
    assert split_transcript(text, 12) == ["alpha beta", "gamma delta", "epsilon zeta", "eta theta"]


def test_only_a_word_longer_than_the_limit_is_cut_and_it_fills_its_moments() -> None:
    text = "a Supercalifragilistic b"
    assert split_transcript(text, 10) == ["a Supercal", "ifragilist", "ic b"]
    # A word that fits a moment of its own is never cut.
    assert split_transcript("a Supercalifragilistic b", 20) == ["a", "Supercalifragilistic", "b"]


def test_emoji_with_skin_tones_and_zwj_sequences_are_never_cut() -> None:
    thumbs = "👍🏽"  # 4 UTF-16 units
    family = "👨\u200d👩\u200d👧"  # 8 UTF-16 units
    assert split_transcript(thumbs * 3, 9) == [thumbs * 2, thumbs]
    assert split_transcript(family * 2 + "🇫🇷", 10) == [family, family, "🇫🇷"]


def test_combining_accents_stay_on_their_letter() -> None:
    word = "e\u0301" * 5  # five clusters of two code units
    assert split_transcript(word, 3) == ["e\u0301"] * 5
    assert split_transcript(word, 4) == ["e\u0301e\u0301", "e\u0301e\u0301", "e\u0301"]


def test_length_is_counted_in_utf16_units() -> None:
    text = "😀" * 250  # 250 characters, 500 UTF-16 units
    assert split_transcript(text, 500) == [text]
    pieces = split_transcript(text, 499)
    assert [len(p) for p in pieces] == [249, 1]


def test_a_cluster_longer_than_the_limit_is_an_error() -> None:
    family = "👨\u200d👩\u200d👧"
    with pytest.raises(ChunkingError, match="over the transcript limit of 5") as info:
        split_transcript(f"Hi {family} there", 5)
    assert isinstance(info.value, ValueError)
    assert "U+1F468" in str(info.value)


def test_the_error_names_the_first_six_code_points_of_the_cluster() -> None:
    family = "👨\u200d👩\u200d👧\u200d👦"  # seven code points, 11 UTF-16 units
    with pytest.raises(ChunkingError) as info:
        split_transcript(family, 10)
    assert str(info.value) == (
        "one character (U+1F468 U+200D U+1F469 U+200D U+1F467 U+200D ...) is 11 UTF-16 "
        "units long, over the transcript limit of 10; no split can fit it"
    )
    with pytest.raises(ChunkingError) as info:
        split_transcript("e\u0301\u0302\u0303\u0304\u0305", 5)
    assert str(info.value).startswith("one character (U+0065 U+0301 U+0302 U+0303 U+0304 U+0305)")


def test_a_limit_of_one_cuts_between_every_character() -> None:
    assert split_transcript("ab c", 1) == ["a", "b", "c"]
    with pytest.raises(ChunkingError, match="is 2 UTF-16 units long"):
        split_transcript("ae\u0301", 1)


def test_a_cluster_exactly_at_the_limit_is_a_moment_of_its_own() -> None:
    thumbs = "👍🏽"  # 4 UTF-16 units
    assert split_transcript(thumbs, 4) == [thumbs]
    assert split_transcript(f"a{thumbs}b", 4) == ["a", thumbs, "b"]
    assert split_transcript(f"a{thumbs}b", 5) == [f"a{thumbs}", "b"]


def test_a_mark_at_the_very_end_leaves_no_empty_piece() -> None:
    assert split_transcript("今日は晴れ。", 6) == ["今日は晴れ。"]
    assert split_transcript("今日は、晴れ。", 4) == ["今日は、", "晴れ。"]
    assert split_transcript("Done now —", 5) == ["Done", "now —"]


def test_a_dot_with_no_space_after_it_is_no_cut() -> None:
    assert split_transcript("Hello.World again", 11) == ["Hello.World", "again"]
    assert split_transcript("Hello.World", 6) == ["Hello.", "World"]  # only as a long word


def test_whitespace_joined_to_a_neighbour_is_content_at_the_edges() -> None:
    # U+0600 (an Arabic number sign) joins what follows, even a space; an accent joins what
    # precedes, even a space: those spaces are part of a character and stay.
    assert split_transcript(" \u0301abc  ", 10) == [" \u0301abc"]
    assert split_transcript("ab\u0600 \n", 10) == ["ab\u0600 "]
    assert split_transcript("\r\nabc\r\n", 10) == ["abc"]


def test_a_mark_after_a_line_break_starts_a_unit_of_its_own() -> None:
    # A line break is a cut even before a combining mark (clusters break after controls):
    # "\u0301cdefg" fits a moment and is not cut.
    assert split_transcript("ab\n\u0301cdefg", 6) == ["ab", "\u0301cdefg"]


@pytest.mark.parametrize("limit", [0, -3])
def test_a_limit_below_one_is_an_error(limit: int) -> None:
    with pytest.raises(ChunkingError, match="at least 1"):
        split_transcript("text", limit)


def test_a_combining_mark_on_a_space_is_kept_with_its_space() -> None:
    # " \u0301" is one grapheme cluster (an accent shown on its own): the space is content.
    assert split_transcript("abcd \u0301ef", 4) == ["abcd", " \u0301ef"]
    assert split_transcript("abc \u0301def ghi", 5) == ["abc \u0301", "def", "ghi"]


def test_splitting_is_linear_in_the_text_length() -> None:
    # Counted in function calls, not timed: ten times the text, ten times the work.
    sentence = "The quick brown fox jumps over the lazy dog, again and again. "
    text = sentence * 5000  # 310,000 characters
    pieces: list[str] = []
    small = count_calls(lambda: split_transcript(sentence * 500, 500))
    large = count_calls(lambda: pieces.extend(split_transcript(text, 500)))
    assert non_space("".join(pieces)) == non_space(text)
    assert large < 11 * small, f"{large / small:.1f}x the calls for 10x the text"


# --- properties -------------------------------------------------------------------------

SPECIAL = [
    " ", " ", "  ", "\n", "\r\n", "\t", "\u3000", "\u00a0",
    ".", "!", "?", "…", "。", "！", "？", ";", ":", ",", "—", "–", "、", "，",
    '"', "”", ")", "»", "」",
    "\u0301", "\u0308", "\u200d", "\ufe0f", "\U0001f3fd",  # combining, ZWJ, VS16, skin tone
    "👍", "👨", "👩", "👧", "😀", "🇫", "🇷",
    "中", "文", "字", "ᄀ", "ᅡ", "ᆨ", "한",  # CJK and Hangul jamo/syllable
    "क", "्", "ष", "ि",  # Devanagari with virama and a spacing mark
    "\u0600", "\u0903", "𝔘",
]  # fmt: skip
pieces_of_text = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8),
    st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True),
)
texts = st.lists(pieces_of_text, max_size=80).map("".join)


def check_pieces(text: str, limit: int, pieces: list[str]) -> None:
    for piece in pieces:
        assert piece, "empty piece"
        assert utf16_len(piece) <= limit, (piece, limit)
        clusters = GRAPHEME.findall(piece)
        assert not clusters[0].isspace() and not clusters[-1].isspace(), repr(piece)
    assert non_space("".join(pieces)) == non_space(text), "characters lost or reordered"
    bounds = grapheme_boundaries(text)
    for start, end in locate(text, pieces):
        assert start in bounds and end in bounds, f"cut inside a cluster at {start}..{end}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, limit=st.integers(min_value=5, max_value=500))
@example(text="a \u0301b\u0600 c", limit=5)
@example(text="x\r\ny " * 30, limit=5)
def test_pieces_fit_keep_clusters_and_lose_nothing(text: str, limit: int) -> None:
    try:
        pieces = split_transcript(text, limit)
    except ChunkingError:
        longest = max(utf16_len(c) for c in GRAPHEME.findall(text))
        assert longest > limit
        return
    check_pieces(text, limit, pieces)
    if not text.strip():
        assert pieces == []
    # Whitespace bound into a cluster at an edge may add a unit on each side.
    if utf16_len(text.strip()) <= limit - 2 and text.strip():
        assert len(pieces) == 1
        assert pieces[0].strip() == text.strip()


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet="ab .,;—。", max_size=300), limit=st.integers(5, 40))
def test_plain_text_pieces_are_exactly_stripped(text: str, limit: int) -> None:
    pieces = split_transcript(text, limit)
    check_pieces(text, limit, pieces)
    assert all(p == p.strip() for p in pieces)
    if utf16_len(text.strip()) <= limit:
        assert pieces == ([text.strip()] if text.strip() else [])


@settings(max_examples=150, deadline=None)
@given(
    words=st.lists(st.from_regex(r"[a-z]{1,9}", fullmatch=True), min_size=1, max_size=60),
    limit=st.integers(10, 60),
)
def test_word_packing_is_greedy(words: list[str], limit: int) -> None:
    pieces = split_transcript(" ".join(words), limit)
    assert " ".join(pieces) == " ".join(words)
    for piece, following in itertools.pairwise(pieces):
        next_word = following.split(" ")[0]
        assert utf16_len(f"{piece} {next_word}") > limit, "a word would still have fitted"


SEPARATORS = [
    *(" ", "\t", "\n", "\r", "\u3000", "\u00a0", "\u2028", "\x1c"),
    *(".", "!", "?", "…", "。", "！", "？", "؟", "۔", "।"),
    *(";", ":", ",", "،", "؛", "—", "–", "、", "，", "；", "："),
    *('"', "'", "”", "’", "»", ")", "]", "}", "」", "』", "】", "》", "〉", "）", "〕"),
]


@settings(max_examples=400, deadline=None)
@given(
    other=st.characters(exclude_categories=["Cs"]).filter(lambda c: not c.isspace()),
    separator=st.sampled_from(SEPARATORS),
    separator_first=st.booleans(),
)
@example(other="\u0600", separator=" ", separator_first=False)  # Prepend joins a space
@example(other="\u0301", separator="\n", separator_first=True)  # but no line break
def test_boundary_shortcut_agrees_with_the_grapheme_rules(
    other: str, separator: str, separator_first: bool
) -> None:
    pair = separator + other if separator_first else other + separator
    assert _is_boundary(pair, 1) == (len(GRAPHEME.findall(pair)) == 2), [hex(ord(c)) for c in pair]


# --- as few moments as the limit allows -------------------------------------------------

# Words of letters, an emoji with a skin tone (one 4-unit cluster), accented letters, Hangul
# jamo and full-width text ending in a mark that allows a cut with no space after it.
word_parts = st.one_of(
    st.from_regex(r"[A-Za-z]{1,6}", fullmatch=True),
    st.sampled_from(["👍🏽", "e\u0301", "ᄀ\u1161\u11a8", "中文", "3.5", "a,b"]),
)
words = st.lists(word_parts, min_size=1, max_size=6).map("".join)
joined_words = st.lists(
    st.tuples(words, st.sampled_from([" ", "  ", "\n", ". ", ", ", "。", "。 ", "、", "—"])),
    min_size=1,
    max_size=40,
)


def build(parts: list[tuple[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The text and the spans of its words with their marks: the only cuts are between them."""
    text, spans = "", []
    for word, separator in parts:
        spans.append((len(text), len(text) + len(word + separator.rstrip())))
        text += word + separator
    return text, spans


def next_atom(text: str, spans: list[tuple[int, int]], pos: int, limit: int) -> int:
    """Where the smallest span a piece starting at ``pos`` may not be cut inside ends."""
    for start, end in spans:
        if start <= pos < end:
            if pos == start and utf16_len(text[start:end]) <= limit:
                return end
            return pos + len(GRAPHEME.match(text, pos).group())
    raise AssertionError(f"a piece starts at {pos}, outside every word")


@settings(max_examples=300, deadline=None)
@given(parts=joined_words, limit=st.integers(1, 40))
@example(parts=[("ab", " "), ("cdefgh", " "), ("i", ".")], limit=4)
def test_no_piece_could_have_taken_the_next_unit(parts: list[tuple[str, str]], limit: int) -> None:
    text, spans = build(parts)
    try:
        pieces = split_transcript(text, limit)
    except ChunkingError:
        assert max(utf16_len(c) for c in GRAPHEME.findall(text)) > limit
        return
    check_pieces(text, limit, pieces)
    located = locate(text, pieces)
    starts = {start for start, _ in spans}
    ends = {end for _, end in spans}
    for (start, end), (following, _) in itertools.pairwise(located):
        if end in ends:
            assert following in starts, "a piece ends at a word's end but the next does not start"
        else:  # a cut inside a word: only one too long for a moment of its own
            assert end == following
            assert any(a < end < b and utf16_len(text[a:b]) > limit for a, b in spans)
        taken = next_atom(text, spans, following, limit)
        assert utf16_len(text[start:taken]) > limit, "the next unit would still have fitted"


ordinary_words = st.one_of(
    st.from_regex(r"[A-Za-z]{1,12}[.,!?]?", fullmatch=True),
    st.builds("https://example.com/{}".format, st.integers(480, 1200).map("x1".__mul__)),
)


@settings(max_examples=200, deadline=None)
@given(
    script=st.lists(ordinary_words, min_size=1, max_size=80).map(" ".join),
    limit=st.integers(150, 500),
)
def test_a_script_takes_at_most_one_moment_more_than_its_length_needs(
    script: str, limit: int
) -> None:
    # A moment ends at most a word and a space (14 units) short of the limit, or exactly at it
    # inside a long URL: for scripts like these that is at most one moment more than ideal.
    pieces = split_transcript(script, limit)
    assert len(pieces) <= -(-utf16_len(script) // limit) + 1
    assert " ".join(pieces).replace(" ", "") == script.replace(" ", "")


def test_most_allows_that_many_pieces_and_stops_at_the_next() -> None:
    text = "one two three four five"  # at 10 units: "one two", "three four", "five"
    assert split_transcript(text, 10, most=3) == ["one two", "three four", "five"]
    with pytest.raises(TooManyPieces) as too_many:
        split_transcript(text, 10, most=2)
    assert too_many.value.most == 2
    with pytest.raises(TooManyPieces):
        split_transcript("one", 10, most=0)


def test_a_huge_text_is_given_up_on_after_the_pieces_allowed() -> None:
    """No space in 50 MB: found too long after the 2,000 characters of 4 pieces, a few calls
    each, rather than after cutting all of it into 50 million clusters."""
    text = "x" * (50 << 20)

    def split() -> None:
        with pytest.raises(TooManyPieces):
            split_transcript(text, 500, most=3)

    assert count_calls(split) < 20 * 2_000
