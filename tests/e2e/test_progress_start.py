"""Progress before there is anything to count, in a run off a terminal: while the batch is
listed and the pre-flight runs the total is not known, and no line says "0/0 rows"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from support import write_leads

from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import job


def test_a_run_off_a_terminal_never_says_zero_of_zero(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Result],
    config: Callable[..., Path],
) -> None:
    leads = config(api={"concurrency": 2})
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 3)
    # Ticks far faster than the answers: many snapshots come while the batch is listed and
    # the pre-flight runs, before the total is known.
    monkeypatch.setattr(job, "PROGRESS_TICK", 0.01)
    with EmulatorServer(EmulatorSettings(latency_ms=80)) as server:
        argv = ["run", str(sheet), "-c", str(leads), "-o", str(tmp_path / "out.csv")]
        result = cli(*argv, "--base-url", server.base_url)
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    assert lines and lines[-1].startswith("progress: 3/3 rows, 0 failed ("), lines
    assert not [line for line in lines if "/0 " in line], lines
