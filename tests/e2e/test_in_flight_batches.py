"""Rows are committed in flight a few at a time, over real HTTP to the emulator.

Every create must reach the API only once its row is on disk in flight; the rows committed
ahead of their turn must be looked up, never blindly resent, after a crash, and put back to
pending by a clean stop.
"""

from __future__ import annotations

import csv
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from support import CLI_KEY, product_config

from pipeline import journal as j
from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import run_job
from pipeline.progress import Progress
from pipeline.settings import JobSpec, RunOptions


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    config = tmp_path / "c.yaml"
    config.write_text(product_config(api={"rpm": 60000, "concurrency": 2}), encoding="utf-8")
    return {
        "sheet": tmp_path / "s.csv",
        "config": config,
        "output": tmp_path / "o.csv",
        "state": tmp_path / "o.csv.state",
    }


def write_rows(path: Path, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "product", "script"])
        writer.writerows((f"S{i}", f"Product {i}", f"Hello {i}.") for i in range(count))


def spec(files: dict[str, Path], server: EmulatorServer) -> JobSpec:
    return JobSpec(
        sheet=files["sheet"],
        config=files["config"],
        output=files["output"],
        base_url=server.base_url,
        api_key=CLI_KEY,
        options=RunOptions(preflight=False),
    )


def states(state: Path) -> dict[str, str]:
    with sqlite3.connect(state) as db:
        return dict(db.execute("SELECT key, state FROM rows"))


def test_every_create_leaves_after_its_row_is_on_disk_and_rows_share_the_wait(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_rows(files["sheet"], 40)
    synced_commits = 0
    mode, explicit = "FULL", False
    connect = sqlite3.connect

    def trace(sql: str) -> None:
        # Every write is its own transaction unless BEGIN opened one; FULL means an fsync.
        nonlocal mode, explicit, synced_commits
        if match := re.match(r"PRAGMA synchronous=(\w+)", sql):
            mode = match.group(1)
        elif sql.startswith("BEGIN"):
            explicit = True
        elif sql in ("COMMIT", "ROLLBACK"):
            explicit = False
            synced_commits += mode == "FULL"
        elif re.match(r"\s*(INSERT|UPDATE|DELETE)", sql) and not explicit:
            synced_commits += mode == "FULL"

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = connect(*args, **kwargs)
        if str(args[0]).endswith(".state"):
            db.set_trace_callback(trace)
        return db

    monkeypatch.setattr(sqlite3, "connect", traced)
    seen: dict[str, str] = {}
    with EmulatorServer(EmulatorSettings(latency_ms=5, latency_jitter_ms=5)) as server:
        create = server.emulator.create_json

        def checked(raw: bytes, origin: str) -> Any:
            # Read by another connection, as after a crash: only what was committed.
            key = re.search(rb'"argilBatchKey":\s*"([^"]+)"', raw)
            assert key is not None
            with connect(files["state"]) as db:
                row = db.execute("SELECT state FROM rows WHERE key = ?", (key[1].decode(),))
                seen[key[1].decode()] = (row.fetchone() or ("absent",))[0]
            return create(raw, origin)

        monkeypatch.setattr(server.emulator, "create_json", checked)
        baseline = synced_commits
        outcome = run_job(spec(files, server))
    assert outcome.summary.created == 40
    assert len(seen) == 40 and set(seen.values()) == {j.IN_FLIGHT}
    # Concurrency 2 means 4 workers, so rows are committed 4 at a time (a few commits of the
    # run's own bookkeeping aside): far fewer waits on the disk than rows.
    in_flight_commits = synced_commits - baseline
    assert in_flight_commits <= 40 // 4 + 5, in_flight_commits


class Crash(BaseException):
    """The process dying, as far as the run can tell: nothing after it runs."""


def test_rows_committed_ahead_are_looked_up_after_a_crash_and_sent_once(
    files: dict[str, Path],
) -> None:
    write_rows(files["sheet"], 30)
    with EmulatorServer(EmulatorSettings(latency_ms=5)) as server:

        def crash_after_three(progress: Progress) -> None:
            if progress.finished == 3:
                raise Crash

        with pytest.raises(Crash):
            run_job(spec(files, server), on_progress=crash_after_three)
        left = states(files["state"])
        made = server.emulator.count_by_batch_key()
        in_flight = {k for k, state in left.items() if state == j.IN_FLIGHT}
        # Rows committed in flight ahead of their turn, some never sent: the next run cannot
        # tell those from rows whose answer was lost.
        assert len(in_flight - set(made)) >= 2, (left, made)

        stats = server.emulator.stats
        lookups_before = stats.requests - stats.creates - stats.estimates
        outcome = run_job(spec(files, server))
        lookups = stats.requests - stats.creates - stats.estimates
        # The journal does not know every row: one listing of the batch answers for all of
        # them, the rows in flight included, instead of one lookup each (and one more, after
        # the creates, settles any second video another run made). Each new draft's price
        # is a read of its own, apart.
        assert lookups - lookups_before == 2, "one page of the batch's listing, twice"
        assert outcome.summary.adopted == len(in_flight & set(made))
        assert server.emulator.stats.created == 30
        counts = server.emulator.count_by_batch_key()
        assert len(counts) == 30 and set(counts.values()) == {1}, "one video per row, no more"
        assert set(states(files["state"]).values()) == {j.CREATED}


def test_a_clean_stop_puts_rows_committed_ahead_back_to_pending(files: dict[str, Path]) -> None:
    write_rows(files["sheet"], 30)
    with EmulatorServer(EmulatorSettings(latency_ms=5, credits=5)) as server:
        outcome = run_job(spec(files, server))
        assert outcome.summary.stopped and outcome.summary.created == 5
        left = states(files["state"])
        assert j.IN_FLIGHT not in left.values(), "nothing unsent may look in doubt"
        assert sorted(left.values()).count(j.CREATED) == 5

        server.emulator.set_credits(None)
        stats = server.emulator.stats
        lookups_before = stats.requests - stats.creates - stats.estimates
        outcome = run_job(spec(files, server))
        lookups = stats.requests - stats.creates - stats.estimates
        # Rows never recorded are listed once (one page), not looked up one by one; one more
        # page after the creates settles any second video.
        assert outcome.summary.created == 25 and lookups == lookups_before + 2, "listed twice"
    assert set(server.emulator.count_by_batch_key().values()) == {1}
