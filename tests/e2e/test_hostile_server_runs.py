"""Whole runs against a broken or hostile API (issue 21): a run stops, leaves its rows for the
next one, or resolves its creates by their keys, whatever the server does; the client's side
of each case is in ``tests/unit/argil/test_hostile_server.py``. And the ``emulator`` command's
hostile options.

Real HTTP on loopback to the emulator taught to misbehave, real files, a real journal; the
run's and the client's waits on a clock that jumps forward when slept on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from support import VirtualTime, job_files, leads_config, read_output

import pipeline.emulator as emulator_module
from pipeline.argil.client import MAX_OBJECT_BYTES
from pipeline.argil.limit_headers import MAX_ASKED_WAIT
from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import run_job
from pipeline.settings import JobSpec, RunOptions

from ..unit.argil.test_hostile_server import CHUNK, KEY, CountingTransport, Make, start

CONFIG = leads_config(api={"concurrency": 2})


def spec(files: dict[str, Path], server: EmulatorServer, vt: VirtualTime, **client: Any) -> JobSpec:
    return JobSpec(
        sheet=files["sheet"],
        config=files["config"],
        output=files["output"],
        state=files["state"],
        base_url=server.base_url,
        api_key=KEY,
        options=RunOptions(doubt_delay=0),
        sleep=vt.sleep,
        clock=vt,
        client_options=client,
    )


def test_a_stalled_run_stops_with_exit_code_3_and_leaves_the_rows_pending(
    make_emulator: Make, tmp_path: Path
) -> None:
    server = start(
        make_emulator,
        throttle_rate=1.0,
        hostile_on="writes",
        answer_headers={"Retry-After": "999999"},
    )
    files = job_files(tmp_path, CONFIG, rows=4)
    vt = VirtualTime()
    outcome = run_job(spec(files, server, vt))
    assert outcome.exit_code == 3
    assert outcome.summary.stopped is not None
    assert "asks to wait 999999 s before each request" in outcome.summary.stopped
    rows = read_output(files["output"])
    assert [row["argil_status"] for row in rows] == ["PENDING"] * 4
    # A few capped waits (two workers' waits side by side add up on this clock), where every
    # row used to wait six times.
    assert vt.slept <= 4 * MAX_ASKED_WAIT
    assert server.emulator.stats.created == 0


def test_a_redirected_run_stops_with_exit_code_3(make_emulator: Make, tmp_path: Path) -> None:
    server = start(make_emulator, redirect_to="https://api.argil.ai/v2/videos", hostile_on="writes")
    files = job_files(tmp_path, CONFIG, rows=3)
    outcome = run_job(spec(files, server, VirtualTime()))
    assert outcome.exit_code == 3
    assert outcome.summary.stopped is not None
    assert "redirect to https://api.argil.ai/v2/videos" in outcome.summary.stopped
    # At most one create per worker (the config's concurrency is 2), none of them resent.
    assert 1 <= server.emulator.stats.redirected <= 2


def test_a_run_whose_creates_answer_oversized_adopts_each_video_once(
    make_emulator: Make, tmp_path: Path
) -> None:
    server = start(make_emulator, oversize_bytes=4 * MAX_OBJECT_BYTES, hostile_on="writes")
    files = job_files(tmp_path, CONFIG, rows=3)
    transport = CountingTransport()
    outcome = run_job(spec(files, server, VirtualTime(), transport=transport))
    assert outcome.exit_code == 0, outcome.summary
    # No answer was read whole (one alone is 4 MiB): each create was in doubt, and its video
    # was found by its key.
    assert transport.read < 3 * (MAX_OBJECT_BYTES + CHUNK) + MAX_OBJECT_BYTES
    assert outcome.summary.adopted == 3 and outcome.summary.created == 0, outcome.summary
    counts = server.emulator.count_by_batch_key()
    assert len(counts) == 3 and set(counts.values()) == {1}
    assert server.emulator.stats.creates == 3


def test_a_run_against_a_dripping_api_ends_near_the_deadline(
    make_emulator: Make, tmp_path: Path
) -> None:
    server = start(make_emulator, drip_seconds=0.05, hostile_on="writes")
    files = job_files(tmp_path, CONFIG, rows=2)
    started = time.monotonic()
    outcome = run_job(spec(files, server, VirtualTime(), deadline=0.4))
    assert time.monotonic() - started < 5
    # Each create is in doubt and looked up by its key (reads do not drip): found, adopted.
    assert outcome.exit_code == 0, outcome.summary
    counts = server.emulator.count_by_batch_key()
    assert len(counts) == 2 and set(counts.values()) == {1}


# --- the emulator command's hostile options ---------------------------------------------------


def test_the_emulator_command_takes_the_hostile_options(
    monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Result]
) -> None:
    served: list[EmulatorSettings] = []
    monkeypatch.setattr(emulator_module, "serve", lambda settings, **_: served.append(settings))
    args = [
        *("emulator", "--hostile-on", "writes", "--oversize", "500000000", "--drip", "10"),
        *("--redirect-to", "https://elsewhere.test/v1", "--throttle-rate", "1"),
        *("--header", "Retry-After: 999999", "--header", 'RateLimit: "w";r=0;t=1e12'),
    ]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    [settings] = served
    assert settings.hostile_on == "writes" and settings.oversize_bytes == 500_000_000
    assert settings.drip_seconds == 10 and settings.throttle_rate == 1
    assert settings.redirect_to == "https://elsewhere.test/v1"
    assert settings.answer_headers == {"Retry-After": "999999", "RateLimit": '"w";r=0;t=1e12'}


@pytest.mark.parametrize(
    ("header", "said"),
    [("Retry-After 5", "is not 'NAME: VALUE'"), ("Bad Name: 5", "is not a header name")],
)
def test_the_emulator_command_refuses_a_header_it_cannot_send(
    header: str, said: str, cli: Callable[..., Result]
) -> None:
    result = cli("emulator", "--header", header)
    assert result.exit_code == 2 and said in result.output
