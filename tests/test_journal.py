"""The journal: committed states, one lookup for planning, and a lock that dies with its run."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
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
from concurrent.futures import ThreadPoolExecutor
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


# --- what each write leaves in the record ---------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each write's timestamp, one per second from 10:00:00 UTC."""
    stamps: list[str] = []

    def now() -> str:
        stamps.append(f"2026-03-01T10:00:{len(stamps):02d}+00:00")
        return stamps[-1]

    monkeypatch.setattr(j, "now_iso", now)
    return stamps


def test_an_unknown_key_has_no_record(tmp_path: Path) -> None:
    journal = j.Journal(tmp_path / "s", target="t")
    journal.mark_in_flight("k", 2, "h", 1, 0)
    assert journal.get("other") is None
    assert journal.get("k") is not None


def test_an_in_flight_record_holds_what_was_sent(tmp_path: Path, clock: list[str]) -> None:
    journal = j.Journal(tmp_path / "s", target="t")
    journal.mark_in_flight("k", 7, "hash-1", 3, 2)
    assert journal.get("k") == j.Record(
        key="k",
        row=7,
        payload_hash="hash-1",
        state=j.IN_FLIGHT,
        generation=2,
        video_id=None,
        status=None,
        attempts=1,
        last_error=None,
        moments=3,
        preview_url=None,
        video_url=None,
        duration=None,
        render_requested=False,
        created_at=clock[0],
        updated_at=clock[0],
    )
    assert journal.all()["k"].batch_key == "k~2"


def test_a_video_its_render_and_a_resend_are_recorded(tmp_path: Path, clock: list[str]) -> None:
    journal = j.Journal(tmp_path / "s", target="t")
    journal.mark_in_flight("k", 2, "h1", 1, 0)
    video = j.VideoFields("vid", "DONE", "https://p", "https://v.mp4", 12.5, "late warning")
    journal.mark_video("k", j.DONE, video)
    record = journal.get("k")
    assert record is not None
    assert (record.state, record.video_id, record.status) == (j.DONE, "vid", "DONE")
    assert (record.preview_url, record.video_url, record.duration) == (
        "https://p",
        "https://v.mp4",
        12.5,
    )
    assert record.last_error == "late warning"
    assert (record.created_at, record.updated_at) == (clock[0], clock[1])

    # A later answer without the link or duration keeps the ones already known.
    journal.mark_video("k", j.RENDERING, j.VideoFields("vid", "GENERATING_VIDEO"))
    record = journal.get("k")
    assert record is not None
    assert (record.status, record.video_url, record.duration) == (
        "GENERATING_VIDEO",
        "https://v.mp4",
        12.5,
    )
    assert (record.preview_url, record.last_error) == (None, None)

    assert journal.get("k").render_requested is False  # type: ignore[union-attr]
    journal.mark_render_requested("k")
    record = journal.get("k")
    assert record is not None
    assert (record.render_requested, record.state, record.updated_at) == (
        True,
        j.RENDERING,
        clock[-1],
    )

    # Sent again (its payload changed): every trace of the old video goes, the count goes up.
    journal.mark_in_flight("k", 5, "h2", 4, 1)
    record = journal.get("k")
    assert record is not None
    assert record == j.Record(
        key="k",
        row=5,
        payload_hash="h2",
        state=j.IN_FLIGHT,
        generation=1,
        video_id=None,
        status=None,
        attempts=2,
        last_error=None,
        moments=4,
        preview_url=None,
        video_url=None,
        duration=None,
        render_requested=False,
        created_at=clock[0],
        updated_at=clock[-1],
    )


def test_errors_are_set_and_cleared_without_touching_the_state(
    tmp_path: Path, clock: list[str]
) -> None:
    journal = j.Journal(tmp_path / "s", target="t")
    journal.mark_in_flight("k", 2, "h", 1, 0)
    journal.mark_video("k", j.CREATED, j.VideoFields("vid", "IDLE"))
    journal.set_error("k", "render could not start: 409")
    record = journal.get("k")
    assert record is not None
    assert (record.state, record.video_id, record.last_error) == (
        j.CREATED,
        "vid",
        "render could not start: 409",
    )
    assert record.updated_at == clock[-1] != record.created_at
    journal.set_error("k", None)
    assert journal.get("k").last_error is None  # type: ignore[union-attr]

    journal.mark_pending("k", "looked up: absent")
    record = journal.get("k")
    assert record is not None and (record.state, record.last_error) == (
        j.PENDING,
        "looked up: absent",
    )
    journal.mark_pending("k")
    assert journal.get("k").last_error is None  # type: ignore[union-attr]
    journal.mark_failed("k", "refused")
    record = journal.get("k")
    assert record is not None and (record.state, record.last_error) == (j.FAILED, "refused")
    assert record.updated_at == clock[-1]


