"""The SQLite ledger of a batch: one record per row key, and the lock that makes a run alone.

A row's record is committed as ``in_flight`` *before* its ``POST /videos`` is sent and updated
as soon as the answer comes, so a crash at any instant leaves either a known video id or an
in-flight row that the next run resolves by looking the video up (never by a blind resend).

Exceptions (under :mod:`pipeline.errors`' root):
    JournalError          the state file cannot be used (corrupt, damaged, another API,
    │                     unwritable): a JobError, exit 2
    └── JournalWriteError a write failed mid-run (a full disk, a read-only file): the run
                          must stop sending, since a row it cannot record must not be sent
    LockedError           (pipeline.errors) another live run holds a lock (the state file's
                          or the output sheet's); ``holder`` says who
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipeline.errors import EXIT_STOPPED, JobError, LockedError

SCHEMA_VERSION = 1

PENDING = "pending"
IN_FLIGHT = "in_flight"
CREATED = "created"
RENDERING = "rendering"
DONE = "done"
FAILED = "failed"
STATES = (PENDING, IN_FLIGHT, CREATED, RENDERING, DONE, FAILED)
# States in which a video exists and must never be created again.
HAS_VIDEO = frozenset({CREATED, RENDERING, DONE})


class JournalError(JobError):
    """The state file cannot be used."""


class JournalWriteError(JournalError):
    """A write to the state file failed; what was committed before it still holds. The run
    stops sending (a row it cannot record must not be sent)."""

    exit_code = EXIT_STOPPED


@dataclass(frozen=True)
class Record:
    key: str
    row: int
    payload_hash: str
    state: str
    generation: int
    video_id: str | None
    status: str | None
    attempts: int
    last_error: str | None
    moments: int | None
    preview_url: str | None
    video_url: str | None
    duration: float | None
    render_requested: bool
    created_at: str
    updated_at: str
    # Digests of each field of the body the video was made from (JSON; see changes.py).
    field_digests: str | None = None
    # Wall-clock times (``time.time()``) the API counted its create and its render: the next
    # run's pace (see recent_sends). Bookkeeping of requests, not what the row is: two records
    # of one row compare equal whatever they say.
    sent_at: float | None = field(default=None, compare=False)
    render_sent_at: float | None = field(default=None, compare=False)
    # The price of rendering the video (GET /videos/{id}/estimate), and whether it is the API's
    # exact one or, the API's answer unreadable, the local estimate.
    credits: float | None = None
    credits_exact: bool = False
    file: str | None = None  # the MP4 saved by --download

    @property
    def batch_key(self) -> str:
        """The value of ``extras.argilBatchKey`` that this record's video carries."""
        return batch_key(self.key, self.generation)


@dataclass(frozen=True)
class InFlight:
    """A row about to be sent, as its in-flight record holds it."""

    key: str
    row: int
    payload_hash: str
    moments: int
    generation: int
    field_digests: str | None = None


def batch_key(key: str, generation: int) -> str:
    # A row resent on purpose (its payload changed) must not be matched with its older video
    # when an in-doubt create is resolved, so each generation gets its own lookup value.
    return key if generation == 0 else f"{key}~{generation}"


