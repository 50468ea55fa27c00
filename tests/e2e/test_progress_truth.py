"""Progress tells the truth: the rate shown is measured, the wait for renders shows renders
done of total, off a terminal a plain line comes every few seconds in every phase (waiting
included), and a wait that times out says how to pick it up later."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from support import CLI_KEY, job_files, leads_config, write_leads

from pipeline import progress
from pipeline.cli import run as cli_run
from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import job, run_job
from pipeline.progress import Progress
from pipeline.settings import JobSpec, RunOptions


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return job_files(tmp_path, leads_config(api={"rpm": 6000, "concurrency": 1}))


def test_the_rate_shown_is_measured_not_the_target(files: dict[str, Path]) -> None:
    write_leads(files["sheet"], 30)
    seen: list[Progress] = []
    # One request at a time, 60 ms each: at most ~1000 a minute, whatever --rpm says. With
    # --render, every request is a write (creates, then renders), none a draft's price read
    # beside them on the read gate.
    with EmulatorServer(EmulatorSettings(latency_ms=60)) as server:
        spec = JobSpec(
            sheet=files["sheet"],
            config=files["config"],
            output=files["output"],
            base_url=server.base_url,
            api_key=CLI_KEY,
            rpm=6000,
            concurrency=1,
            options=RunOptions(preflight=False, render=True),
        )
        assert run_job(spec, on_progress=seen.append).exit_code == 0
    measured = [p.rpm for p in seen if p.rpm]
    assert measured, "no rate was measured"
    assert 100 < measured[-1] < 1100, measured[-1]


def test_off_a_terminal_a_line_comes_in_every_phase_waiting_included(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 3)
    # Faster than life: a line every 0.2 s, polls every 0.2 s (the real figures are 10 s, 5 s).
    monkeypatch.setattr(progress, "PROGRESS_LINE_SECONDS", 0.2)
    monkeypatch.setattr(job, "PROGRESS_TICK", 0.05)
    monkeypatch.setattr(
        cli_run, "RunOptions", functools.partial(RunOptions, poll_initial=0.2, poll_max=0.2)
    )
    with EmulatorServer(EmulatorSettings(render_seconds=1.5)) as server:
        args = ["run", str(files["sheet"]), "-c", str(files["config"]), "-o", str(files["output"])]
        result = cli(*args, "--base-url", server.base_url, "--render", "--wait")
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    assert "progress: 3/3 rows, 0 failed (" in "\n".join(lines)
    waiting = [line for line in lines if line.startswith("progress: waiting for renders: ")]
    assert len(waiting) >= 3, lines
    assert waiting[0].startswith("progress: waiting for renders: 0/3 done")
    assert waiting[-1].startswith("progress: waiting for renders: 3/3 done")
    assert sum(1 for line in waiting if "3/3 done" in line) == 1, "the end is said once"
    assert "3 done" in result.stderr


def test_a_wait_that_times_out_says_how_to_pick_it_up(
    files: dict[str, Path], cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 2)
    with EmulatorServer(EmulatorSettings(render_seconds=3600)) as server:
        args = ["run", str(files["sheet"]), "-c", str(files["config"]), "-o", str(files["output"])]
        args += ["--base-url", server.base_url, "--render", "--wait", "--wait-timeout", "0.2"]
        result = cli(*args, "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert (
        f"`argil-batch status {files['output']} --wait` picks them up later."
        in result.stderr.splitlines()[-1]
    )