def test_timestamps_are_utc_to_the_second() -> None:
    stamp = j.now_iso()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", stamp), stamp


def test_a_state_file_written_by_a_newer_version_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "s"
    j.Journal(state, target="t").close()
    with sqlite3.connect(state) as db:
        assert dict(db.execute("SELECT k, v FROM meta")) == {"schema_version": "1", "target": "t"}
        db.execute("UPDATE meta SET v = ? WHERE k = 'schema_version'", (str(j.SCHEMA_VERSION + 1),))
    for target in ("t", None):
        with pytest.raises(j.JournalError, match=r"written by a newer argil-batch; upgrade it"):
            j.Journal(state, target=target)
    with sqlite3.connect(state) as db:
        db.execute("UPDATE meta SET v = ? WHERE k = 'schema_version'", (str(j.SCHEMA_VERSION),))
    assert j.Journal(state, target="t").target == "t"


def test_opening_without_a_target_claims_nothing(tmp_path: Path) -> None:
    state = tmp_path / "s"
    reader = j.Journal(state)  # as ``status`` opens it
    assert reader.target is None and reader.meta() == {}
    reader.close()
    j.Journal(state, target="https://api.argil.ai/v1").close()
    assert j.Journal(state).target == "https://api.argil.ai/v1"


def test_run_meta_is_kept_across_runs(tmp_path: Path) -> None:
    state = tmp_path / "s"
    journal = j.Journal(state, target="t")
    journal.set_meta({"sheet": "/data/in.csv", "config": "/data/c.yaml"})
    journal.set_meta({"sheet": "/data/moved.csv"})
    journal.close()
    assert j.Journal(state, target="t").meta() == {
        "schema_version": "1",
        "target": "t",
        "sheet": "/data/moved.csv",
        "config": "/data/c.yaml",
    }