def parse_batch_key(value: str) -> tuple[str, int]:
    """(row key, generation) of an ``extras.argilBatchKey`` value: the inverse of batch_key."""
    key, sep, generation = value.rpartition("~")
    if sep and key and generation.isdigit():
        return key, int(generation)
    return value, 0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    key TEXT PRIMARY KEY,
    row INTEGER NOT NULL,
    payload_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    video_id TEXT,
    status TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    moments INTEGER,
    preview_url TEXT,
    video_url TEXT,
    duration REAL,
    render_requested INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    field_digests TEXT,
    sent_at REAL,
    render_sent_at REAL,
    credits REAL,
    credits_exact INTEGER NOT NULL DEFAULT 0,
    file TEXT
);
CREATE INDEX IF NOT EXISTS rows_state ON rows(state);
"""

_COLUMNS = (
    "key, row, payload_hash, state, generation, video_id, status, attempts, last_error, "
    "moments, preview_url, video_url, duration, render_requested, created_at, updated_at, "
    "field_digests, sent_at, render_sent_at, credits, credits_exact, file"
)


def real_path(path: Path) -> Path:
    """``path`` with its links and ".." resolved (a loop of links leaves it as it is, for the
    open that follows to refuse)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(path)


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """SQLite found a damaged page (not "not a database", not a locked or full file)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_CORRUPT


def _record(row: sqlite3.Row) -> Record:
    values = dict(zip(row.keys(), row, strict=True))
    values["render_requested"] = bool(values["render_requested"])
    values["credits_exact"] = bool(values["credits_exact"])
    return Record(**values)


class Journal:
    """One state file. Every write is its own committed transaction (WAL, synchronous FULL,
    except the records of an answer: see ``_unsynced``)."""

    def __init__(self, path: Path, *, target: str | None = None) -> None:
        self.path = Path(path)
        try:
            # The real file: its write-ahead log must sit beside it whichever link names it
            # (a log beside a link would hold commits that a run through the file never
            # sees), and SQLite refuses a relative path with more ".." than the folder depth.
            self._db = sqlite3.connect(
                real_path(self.path), isolation_level=None, check_same_thread=False
            )
        except sqlite3.DatabaseError as exc:
            raise self._unusable(exc) from exc
        try:
            self._open(target)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise self._unusable(exc) from exc
        except BaseException:
            self._db.close()
            raise

    def _open(self, target: str | None) -> None:
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        # Damaged pages in the middle of the file open fine and fail at the first read that
        # reaches them: found now, before anything is sent, not halfway through the run.
        problems = [str(row[0]) for row in self._db.execute("PRAGMA quick_check(1)")]
        if problems != ["ok"]:
            raise self._damaged(problems[0] if problems else "no answer to a check")
        columns = {info[1] for info in self._db.execute("PRAGMA table_info(rows)")}
        if "field_digests" not in columns:
            # A state file from before digests were kept: its rows just have none.
            self._db.execute("ALTER TABLE rows ADD COLUMN field_digests TEXT")
        for column in ("sent_at", "render_sent_at"):
            if column not in columns:
                # From before send times were kept: what it sent does not pace the next run.
                self._db.execute(f"ALTER TABLE rows ADD COLUMN {column} REAL")
        if "credits" not in columns:
            # From before prices were read: its drafts are priced again by the next run.
            self._db.execute("ALTER TABLE rows ADD COLUMN credits REAL")
            self._db.execute("ALTER TABLE rows ADD COLUMN credits_exact INTEGER NOT NULL DEFAULT 0")
        if "file" not in columns:
            self._db.execute("ALTER TABLE rows ADD COLUMN file TEXT")
        self._check_meta(target)

    def _unusable(self, exc: sqlite3.DatabaseError) -> JournalError:
        if _is_damage(exc):
            return self._damaged(str(exc))
        return JournalError(
            f"state file {self.path} cannot be used ({exc}); pass --state to choose another file"
        )

    def _damaged(self, detail: str) -> JournalError:
        # quick_check's report opens with a banner that tells the user nothing.
        detail = " ".join(detail.replace("*** in database main ***", "").split())
        # A new state file is safe here, unlike beside a live run: the run lists the batch's
        # videos by their tag and adopts them, so none is made twice.
        return JournalError(
            f"state file {self.path} is damaged ({detail}); move it aside (keep it "
            "for support) and run again: the run finds this batch's videos on the API and "
            "adopts them, none is made twice"
        )

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """A read that meets a damaged page as the JournalError that says what to do."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc):
                raise
            raise self._damaged(str(exc)) from exc

    def _check_meta(self, target: str | None) -> None:
        meta = self.meta()
        version = int(meta.get("schema_version", SCHEMA_VERSION))
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"state file {self.path} was written by a newer argil-batch; upgrade it"
            )
        if target is None:
            return
        known = meta.get("target")
        if known is None:
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?), ('target', ?)",
                    (str(SCHEMA_VERSION), target),
                )
        elif known != target:
            # Video ids of one API mean nothing to another: mixing them would resend or lose rows.
            raise JournalError(
                f"state file {self.path} belongs to {known}, not {target}; "
                "pass --state to keep a separate state for this API"
            )

    @property
    def target(self) -> str | None:
        return self.meta().get("target")

    def meta(self) -> dict[str, str]:
        with self._reading():
            return {k: v for k, v in self._db.execute("SELECT k, v FROM meta")}

    def set_meta(self, values: dict[str, str]) -> None:
        """Where the run's files are, so that ``status`` can rebuild the output later."""
        with self._writing(), self._db:
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())

    def close(self) -> None:
        self._db.close()

    # --- reads ---------------------------------------------------------------------------

    def get(self, key: str) -> Record | None:
        with self._reading():
            query = f"SELECT {_COLUMNS} FROM rows WHERE key = ?"
            row = self._db.execute(query, (key,)).fetchone()
        return None if row is None else _record(row)

    def all(self) -> dict[str, Record]:
        """Every record in one query: planning a 100,000-row re-run is one scan, not 100,000."""
        with self._reading():
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM rows")
            return {r.key: r for r in map(_record, rows)}

    def counts(self) -> dict[str, int]:
        query = "SELECT state, COUNT(*) FROM rows GROUP BY state"
        with self._reading():
            return {state: count for state, count in self._db.execute(query)}

    # --- writes: each one committed before the caller goes on -------------------------------

    def mark_in_flight(
        self, key: str, row: int, payload_hash: str, moments: int, generation: int
    ) -> None:
        self.mark_many_in_flight([InFlight(key, row, payload_hash, moments, generation)])

    def mark_many_in_flight(self, rows: Iterable[InFlight]) -> None:
        """One transaction, so one wait on the disk, for rows about to be sent one by one."""
        stamp, sent = now_iso(), time.time()
        # The connection commits every statement on its own: one explicit transaction, so
        # one commit and one fsync for every row in it.
        with self._writing(), self._transaction():
            self._db.executemany(
                """INSERT INTO rows (key, row, payload_hash, state, generation, moments,
                                     attempts, created_at, updated_at, field_digests, sent_at)
                   VALUES (?, ?, ?, 'in_flight', ?, ?, 1, ?, ?, ?, ?)
                   ON CONFLICT(key) DO UPDATE SET
                     row = excluded.row, payload_hash = excluded.payload_hash,
                     field_digests = excluded.field_digests,
                     state = 'in_flight', generation = excluded.generation,
                     moments = excluded.moments, attempts = rows.attempts + 1,
                     last_error = NULL, video_id = NULL, status = NULL, preview_url = NULL,
                     video_url = NULL, duration = NULL, render_requested = 0,
                     updated_at = excluded.updated_at, sent_at = excluded.sent_at""",
                [
                    (
                        r.key,
                        r.row,
                        r.payload_hash,
                        r.generation,
                        r.moments,
                        stamp,
                        stamp,
                        r.field_digests,
                        sent,
                    )
                    for r in rows
                ],
            )

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A failed write (SQLite's "database or disk is full", a file turned read-only, an
        I/O error) as one JournalWriteError that says what to do. A constraint broken is a
        bug, not the disk: it stays what it is."""
        try:
            yield
        except (sqlite3.OperationalError, OSError) as exc:
            raise JournalWriteError(
                f"cannot write the state file {self.path} ({exc}): free space on its disk "
                "(or make it writable), then run again: the run resumes where it stopped"
            ) from exc
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc):
                raise
            # Still a write that failed: the run stops sending, as for a full disk.
            raise JournalWriteError(str(self._damaged(str(exc)))) from exc

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            # SQLite rolls some failures back itself (a full disk): roll back only what is left.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _unsynced(self) -> Iterator[None]:
        """A commit that skips its fsync: it survives a crash of this process (the data is in
        the OS's hands) but not a power cut until the next synced commit.

        Only for what the API can tell again: losing the record of an answer leaves the row in
        flight, which the next run resolves by looking the video up. And a WAL is written in
        order, so the next synced commit (the next in-flight records, which must reach the
        disk before their requests are sent) makes this one durable too. Each fsync is a wait
        on the disk and a cold wake-up, a large part of a row's CPU at the API's limit.
        """
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            yield
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

    def mark_video(self, key: str, state: str, video: VideoFields) -> None:
        """Record what the API says of this row's video (created, adopted, or refreshed)."""
        # A row in flight has its create answered: the API counted that request by now. (One
        # adopted from in flight too: a lookup taken for a send errs towards a slower start.)
        with self._writing(), self._unsynced(), self._db:
            self._db.execute(
                """UPDATE rows SET state = ?, video_id = ?, status = ?, preview_url = ?,
                       video_url = COALESCE(?, video_url), duration = COALESCE(?, duration),
                       last_error = ?, updated_at = ?,
                       sent_at = CASE WHEN state = 'in_flight' THEN ? ELSE sent_at END
                   WHERE key = ?""",
                (
                    state,
                    video.video_id,
                    video.status,
                    video.preview_url,
                    video.video_url,
                    video.duration,
                    video.error,
                    now_iso(),
                    time.time(),
                    key,
                ),
            )

    def adopt(self, row: InFlight) -> None:
        """A row this journal did not know gets the video the API already had for it (found
        by listing the batch): recorded as created, then filled in by ``mark_video``."""
        stamp = now_iso()
        with self._unsynced(), self._db:
            self._db.execute(
                """INSERT INTO rows (key, row, payload_hash, state, generation, moments,
                                     created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(key) DO UPDATE SET
                     row = excluded.row, payload_hash = excluded.payload_hash,
                     state = excluded.state, generation = excluded.generation,
                     moments = excluded.moments, updated_at = excluded.updated_at""",
                (
                    row.key,
                    row.row,
                    row.payload_hash,
                    CREATED,
                    row.generation,
                    row.moments,
                    stamp,
                    stamp,
                ),
            )

    def mark_render_requested(self, key: str) -> None:
        with self._writing(), self._db:
            self._db.execute(
                """UPDATE rows SET render_requested = 1, state = ?, updated_at = ?,
                       render_sent_at = ?
                   WHERE key = ?""",
                (RENDERING, now_iso(), time.time(), key),
            )

    def set_credits(self, key: str, credits: float, exact: bool) -> None:
        """The price of rendering the row's video, as the API estimated it (``exact``) or as
        the local estimate had it. Unsynced: a price the API can tell again."""
        with self._writing(), self._unsynced(), self._db:
            self._db.execute(
                "UPDATE rows SET credits = ?, credits_exact = ? WHERE key = ?",
                (credits, int(exact), key),
            )

    def set_file(self, key: str, file: str) -> None:
        """The MP4 of the row's video, saved by --download. Unsynced: a lost record only
        means the next --download finds the file there and records it again."""
        with self._writing(), self._unsynced(), self._db:
            self._db.execute("UPDATE rows SET file = ? WHERE key = ?", (file, key))

    def mark_failed(self, key: str, error: str) -> None:
        # A create the API refused (400) counted in its rate window as any other.
        with self._writing(), self._db:
            self._db.execute(
                """UPDATE rows SET state = ?, last_error = ?, updated_at = ?,
                       sent_at = CASE WHEN state = 'in_flight' THEN ? ELSE sent_at END
                   WHERE key = ?""",
                (FAILED, error, now_iso(), time.time(), key),
            )

    def mark_pending(self, key: str, error: str | None = None) -> None:
        """Nothing was created for this row (refused, or looked up and absent): safe to send."""
        # Nor was its in-flight commit a request the API counted: committed ahead and never
        # sent, refused with a 429, never connected.
        with self._writing(), self._db:
            self._db.execute(
                """UPDATE rows SET state = ?, last_error = ?, updated_at = ?, sent_at = NULL
                   WHERE key = ?""",
                (PENDING, error, now_iso(), key),
            )

    def set_error(self, key: str, error: str | None) -> None:
        with self._writing(), self._db:
            self._db.execute(
                "UPDATE rows SET last_error = ?, updated_at = ? WHERE key = ?",
                (error, now_iso(), key),
            )


@dataclass(frozen=True)
class VideoFields:
    """What the journal keeps of a Video; built by the run state from the API's answer."""

    video_id: str
    status: str | None
    preview_url: str | None = None
    video_url: str | None = None
    duration: float | None = None
    error: str | None = None


def recent_sends(records: Iterable[Record], since_seconds: float) -> list[float]:
    """Wall-clock times (``time.time()``), oldest first, of the creates and renders sent over
    the last ``since_seconds``, by the records of a journal (as ``Journal.all`` read them,
    once for the whole run): a re-run right after a run paces its first requests around
    them, as the API's rate window still counts them.

    A create's time is when its answer came (the API counted it before), or, for a row still
    in flight (a run stopped before the answer), when it was committed in flight. A render's
    is when its answer came. Requests refused or retried are not kept."""
    since = time.time() - since_seconds
    sent = (
        at
        for record in records
        for at in (record.sent_at, record.render_sent_at)
        if at is not None and at >= since
    )
    return sorted(sent)


def recorded_output(state: Path) -> str | None:
    """The output sheet (resolved) that the run of the state file ``state`` recorded it
    writes; None when it names none or cannot be read. Makes no file and leaves nothing
    beside it: a run may still be refused after asking."""
    real = real_path(state).absolute()
    if not real.is_file():
        return None
    try:
        db = sqlite3.connect(f"{real.as_uri()}?mode=rw", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = db.execute("SELECT v FROM meta WHERE k = 'output'").fetchone()
    except sqlite3.Error:
        return None  # a damaged or foreign file: the run's own open says what is wrong
    finally:
        db.close()
    return None if row is None else str(row[0])


# --- the run's locks -----------------------------------------------------------------------


def lock_path(state: Path) -> Path:
    """The lock of the state file itself, whichever link or path names it: two names of one
    journal must be one lock, or two runs would each send the rows the other has not."""
    real = real_path(state)
    return real.with_name(real.name + ".lock")


def output_lock_path(output: Path) -> Path:
    """The lock of an output sheet, hidden beside the file itself (links resolved)."""
    real = real_path(output)
    return real.with_name(f".{real.name}.lock")


@contextmanager
def run_lock(state: Path) -> Iterator[None]:
    """Hold an OS-level lock on ``state`` for the whole run, or raise LockedError at once.

    A ``flock``, so a killed run's lock dies with its process. Written with fcntl rather than
    the filelock package because filelock truncates its file when it opens it, so who holds
    the lock could not be kept in the lock file itself: here one file is both the lock and
    the note of its holder, which a refused run reads to say who is in the way.
    """

    def refused(holder: str) -> LockedError:
        # Never "use another state file": two journals over one batch each think the
        # other's rows are new, and every such row would be made twice.
        return LockedError(
            f"another run holds the lock on {state} ({holder}); wait for it to finish, "
            "then run again",
            holder,
        )

    with _held(lock_path(state), f"cannot lock {state}", refused, remove=False):
        yield


@contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold the lock of the output sheet ``output`` for the whole run, or raise LockedError:
    two runs writing one output (their state files apart) would each rewrite it without the
    other's rows. Its file goes when the lock does: it sits in the user's folder."""

    def refused(holder: str) -> LockedError:
        # Never "use another -o" or "another --state": the same rows under a second journal
        # are new to it, and every video would be made twice.
        return LockedError(
            f"another run writes {output} ({holder}); wait for it to finish, then run again",
            holder,
        )

    with _held(output_lock_path(output), f"cannot lock {output}", refused, remove=True):
        yield


# A lock file removed by its holder as it lets go may have been opened by another run just
# before: that run locks a file no longer named and tries again, a few times at most.
_LOCK_TRIES = 5


@contextmanager
def _held(
    path: Path, cannot: str, refused: Callable[[str], LockedError], *, remove: bool
) -> Iterator[None]:
    fd = _lock_fd(path, cannot, refused)
    try:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": now_iso(),
            "command": " ".join(sys.argv[:2]),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield
        finally:
            if remove:
                # Before the lock goes, so that no run ever holds a lock on a removed file
                # while another holds one on its successor.
                with suppress(OSError):
                    os.unlink(path)
            else:
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _lock_fd(path: Path, cannot: str, refused: Callable[[str], LockedError]) -> int:
    """An open descriptor of ``path``, locked, and still the file of that name."""
    for _ in range(_LOCK_TRIES):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError(f"{cannot}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise refused(holder) from None
        except OSError as exc:
            os.close(fd)
            raise JournalError(f"{cannot}: {exc.strerror or exc}") from exc
        if _names(path, fd):
            return fd
        os.close(fd)
    raise refused("holder unknown")


def _names(path: Path, fd: int) -> bool:
    try:
        named = os.stat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0))
        return f"pid {info['pid']} on {info['host']}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"
