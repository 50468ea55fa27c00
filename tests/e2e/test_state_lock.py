"""The run lock holds on the paths users walk: a link to a state file names the same journal,
and two runs writing one output sheet conflict whatever their state files. A run refused
before it sends anything leaves the folder as it found it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import Result
from support import job_files, leads_config, spawn

from pipeline import journal as j
from pipeline.emulator import EmulatorServer

ROWS = 3
CONFIG = leads_config(api={"concurrency": 8})


def run_args(files: dict[str, Path], server: EmulatorServer, *extra: str) -> list[str]:
    return [
        "run",
        str(files["sheet"]),
        "-c",
        str(files["config"]),
        "--base-url",
        server.base_url,
        "--no-progress",
        *extra,
    ]


@contextmanager
def run_in_progress(
    folder: Path, files: dict[str, Path], server: EmulatorServer, *extra: str
) -> Iterator[subprocess.Popen[str]]:
    """Run A, a real process, left waiting for its renders (the emulator renders for ten
    minutes): it holds its locks until it is killed."""
    command = [*run_args(files, server, *extra), "--render", "--wait", "--wait-timeout", "600"]
    first = spawn(*command, cwd=folder)
    try:
        deadline = time.monotonic() + 60
        while len(server.emulator.videos) < ROWS:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "run A never made its videos"
            time.sleep(0.05)
        yield first
    finally:
        first.kill()
        first.communicate()


def holder(lock: Path, pid: int) -> str:
    info = json.loads(lock.read_text(encoding="utf-8"))
    assert info["pid"] == pid
    return f"pid {pid} on {socket.gethostname()}, started {info['started']}"


@pytest.fixture
def slow_renders(make_emulator: Callable[..., EmulatorServer]) -> EmulatorServer:
    return make_emulator(render_seconds=600)


@pytest.mark.parametrize("first_through", ["the file", "the link"])
def test_a_link_to_a_state_file_takes_the_same_lock(
    tmp_path: Path, slow_renders: EmulatorServer, first_through: str, cli: Callable[..., Result]
) -> None:
    files = job_files(tmp_path, CONFIG, rows=ROWS)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "a").mkdir()
    real = tmp_path / "elsewhere" / "real.db"
    link = tmp_path / "a" / "st.link"
    link.symlink_to(real)
    first, second = (real, link) if first_through == "the file" else (link, real)
    with run_in_progress(
        tmp_path, files, slow_renders, "-o", str(tmp_path / "a.csv"), "--state", str(first)
    ) as run_a:
        result = cli(
            *run_args(files, slow_renders, "-o", str(tmp_path / "b.csv"), "--state", str(second))
        )
        assert result.exit_code == 4, result.stderr
        who = holder(real.with_name("real.db.lock"), run_a.pid)
    assert result.stderr == (
        f"Error: another run holds the lock on {second} ({who}); wait for it to finish, "
        "then run again\n"
    )
    assert len(slow_renders.emulator.videos) == ROWS, "the second run sent nothing"
    assert not (tmp_path / "b.csv").exists()


@pytest.mark.parametrize("named", ["by the same path", "through a link"])
def test_two_runs_writing_one_output_conflict_whatever_their_state_files(
    tmp_path: Path, slow_renders: EmulatorServer, named: str, cli: Callable[..., Result]
) -> None:
    files = job_files(tmp_path, CONFIG, rows=ROWS)
    output = files["output"]
    second_output = output
    if named == "through a link":
        second_output = tmp_path / "link.csv"
        second_output.symlink_to(output)
    with run_in_progress(
        tmp_path, files, slow_renders, "-o", str(output), "--state", str(tmp_path / "s1.state")
    ) as run_a:
        before = sorted(os.listdir(tmp_path))
        result = cli(
            *run_args(
                files,
                slow_renders,
                "-o",
                str(second_output),
                "--state",
                str(tmp_path / "s2.state"),
            )
        )
        after = sorted(os.listdir(tmp_path))
        assert result.exit_code == 4, result.stderr
        who = holder(tmp_path / ".out.csv.lock", run_a.pid)
    assert result.stderr == (
        f"Error: another run writes {second_output} ({who}); wait for it to finish, "
        "then run again\n"
    )
    # Another -o or --state would make every video a second time: never advised.
    assert "--state" not in result.stderr and " -o" not in result.stderr
    assert len(slow_renders.emulator.videos) == ROWS, "the second run sent nothing"
    assert after == before, "the refused run left no state file or lock file"


def test_the_output_lock_file_goes_with_the_run(
    tmp_path: Path, emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    files = job_files(tmp_path, CONFIG, rows=ROWS)
    result = cli(*run_args(files, emulator, "-o", str(files["output"])))
    assert result.exit_code == 0, result.stderr
    assert not j.output_lock_path(files["output"]).exists()
    assert j.output_lock_path(files["output"]) == tmp_path / ".out.csv.lock"


# --- a refused run leaves nothing behind ---------------------------------------------------


def test_runs_refused_before_sending_leave_the_folder_as_they_found_it(
    tmp_path: Path, emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    files = job_files(tmp_path, CONFIG, rows=ROWS)
    other_api = tmp_path / "sandbox.state"
    j.Journal(other_api, target="sandbox").close()
    refusals = [
        # Over the budget: refused once the journal was opened and the batch listed.
        (
            ["-o", str(files["output"]), "--max-credits", "1"],
            "Error: this run would send 3 videos, ",
        ),
        # Into folders that did not exist: they go too.
        (
            ["-o", str(tmp_path / "new" / "sub" / "out.csv"), "--max-credits", "1"],
            "Error: this run would send 3 videos, ",
        ),
        # A state file of another API: refused at its open, and its lock goes.
        (
            ["-o", str(files["output"]), "--state", str(other_api)],
            f"Error: state file {other_api} belongs to sandbox, not {emulator.base_url}; ",
        ),
    ]
    for extra, said in refusals:
        before = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*")}
        result = cli(*run_args(files, emulator, *extra))
        assert result.exit_code == 2, result.stderr
        assert result.stderr.startswith(said) and result.stderr.count("\n") == 1, result.stderr
        after = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*")}
        assert after == before, extra
    assert emulator.emulator.videos == {}
