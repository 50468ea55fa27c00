"""A disk that fills up mid-run: sending stops at once, one ``Error:`` line says what to free
and that a re-run resumes, exit 3, the output written if it can be; the re-run finishes with
exactly one video per row.

The journal's disk is "filled" through SQLite itself: ``PRAGMA max_page_count`` set to the
file's current size makes the next page it needs fail with SQLite's own ``database or disk is
full``, exactly the error a full disk gives. The output's disk is filled by failing its fsync
with ENOSPC.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from support import (
    CLI_KEY,
    assert_exactly_once,
    job_files,
    leads_config,
    read_output,
    run_args,
)

from pipeline import journal as j
from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import run_job
from pipeline.settings import JobSpec

ROWS = 150


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return job_files(tmp_path, leads_config(), rows=ROWS)


def fill_after(monkeypatch: pytest.MonkeyPatch, method: str, calls: int) -> None:
    """After ``calls`` calls of Journal.<method>, the state file's disk is full."""
    real = getattr(j.Journal, method)
    seen = [0]

    def patched(self: j.Journal, *args: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        if seen[0] == calls:
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            self._db.execute(f"PRAGMA max_page_count = {pages}")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(j.Journal, method, patched)


@pytest.mark.parametrize("method", ["mark_many_in_flight", "mark_video"])
def test_a_full_state_disk_stops_sending_with_one_error_line_and_a_re_run_resumes(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, method: str, cli: Callable[..., Result]
) -> None:
    with EmulatorServer(EmulatorSettings(latency_ms=2)) as server:
        with monkeypatch.context() as patched:
            fill_after(patched, method, 5)
            result = cli(*run_args(files, server))
        assert result.exit_code == 3, result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, result.stderr
        assert errors[0].startswith(f"Error: cannot write the state file {files['state']} ")
        assert "database or disk is full" in errors[0]
        assert "free space" in errors[0] and "resumes" in errors[0]
        # Sending stopped at once: far from every row was sent.
        sent = server.emulator.stats.creates
        assert 0 < sent < ROWS / 2, sent
        # The output is written: every row, the videos made shown, the rest pending.
        rows = read_output(files["output"])
        assert len(rows) == ROWS
        shown = sum(1 for row in rows if row["argil_video_id"])
        assert shown == server.emulator.stats.created
        assert {row["argil_status"] for row in rows if not row["argil_video_id"]} <= {
            "PENDING",
            "IN_DOUBT",
        }

        # Space freed: the re-run adopts what was made unrecorded and sends the rest, once.
        result = cli(*run_args(files, server))
        assert result.exit_code == 0, result.stderr
        assert_exactly_once(server, files["output"], ROWS)


def test_a_full_output_disk_mid_run_stops_sending(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    output = files["output"]
    real_fsync = os.fsync
    writes = [0]

    def fsync(fd: int) -> None:
        # The first refresh of the output goes through; from the second on, the disk is full.
        if stat.S_ISREG(os.fstat(fd).st_mode) and f".{output.name}." in os.readlink(
            f"/proc/self/fd/{fd}"
        ):
            writes[0] += 1
            if writes[0] > 1:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    with EmulatorServer(EmulatorSettings(latency_ms=20)) as server:
        spec = JobSpec(
            sheet=files["sheet"],
            config=files["config"],
            output=output,
            state=files["state"],
            base_url=server.base_url,
            api_key=CLI_KEY,
            concurrency=2,
            flush_interval=0.05,
        )
        with monkeypatch.context() as patched:
            patched.setattr(os, "fsync", fsync)
            outcome = run_job(spec)
        assert outcome.exit_code == 3
        assert outcome.error is not None
        assert outcome.error.startswith(f"cannot write {output}: No space left on device")
        assert "run again" in outcome.error and str(files["state"]) in outcome.error
        assert outcome.output is None
        assert server.emulator.stats.creates < ROWS
        # The journal kept every video that was made; a re-run writes the sheet and finishes.
        outcome = run_job(spec)
        assert outcome.exit_code == 0, outcome.error
        assert_exactly_once(server, output, ROWS)
