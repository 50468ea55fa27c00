"""The API is the record: a lost, moved or new state file never makes a second video, and a
sheet's videos are followed by listing the batch, over real HTTP to the emulator.

Videos are counted on the emulator (one per row is the promise) and reads are counted there
too (``stats.reads``, every GET).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from support import CLI_KEY, VirtualTime, read_output, spawn, write_leads

from pipeline import journal as j
from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import run_job
from pipeline.errors import JobError
from pipeline.settings import JobSpec, RunOptions


@pytest.fixture
def work(tmp_path: Path, config: Callable[..., Path]) -> dict[str, Path]:
    leads = config("leads.yaml", api={"concurrency": 8})
    return {"sheet": tmp_path / "leads.csv", "config": leads, "folder": tmp_path}


def run(
    cli: Callable[..., Result], work: dict[str, Path], server: EmulatorServer, *extra: str
) -> Result:
    sheet, config = work["sheet"], work["config"]
    return cli("run", sheet, "-c", config, "--base-url", server.base_url, "--no-progress", *extra)


def forget(state: Path) -> None:
    """The state file is lost: deleted with its write-ahead log."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)


def ids_by_row(output: Path) -> dict[str, str]:
    return {row["email"]: row["argil_video_id"] for row in read_output(output)}


def one_video_per_row(server: EmulatorServer, rows: int) -> None:
    counts = server.emulator.count_by_batch_key()
    assert len(counts) == rows and set(counts.values()) == {1}, counts


def spec(work: dict[str, Path], server: EmulatorServer, **changes: Any) -> JobSpec:
    values: dict[str, Any] = {
        "sheet": work["sheet"],
        "config": work["config"],
        "base_url": server.base_url,
        "api_key": CLI_KEY,
        "options": RunOptions(doubt_delay=0),
    }
    values.update(changes)
    return JobSpec(**values)


# --- a moved or lost state file -----------------------------------------------------------


