"""Progress before there is anything to count: while the batch is listed and the pre-flight
runs, the total is not known; a total of 0 is no phase's end, and a long start says what it
is doing rather than "0/0 rows"."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from support import write_leads

from pipeline import cli, job, progress
from pipeline.argil.emulator import EmulatorServer, EmulatorSettings
from pipeline.progress import CHECKING, LISTING, WAITING, Progress, progress_display

KEY = "sk-test-progress-start-0123456789"
CONFIG = """\
input:
  key: [email]
video:
  name: "Intro for {{ first_name }}"
moments:
  - transcript: "{{ script }}"
    avatar_id: avatar-emma
api: {rpm: 60000, concurrency: 2}
"""


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


def test_a_run_off_a_terminal_never_says_zero_of_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 3)
    # Ticks far faster than the answers: many snapshots come while the batch is listed and
    # the pre-flight runs, before the total is known.
    monkeypatch.setattr(job, "PROGRESS_TICK", 0.01)
    with EmulatorServer(EmulatorSettings(latency_ms=80)) as server:
        argv = ["run", str(sheet), "-c", str(config), "-o", str(tmp_path / "out.csv")]
        result = CliRunner().invoke(
            cli.main, [*argv, "--base-url", server.base_url], env={"ARGIL_API_KEY": KEY}
        )
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    assert lines and lines[-1].startswith("progress: 3/3 rows, 0 failed ("), lines
    assert not [line for line in lines if "/0 " in line], lines
