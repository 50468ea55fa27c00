"""The journal: committed states, one lookup for planning, and a lock that dies with its run;
the newer records: per-field digests (and state files from before them), videos adopted from a
batch listing, generation keys read back, and writes that fail on a full disk."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import types
from collections.abc import Iterator
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


# --- the newer records ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("k-abc", ("k-abc", 0)),
        ("k-abc~2", ("k-abc", 2)),
        ("k-abc~12", ("k-abc", 12)),
        ("a~b~3", ("a~b", 3)),
        ("k~", ("k~", 0)),
        ("~3", ("~3", 0)),
        ("k~x", ("k~x", 0)),
        ("k~-1", ("k~-1", 0)),
    ],
)
def test_a_batch_key_is_read_back_as_row_key_and_generation(
    value: str, parsed: tuple[str, int]
) -> None:
    assert j.parse_batch_key(value) == parsed


@pytest.mark.parametrize(("key", "generation"), [("k", 0), ("k", 1), ("a~b", 7), ("x~", 2)])
def test_parse_batch_key_inverts_batch_key(key: str, generation: int) -> None:
    assert j.parse_batch_key(j.batch_key(key, generation)) == (key, generation)


def test_field_digests_are_kept_replaced_on_resend_and_survive_a_reopen(tmp_path: Path) -> None:
    state = tmp_path / "s"
    journal = j.Journal(state, target="t")
    journal.mark_many_in_flight(
        [
            j.InFlight("k1", 2, "h1", 1, 0, field_digests='{"name": "d1"}'),
            j.InFlight("k2", 3, "h2", 2, 0),
        ]
    )
    journal.mark_in_flight("k1", 2, "h1b", 1, 1)  # resent without digests: none kept
    journal.mark_many_in_flight([j.InFlight("k2", 3, "h2b", 2, 1, field_digests='{"a": "b"}')])
    journal.close()
    records = j.Journal(state, target="t").all()
    assert records["k1"].field_digests is None and records["k1"].payload_hash == "h1b"
    assert records["k2"].field_digests == '{"a": "b"}' and records["k2"].generation == 1
    assert records["k2"].attempts == 2 and records["k2"].moments == 2


def test_a_state_file_from_before_digests_opens_and_keeps_its_rows(tmp_path: Path) -> None:
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
                 updated_at TEXT NOT NULL);
               INSERT INTO rows (key, row, payload_hash, state, video_id, created_at,
                                 updated_at)
                 VALUES ('k', 2, 'h', 'done', 'vid-1', 'a', 'b');"""
        )
    db.close()
    journal = j.Journal(state, target="t")
    record = journal.get("k")
    assert record is not None
    assert (record.state, record.video_id, record.field_digests) == (j.DONE, "vid-1", None)
    journal.mark_many_in_flight([j.InFlight("k2", 3, "h", 1, 0, field_digests="{}")])
    journal.close()
    assert j.Journal(state, target="t").all()["k2"].field_digests == "{}"


def test_an_adopted_video_is_recorded_as_created(tmp_path: Path, clock: list[str]) -> None:
    journal = j.Journal(tmp_path / "s", target="t")
    journal.adopt(j.InFlight("k", 5, "h", 3, 2))
    assert journal.get("k") == j.Record(
        key="k",
        row=5,
        payload_hash="h",
        state=j.CREATED,
        generation=2,
        video_id=None,
        status=None,
        attempts=0,
        last_error=None,
        moments=3,
        preview_url=None,
        video_url=None,
        duration=None,
        render_requested=False,
        created_at=clock[0],
        updated_at=clock[0],
    )


def test_adopting_over_a_record_keeps_its_history(tmp_path: Path, clock: list[str]) -> None:
    journal = j.Journal(tmp_path / "s", target="t")
    journal.mark_in_flight("k", 2, "h-old", 1, 0)
    journal.mark_pending("k", "in doubt")
    journal.adopt(j.InFlight("k", 4, "h-new", 2, 1))
    record = journal.get("k")
    assert record is not None
    assert (record.row, record.payload_hash, record.state, record.generation, record.moments) == (
        4,
        "h-new",
        j.CREATED,
        1,
        2,
    )
    assert record.attempts == 1 and record.created_at == clock[0]
    assert record.updated_at == clock[-1] != clock[0]
    journal.mark_video("k", j.CREATED, j.VideoFields("vid-9", "IDLE"))
    assert journal.all()["k"].video_id == "vid-9"


