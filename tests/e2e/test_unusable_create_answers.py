"""Answers to a create that cannot be used: the lookup that follows settles them, and when it
fails too the first cause is kept (in argil_error and in the -v log). Real HTTP to the emulator,
which answers oddly on purpose (``odd_rate``). An answer naming another row's video:
test_row_owns_video.py."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support import CLI_KEY, assert_exactly_once, job_files, leads_config, read_output, write_leads

from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import run_job
from pipeline.settings import JobSpec, RunOptions


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return job_files(tmp_path, leads_config(api={"rpm": 6000, "concurrency": 1}))


def spec(files: dict[str, Path], server: EmulatorServer, **client: object) -> JobSpec:
    return JobSpec(
        sheet=files["sheet"],
        config=files["config"],
        output=files["output"],
        state=files["state"],
        base_url=server.base_url,
        api_key=CLI_KEY,
        concurrency=1,
        options=RunOptions(preflight=False, doubt_delay=0),
        client_options=dict(client),
    )


def test_the_first_cause_is_kept_when_the_lookup_fails_too(
    files: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    write_leads(files["sheet"], 1)
    caplog.set_level(logging.INFO, logger="pipeline")
    # Three requests a minute: the batch's listing, the look for the row in another batch
    # (this batch is new) and the create go through (the create answered oddly), the lookup
    # is refused.
    settings = EmulatorSettings(odd_rate=1.0, rpm=3, retry_after="none")
    with EmulatorServer(settings) as server:
        outcome = run_job(spec(files, server, max_attempts=1))
    assert outcome.exit_code == 1
    (row,) = read_output(files["output"])
    assert row["argil_status"] == "IN_DOUBT"
    assert row["argil_error"].startswith("could not check whether its video exists (")
    assert row["argil_error"].endswith(
        "(the create's answer: unexpected answer to POST /videos (not a Video))"
    )
    assert "row 2: unexpected answer to POST /videos (not a Video)" in caplog.text


def test_an_odd_answer_is_resolved_by_the_lookup(files: dict[str, Path]) -> None:
    write_leads(files["sheet"], 5)
    with EmulatorServer(EmulatorSettings(odd_rate=1.0)) as server:
        outcome = run_job(spec(files, server))
        assert outcome.exit_code == 0
        assert outcome.summary.adopted == 5
        assert_exactly_once(server, files["output"], 5)
