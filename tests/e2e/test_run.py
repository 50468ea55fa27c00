"""End to end: the real command line, a real emulator on loopback, real files and journal.

Each test counts the emulator's videos by ``argilBatchKey``: exactly one per row is the promise.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from support import (
    CLI_KEY,
    ROOT,
    assert_exactly_once,
    read_output,
    run_args,
    spawn,
    write_leads,
)

from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import run_job
from pipeline.settings import JobSpec, RunOptions


@pytest.fixture
def job(tmp_path: Path, config: Callable[..., Path]) -> dict[str, Path]:
    return {
        "sheet": tmp_path / "leads.csv",
        "config": config(api={"rpm": 6000, "concurrency": 8}),
        "output": tmp_path / "out.csv",
        "state": tmp_path / "out.state",
    }


def test_faults_on_the_way_still_give_exactly_one_video_per_row(job: dict[str, Path]) -> None:
    write_leads(job["sheet"], 60)
    settings = EmulatorSettings(fail_rate=0.2, drop_rate=0.15, seed=7)
    with EmulatorServer(settings) as server:
        spec = JobSpec(
            sheet=job["sheet"],
            config=job["config"],
            output=job["output"],
            state=job["state"],
            base_url=server.base_url,
            api_key=CLI_KEY,
            # The lookup after an in-doubt answer waits for nothing here: the emulator has
            # finished its create before it hangs up.
            options=RunOptions(doubt_delay=0),
        )
        outcome = run_job(spec)
        runs = 1
        # A row whose every attempt was in doubt stays pending (exit 1); a re-run finishes it.
        while outcome.summary.pending and runs < 5:
            outcome, runs = run_job(spec), runs + 1
        assert outcome.exit_code == 0
        assert server.emulator.stats.dropped > 0 and server.emulator.stats.failed_injected > 0
        assert outcome.summary.adopted + outcome.summary.created > 0
        assert_exactly_once(server, job["output"], 60)


def test_a_re_run_sends_nothing_and_a_grown_sheet_sends_only_new_rows(
    job: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    write_leads(job["sheet"], 10)
    with EmulatorServer() as server:
        result = cli(*run_args(job, server))
        assert result.exit_code == 0, result.stderr
        assert "10 created" in result.stderr
        creates = server.emulator.stats.creates
        result = cli(*run_args(job, server))
        assert (
            result.exit_code == 0
            and "0 created" in result.stderr
            and "10 already sent" in result.stderr
        )
        assert server.emulator.stats.creates == creates

        write_leads(job["sheet"], 13)  # the nightly sheet grew by three rows
        result = cli(*run_args(job, server))
        assert result.exit_code == 0 and "3 created" in result.stderr
        assert_exactly_once(server, job["output"], 13)


def test_the_input_sheet_is_never_modified(
    job: dict[str, Path], cli: Callable[..., Result]
) -> None:
    write_leads(job["sheet"], 5)
    before = job["sheet"].read_bytes()
    with EmulatorServer() as server:
        assert cli(*run_args(job, server)).exit_code == 0
    assert job["sheet"].read_bytes() == before


def test_a_bad_key_stops_the_run_with_exit_3_and_leaves_rows_pending(
    job: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    write_leads(job["sheet"], 8)
    with EmulatorServer(EmulatorSettings(api_key="the-right-key")) as server:
        result = cli(*run_args(job, server))
        assert result.exit_code == 3, result.stderr
        assert server.emulator.stats.created == 0
        statuses = {row["argil_status"] for row in read_output(job["output"])}
        assert statuses == {"PENDING"}
        assert CLI_KEY not in result.stdout + result.stderr + job["output"].read_text() + job[
            "state"
        ].read_bytes().decode("latin-1")
        result = cli(*run_args(job, server), key="the-right-key")
        assert result.exit_code == 0, result.stderr
        assert_exactly_once(server, job["output"], 8)


def test_credits_running_out_stop_the_run_and_a_later_run_finishes(
    job: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    write_leads(job["sheet"], 12)
    with EmulatorServer(EmulatorSettings(credits=5)) as server:
        result = cli(*run_args(job, server, "--concurrency", "1"))
        assert result.exit_code == 3, result.stderr
        assert "Error: the run stopped:" in result.stderr
        rows = read_output(job["output"])
        assert sum(1 for r in rows if r["argil_video_id"]) == 5
        assert sum(1 for r in rows if r["argil_status"] == "PENDING") == 7
        server.emulator.set_credits(None)  # credits bought
        result = cli(*run_args(job, server))
        assert result.exit_code == 0, result.stderr
        assert_exactly_once(server, job["output"], 12)


def test_no_key_says_how_to_set_it(job: dict[str, Path], cli: Callable[..., Result]) -> None:
    write_leads(job["sheet"], 2)
    result = cli("run", job["sheet"], "-c", job["config"], "-o", job["output"], key="")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: no API key: set ARGIL_API_KEY (export ARGIL_API_KEY=...), "
        "or try the whole run locally with --sandbox"
    )
    assert not job["output"].exists()


def test_plain_http_to_a_remote_host_is_refused_before_sending(
    job: dict[str, Path], cli: Callable[..., Result]
) -> None:
    write_leads(job["sheet"], 2)
    result = cli("run", job["sheet"], "-c", job["config"], "--base-url", "http://example.com/v1")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "http" in result.stderr


def test_dry_run_sends_nothing_and_says_what_would_be_sent(
    job: dict[str, Path], cli: Callable[..., Result]
) -> None:
    write_leads(job["sheet"], 4)
    with EmulatorServer() as server:
        result = cli(*run_args(job, server, "--dry-run"))
        assert result.exit_code == 0, result.stderr
        assert "4 would be sent" in result.stderr
        assert server.emulator.stats.requests == 0
    assert not job["output"].exists() and not job["state"].exists()


def test_rows_selects_spreadsheet_rows_and_keeps_the_others_in_the_output(
    job: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    write_leads(job["sheet"], 6)
    with EmulatorServer() as server:
        result = cli(*run_args(job, server, "--rows", "3-4"))
        assert result.exit_code == 0, result.stderr
        rows = read_output(job["output"])
        assert [r["argil_status"] for r in rows] == ["NOT_RUN", "IDLE", "IDLE"] + ["NOT_RUN"] * 3
        assert len(server.emulator.count_by_batch_key()) == 2


# --- crashes and concurrent runs: real processes -------------------------------------------


def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.02)


def test_sigkill_mid_run_then_re_run_gives_exactly_one_video_per_row(
    job: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    write_leads(job["sheet"], 40)
    with EmulatorServer(EmulatorSettings(latency_ms=40)) as server:
        process = spawn(*run_args(job, server, "--concurrency", "4"))
        wait_for(lambda: server.emulator.stats.creates >= 12)
        process.send_signal(signal.SIGKILL)
        process.wait()
        created_before = server.emulator.stats.created
        assert 0 < created_before < 40

        result = cli(*run_args(job, server))
        assert result.exit_code == 0, result.stderr
        assert_exactly_once(server, job["output"], 40)

        requests = server.emulator.stats.requests
        result = cli(*run_args(job, server))
        assert result.exit_code == 0 and "0 created" in result.stderr
        # A third run sends nothing: one read checks the key.
        assert server.emulator.stats.requests == requests + 1, "a third run sends nothing"


def test_a_second_concurrent_run_on_the_same_state_exits_4(
    job: dict[str, Path], cli: Callable[..., Result]
) -> None:
    write_leads(job["sheet"], 30)
    with EmulatorServer(EmulatorSettings(latency_ms=200)) as server:
        process = spawn(*run_args(job, server, "--concurrency", "1"))
        try:
            wait_for(lambda: server.emulator.stats.creates >= 1)
            result = cli(*run_args(job, server))
            assert result.exit_code == 4
            assert result.stderr.startswith("Error: another run holds the lock on")
            assert f"pid {process.pid}" in result.stderr
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)
        # SIGTERM stops like Ctrl-C: nothing new is sent, the output is written, exit 130.
        assert process.returncode == 130
        assert len(read_output(job["output"])) == 30


def test_the_readme_sandbox_command_gives_a_video_id_on_every_row(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    output = tmp_path / "leads.argil.csv"
    result = cli(
        "run",
        ROOT / "input_examples" / "leads.csv",
        "-c",
        ROOT / "configs" / "leads.yaml",
        "--sandbox",
        "-o",
        output,
        key="",
    )
    assert result.exit_code == 0, result.stderr
    rows = read_output(output)
    assert rows and all(row["argil_video_id"] for row in rows)
    assert "created" in result.stderr


def test_the_output_is_refreshed_during_a_run(job: dict[str, Path]) -> None:
    write_leads(job["sheet"], 40)
    with EmulatorServer(EmulatorSettings(latency_ms=30)) as server:
        spec = JobSpec(
            sheet=job["sheet"],
            config=job["config"],
            output=job["output"],
            state=job["state"],
            base_url=server.base_url,
            api_key=CLI_KEY,
            concurrency=2,
            flush_interval=0.05,
        )
        seen: list[int] = []
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                if job["output"].exists():
                    rows = read_output(job["output"])
                    seen.append(sum(1 for row in rows if row["argil_video_id"]))
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            outcome = run_job(spec)
        finally:
            done.set()
            watcher.join()
    assert outcome.exit_code == 0
    # Sheets with some rows done and others not yet: written while the run went on.
    assert any(0 < count < 40 for count in seen), seen
