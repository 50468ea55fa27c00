"""The progress line (``pipeline.progress``): before there is anything to count a total of 0 is
no phase's end and a long start says what it is doing, rather than "0/0 rows"; the rate shown is
measured over the last minute; a long pause the API asked for is said. Through runs off a
terminal: tests/e2e/test_progress_start.py and test_progress_truth.py.
"""

from __future__ import annotations

import pytest

from pipeline import progress
from pipeline.progress import (
    CHECKING,
    DOWNLOADING,
    LISTING,
    WAITING,
    Progress,
    RateMeter,
    progress_display,
)


def lines_for(snapshots: list[Progress]) -> list[str]:
    said: list[str] = []
    with progress_display(True, False, said.append) as show:
        assert show is not None
        for snapshot in snapshots:
            show(snapshot)
    return said


def test_a_total_of_zero_prints_nothing_and_the_first_end_is_said() -> None:
    said = lines_for(
        [
            Progress(total=0, finished=0, failed=0, requests=2, rpm=0.0),
            Progress(total=0, finished=0, failed=0, requests=2, rpm=0.0, phase=WAITING),
            Progress(total=3, finished=3, failed=1, requests=5, rpm=0.0),
        ]
    )
    assert said == ["progress: 3/3 rows, 1 failed (5 requests)"]


def test_a_long_start_says_what_it_is_doing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "PROGRESS_LINE_SECONDS", 0.0)
    said = lines_for(
        [
            Progress(total=0, finished=0, failed=0, requests=3, rpm=0.0, phase=LISTING),
            Progress(total=0, finished=0, failed=0, requests=4, rpm=0.0, phase=CHECKING),
            Progress(total=0, finished=0, failed=0, requests=6, rpm=0.0),
        ]
    )
    assert said == [
        "progress: listing the batch's videos on the API (3 requests)",
        "progress: checking avatars, voices, gestures and styles (4 requests)",
    ]


def test_the_meter_counts_what_was_sent_over_the_last_minute() -> None:
    meter = RateMeter()
    assert meter.rate(0.0, 0) == 0.0
    assert meter.rate(0.5, 10) == 0.0  # under a second says nothing yet
    assert meter.rate(30.0, 30) == pytest.approx(60.0)
    assert meter.rate(60.0, 60) == pytest.approx(60.0)
    # A stall: the rate falls as the window slides past the busy part.
    assert meter.rate(90.0, 60) == pytest.approx(30.0)
    assert meter.rate(150.0, 60) == 0.0


def test_a_long_pause_asked_by_the_api_is_said_in_the_progress_line() -> None:
    lines: list[str] = []
    with progress_display(True, False, lines.append) as show:
        assert show is not None
        show(Progress(total=10, finished=10, failed=0, requests=12, rpm=0.0, paused=42.4))
    assert lines == [
        "progress: 10/10 rows, 0 failed (12 requests; paused 42 s: the API asked to wait "
        "(rate limit))"
    ]


def test_downloads_are_counted_as_files() -> None:
    said = lines_for(
        [
            Progress(total=4, finished=4, failed=0, requests=9, rpm=0.0),
            Progress(
                total=4, finished=4, failed=0, requests=9, rpm=0.0, phase=DOWNLOADING,
                renders_done=3, renders_total=3,
            ),
        ]
    )  # fmt: skip
    assert said[-1] == "progress: downloading: 3/3 files"
