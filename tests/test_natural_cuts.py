"""Moments cut where a speaker pauses: on the shipped examples, on a lead sheet the project did
not write (120 rows of 400 to 900 characters, sentences of 60 to 120), and on any script made
of sentences. Each moment is a cut in the video: as few as the limit allows (no more than the
greedy split made), none inside a sentence where whole sentences fit as many moments.

The oracles (the greedy split as it was, the cheapest split of a count) are in test_chunking.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_chunking import (
    SENTENCE,
    check_natural,
    greedy_split,
    kind_of_end,
    whole_sentence_count,
)

import pipeline
from pipeline.argil.models import utf16_len
from pipeline.chunking import split_transcript
from pipeline.sheets import read_sheet
from pipeline.sheets.reading import workbook_sheets

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "input_examples"

_PROSE = (
    "our new plan saves your team hours every week and the reports build themselves from "
    "the data you already have in the tools you use so nobody copies numbers by hand while "
    "managers see the whole pipeline at a glance with alerts when a deal stalls or a customer "
    "goes quiet which means fewer surprises at the end of each quarter"
)
_WORDS = _PROSE.split()
_NAMES = ["Chloé", "Müller", "García", "Zoë", "café", "naïve", "🚀", "👍🏽"]


def sentence(rng: random.Random) -> str:
    """60 to 120 characters: words, now and then a clause mark or a name, and an end."""
    target = rng.randint(60, 120)
    words: list[str] = []
    while len(" ".join(words)) < target - 10:
        word = rng.choice(_NAMES) if rng.random() < 0.04 else rng.choice(_WORDS)
        if words and rng.random() < 0.08:
            words[-1] += rng.choice([",", ",", ";", ":", " —"])
        words.append(word)
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice([".", ".", ".", "!", "?"])


def script(rng: random.Random, low: int, high: int) -> str:
    text = sentence(rng)
    while len(text) < low or (len(text) < high - 120 and rng.random() < 0.7):
        text += " " + sentence(rng)
    return text


def mid_sentence_where_avoidable(text: str, pieces: list[str], limit: int) -> bool:
    """Whether a moment ends inside a sentence although whole sentences fit as many."""
    inside = any(kind_of_end(piece) != SENTENCE for piece in pieces[:-1])
    return inside and whole_sentence_count(text, limit) == len(pieces)


def lead_sheet(path: Path, seed: int = 24, rows: int = 120) -> list[str]:
    rng = random.Random(seed)
    scripts = [script(rng, 400, 900) for _ in range(rows)]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "name", "avatar", "voice", "script"])
        for n, text in enumerate(scripts):
            writer.writerow(
                [f"lead{n}@example.com", f"Lead {n}", "avatar-emma", "voice-emma", text]
            )
    return scripts


CONFIG = """\
input:
  key: email
video:
  name: "Intro for {{ name }}"
moments:
  - transcript: "{{ script }}"
    avatar_id: "{{ avatar }}"
    voice_id: "{{ voice }}"
limits:
  transcript_chars: 500
"""


def test_a_lead_sheet_it_did_not_write_is_cut_at_sentence_ends_where_they_fit(
    tmp_path: Path,
) -> None:
    """120 rows of 400 to 900 characters through `validate`: the greedy split ended a moment
    inside a sentence in most of the rows that needed two, though two whole-sentence moments
    fitted; now none does, and no row takes more moments."""
    scripts = lead_sheet(tmp_path / "leads.csv")
    (tmp_path / "leads.yaml").write_text(CONFIG, encoding="utf-8")
    report = pipeline.validate(tmp_path / "leads.csv", tmp_path / "leads.yaml")
    assert report.valid == 120
    split_rows = 0
    for text, plan in zip(scripts, report.plans, strict=True):
        assert plan.body is not None
        pieces = [moment["transcript"] for moment in plan.body["moments"]]
        assert " ".join(pieces).split() == text.split()
        assert all(utf16_len(piece) <= 500 for piece in pieces)
        assert len(pieces) <= len(greedy_split(text, 500)[0])
        assert not mid_sentence_where_avoidable(text, pieces, 500), pieces
        split_rows += len(pieces) > 1
    assert split_rows > 60  # most rows need two moments: the sheet tests something


def test_the_greedy_split_cut_that_sheet_inside_sentences(tmp_path: Path) -> None:
    """What the test above guards against, measured on the oracle: the greedy split."""
    scripts = lead_sheet(tmp_path / "leads.csv")
    cut = [t for t in scripts if mid_sentence_where_avoidable(t, greedy_split(t, 500)[0], 500)]
    assert len(cut) > 30


def example_cells() -> list[str]:
    """Every non-blank cell of every shipped example sheet."""
    cells: list[str] = []
    for path in sorted(EXAMPLES.iterdir()):
        if path.suffix == ".csv":
            sheets = [read_sheet(path)]
        elif path.suffix == ".xlsx":
            sheets = [read_sheet(path, sheet=name) for name in workbook_sheets(path)]
        else:
            continue
        for sheet in sheets:
            for row in sheet.rows:
                cells += [str(value) for value in row.values.values() if str(value).strip()]
    return cells


@pytest.mark.parametrize("limit", [500, 250, 120])
def test_the_shipped_examples_are_cut_where_a_speaker_pauses(limit: int) -> None:
    cells = example_cells()
    assert sum(utf16_len(cell) > limit for cell in cells) >= 3
    for cell in cells:
        pieces = split_transcript(cell, limit)
        check_natural(cell, limit, pieces)
        assert not mid_sentence_where_avoidable(cell, pieces, limit), pieces


def test_the_launch_scripts_validate_into_moments_cut_where_a_speaker_pauses() -> None:
    """Through `validate`: each launch script (its moments, between the intro and the outro)
    in as many moments as the greedy split made, none ending inside a sentence where whole
    sentences fit as many."""
    report = pipeline.validate(EXAMPLES / "launches.xlsx", ROOT / "configs" / "launches.yaml")
    assert report.invalid == 0
    rows = {
        row.number: row.values
        for row in read_sheet(EXAMPLES / "launches.xlsx", sheet="Launches").rows
    }
    split = 0
    for plan in report.plans:
        assert plan.body is not None
        text = str(rows[plan.row]["script"])
        pieces = [m["transcript"] for m in plan.body["moments"] if m.get("transcript", "") in text]
        assert " ".join(pieces).split() == text.split()
        assert len(pieces) == len(greedy_split(text, 500)[0])
        assert not mid_sentence_where_avoidable(text, pieces, 500), pieces
        split += len(pieces) > 1
    assert split >= 4


sentences = st.builds(lambda seed: sentence(random.Random(seed)), st.integers(0, 2**32 - 1))


@settings(max_examples=150, deadline=None)
@given(
    parts=st.lists(sentences, min_size=1, max_size=12),
    limit=st.integers(60, 500),
)
def test_a_script_of_sentences_is_cut_at_their_ends_where_they_fit(
    parts: list[str], limit: int
) -> None:
    text = " ".join(parts)
    pieces = split_transcript(text, limit)
    assert " ".join(pieces).split() == text.split()
    assert all(utf16_len(piece) <= limit for piece in pieces)
    check_natural(text, limit, pieces)
    assert not mid_sentence_where_avoidable(text, pieces, limit), pieces
