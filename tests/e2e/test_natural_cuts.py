"""Moments cut where a speaker pauses: on the shipped examples, on a lead sheet the project did
not write (120 rows of 400 to 900 characters, sentences of 60 to 120), and on any script made
of sentences. Each moment is a cut in the video: as few as the limit allows (no more than the
greedy split made), none inside a sentence where whole sentences fit as many moments.

Here through ``validate``, which renders each row and splits its script; the splitting itself,
and the oracles (the greedy split as it was, the cheapest split of a count), are tested in
tests/unit/test_chunking.py.
"""

from __future__ import annotations

from pathlib import Path

from support import ROOT

import pipeline
from pipeline.argil.models import utf16_len
from pipeline.sheets import read_sheet

from ..unit.test_chunking import greedy_split, lead_sheet, mid_sentence_where_avoidable

EXAMPLES = ROOT / "input_examples"

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
