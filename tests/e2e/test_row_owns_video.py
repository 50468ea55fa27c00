"""A row never holds another row's video: only the video's own ``argilBatchKey`` proves whose
it is, whatever brought the answer (a create, a render, a status read), against the project's
emulator answering stale and against a server written apart from it that mixes answers up; a
stale answer to a create is noted on the row it reached, and that row's own video found."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from mixed_up_api import MixedUpApi
from support import CLI_KEY, assert_exactly_once, job_files, leads_config, read_output, write_leads

from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import JobOutcome, run_job
from pipeline.settings import JobSpec, RunOptions

CONFIG = leads_config(input={"namespace": "owns"}, api={"read_rpm": 60000})


def spec(files: dict[str, Path], base_url: str, concurrency: int, **options: object) -> JobSpec:
    return JobSpec(
        sheet=files["sheet"],
        config=files["config"],
        output=files["output"],
        state=files["state"],
        base_url=base_url,
        api_key=CLI_KEY,
        concurrency=concurrency,
        options=RunOptions(preflight=False, doubt_delay=0, poll_initial=0.01, **options),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stale_create_answers_at_concurrency_4_give_no_row_another_rows_video(
    tmp_path: Path, seed: int
) -> None:
    files = job_files(tmp_path, CONFIG, rows=100)
    settings = EmulatorSettings(stale_rate=0.1, seed=seed, latency_ms=20, latency_jitter_ms=20)
    with EmulatorServer(settings) as server:
        outcome = run_job(spec(files, server.base_url, 4))
        assert server.emulator.stats.stale_answers > 0
        assert outcome.exit_code == 0
        # Every output row's video is the one that carries that row's key, once.
        assert_exactly_once(server, files["output"], 100)


def test_a_server_answering_30_percent_of_creates_with_an_earlier_video(tmp_path: Path) -> None:
    files = job_files(tmp_path, CONFIG, rows=100)
    with MixedUpApi(stale_creates=0.3, seed=7) as api:
        outcome = run_job(spec(files, api.base_url, 8))
        assert api.mixed_answers >= 15
        holders = api.holders()
    rows = read_output(files["output"])
    wrong = [r for r in rows if holders.get(r["argil_video_id"]) != r["argil_row_key"]]
    assert wrong == []
    assert len({r["argil_video_id"] for r in rows}) == 100
    assert outcome.exit_code == 0
    # A row whose create was answered with another video says so, and names its own.
    noted = [r for r in rows if r["argil_error"].startswith("the API answered with video ")]
    assert noted and all("was found by its key" in r["argil_error"] for r in noted)


def test_mixed_up_render_and_status_answers_never_land_on_a_row(tmp_path: Path) -> None:
    files = job_files(tmp_path, CONFIG, rows=40)
    with MixedUpApi(stale_reads=0.3, seed=3) as api:
        run_job(spec(files, api.base_url, 4, render=True))
        assert api.mixed_answers > 0
        holders = api.holders()
        # One render a row: a mixed-up answer is read back, never taken for another render.
        assert sorted(api.renders) == sorted(holders)
    rows = read_output(files["output"])
    assert all(holders[r["argil_video_id"]] == r["argil_row_key"] for r in rows)


# --- a listing that lies about its size --------------------------------------------------


def _lost_state_run(tmp_path: Path, api: MixedUpApi, rows: int, **lies: object) -> JobOutcome:
    """A first run makes the videos; its state is lost, the listing starts lying, and the
    next run must list the batch."""
    files = job_files(tmp_path, CONFIG, rows=rows)
    run_job(spec(files, api.base_url, 4))
    files["state"].unlink()
    for name, value in lies.items():
        setattr(api, name, value)
    api.listings = 0
    outcome = run_job(spec(files, api.base_url, 4))
    assert len(api.videos) == rows, "nothing sent twice"
    return outcome


def test_a_listing_claiming_a_billion_pages_stops_past_its_items(tmp_path: Path) -> None:
    with MixedUpApi() as api:
        outcome = _lost_state_run(tmp_path, api, 150, claim_pages=10**9)
        # Two pages hold the 150 videos, read once by the reconcile.
        assert api.listings == 2
    assert outcome.summary.adopted == 150


def test_a_listing_claiming_a_billion_videos_stops_at_the_first_empty_page(
    tmp_path: Path,
) -> None:
    with MixedUpApi() as api:
        outcome = _lost_state_run(tmp_path, api, 150, claim_pages=10**9, claim_items=10**9)
        assert api.listings == 3  # two pages and the empty one
    assert outcome.summary.in_doubt == 150
    assert outcome.summary.created == 0
    (row, *_) = read_output(tmp_path / "out.csv")
    assert row["argil_error"] == (
        "not sent: the API's listing of the batch ended at page 3 after 150 videos though "
        "it claimed 1000000000 videos in 1000000000 pages (were videos deleted while it was "
        "read?); nothing proves it has no video yet"
    )


def test_a_listing_that_repeats_its_first_page_is_refused_saying_what_it_claimed(
    tmp_path: Path,
) -> None:
    with MixedUpApi() as api:
        outcome = _lost_state_run(
            tmp_path, api, 150, claim_pages=10**9, claim_items=10**9, same_page=True
        )
        assert api.listings == 2
    assert outcome.summary.in_doubt == 150
    (row, *_) = read_output(tmp_path / "out.csv")
    assert row["argil_error"] == (
        "not sent: the API's listing of the batch repeats itself: page 2 held only videos "
        "already listed (it claimed 1000000000 videos in 1000000000 pages); nothing proves "
        "it has no video yet"
    )


# --- the reads before the first create ----------------------------------------------------


def test_a_first_run_reads_what_it_needs_in_one_round_trip_before_its_first_create(
    tmp_path: Path,
) -> None:
    files = job_files(tmp_path, CONFIG, rows=5)
    job = spec(files, "", 4)
    with MixedUpApi(read_delay=0.3) as api:
        job.base_url = api.base_url
        job.options = dataclasses.replace(job.options, preflight=True)
        outcome = run_job(job)
        timeline = list(api.timeline)
    assert outcome.summary.created == 5
    first_write = min(arrived for kind, arrived, _ in timeline if kind == "write")
    before = [(arrived, answered) for kind, arrived, answered in timeline if kind == "read"]
    before = [read for read in before if read[0] < first_write]
    # The catalogue (avatars, voices), the batch's listing and the first rows asked for in
    # another batch: all out before any of them was answered.
    assert len(before) == 2 + 1 + 3
    assert max(arrived for arrived, _ in before) < min(answered for _, answered in before)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return job_files(tmp_path, CONFIG)


def test_an_answer_naming_another_rows_video_is_noted_on_the_row_it_reached(
    files: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    write_leads(files["sheet"], 2)
    with EmulatorServer(EmulatorSettings(stale_rate=1.0)) as server:
        args = ["run", str(files["sheet"]), "-c", str(files["config"]), "-o", str(files["output"])]
        args += ["--state", str(files["state"]), "--base-url", server.base_url]
        result = cli(*args, "--no-progress", "--no-preflight", "--concurrency", "1")
        assert result.exit_code == 0, result.stderr
        assert server.emulator.stats.stale_answers == 1
        first, second = read_output(files["output"])
        # Never shared: each row holds the video that carries its own key.
        assert first["argil_video_id"] != second["argil_video_id"]
        assert_exactly_once(server, files["output"], 2)
        assert second["argil_error"] == (
            f"the API answered with video {first['argil_video_id']} (row 2's video); this "
            f"row's own video {second['argil_video_id']} was found by its key"
        )
        # Row 2's video carries row 2's key: proven, nothing to flag.
        assert first["argil_error"] == ""
