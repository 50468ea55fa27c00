"""Guards on how work grows with size, counted in operations rather than timed.

What the benchmarks (``benchmarks/run.py``) found to matter, below the run: preparing rows
(read, map, split, validate) costs the same per row however big the sheet; the rate gate's work
per request does not grow with the number of workers waiting at it. Each is counted (function
calls), so the tests neither depend on the machine nor sleep. Through whole runs (a re-run reads
the journal in one query; a run imports no DataFrame library): tests/e2e/test_complexity.py.
"""

from __future__ import annotations

import asyncio
import csv
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from support import count_calls
from virtual_time import VirtualTimeLoop, run_virtual

from pipeline.argil.client import ArgilClient
from pipeline.config import load_config
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
