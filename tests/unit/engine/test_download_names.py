"""The names --download gives the files: download.name, else the row's key and the video's
name; safe for every file system, and never one row's name for another's file."""

from __future__ import annotations

from pathlib import Path

from pipeline.engine.download import file_names
from pipeline.mapping import VALID, RowPlan


def plan(row: int, name: str, file_name: str = "") -> RowPlan:
    body = {"name": name, "moments": [{"transcript": "Hi", "avatarId": "a"}]}
    found = RowPlan(row, f"k-{row:040d}", VALID, body, "hash")
    found.file_name = file_name
    return found


def test_the_default_name_is_the_key_and_the_video_name() -> None:
    names = file_names([plan(2, "Intro for Ana: Q3/Q4?")], Path("videos"))
    assert names[2] == Path("videos") / f"k-{2:040d} Intro for Ana_ Q3_Q4_.mp4"


def test_a_template_names_the_file_and_two_alike_are_told_apart() -> None:
    plans = [plan(2, "A", "Acme - Ana"), plan(3, "B", "acme - ana"), plan(4, "C", "CON")]
    names = file_names(plans, Path("out"))
    assert names[2].name == "Acme - Ana.mp4"
    assert names[3].name == "acme - ana (row 3).mp4"  # not row 2's file
    assert names[4].name == "_CON.mp4"  # a name Windows reserves