def full(journal: j.Journal) -> None:
    """The state file's disk is full: SQLite's own error, as a full disk gives it."""
    pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
    journal._db.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_is_a_write_error_that_says_what_to_do(tmp_path: Path) -> None:
    state = tmp_path / "s"
    journal = j.Journal(state, target="t")
    journal.mark_in_flight("k0", 1, "h", 1, 0)
    full(journal)
    rows = [j.InFlight(f"k{n}", n, "h" * 200, 1, 0, field_digests="d" * 2000) for n in range(50)]
    with pytest.raises(j.JournalWriteError) as caught:
        journal.mark_many_in_flight(rows)
    message = str(caught.value)
    assert message.startswith(f"cannot write the state file {state} (")
    assert "full" in message
    assert message.endswith(
        "free space on its disk (or make it writable), then run again: the run resumes where "
        "it stopped"
    )
    assert isinstance(caught.value, j.JournalError)
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    # Nothing of the failed batch was kept, what came before still is, and the journal goes on.
    assert set(journal.all()) == {"k0"}
    journal._db.execute("PRAGMA max_page_count = 1000000")
    journal.mark_many_in_flight(rows[:2])
    records = journal.all()
    assert set(records) == {"k0", "k1"} and records["k0"].attempts == 2


@pytest.mark.parametrize(
    "write",
    [
        lambda journal: journal.set_meta({"output": "x" * 100_000}),
        lambda journal: journal.mark_video(
            "k0", j.CREATED, j.VideoFields("v", "IDLE", preview_url="p" * 100_000)
        ),
        lambda journal: journal.mark_failed("k0", "e" * 100_000),
        lambda journal: journal.mark_pending("k0", "e" * 100_000),
        lambda journal: journal.set_error("k0", "e" * 100_000),
    ],
)
def test_every_write_that_fails_is_a_write_error(tmp_path: Path, write: object) -> None:
    journal = j.Journal(tmp_path / "s", target="t")
    journal.mark_in_flight("k0", 1, "h", 1, 0)
    full(journal)
    with pytest.raises(j.JournalWriteError, match=r"^cannot write the state file "):
        write(journal)  # type: ignore[operator]
    record = journal.get("k0")
    assert record is not None and record.state == j.IN_FLIGHT and record.last_error is None


def test_a_broken_constraint_is_a_bug_not_the_disk(tmp_path: Path) -> None:
    journal = j.Journal(tmp_path / "s", target="t")
    journal._db.execute(
        "CREATE TRIGGER no_k BEFORE INSERT ON rows BEGIN SELECT RAISE(ABORT, 'x'); END"
    )
    with pytest.raises(sqlite3.IntegrityError):
        journal.mark_in_flight("k", 1, "h", 1, 0)
    assert journal.all() == {}
    journal._db.execute("DROP TRIGGER no_k")
    journal.mark_in_flight("k", 1, "h", 1, 0)
    assert set(journal.all()) == {"k"}


def test_a_record_of_a_render_requested_reads_back_true(tmp_path: Path) -> None:
    state = tmp_path / "s"
    journal = j.Journal(state, target="t")
    journal.mark_in_flight("k", 1, "h", 4, 0)
    journal.mark_render_requested("k")
    journal.close()
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT render_requested, state FROM rows").fetchone() == (1, "rendering")
    db.close()
    record = j.Journal(state).get("k")
    assert record is not None and record.render_requested is True and record.moments == 4


def test_a_full_disk_is_a_journal_write_error_and_what_was_committed_holds(
    tmp_path: Path,
) -> None:
    journal = j.Journal(tmp_path / "s.state", target="t")
    try:
        journal.mark_in_flight("kept", 2, "h", 1, 0)
        pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
        journal._db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(j.JournalWriteError, match="database or disk is full") as caught:
            for row in range(3, 1000):
                journal.mark_many_in_flight([j.InFlight(f"row-{row}" * 8, row, "h" * 64, 1, 0)])
        assert "free space" in str(caught.value) and "run again" in str(caught.value)
        assert isinstance(caught.value, j.JournalError)
        record = journal.get("kept")
        assert record is not None and record.state == j.IN_FLIGHT
    finally:
        journal.close()


# --- damaged files, what the check says, and files that cannot be opened -------------------

MOVE_IT_ASIDE = (
    "; move it aside (keep it for support) and run again: the run finds this batch's videos "
    "on the API and adopts them, none is made twice"
)


