"""Guards on how work grows with size, counted in operations rather than timed.

What the benchmarks (``benchmarks/run.py``) found to matter: preparing rows (read, map, split,
validate) costs the same per row however big the sheet; a re-run of a finished batch reads the
journal in one query, not one per row; the rate gate's work per request does not grow with the
number of workers waiting at it. Each is counted (function calls, SQL statements), so the tests
neither depend on the machine nor sleep.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import pytest
from support import count_calls
from virtual_time import VirtualTimeLoop, run_virtual

from pipeline.argil.client import ArgilClient
from pipeline.argil.emulator import EmulatorServer
from pipeline.config import load_config
from pipeline.job import JobSpec, run_job
from pipeline.sheets import read_sheet
from pipeline.validation import validate_rows

CONFIG = """\
input: {key: email}
video:
  name: "Intro for {{ name }}"
  subtitles: {enable: true, position: Bottom}
moments:
  - transcript: "{{ script }}"
    avatar_id: "{{ avatar }}"
    zoom: {keyframes: [{time: 0, scale: 1}, {time: 1, scale: 1.2}]}
limits: {transcript_chars: 200}
"""
SENTENCE = "Teams like yours lose hours every week on reports; we fix that in a day. "
# Ten kinds of row, repeated: every block of ten rows costs the same, so a cost per row that
# grows with the sheet shows as a difference between blocks. Scripts of one to four moments.
SCRIPTS = [SENTENCE * n + f"Café n°{n} 🎬." for n in (1, 2, 3, 4, 5, 6, 8, 9, 10, 2)]


def write_sheet(path: Path, rows: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "avatar", "script", "notes"])
        for n in range(rows):
            writer.writerow(
                [f"lead{n}@example.com", f"Lead {n}", "avatar-emma", SCRIPTS[n % 10], ""]
            )
    return path


def per_row(cost: Callable[[int], int], small: int, large: int) -> tuple[float, float]:
    """The marginal cost of a row over the first ``small`` rows and over ``large`` more."""
    base = cost(small)
    return (cost(2 * small) - base) / small, (cost(small + large) - base) / large


def test_preparing_a_row_costs_the_same_in_a_big_sheet(tmp_path: Path) -> None:
    config_path = tmp_path / "c.yaml"
    config_path.write_text(CONFIG, encoding="utf-8")
    config = load_config(config_path)

    def validate(rows: int) -> int:
        sheet = write_sheet(tmp_path / f"s{rows}.csv", rows)

        def work() -> None:
            report = validate_rows(read_sheet(sheet), config)
            assert report.valid == rows

        return count_calls(work)

    validate(10)  # imports and caches filled on first use are not per-row work
    small, large = per_row(validate, 100, 1000)
    assert small > 100  # the count does see the work
    assert large <= small * 1.05


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


def gate_calls_per_request(concurrency: int, requests: int) -> float:
    """Function calls per create, by twice ``concurrency`` workers as a run has them."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"id": "v", "name": "n", "status": "IDLE"})

    async def main(loop: VirtualTimeLoop) -> int:
        client = ArgilClient(
            "k",
            "https://api.test/v1",
            rpm=600,
            concurrency=concurrency,
            transport=httpx.MockTransport(handler),
            clock=loop.time,
        )
        left = requests

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await client.create_video({"name": "x"})

        async with client:
            calls = 0

            def profile(frame: FrameType, event: str, arg: Any) -> None:
                nonlocal calls
                if event in ("call", "c_call"):
                    calls += 1

            sys.setprofile(profile)
            try:
                await asyncio.gather(*(worker() for _ in range(2 * concurrency)))
            finally:
                sys.setprofile(None)
        return calls

    return run_virtual(main) / requests


def test_the_gate_works_no_harder_per_request_with_more_workers_waiting() -> None:
    # Every request waits its turn at the gate: 64 workers queue there instead of 4. A gate that
    # polled, or woke every waiter at each turn, would do work per request that grows with them.
    few = gate_calls_per_request(2, 200)
    many = gate_calls_per_request(32, 200)
    assert many <= few * 1.1


RUN_AND_LIST_MODULES = """
import json, sys
from pathlib import Path
from pipeline.job import JobSpec, run_job
sheet, config, url = sys.argv[1:]
spec = JobSpec(sheet=Path(sheet), config=Path(config), base_url=url, api_key="k", rpm=600_000)
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
