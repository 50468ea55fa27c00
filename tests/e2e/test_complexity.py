"""Guards on how a run's work grows, counted in operations rather than timed.

What the benchmarks (``benchmarks/run.py``) found to matter: a re-run of a finished batch reads
the journal in one query, not one per row (SQL statements counted); a run's fixed cost does not
include importing a DataFrame library. Preparing rows and the rate gate alone:
tests/unit/test_complexity.py.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pipeline.emulator import EmulatorServer
from pipeline.engine import run_job
from pipeline.settings import JobSpec

from ..unit.test_complexity import CONFIG, write_sheet


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    """Every SQL statement the journal runs, on any connection it opens."""
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db: sqlite3.Connection = connect(*args, **kwargs)
        db.set_trace_callback(statements.append)
        return db

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sqlite3, "connect", traced)
        yield statements


def rerun_statements(folder: Path, rows: int, emulator: EmulatorServer) -> list[str]:
    """Run a batch of ``rows`` to its end, then again: the journal's statements the second time."""
    folder.mkdir()
    # Two campaigns over the same leads: each its own namespace (row keys and batch tag).
    config_path = folder / "c.yaml"
    config_path.write_text(
        CONFIG.replace("key: email", f"key: email, namespace: {folder.name}"), encoding="utf-8"
    )
    spec = JobSpec(
        sheet=write_sheet(folder / f"{folder.name}.csv", rows),
        config=config_path,
        base_url=emulator.base_url,
        api_key="k",
        rpm=600_000,
        read_rpm=600_000,  # each new draft's price is a read
        concurrency=8,
    )
    assert run_job(spec).summary.created == rows
    sent = emulator.emulator.stats.requests
    with counting_statements() as statements:
        again = run_job(spec).summary
    assert again.already == rows
    # Nothing to send: one small read checks the key, and that is all.
    assert again.requests == 1 and emulator.emulator.stats.requests == sent + 1
    return statements


def test_a_rerun_reads_the_journal_once(tmp_path: Path, emulator: EmulatorServer) -> None:
    small = rerun_statements(tmp_path / "small", 20, emulator)
    large = rerun_statements(tmp_path / "large", 200, emulator)
    assert len([s for s in large if "FROM rows" in s]) == 1
    assert len(large) == len(small)


RUN_AND_LIST_MODULES = """
import json, sys
from pathlib import Path
from pipeline.engine import run_job
from pipeline.settings import JobSpec
sheet, config, url = sys.argv[1:]
spec = JobSpec(
    sheet=Path(sheet), config=Path(config), base_url=url, api_key="k", rpm=600_000, read_rpm=600_000
)
created = run_job(spec).summary.created
heavy = ["pandas", "numpy", "openpyxl"]
print(json.dumps({"created": created, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def test_a_run_loads_no_dataframe_library(tmp_path: Path, emulator: EmulatorServer) -> None:
    """A run's fixed cost, guarded by what it imports: pandas alone cost 0.3 s of CPU on every
    run whatever the sheet."""
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    sheet = write_sheet(tmp_path / "leads.csv", 30)
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, str(sheet), str(config), emulator.base_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"created": 30, "loaded": []}
