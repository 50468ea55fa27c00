"""A ``--sandbox`` run keeps its API's videos in a state file beside its journal; writing that
file must cost a constant per change, not the whole file again (a 5,000-row sandbox run took
five minutes so). Counted in writes, not timed: ``benchmarks/sandbox_bulk.py`` times it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from support import UNPACED_LEADS_CONFIG, write_leads

from pipeline.engine import run_job
from pipeline.settings import JobSpec


def test_a_sandbox_run_writes_its_api_state_whole_twice_however_many_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c.yaml").write_text(UNPACED_LEADS_CONFIG, encoding="utf-8")
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 300)
    written: list[str] = []
    real = os.replace

    def replace(src: Any, dst: Any, **kwargs: Any) -> None:
        real(src, dst, **kwargs)
        if str(dst).endswith(".api.json"):
            written.append(str(dst))

    monkeypatch.setattr(os, "replace", replace)
    spec = JobSpec(sheet=sheet, config=tmp_path / "c.yaml", sandbox=True, rpm=600_000)
    outcome = run_job(spec)
    assert outcome.exit_code == 0 and outcome.summary.created == 300
    # Once at the first video, once when the run ends; every change in between appended.
    assert len(written) == 2, len(written)
    store = json.loads(Path(written[-1]).read_text(encoding="utf-8"))
    assert len({video["extras"]["argilBatchKey"] for video in store["videos"].values()}) == 300

    # The next sandbox run finds every video where the first left it, and sends nothing.
    again = run_job(spec)
    assert again.exit_code == 0 and again.summary.created == 0
