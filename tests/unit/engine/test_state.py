"""The run's state: the one writer of a row's result and of the journal's record of it, the
stop, and the counts the summary and the progress show."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import journal as j
from pipeline.argil.models import Video
from pipeline.engine.plan import plan_rows
from pipeline.engine.results import FAILED, PENDING
from pipeline.engine.state import ApiCounts, RunState
from pipeline.settings import RunOptions

from .test_plan import row


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[j.Journal]:
    book = j.Journal(tmp_path / "run.state", target="sandbox")
    yield book
    book.close()


def state_of(journal: j.Journal, *keys: str, **kwargs: object) -> RunState:
    rows = [row(2 + i, key) for i, key in enumerate(keys)]
    planned = plan_rows(rows, {}, RunOptions())
    for plan in rows:
        journal.mark_in_flight(plan.key, plan.row, "h1", 1, 0)
    return RunState(rows, planned.results, RunOptions(), journal=journal, **kwargs)  # type: ignore[arg-type]


def test_a_video_recorded_is_the_rows_in_the_output_and_in_the_journal(
    journal: j.Journal,
) -> None:
    state = state_of(journal, "a")
    plan = state.plans[0]
    state.created(plan, Video(id="v1", status="IDLE", preview_url="https://p/v1"))
    result = state.results[2]
    assert (result.video_id, result.status, result.preview_url) == ("v1", "IDLE", "https://p/v1")
    stored = journal.get("a")
    assert stored is not None and (stored.state, stored.video_id) == (j.CREATED, "v1")
    assert state.summary.created == 1 and state.changes == 1


def test_a_video_that_ended_failed_is_a_failed_record_and_a_failed_row(
    journal: j.Journal,
) -> None:
    state = state_of(journal, "a")
    state.record_video(state.plans[0], Video(id="v1", status="FAILED"), j.RENDERING)
    stored = journal.get("a")
    assert stored is not None and stored.state == j.FAILED
    assert state.results[2].error == "the video ended FAILED"
    assert state.summarise().failed == 1


def test_a_row_left_pending_says_why_and_the_journal_agrees(journal: j.Journal) -> None:
    state = state_of(journal, "a")
    state.leave_pending(state.plans[0], "the budget is reached")
    assert (state.results[2].status, state.results[2].error) == (
        PENDING,
        "not sent: the budget is reached",
    )
    stored = journal.get("a")
    assert stored is not None and stored.state == j.PENDING


def test_a_fault_is_a_failed_row_that_keeps_its_videos_last_status(journal: j.Journal) -> None:
    state = state_of(journal, "a", "b")
    first, second = state.plans
    state.record_video(first, Video(id="v1", status="GENERATING_VIDEO"), j.RENDERING)
    state.record_video(second, Video(id="v2", status="GENERATING_VIDEO"), j.RENDERING)
    state.gone(first)
    state.mark_failed(second, "HTTP 400: refused")
    summary = state.summarise()
    assert state.results[2].status == "GENERATING_VIDEO"
    assert state.results[2].error == "the video no longer exists on the API"
    assert (summary.failed, summary.rendering) == (2, 0)
    assert state.results[3].status == FAILED and not state.needs_follow(second)


def test_the_first_stop_reason_is_kept_and_the_gate_is_told_each_time() -> None:
    closed: list[int] = []
    state = RunState([], {}, RunOptions(), on_stop=lambda: closed.append(1))
    state.stop("the API refused the key")
    state.stop("interrupted")
    assert state.stop_reason == "the API refused the key" and state.stopping
    assert closed == [1, 1]
    assert state.summarise().stopped == "the API refused the key"


def test_a_nap_is_cut_short_by_a_stop() -> None:
    async def scenario() -> float:
        slept: list[float] = []

        async def long_sleep(seconds: float) -> None:
            slept.append(seconds)
            await asyncio.sleep(3600)

        state = RunState([], {}, RunOptions(), sleep=long_sleep)
        nap = asyncio.ensure_future(state.nap(3600))
        await asyncio.sleep(0)
        state.stop("interrupted")
        await asyncio.wait_for(nap, timeout=5)
        return slept[0]

    assert asyncio.run(scenario()) == 3600


def test_the_progress_and_the_summary_read_the_clients_counts() -> None:
    counts = ApiCounts(requests=7, rate_limited=2, paused=12.0, found_rpm=58.0, limit_met=False)
    state = RunState([], {}, RunOptions(), api_counts=lambda: counts, clock=lambda: 100.0)
    progress = state.progress()
    assert (progress.requests, progress.paused) == (7, 12.0)
    summary = state.summarise()
    assert (summary.requests, summary.rate_limited, summary.found_rpm) == (7, 2, 58.0)
    assert summary.found_rpm_is_floor, "no limit met: the rate found is only a floor"