def test_the_lock_file_says_who_holds_it_and_is_emptied_after(tmp_path: Path) -> None:
    state = tmp_path / "run.state"
    lock = j.lock_path(state)
    assert lock == tmp_path / "run.state.lock"
    with j.run_lock(state):
        holder = json.loads(lock.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", holder["started"])
        assert holder["command"] == " ".join(sys.argv[:2])
    assert lock.read_text() == ""


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ('{"pid": 42, "host": "box", "started": "2026-03-01T10:00:00+00:00"}',
         "pid 42 on box, started 2026-03-01T10:00:00+00:00"),
        ("", "holder unknown"),
        ('{"pid": 42}', "holder unknown"),
        ("[1, 2]", "holder unknown"),
    ],
)  # fmt: skip
def test_a_refused_run_says_who_holds_the_lock(tmp_path: Path, content: str, said: str) -> None:
    state = tmp_path / "run.state"
    j.lock_path(state).write_text(content)
    fd = os.open(j.lock_path(state), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by this open file, as by a run
        with pytest.raises(j.LockedError) as refused, j.run_lock(state):
            pass
    finally:
        os.close(fd)
    assert refused.value.holder == said
    assert str(refused.value) == (
        f"another run holds the lock on {state} ({said}); wait for it to finish, then run again"
    )
    # Another state file over the same batch would make its videos twice: never suggested.
    assert "--state" not in str(refused.value)


def test_a_link_to_a_state_file_is_the_same_lock(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    real = tmp_path / "elsewhere" / "real.db"
    link = tmp_path / "st.link"
    link.symlink_to(real)
    assert j.lock_path(link) == j.lock_path(real) == tmp_path / "elsewhere" / "real.db.lock"
    with j.run_lock(real), pytest.raises(j.LockedError), j.run_lock(link):
        pass


def test_a_lock_file_its_holder_removed_as_it_let_go_is_not_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that opened the output's lock file just before its holder removed it and let go
    locks a file no longer named: it must lock the file now named instead, or two runs would
    each hold "the" lock."""
    output = tmp_path / "out.csv"
    lock = j.output_lock_path(output)
    flock = fcntl.flock
    removed: list[int] = []

    def late(fd: int, operation: int) -> None:
        if not removed and operation & fcntl.LOCK_EX:
            removed.append(fd)
            os.unlink(lock)  # the holder before this run, letting go
        flock(fd, operation)

    monkeypatch.setattr(j.fcntl, "flock", late)
    with j.output_lock(output):
        assert removed and lock.exists()
        other = os.open(lock, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    assert not lock.exists(), "the output's lock file goes with the lock"


def test_a_damaged_state_file_is_refused_at_open_with_what_to_do(tmp_path: Path) -> None:
    state = tmp_path / "s"
    journal = j.Journal(state, target="t")
    journal.mark_many_in_flight(j.InFlight(f"key-{i:04d}", i, "h" * 64, 1, 0) for i in range(300))
    journal.close()
    pages = state.stat().st_size // 4096
    with state.open("r+b") as handle:
        handle.seek(pages // 2 * 4096)
        handle.write(bytes(range(256)) * 16)
    with pytest.raises(j.JournalError, match=r"^state file .* is damaged \(.+\); move it aside"):
        j.Journal(state, target="t")


def test_a_lock_that_cannot_be_created_is_a_journal_error(tmp_path: Path) -> None:
    state = tmp_path / "missing" / "run.state"
    with (
        pytest.raises(j.JournalError, match=r"^cannot lock .*run\.state: No such file"),
        j.run_lock(state),
    ):
        pass


def test_refusals_say_what_to_do(tmp_path: Path) -> None:
    state = tmp_path / "s"
    j.Journal(state, target="sandbox").close()
    with pytest.raises(j.JournalError) as refused:
        j.Journal(state, target="https://api.argil.ai/v1")
    assert str(refused.value) == (
        f"state file {state} belongs to sandbox, not https://api.argil.ai/v1; "
        "pass --state to keep a separate state for this API"
    )
    bogus = tmp_path / "bogus"
    bogus.write_bytes(b"not sqlite" * 100)
    with pytest.raises(j.JournalError) as refused:
        j.Journal(bogus, target="t")
    assert str(refused.value).startswith(f"state file {bogus} cannot be used (")
    assert str(refused.value).endswith("); pass --state to choose another file")


def test_the_journal_can_be_used_from_another_thread(tmp_path: Path) -> None:
    # The output sheet is written from a worker thread while the run goes on.
    journal = j.Journal(tmp_path / "s", target="t")
    journal.mark_in_flight("k", 2, "h", 1, 0)
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(lambda: journal.all()["k"].state).result() == j.IN_FLIGHT
        pool.submit(journal.mark_failed, "k", "refused").result()
    assert journal.counts() == {j.FAILED: 1}


# --- when requests were sent: a re-run's first pace ----------------------------------------


def test_the_journal_keeps_when_creates_and_renders_were_sent(tmp_path: Path) -> None:
    journal = j.Journal(tmp_path / "s.state", target="t")
    try:
        before = time.time()
        journal.mark_many_in_flight([j.InFlight(f"k{n}", n, "h", 1, 0) for n in range(4)])
        journal.mark_video("k0", j.CREATED, j.VideoFields("v0", "IDLE"))  # its answer
        journal.mark_failed("k1", "refused")  # a 400 counts in the window too
        journal.mark_pending("k2", "never sent")  # committed ahead, put back: no send
        journal.mark_render_requested("k0")  # a second write of the same row
        # k3 stays in flight: a run stopped before its answer came; its commit counts.
        sends = j.recent_sends(journal.all().values(), 60)
        assert len(sends) == 4 and sends == sorted(sends)
        assert all(before <= at <= time.time() for at in sends)
        assert j.recent_sends(journal.all().values(), 0) == []
        # A status read back is no send.
        journal.mark_video("k0", j.RENDERING, j.VideoFields("v0", "GENERATING_VIDEO"))
        assert j.recent_sends(journal.all().values(), 60) == sends
    finally:
        journal.close()


def test_a_state_file_from_before_send_times_opens_and_counts_no_send(tmp_path: Path) -> None:
    state = tmp_path / "old.state"
    with sqlite3.connect(state) as db:
        db.executescript(
            """CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
               INSERT INTO meta VALUES ('schema_version', '1'), ('target', 't');
               CREATE TABLE rows (
                 key TEXT PRIMARY KEY, row INTEGER NOT NULL, payload_hash TEXT NOT NULL,
                 state TEXT NOT NULL, generation INTEGER NOT NULL DEFAULT 0, video_id TEXT,
                 status TEXT, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
                 moments INTEGER, preview_url TEXT, video_url TEXT, duration REAL,
                 render_requested INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
                 updated_at TEXT NOT NULL, field_digests TEXT);
               INSERT INTO rows (key, row, payload_hash, state, video_id, created_at,
                                 updated_at)
                 VALUES ('k', 2, 'h', 'created', 'vid-1', 'a', 'b');"""
        )
    db.close()
    journal = j.Journal(state, target="t")
    try:
        assert j.recent_sends(journal.all().values(), 3600) == []
        record = journal.get("k")
        assert record is not None and record.video_id == "vid-1"
        journal.mark_in_flight("k2", 3, "h", 1, 0)
        assert len(j.recent_sends(journal.all().values(), 60)) == 1
    finally:
        journal.close()
