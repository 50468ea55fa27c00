"""Progress before there is anything to count, in a run off a terminal: while the batch is
listed and the pre-flight runs the total is not known, and no line says "0/0 rows"."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from support import write_leads

from pipeline.cli import main
from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import job

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
            main, [*argv, "--base-url", server.base_url], env={"ARGIL_API_KEY": KEY}
        )
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    assert lines and lines[-1].startswith("progress: 3/3 rows, 0 failed ("), lines
    assert not [line for line in lines if "/0 " in line], lines