def written(state: Path, rows: int = 300) -> Path:
    journal = j.Journal(state, target="t")
    journal.mark_many_in_flight(j.InFlight(f"key-{i:04d}", i, "h" * 64, 1, 0) for i in range(rows))
    journal.close()
    return state


def test_a_damaged_page_is_named_in_the_refusal_on_one_line(tmp_path: Path) -> None:
    state = written(tmp_path / "s")
    with state.open("r+b") as handle:
        handle.seek(state.stat().st_size // 4096 // 2 * 4096)
        handle.write(bytes(range(256)) * 16)
    db = sqlite3.connect(state)
    try:
        [(report,)] = db.execute("PRAGMA quick_check(1)").fetchall()
    finally:
        db.close()
    assert report.startswith("*** in database main ***\n"), report
    # The user reads what the check found, without its banner and on one line.
    found = " ".join(report.removeprefix("*** in database main ***").split())
    assert found and "***" not in found
    with pytest.raises(j.JournalError) as refused:
        j.Journal(state, target="t")
    assert str(refused.value) == f"state file {state} is damaged ({found}){MOVE_IT_ASIDE}"


def test_a_damaged_schema_page_is_damage_not_a_foreign_file(tmp_path: Path) -> None:
    """SQLite fails the open itself (SQLITE_CORRUPT): still "damaged, move it aside", since a
    new state file is safe here, never "pass --state", as for a file that is no journal."""
    state = written(tmp_path / "s")
    with state.open("r+b") as handle:
        handle.seek(100)  # past the header: the page that holds the schema
        handle.write(bytes(range(256)) * 15)
    with pytest.raises(j.JournalError) as refused:
        j.Journal(state, target="t")
    assert str(refused.value) == (
        f"state file {state} is damaged (database disk image is malformed){MOVE_IT_ASIDE}"
    )
    assert isinstance(refused.value.__cause__, sqlite3.DatabaseError)


def test_a_check_that_answers_nothing_is_not_taken_for_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Silent(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            if sql.startswith("PRAGMA quick_check"):
                sql = "SELECT 1 WHERE 0"
            return super().execute(sql, *args)

    connect = sqlite3.connect
    monkeypatch.setattr(
        sqlite3, "connect", lambda *args, **kwargs: connect(*args, factory=Silent, **kwargs)
    )
    state = tmp_path / "s"
    with pytest.raises(j.JournalError) as refused:
        j.Journal(state, target="t")
    assert str(refused.value) == (
        f"state file {state} is damaged (no answer to a check){MOVE_IT_ASIDE}"
    )


def test_a_file_that_is_no_journal_says_what_sqlite_found(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus"
    bogus.write_bytes(b"not sqlite" * 100)
    with pytest.raises(j.JournalError) as refused:
        j.Journal(bogus, target="t")
    assert str(refused.value) == (
        f"state file {bogus} cannot be used (file is not a database); "
        "pass --state to choose another file"
    )


def test_a_state_file_in_a_missing_folder_cannot_be_used(tmp_path: Path) -> None:
    state = tmp_path / "missing" / "s"
    with pytest.raises(j.JournalError) as refused:
        j.Journal(state, target="t")
    assert str(refused.value) == (
        f"state file {state} cannot be used (unable to open database file); "
        "pass --state to choose another file"
    )
    assert not state.parent.exists()


def test_a_loop_of_links_is_left_as_named_for_the_open_to_refuse(tmp_path: Path) -> None:
    loop = tmp_path / "loop.state"
    other = tmp_path / "other.state"
    loop.symlink_to(other)
    other.symlink_to(loop)
    assert j.real_path(loop) == loop
    assert j.lock_path(loop) == tmp_path / "loop.state.lock"
    assert j.output_lock_path(loop) == tmp_path / ".loop.state.lock"
    with pytest.raises(j.JournalError, match=r"cannot be used .*pass --state"):
        j.Journal(loop, target="t")


def test_a_journal_used_after_its_close_is_a_bug_not_damage_nor_the_disk(tmp_path: Path) -> None:
    journal = j.Journal(tmp_path / "s", target="t")
    journal.mark_in_flight("k", 2, "h", 1, 0)
    journal.close()
    for use in (
        lambda: journal.get("k"),
        lambda: journal.all(),
        lambda: journal.meta(),
        lambda: journal.mark_failed("k", "refused"),
        lambda: journal.set_meta({"output": "o"}),
    ):
        with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
            use()


# --- the output a run recorded, read without opening the journal ----------------------------


def test_the_recorded_output_is_read_back_through_any_name_of_the_state(tmp_path: Path) -> None:
    state = tmp_path / "run.state"
    journal = j.Journal(state, target="t")
    journal.set_meta({"sheet": "/data/in.csv"})
    assert j.recorded_output(state) is None, "a run that named no output"
    journal.set_meta({"output": "/data/out.csv"})
    journal.close()
    link = tmp_path / "link.state"
    link.symlink_to(state)
    assert j.recorded_output(state) == "/data/out.csv"
    assert j.recorded_output(link) == "/data/out.csv"


def test_asking_for_the_recorded_output_makes_and_changes_no_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.state"
    assert j.recorded_output(missing) is None
    folder = tmp_path / "folder.state"
    folder.mkdir()
    assert j.recorded_output(folder) is None
    foreign = tmp_path / "foreign.state"
    foreign.write_bytes(b"not sqlite" * 100)
    assert j.recorded_output(foreign) is None
    empty = tmp_path / "empty.state"
    sqlite3.connect(empty).close()  # a database, but no journal's
    assert empty.exists()
    assert j.recorded_output(empty) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "empty.state",
        "folder.state",
        "foreign.state",
    ]
    assert foreign.read_bytes() == b"not sqlite" * 100
    assert list(folder.iterdir()) == []


# --- the window of recent sends --------------------------------------------------------------


def sent(key: str, at: float | None, render_at: float | None = None) -> j.Record:
    return j.Record(
        key=key,
        row=2,
        payload_hash="h",
        state=j.CREATED,
        generation=0,
        video_id="vid",
        status="IDLE",
        attempts=1,
        last_error=None,
        moments=1,
        preview_url=None,
        video_url=None,
        duration=None,
        render_requested=render_at is not None,
        created_at="a",
        updated_at="b",
        sent_at=at,
        render_sent_at=render_at,
    )


def test_recent_sends_are_those_of_the_window_its_first_second_included(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(j, "time", types.SimpleNamespace(time=lambda: 1_000.0))
    records = [
        sent("old", 939.5),
        sent("edge", 940.0),  # exactly 60 s ago: the API's window still counts it
        sent("rendered", 950.0, render_at=945.0),
        sent("never", None),
    ]
    assert j.recent_sends(records, 60) == [940.0, 945.0, 950.0]
    assert j.recent_sends(records, 60.5) == [939.5, 940.0, 945.0, 950.0]


# --- lock files: their mode, and the errors of taking them --------------------------------------


@pytest.fixture
def no_umask() -> Iterator[None]:
    """The mode a file is created with, as it is asked for."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("no_umask")
def test_lock_files_are_readable_by_all_and_writable_by_their_owner_only(
    tmp_path: Path,
) -> None:
    # A refused run of another user reads who holds the lock; none may write or run it.
    state, output = tmp_path / "run.state", tmp_path / "out.csv"
    with j.run_lock(state), j.output_lock(output):
        for lock in (j.lock_path(state), j.output_lock_path(output)):
            assert stat.S_IMODE(lock.stat().st_mode) == 0o644, lock


def test_a_lock_the_file_system_cannot_take_is_a_journal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system without locks (some network mounts) says so, rather than a run going
    on unlocked or the user being told another run is in the way."""
    taken: list[int] = []

    def no_locks(fd: int, operation: int) -> None:
        taken.append(fd)
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(j.fcntl, "flock", no_locks)
    state = tmp_path / "run.state"
    with pytest.raises(j.JournalError) as refused, j.run_lock(state):
        pass
    assert not isinstance(refused.value, j.LockedError)
    assert str(refused.value) == f"cannot lock {state}: {os.strerror(errno.ENOLCK)}"
    [fd] = taken
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)  # closed, not leaked


def test_a_lock_file_removed_under_every_try_is_refused_as_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each lock taken was on a file another run had just removed: after a few tries the run
    is refused as if the lock were held, rather than run beside a run it cannot see."""
    output = tmp_path / "out.csv"
    lock = j.output_lock_path(output)
    flock = fcntl.flock
    tries: list[int] = []

    def always_late(fd: int, operation: int) -> None:
        if operation & fcntl.LOCK_EX:
            tries.append(fd)
            os.unlink(lock)
        flock(fd, operation)

    monkeypatch.setattr(j.fcntl, "flock", always_late)
    with pytest.raises(j.LockedError) as refused, j.output_lock(output):
        pass
    assert len(tries) == 5
    assert refused.value.holder == "holder unknown"
    assert str(refused.value) == (
        f"another run writes {output} (holder unknown); wait for it to finish, then run again"
    )
