"""The journal: committed states, one lookup for planning, and a lock that dies with its run."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline import journal as j


def test_states_are_committed_and_read_back(tmp_path: Path) -> None:
    state = tmp_path / "run.state"
    journal = j.Journal(state, target="https://api.example/v1")
    journal.mark_in_flight("k1", 2, "h1", 1, 0)
    journal.mark_in_flight("k2", 3, "h2", 2, 0)
    journal.mark_video("k1", j.CREATED, j.VideoFields("vid-1", "IDLE", preview_url="https://p"))
    journal.mark_failed("k2", "avatarId unknown")
    journal.close()

    # A fresh connection sees every write: each one was its own committed transaction.
    reopened = j.Journal(state, target="https://api.example/v1")
    records = reopened.all()
    assert records["k1"].state == j.CREATED and records["k1"].video_id == "vid-1"
    assert records["k1"].preview_url == "https://p" and records["k1"].attempts == 1
    assert records["k2"].state == j.FAILED and records["k2"].last_error == "avatarId unknown"
    assert reopened.counts() == {j.CREATED: 1, j.FAILED: 1}


def test_sending_again_counts_attempts_and_clears_the_old_answer(tmp_path: Path) -> None:
    journal = j.Journal(tmp_path / "s", target="t")
    journal.mark_in_flight("k", 2, "h", 1, 0)
    journal.mark_pending("k", "503 in doubt, absent")
    journal.mark_in_flight("k", 2, "h", 1, 0)
    record = journal.get("k")
    assert record is not None
    assert (record.state, record.attempts, record.last_error) == (j.IN_FLIGHT, 2, None)


def test_generations_get_their_own_batch_key() -> None:
    assert j.batch_key("k-abc", 0) == "k-abc"
    assert j.batch_key("k-abc", 2) == "k-abc~2"


def test_a_state_file_belongs_to_one_api(tmp_path: Path) -> None:
    j.Journal(tmp_path / "s", target="sandbox").close()
    with pytest.raises(
        j.JournalError, match=re.escape("belongs to sandbox, not https://api.argil.ai/v1")
    ):
        j.Journal(tmp_path / "s", target="https://api.argil.ai/v1")


def test_a_file_that_is_not_a_journal_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "s"
    bogus.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(j.JournalError, match=r"cannot be used .*pass --state"):
        j.Journal(bogus, target="t")


HOLD_LOCK = """
import sys, time
from pathlib import Path
from typing import Any
from pipeline.journal import run_lock
with run_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_run_is_refused_at_once_and_a_killed_runs_lock_dies_with_it(
    tmp_path: Path,
) -> None:
    state = tmp_path / "run.state"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(state)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(j.LockedError) as refused, j.run_lock(state):
            pass
        assert time.monotonic() - started < 2
        assert f"pid {holder.pid}" in refused.value.holder
        assert "another run holds the lock" in str(refused.value)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with j.run_lock(state):  # the kernel released the dead run's flock
        pass


def test_only_what_the_api_cannot_tell_again_waits_for_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-flight record must be on disk before its request goes out (synchronous FULL);
    the record of an answer skips its fsync, since a lost one leaves the row in flight and the
    next run looks the video up; and FULL is back right after, even when that write fails."""
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = connect(*args, **kwargs)
        db.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(sqlite3, "connect", traced)
    journal = j.Journal(tmp_path / "s", target="t")
    assert "PRAGMA synchronous=FULL" in statements
    statements.clear()
    journal.mark_in_flight("k", 2, "h", 1, 0)
    journal.mark_video("k", j.CREATED, j.VideoFields("vid", "IDLE"))
    journal.mark_render_requested("k")
    journal.mark_failed("k", "refused")
    with pytest.raises(sqlite3.IntegrityError):
        journal.mark_video("k", None, j.VideoFields("vid", "IDLE"))  # type: ignore[arg-type]

    mode, writes = "FULL", []
    for sql in statements:
        if match := re.match(r"PRAGMA synchronous=(\w+)", sql):
            mode = match.group(1)
        elif re.match(r"\s*(INSERT|UPDATE)", sql):
            writes.append((" ".join(sql.split()[:4]), mode))
    assert writes == [
        ("INSERT INTO rows (key,", "FULL"),
        ("UPDATE rows SET state", "NORMAL"),
        ("UPDATE rows SET render_requested", "FULL"),
        ("UPDATE rows SET state", "FULL"),
        ("UPDATE rows SET state", "NORMAL"),
    ]
    assert statements[-1] == "PRAGMA synchronous=FULL"
    record = journal.get("k")
    assert record is not None and record.state == j.FAILED


def test_rows_marked_in_flight_together_are_committed_together_or_not_at_all(
    tmp_path: Path,
) -> None:
    journal = j.Journal(tmp_path / "s", target="t")
    journal.mark_many_in_flight([j.InFlight("a", 2, "h", 1, 0), j.InFlight("b", 3, "h", 1, 0)])
    assert {k: r.state for k, r in journal.all().items()} == {"a": j.IN_FLIGHT, "b": j.IN_FLIGHT}
    broken = j.InFlight("d", 5, None, 1, 0)  # type: ignore[arg-type]  # NOT NULL fails
    with pytest.raises(sqlite3.IntegrityError):
        journal.mark_many_in_flight([j.InFlight("c", 4, "h", 1, 0), broken])
    assert set(journal.all()) == {"a", "b"}, "half a batch never reaches the disk"
    journal.mark_many_in_flight([j.InFlight("c", 4, "h", 1, 0)])  # and the journal goes on
    assert journal.all()["c"].state == j.IN_FLIGHT
