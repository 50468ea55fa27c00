"""Faults of the network, the API and the machine: every row ends with exactly one video or a
clear reason, whatever happens.

Real HTTP on loopback to the emulator, real files, a real journal. Waiting is virtual: the
client's sleeps and clock (and the emulator's rate-limit window) share a clock that jumps
forward when slept on, so a 429 storm with ``Retry-After`` in seconds or a backoff after a
refused connection costs no real time. Videos are counted on the emulator by ``argilBatchKey``:
exactly one per row is the promise.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from support import (
    CLI_KEY,
    VirtualTime,
    assert_exactly_once,
    lead,
    read_output,
    run_args,
    spawn,
    write_leads,
    write_sheet,
)

from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import JobOutcome, run_job
from pipeline.journal import Journal
from pipeline.settings import JobSpec, RunOptions


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("hung for 90 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, 90)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


def timing(sleep: Any, clock: Any, **client_options: Any) -> dict[str, Any]:
    """JobSpec fields for virtual time (the run's and the client's waits) and any other
    client keyword (a short read timeout)."""
    return {"sleep": sleep, "clock": clock, "client_options": client_options}


@pytest.fixture
def files(tmp_path: Path, config: Callable[..., Path]) -> dict[str, Path]:
    return {
        "sheet": tmp_path / "leads.csv",
        "config": config(api={"concurrency": 8}),
        "output": tmp_path / "out.csv",
        "state": tmp_path / "out.state",
    }


def make_spec(files: dict[str, Path], server: EmulatorServer, **changes: Any) -> JobSpec:
    values: dict[str, Any] = {
        "sheet": files["sheet"],
        "config": files["config"],
        "output": files["output"],
        "state": files["state"],
        "base_url": server.base_url,
        "api_key": CLI_KEY,
        "options": RunOptions(doubt_delay=0),
    }
    values.update(changes)
    return JobSpec(**values)


def run_until_done(spec: JobSpec, runs: int = 5) -> tuple[JobOutcome, int]:
    """Re-run while rows are left pending or in doubt, as a nightly job would."""
    outcome = run_job(spec)
    done = 1
    while (outcome.summary.pending or outcome.summary.in_doubt) and done < runs:
        outcome, done = run_job(spec), done + 1
    return outcome, done


def assert_every_row_accounted(output: Path, expected_rows: int) -> list[dict[str, str]]:
    """Every input row is in the output with a video, or a status and a reason for none."""
    rows = read_output(output)
    assert len(rows) == expected_rows
    for row in rows:
        if row["argil_video_id"]:
            assert row["argil_status"] in ("IDLE", "GENERATING_AUDIO", "GENERATING_VIDEO", "DONE")
        else:
            assert row["argil_status"] in ("PENDING", "IN_DOUBT", "FAILED"), row
            assert row["argil_error"].strip(), f"no reason for row {row['email']}"
    return rows


# --- the fault matrix -------------------------------------------------------------------------

# 20 requests per (virtual) second: far below what the client first tries.
STORM = {"rpm": 1_200, "rate_window": 1.0}
FAULTS: dict[str, tuple[int, dict[str, Any]]] = {
    "5xx before create, 20%": (300, {"fail_rate": 0.2}),
    "dropped after create, 10%": (300, {"drop_rate": 0.1}),
    "latency spikes past the read timeout": (200, {"spike_rate": 0.06, "spike_ms": 600}),
    "429 storm, Retry-After in seconds": (150, {**STORM, "retry_after": "seconds"}),
    "429 storm, Retry-After as an HTTP date": (150, {**STORM, "retry_after": "date"}),
    "429 storm, no Retry-After": (150, {**STORM, "retry_after": "none"}),
    "all of them at once": (
        300,
        {
            "fail_rate": 0.2,
            "drop_rate": 0.1,
            "spike_rate": 0.03,
            "spike_ms": 600,
            "rpm": 2_400,  # a shorter storm: the rate the client settles at stays high
            "rate_window": 1.0,
            "retry_after": "seconds",
        },
    ),
}


@pytest.mark.parametrize("case", list(FAULTS))
def test_fault_matrix_ends_with_one_video_per_row(
    case: str, files: dict[str, Path], vt: VirtualTime
) -> None:
    rows, knobs = FAULTS[case]
    write_leads(files["sheet"], rows)
    settings = EmulatorSettings(seed=11, clock=vt, **knobs)
    # A read timeout far below the spikes: an answer held past it is an answer lost.
    timeout = httpx.Timeout(connect=5.0, read=0.25, write=5.0, pool=None)
    with EmulatorServer(settings) as server:
        spec = make_spec(files, server, rpm=60_000.0, **timing(vt.sleep, vt, timeout=timeout))
        first = run_job(spec)
        # The first run already accounts for every row, in the output sheet itself.
        assert_every_row_accounted(files["output"], rows)
        outcome, _ = run_until_done(spec) if first.exit_code else (first, 1)
        assert outcome.exit_code == 0, outcome.summary
        assert_exactly_once(server, files["output"], rows)
        stats = server.emulator.stats
        if "5xx" in case or "all" in case:
            assert stats.failed_injected > 0
        if "dropped" in case or "all" in case:
            assert stats.dropped > 0
        if "429" in case or "all" in case:
            assert stats.rate_limited > 0 and vt.slept > 0
        if "spikes" in case:
            assert first.summary.adopted + outcome.summary.adopted > 0, "a timed-out create"
    # Nothing of a request sent twice: every create the API saw either made the row's one
    # video or was refused before making anything.
    assert stats.created == rows


# --- the API restarts mid-run -----------------------------------------------------------------


def run_in_thread(spec: JobSpec) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["outcome"] = run_job(spec)
        except BaseException as exc:  # reported by the test, not lost in the thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)  # polling another thread, not a backoff


def test_api_down_mid_run_stops_cleanly_and_a_re_run_finishes_without_duplicates(
    files: dict[str, Path], vt: VirtualTime
) -> None:
    write_leads(files["sheet"], 120)
    store = files["sheet"].with_name("api.json")
    settings = EmulatorSettings(state_file=store, latency_ms=15)
    server = EmulatorServer(settings).start()
    port = server.port
    spec = make_spec(files, server, concurrency=4, **timing(vt.sleep, vt))
    thread, result = run_in_thread(spec)
    wait_for(lambda: server.emulator.stats.created >= 30)
    server.stop()
    thread.join(60)
    assert not thread.is_alive() and "error" not in result, result
    outcome: JobOutcome = result["outcome"]
    # Connection refused past every retry: the run stopped, as for a fatal refusal.
    assert outcome.exit_code == 3 and outcome.summary.stopped
    assert "cannot be reached" in outcome.summary.stopped
    rows = assert_every_row_accounted(files["output"], 120)
    assert any(row["argil_status"] == "PENDING" for row in rows)

    # The API comes back with its videos (they live in its store, as the real API's do).
    with EmulatorServer(EmulatorSettings(state_file=store), port=port) as again:
        outcome = run_job(spec)
        assert outcome.exit_code == 0, outcome.summary
        assert_exactly_once(again, files["output"], 120)


def test_api_restarting_within_the_retries_is_ridden_out(
    files: dict[str, Path], vt: VirtualTime
) -> None:
    """The API restarts while the client backs off: the run finishes in one go."""
    write_leads(files["sheet"], 120)
    store = files["sheet"].with_name("api.json")
    first = EmulatorServer(EmulatorSettings(state_file=store, latency_ms=15)).start()
    going, stopped = threading.Event(), threading.Event()
    restarted: list[EmulatorServer] = []

    restarting = asyncio.Lock()

    async def sleep(seconds: float) -> None:
        # The first backoff after the API went away lasts until it is back: the new server
        # starts once the old one has let go of its store and its port.
        if going.is_set():
            async with restarting:
                if not restarted:
                    await asyncio.to_thread(stopped.wait)
                    again = EmulatorServer(EmulatorSettings(state_file=store), port=first.port)
                    restarted.append(await asyncio.to_thread(again.start))
        await vt.sleep(seconds)

    spec = make_spec(files, first, concurrency=4, **timing(sleep, vt))
    thread, result = run_in_thread(spec)
    try:
        wait_for(lambda: first.emulator.stats.created >= 30)
        going.set()
        first.stop()
        stopped.set()
        thread.join(60)
        assert "error" not in result, result
        outcome: JobOutcome = result["outcome"]
        assert restarted, "the client never had to back off"
        assert outcome.exit_code == 0, outcome.summary
        assert_exactly_once(restarted[0], files["output"], 120)
    finally:
        for server in restarted:
            server.stop()


# --- kill -9 at random points -------------------------------------------------------------------


def test_sigkill_at_random_points_of_several_runs_then_exactly_once(
    files: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    write_leads(files["sheet"], 90)
    rng = random.Random(20240917)
    with EmulatorServer(EmulatorSettings(latency_ms=25, latency_jitter_ms=20, seed=3)) as server:
        for _ in range(3):
            start = server.emulator.stats.creates
            left = 90 - len(server.emulator.count_by_batch_key())
            process = spawn(
                *run_args(files, server, "--concurrency", "4"), stdout=subprocess.DEVNULL
            )
            # Killed after k more creates reached the API (k = 0: during start-up or the
            # look-ups of the previous run's rows), then a few milliseconds more, so the kill
            # lands anywhere: between the journal's commit and the request, mid-request, after
            # the answer and before its commit.
            k = rng.randrange(0, max(1, left // 2))
            wait_for(
                lambda start=start, k=k, process=process: (
                    server.emulator.stats.creates - start >= k or process.poll() is not None
                )
            )
            time.sleep(rng.uniform(0, 0.03))  # where exactly the kill lands
            process.send_signal(signal.SIGKILL)
            process.wait()
        code = invoke_run(cli, files, server).exit_code
        assert code == 0
        assert_exactly_once(server, files["output"], 90)
        # No row ever got a second video: the API made exactly one per row, in all the runs.
        assert server.emulator.stats.created == 90


def invoke_run(
    cli: Callable[..., Result],
    files: dict[str, Path],
    server: EmulatorServer,
    *extra: str,
    output: Path | None = None,
) -> Result:
    return cli(*run_args(files, server, *extra, output=output))


# --- credits run out ------------------------------------------------------------------------


def test_credits_running_out_stop_with_exit_3_then_a_re_run_finishes(
    files: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    write_leads(files["sheet"], 100)
    with EmulatorServer(EmulatorSettings(credits=37, latency_ms=5)) as server:
        result = invoke_run(cli, files, server, "--concurrency", "8")
        assert result.exit_code == 3, result.stderr
        assert "Error: the run stopped:" in result.stderr and "credits" in result.stderr
        rows = assert_every_row_accounted(files["output"], 100)
        made = [r for r in rows if r["argil_video_id"]]
        pending = [r for r in rows if r["argil_status"] == "PENDING"]
        assert len(made) == 37 == server.emulator.stats.created
        assert len(pending) == 63 and all("credits" in r["argil_error"] for r in pending)
        journal = Journal(files["state"])
        try:
            states = {record.state for record in journal.all().values()}
        finally:
            journal.close()
        assert "in_flight" not in states, "a refused create is known not to exist"

        server.emulator.set_credits(None)  # credits bought
        assert invoke_run(cli, files, server).exit_code == 0
        assert_exactly_once(server, files["output"], 100)
        assert server.emulator.stats.created == 100


# --- the sheet changes between runs -----------------------------------------------------------


def test_a_sheet_edited_between_runs_keeps_identities_and_reports_changes(
    files: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    original = [lead(i) for i in range(10)]
    write_sheet(files["sheet"], original)
    with EmulatorServer() as server:
        assert invoke_run(cli, files, server).exit_code == 0
        first = {row["email"]: row for row in read_output(files["output"])}

        edited = lead(4, "Hi Lead 4! This script was rewritten after the video was made.")
        new_rows = [lead(100), lead(101)]
        # Reordered (reversed), two rows inserted in the middle, one row edited.
        changed = [*reversed(original[5:]), *new_rows, edited, *reversed(original[:4])]
        write_sheet(files["sheet"], changed)
        # A changed row is reported, not a failure.
        assert invoke_run(cli, files, server).exit_code == 0
        second = read_output(files["output"])
        assert [row["email"] for row in second] == [row[0] for row in changed]
        by_email = {row["email"]: row for row in second}
        for email, row in first.items():
            if email == "lead4@example.com":
                continue
            kept = by_email[email]
            assert kept["argil_row_key"] == row["argil_row_key"]
            assert kept["argil_video_id"] == row["argil_video_id"]
        for email in ("lead100@example.com", "lead101@example.com"):
            assert by_email[email]["argil_video_id"] and by_email[email]["argil_status"] == "IDLE"
        four = by_email["lead4@example.com"]
        assert four["argil_status"] == "CHANGED" and "changed" in four["argil_error"]
        assert four["argil_video_id"] == first["lead4@example.com"]["argil_video_id"]
        assert server.emulator.stats.created == 12
        assert set(server.emulator.count_by_batch_key().values()) == {1}

        # Asked to, the edited row gets a new video of its own; nothing else is sent.
        assert invoke_run(cli, files, server, "--resend-changed").exit_code == 0
        four = {r["email"]: r for r in read_output(files["output"])}["lead4@example.com"]
        assert four["argil_video_id"] != first["lead4@example.com"]["argil_video_id"]
        assert server.emulator.stats.created == 13
        assert set(server.emulator.count_by_batch_key().values()) == {1}


# --- the machine: the output cannot be written ----------------------------------------------


def test_an_output_folder_that_is_a_file_is_refused_before_anything_is_sent(
    files: dict[str, Path], tmp_path: Path, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 5)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    with EmulatorServer() as server:
        for output in (blocker / "out.csv", Path("/proc/argil-out.csv")):
            result = invoke_run(cli, files, server, output=output)
            assert result.exit_code == 2, result.stderr
            assert result.stderr.startswith("Error: cannot write the output sheet in ")
        assert server.emulator.stats.requests == 0


@pytest.mark.parametrize("failure", ["disk full at flush", "read-only at rename"])
def test_an_output_that_fails_at_the_end_keeps_the_journal_and_a_re_run_writes_it(
    failure: str,
    files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Result],
) -> None:
    write_leads(files["sheet"], 30)
    output = files["output"]
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    def replace(src: Any, dst: Any, **kwargs: Any) -> None:
        if Path(dst) == output:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        real_replace(src, dst, **kwargs)

    with EmulatorServer() as server:
        with monkeypatch.context() as patched:
            if failure == "disk full at flush":
                patched.setattr(os, "fsync", fsync)
            else:
                patched.setattr(os, "replace", replace)
            result = invoke_run(cli, files, server, output=output)
        # An output that cannot be written stops the run like any write that fails (exit 3).
        assert result.exit_code == 3, result.stderr
        message = result.stderr.strip().splitlines()[-1]
        assert message.startswith(f"Error: cannot write {output}: ")
        assert ("No space left" in message) == (failure == "disk full at flush")
        assert str(files["state"]) in message and "writable -o" in message
        assert not output.exists()
        assert not [p for p in output.parent.iterdir() if p.name.endswith(".tmp")]
        # The journal holds every row's video.
        journal = Journal(files["state"])
        try:
            records = journal.all()
        finally:
            journal.close()
        made = {v["extras"]["argilBatchKey"]: vid for vid, v in server.emulator.videos.items()}
        assert {key: r.video_id for key, r in records.items()} == made and len(made) == 30

        # A re-run with a writable output writes the full sheet and sends nothing (one read
        # checks the key).
        elsewhere = output.with_name("elsewhere.csv")
        requests = server.emulator.stats.requests
        files = {**files, "output": elsewhere}
        assert invoke_run(cli, files, server).exit_code == 0
        assert server.emulator.stats.requests == requests + 1
        assert server.emulator.stats.creates == 30
        assert_exactly_once(server, elsewhere, 30)


def test_a_state_folder_that_cannot_be_written_is_refused_before_sending(
    files: dict[str, Path], tmp_path: Path, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 3)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with EmulatorServer() as server:
        files = {**files, "state": blocker / "run.state"}
        assert invoke_run(cli, files, server).exit_code == 2
        assert server.emulator.stats.requests == 0
