"""The journal's newer records: per-field digests (and state files from before them), videos
adopted from a batch listing, generation keys read back, and writes that fail on a full disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pipeline import journal as j


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each write's timestamp, one per second from 10:00:00 UTC."""
    stamps: list[str] = []

    def now() -> str:
        stamps.append(f"2026-03-01T10:00:{len(stamps):02d}+00:00")
        return stamps[-1]

    monkeypatch.setattr(j, "now_iso", now)
    return stamps


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
