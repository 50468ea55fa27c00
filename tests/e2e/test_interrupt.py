"""Ctrl-C (SIGINT) at any point of a real ``--render --wait`` run: exit 130 within a few
seconds, no traceback, the output written, one line saying so; a re-run finishes the batch
with exactly one video per row.

The race this guards against (a second signal, or one landing while the run is winding down,
surfacing as ``asyncio.CancelledError``) is timing-dependent: each point is tried several
times, with varied delays, over real processes.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from support import assert_exactly_once, leads_config, read_output, spawn, write_leads

from pipeline.emulator import EmulatorServer, EmulatorSettings

ROWS = 12
# What "within a few seconds" means once the signal is sent (the grace for requests in
# flight is 3 s; the rest is process teardown on a busy machine).
PROMPT = 8.0


def files(tmp_path: Path, name: str) -> dict[str, Path]:
    """A sheet of its own: rows of different folders never share a key at the emulator."""
    folder = tmp_path / name
    folder.mkdir()
    config = folder / "c.yaml"
    config.write_text(leads_config(api={"rpm": 6000, "concurrency": 2}), encoding="utf-8")
    sheet = folder / "s.csv"
    write_leads(sheet, ROWS, start=len(list(tmp_path.iterdir())) * 1000)
    return {"sheet": sheet, "config": config, "output": folder / "out.csv"}


def args(job: dict[str, Path], server: EmulatorServer) -> list[str]:
    return [
        "run",
        str(job["sheet"]),
        "-c",
        str(job["config"]),
        "-o",
        str(job["output"]),
        "--base-url",
        server.base_url,
        "--render",
        "--wait",
        "--no-progress",
    ]


def interrupt(
    job: dict[str, Path], server: EmulatorServer, ready: object, signals: list[float]
) -> tuple[int, str, float]:
    """Start a run, wait for ``ready()``, send SIGINT after each delay in ``signals``."""
    process = spawn(*args(job, server), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not ready():  # type: ignore[operator]
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.01)
    for delay in signals:
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"still running 60 s after Ctrl-C:\n{err}")
    return process.returncode, err, time.monotonic() - sent


def check_clean(code: int, err: str, took: float, within: float = PROMPT) -> None:
    assert code == 130, err
    assert "Traceback" not in err and "CancelledError" not in err, err
    assert took < within, f"{took:.1f} s to stop:\n{err}"
    lines = [line for line in err.splitlines() if line.startswith(("Interrupted", "Error"))]
    assert len(lines) == 1, err


def test_ctrl_c_while_waiting_for_renders_stops_at_once(tmp_path: Path) -> None:
    rng = random.Random(14)
    with EmulatorServer(EmulatorSettings(render_seconds=3600)) as server:
        for attempt in range(2):
            job = files(tmp_path, f"wait{attempt}")
            renders = server.emulator.stats.renders
            # Past the first poll (5 s after the renders), into the 7.5 s wait for the next.
            code, err, took = interrupt(
                job,
                server,
                lambda renders=renders: server.emulator.stats.renders >= renders + ROWS,
                [rng.uniform(5.2, 7.0)],
            )
            check_clean(code, err, took, within=4.0)
            assert (
                f"Interrupted: the renders go on at the API; `argil-batch status "
                f"{job['output']} --wait` follows them."
            ) in err.splitlines()
            rows = read_output(job["output"])
            assert len(rows) == ROWS
            assert all(row["argil_status"] == "GENERATING_AUDIO" for row in rows), rows


@pytest.mark.parametrize("second", [None, 0.0, 0.05, 0.3])
def test_ctrl_c_while_sending_once_or_twice_stops_cleanly(
    tmp_path: Path, second: float | None, cli: Callable[..., Result]
) -> None:
    rng = random.Random(str(second))
    with EmulatorServer(EmulatorSettings(latency_ms=60, render_seconds=3600)) as server:
        for attempt in range(2):
            job = files(tmp_path, f"send{attempt}")
            creates = server.emulator.stats.creates
            signals = [rng.uniform(0.0, 0.3)] + ([] if second is None else [second])
            code, err, took = interrupt(
                job,
                server,
                lambda creates=creates: server.emulator.stats.creates >= creates + 3,
                signals,
            )
            check_clean(code, err, took)
            assert len(read_output(job["output"])) == ROWS
        # Whatever the interrupt cut (an answer lost, rows committed ahead), a re-run makes
        # exactly one video per row.
        result = cli(*args(job, server), "--wait-timeout", "0")
        assert result.exit_code == 0, result.stderr
        counts = server.emulator.count_by_batch_key()
        job_keys = {row["argil_row_key"] for row in read_output(job["output"])}
        assert [counts[key] for key in job_keys] == [1] * ROWS


def test_ctrl_c_while_starting_up_is_an_interrupt_too(tmp_path: Path) -> None:
    rng = random.Random(6)
    with EmulatorServer(EmulatorSettings(render_seconds=3600)) as server:
        for attempt in range(3):
            job = files(tmp_path, f"start{attempt}")
            # From 0.15 s on: before that the interpreter itself is starting (its site module),
            # where no program's code runs yet to handle a signal.
            code, err, took = interrupt(job, server, lambda: True, [rng.uniform(0.15, 0.8)])
            check_clean(code, err, took)


def test_a_re_run_after_an_interrupt_makes_one_video_per_row(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    with EmulatorServer(EmulatorSettings(latency_ms=60, render_seconds=0)) as server:
        job = files(tmp_path, "rerun")
        code, err, took = interrupt(
            job, server, lambda: server.emulator.stats.creates >= 4, [0.0, 0.0]
        )
        check_clean(code, err, took)
        result = cli(*args(job, server))
        assert result.exit_code == 0, result.stderr
        assert_exactly_once(server, job["output"], ROWS)


def test_ctrl_c_sends_nothing_new_and_leaves_the_unsent_rows_pending(tmp_path: Path) -> None:
    # One create a second, four workers: at any moment three rows wait at the gate for their
    # turn. Ctrl-C must not let them leave, and they are pending (never sent), not in doubt.
    with EmulatorServer(EmulatorSettings(render_seconds=3600)) as server:
        job = files(tmp_path, "paced")
        run = [*args(job, server), "--rpm", "60", "--concurrency", "4"]
        run.remove("--wait")
        process = spawn(*run, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while server.emulator.stats.creates < 3:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        at_signal = server.emulator.stats.creates
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130, err
        # At most the one create already on its way when the signal landed.
        assert server.emulator.stats.creates <= at_signal + 1, err
        rows = read_output(job["output"])
        statuses = [row["argil_status"] for row in rows]
        assert statuses.count("IN_DOUBT") == 0, rows
        assert statuses.count("PENDING") >= ROWS - at_signal - 1, rows