def test_three_runs_with_a_new_output_then_a_lost_state_make_one_video_per_row(
    work: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    write_leads(work["sheet"], 120)
    default = work["folder"] / "leads.argil.csv"
    moved = work["folder"] / "out" / "leads.argil.csv"
    moved.parent.mkdir()
    with EmulatorServer() as server:
        assert run(cli, work, server).exit_code == 0
        first = ids_by_row(default)
        reads, estimates = server.emulator.stats.reads, server.emulator.stats.estimates

        # A new -o is a new, empty state file beside it: the API still knows every video.
        result = run(cli, work, server, "-o", str(moved))
        assert result.exit_code == 0, result.stderr
        assert "120 adopted" in result.stderr and "0 created" in result.stderr
        forget(Path(f"{default}.state"))
        result = run(cli, work, server)
        assert result.exit_code == 0, result.stderr
        assert "120 adopted" in result.stderr

        assert server.emulator.stats.created == 120
        one_video_per_row(server, 120)
        assert ids_by_row(moved) == first == ids_by_row(default)
        assert all(first.values())
        # Two pages of 100 per reconcile, and the catalogue: a few reads, not one per row
        # (besides each new state file's one estimate a draft: its price, read once).
        stats = server.emulator.stats
        assert stats.reads - stats.estimates - (reads - estimates) < 60


def test_a_crash_between_a_create_and_its_record_then_a_lost_state_still_one_video_per_row(
    work: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    write_leads(work["sheet"], 20)
    output = work["folder"] / "leads.argil.csv"
    state = Path(f"{output}.state")
    # Every answer is held a second after the video is made: a kill while creates are
    # answered lands between the create and the journal's record of it.
    settings = EmulatorSettings(latency_ms=1000)
    with EmulatorServer(settings) as server:
        args = ["run", str(work["sheet"]), "-c", str(work["config"])]
        args += ["--base-url", server.base_url]
        args += ["--no-progress", "--no-preflight", "--concurrency", "4"]
        process = spawn(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while server.emulator.stats.created < 3:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)  # watching another process, not a backoff
        process.send_signal(signal.SIGKILL)
        process.wait()
        made = server.emulator.stats.created
        journal = j.Journal(state)
        in_flight = [r for r in journal.all().values() if r.state == j.IN_FLIGHT]
        journal.close()
        assert in_flight and not any(r.video_id for r in in_flight), "killed before any record"

        forget(state)
        settings.latency_ms = 0
        result = run(cli, work, server)
        assert result.exit_code == 0, result.stderr
        # Every video made before the kill is adopted (a create still in the socket when the
        # process died may have landed since: at least those seen).
        recovered = re.search(r"(\d+) adopted", result.stderr)
        assert recovered and int(recovered[1]) >= made >= 3, result.stderr
        assert server.emulator.stats.created == 20
        one_video_per_row(server, 20)


# --- absence must be proven ---------------------------------------------------------------


def test_a_listing_that_fails_leaves_the_rows_in_doubt_and_sends_nothing(
    work: dict[str, Path],
) -> None:
    write_leads(work["sheet"], 6)
    vt = VirtualTime()
    output = work["folder"] / "out.csv"
    with EmulatorServer(EmulatorSettings(list_fail_rate=1.0, clock=vt)) as server:
        outcome = run_job(spec(work, server, output=output, sleep=vt.sleep, clock=vt))
        assert server.emulator.stats.creates == 0
    assert outcome.exit_code == 3 and outcome.summary.in_doubt == 6
    assert outcome.summary.stopped and "could not be listed" in outcome.summary.stopped
    for row in read_output(output):
        assert row["argil_status"] == "IN_DOUBT"
        assert "nothing proves it has no video yet" in row["argil_error"]
        assert "could not be listed" in row["argil_error"]


def test_videos_listed_without_extras_prove_nothing_so_the_rows_wait(
    work: dict[str, Path],
) -> None:
    write_leads(work["sheet"], 5)
    output = work["folder"] / "out.csv"
    settings = EmulatorSettings()
    with EmulatorServer(settings) as server:
        assert run_job(spec(work, server, output=output)).exit_code == 0
        forget(Path(f"{output}.state"))
        write_leads(work["sheet"], 8)
        settings.list_extras = False
        outcome = run_job(spec(work, server, output=output))
        assert outcome.exit_code == 1 and outcome.summary.in_doubt == 8
        assert server.emulator.stats.created == 5, "nothing sent on an unreadable listing"
        errors = {row["argil_error"] for row in read_output(output)}
        assert all("without their extras" in e for e in errors), errors

        # Once the listing can be read again, the five are adopted and three are made.
        settings.list_extras = True
        outcome = run_job(spec(work, server, output=output))
        assert outcome.exit_code == 0
        assert outcome.summary.adopted == 5 and outcome.summary.created == 3
        one_video_per_row(server, 8)


def test_a_row_in_flight_looked_up_without_extras_stays_in_doubt(
    work: dict[str, Path],
) -> None:
    write_leads(work["sheet"], 3)
    output = work["folder"] / "out.csv"
    settings = EmulatorSettings()
    with EmulatorServer(settings) as server:
        assert run_job(spec(work, server, output=output)).exit_code == 0
        journal = j.Journal(Path(f"{output}.state"))
        record = next(iter(journal.all().values()))
        # As if the run had crashed with this row's create unanswered.
        journal.mark_in_flight(record.key, record.row, record.payload_hash, 1, 0)
        journal.close()
        settings.list_extras = False
        outcome = run_job(spec(work, server, output=output))
        assert outcome.summary.in_doubt == 1 and server.emulator.stats.created == 3


# --- what the listing tells besides -------------------------------------------------------


def test_a_row_changed_since_its_video_and_a_row_removed_are_reported(
    work: dict[str, Path],
) -> None:
    emails = write_leads(work["sheet"], 4)
    output = work["folder"] / "out.csv"
    with EmulatorServer() as server:
        assert run_job(spec(work, server, output=output)).exit_code == 0
        forget(Path(f"{output}.state"))
        text = work["sheet"].read_text(encoding="utf-8").splitlines()
        # The last lead leaves the sheet; the first gets a new script.
        text = [text[0], text[1].replace("Here is a short idea", "A new idea"), *text[2:4]]
        work["sheet"].write_text("\n".join(text) + "\n", encoding="utf-8")
        outcome = run_job(spec(work, server, output=output))
        assert outcome.summary.changed == 1 and outcome.summary.adopted == 3
        assert outcome.summary.not_in_sheet == 1
        assert server.emulator.stats.created == 4
        rows = {row["email"]: row for row in read_output(output)}
        assert rows[emails[0]]["argil_status"] == "CHANGED"
        assert "moments[0].transcript differ" in rows[emails[0]]["argil_error"]
        # The journal now knows: the next run says CHANGED again without asking the API.
        again = run_job(spec(work, server, output=output))
        assert again.summary.changed == 1 and again.summary.created == 0

        resend = RunOptions(doubt_delay=0, resend_changed=True)
        assert run_job(spec(work, server, output=output, options=resend)).summary.created == 1
        # Lost again: the row's latest video (the one made from its new script) stands for it.
        forget(Path(f"{output}.state"))
        outcome = run_job(spec(work, server, output=output))
        assert outcome.exit_code == 0 and outcome.summary.changed == 0
        assert outcome.summary.adopted == 3 and server.emulator.stats.created == 5
        rows = {row["email"]: row for row in read_output(output)}
        newest = [
            vid
            for vid, v in server.emulator.videos.items()
            if v["extras"]["argilBatchKey"].endswith("~1")
        ]
        assert [rows[emails[0]]["argil_video_id"]] == newest


def test_another_campaign_over_the_same_leads_is_another_batch(
    work: dict[str, Path], config: Callable[..., Path]
) -> None:
    write_leads(work["sheet"], 3)
    french_name = {"name": "Bonjour {{ first_name }} at {{ company }}"}
    other = config("leads-fr.yaml", video=french_name, api={"concurrency": 8})
    with EmulatorServer() as server:
        first = run_job(spec(work, server, output=work["folder"] / "en.csv"))
        french = {"config": other, "output": work["folder"] / "fr.csv"}
        # Its first run is told that its rows have videos in another batch: it is meant.
        with pytest.raises(JobError, match=r"in another batch \(b-"):
            run_job(spec(work, server, **french))
        new_batch = RunOptions(doubt_delay=0, new_batch=True)
        second = run_job(spec(work, server, options=new_batch, **french))
        assert first.summary.created == 3 and second.summary.created == 3
        assert second.summary.adopted == 0 and second.summary.changed == 0


# --- following by listing -----------------------------------------------------------------


def test_wait_follows_the_batch_with_a_page_per_sweep_not_a_read_per_video(
    work: dict[str, Path],
) -> None:
    write_leads(work["sheet"], 40)
    vt = VirtualTime()
    output = work["folder"] / "out.csv"
    with EmulatorServer(EmulatorSettings(clock=vt, render_seconds=30)) as server:
        options = RunOptions(doubt_delay=0, render=True, wait=True)
        outcome = run_job(
            spec(work, server, output=output, options=options, sleep=vt.sleep, clock=vt)
        )
        assert outcome.exit_code == 0 and outcome.summary.done == 40
        reads = server.emulator.stats.reads
    # The catalogue, the reconcile and a dozen sweeps of one page: fewer reads than videos.
    assert reads < 20, reads
    assert {row["argil_status"] for row in read_output(output)} == {"DONE"}


# --- the sandbox apart from the real run --------------------------------------------------


def test_a_sandbox_run_after_a_real_one_leaves_the_real_output_as_it_was(
    work: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    write_leads(work["sheet"], 5)
    real = work["folder"] / "leads.argil.csv"
    with EmulatorServer() as server:
        assert run(cli, work, server).exit_code == 0
    before = real.read_bytes()
    result = cli("run", str(work["sheet"]), "-c", str(work["config"]), "--sandbox")
    assert result.exit_code == 0, result.stderr
    sandbox = work["folder"] / "leads.sandbox.argil.csv"
    assert f"Output: {sandbox}" in result.stderr
    assert real.read_bytes() == before
    assert ids_by_row(sandbox).keys() == ids_by_row(real).keys()
    assert set(ids_by_row(sandbox).values()).isdisjoint(ids_by_row(real).values())

    # The sandbox's own status, by the flag or by what its state file records.
    result = cli("status", str(real), "--sandbox")
    assert result.exit_code == 0, result.stderr
    assert f"Output: {sandbox}" in result.stderr
    result = cli("status", str(sandbox))
    assert result.exit_code == 0, result.stderr
    assert real.read_bytes() == before

    # A sandbox run told to write the real output is refused before anything runs.
    result = cli("run", str(work["sheet"]), "-c", str(work["config"]), "--sandbox", "-o", str(real))
    assert result.exit_code == 2 and "is not a sandbox run's output" in result.stderr
    result = cli("status", str(f"{real}.state"), "--sandbox")
    assert result.exit_code == 2 and "drop --sandbox" in result.stderr
    assert real.read_bytes() == before

    # The same when the real run's state is elsewhere (--state), or lost: the file is not
    # the sandbox's, so it is not written.
    (work["folder"] / "leads.argil.csv.state").rename(work["folder"] / "moved.state")
    result = cli("run", str(work["sheet"]), "-c", str(work["config"]), "--sandbox", "-o", str(real))
    assert result.exit_code == 2 and "is not a sandbox run's output" in result.stderr
    assert real.read_bytes() == before
    # The sandbox's own output, named with -o, is its to rewrite.
    result = cli(
        "run", str(work["sheet"]), "-c", str(work["config"]), "--sandbox", "-o", str(sandbox)
    )
    assert result.exit_code == 0, result.stderr


def test_status_takes_the_state_file_of_a_run_and_a_held_lock_names_real_options(
    work: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    write_leads(work["sheet"], 2)
    state = work["folder"] / "elsewhere" / "leads.state"
    state.parent.mkdir()
    output = work["folder"] / "leads.argil.csv"
    with EmulatorServer() as server:
        assert run(cli, work, server, "--state", str(state)).exit_code == 0
        result = cli("status", str(output), "--state", str(state), "--base-url", server.base_url)
        assert result.exit_code == 0, result.stderr
        with j.run_lock(state):
            result = cli("status", str(output), "--state", str(state))
    assert result.exit_code == 4 and "wait for it to finish, then run status again" in result.stderr
    status_help = cli("status", "--help").output
    named = [
        word
        for word in result.stderr.replace(",", " ").replace(";", " ").split()
        if word.startswith("--")
    ]
    assert all(option in status_help for option in named), result.stderr
