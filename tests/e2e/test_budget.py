"""Cost before the first create, over HTTP to the emulator: the estimate line, the question
asked on a terminal only, a budget that refuses a run whole or stops it when reached."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from support import CLI_KEY, VirtualTime, assert_exactly_once, read_output, write_leads

from pipeline.cli import run as cli_run
from pipeline.config import load_config
from pipeline.cost import estimate_body
from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import run_job
from pipeline.errors import OverBudget
from pipeline.journal import Journal
from pipeline.settings import JobSpec, RunOptions
from pipeline.sheets import read_sheet
from pipeline.validation import validate_rows

# What a first run reads before the cost is shown: the batch's listing, avatars and voices,
# and three rows looked for in another batch.
READS_BEFORE = 1 + 2 + 3
MakeEmulator = Callable[..., EmulatorServer]


@pytest.fixture
def files(tmp_path: Path, config: Callable[..., Path]) -> dict[str, Path]:
    return {
        "sheet": tmp_path / "leads.csv",
        "config": config("leads.yaml", api={"rpm": 60}),
        "output": tmp_path / "out.csv",
        "state": tmp_path / "out.state",
    }


def run(
    cli: Callable[..., Result],
    files: dict[str, Path],
    server: EmulatorServer | None,
    *args: str,
    answer: str | None = None,
) -> Result:
    where = ["--sandbox"] if server is None else ["--base-url", server.base_url]
    argv = ["run", str(files["sheet"]), "-c", str(files["config"]), "-o", str(files["output"])]
    # The sandbox rate is the emulator's own: no --rpm, so the line tells the real run's time.
    pace = [] if server is None else ["--rpm", "60000"]
    return cli(*argv, *where, *pace, "--no-progress", *args, input=answer)


def estimate_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("To send: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def sheet_credits(files: dict[str, Path]) -> float:
    config = load_config(files["config"])
    report = validate_rows(read_sheet(files["sheet"]), config)
    return sum(estimate_body(p.body).credits for p in report.plans if p.body is not None)


def test_over_the_budget_nothing_is_sent_and_the_line_says_why(
    files: dict[str, Path], emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 120)
    result = run(cli, files, emulator, "--max-credits", "10")
    assert result.exit_code == 2, result.stderr
    credits = sheet_credits(files)
    assert result.stderr == (
        f"Error: this run would send 120 videos, about {credits / 180:,.1f} min of video, about "
        f"{credits:,.0f} credits: over --max-credits 10; nothing was sent (raise the budget, or "
        "send fewer rows with --rows)\n"
    )
    # Reads only (which rows to count, and which the pre-flight lets through: the batch's
    # listing, the catalogue's avatars and voices, three rows looked for in another batch,
    # all at once): no create.
    assert emulator.emulator.stats.requests == emulator.emulator.stats.reads == READS_BEFORE
    assert not files["output"].exists()


def test_a_dry_run_over_the_budget_says_so_and_the_library_raises(
    files: dict[str, Path], emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 120)
    dry = run(cli, files, emulator, "--dry-run", "--max-credits", "10")
    assert dry.exit_code == 2 and "credits: over --max-credits 10;" in dry.stderr
    spec = JobSpec(
        sheet=files["sheet"],
        config=files["config"],
        output=files["output"],
        base_url=emulator.base_url,
        api_key=CLI_KEY,
        max_credits=10,
    )
    assert emulator.emulator.stats.requests == 0, "a dry run asks the API nothing"
    with pytest.raises(OverBudget, match=r"^this run would send 120 videos, "):
        run_job(spec)
    assert emulator.emulator.stats.creates == 0
    assert emulator.emulator.stats.requests == emulator.emulator.stats.reads == READS_BEFORE


def test_the_config_budget_applies_and_the_flag_overrides_it(
    files: dict[str, Path],
    emulator: EmulatorServer,
    cli: Callable[..., Result],
    config: Callable[..., Path],
) -> None:
    write_leads(files["sheet"], 20)
    config("leads.yaml", api={"rpm": 60, "concurrency": None, "max_credits": 5})
    refused = run(cli, files, emulator)
    assert refused.exit_code == 2 and "credits: over api.max_credits 5;" in refused.stderr
    assert emulator.emulator.stats.creates == 0
    allowed = run(cli, files, emulator, "--max-credits", "100000")
    assert allowed.exit_code == 0, allowed.stderr
    assert emulator.emulator.stats.created == 20


def test_the_estimate_line_comes_before_sending_with_the_real_runs_time(
    files: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    write_leads(files["sheet"], 120)
    credits = sheet_credits(files)
    result = run(cli, files, None, "--max-credits", "100000")
    assert result.exit_code == 0, result.stderr
    assert estimate_line(result) == (
        f"To send: 120 videos, about {credits / 180:,.1f} min of video, about {credits:,.0f} "
        "credits (an estimate), budget 100,000; at the real run's 60 requests a minute (--rpm or "
        "api.rpm), sending takes about 2 min (the sandbox itself goes faster)."
    )
    assert result.stderr.index("To send: ") < result.stderr.index("120 rows: 120 created")
    # A second run has nothing to send: no line.
    again = run(cli, files, None, "--json")
    assert again.exit_code == 0 and "To send: " not in again.stderr
    assert json.loads(again.stdout)["estimate"]["videos"] == 0


def test_the_json_summary_carries_the_estimate(
    files: dict[str, Path], emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 30)
    result = run(cli, files, emulator, "--json", "--render")
    assert result.exit_code == 0, result.stderr
    estimate = json.loads(result.stdout)["estimate"]
    assert estimate["videos"] == 30 and estimate["requests"] == 60
    assert estimate["credits"] == round(sheet_credits(files))
    assert estimate["rpm"] == 60000 and estimate["max_credits"] is None


def test_the_estimate_counts_only_what_this_run_sends(
    files: dict[str, Path], emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 10)
    first = run(cli, files, emulator, "--rows", "2-4")
    assert estimate_line(first).startswith("To send: 3 videos, ")
    rest = run(cli, files, emulator, "--max-credits", str(sheet_credits(files) * 0.8))
    assert rest.exit_code == 0, rest.stderr
    assert estimate_line(rest).startswith("To send: 7 videos, ")
    assert emulator.emulator.stats.created == 10


def test_off_a_terminal_a_costly_run_never_asks(
    files: dict[str, Path], emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 120)
    assert sheet_credits(files) > cli_run.CONFIRM_ABOVE_CREDITS
    result = run(cli, files, emulator)  # CliRunner's stdin is not a terminal
    assert result.exit_code == 0, result.stderr
    assert "Send it?" not in result.stderr
    assert "sending at 60000 requests a minute takes about 1 s." in estimate_line(result)
    assert emulator.emulator.stats.created == 120


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_run, "_interactive", lambda: True)


@pytest.mark.usefixtures("terminal")
@pytest.mark.parametrize("answer", ["n\n", "\n", ""])
def test_on_a_terminal_a_costly_run_asks_and_a_no_sends_nothing(
    files: dict[str, Path], emulator: EmulatorServer, answer: str, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 120)
    result = run(cli, files, emulator, answer=answer)
    assert result.exit_code == 2, result.stderr
    assert "Send it? [y/N]" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "Error: not confirmed; nothing was sent (--yes skips the question)"
    )
    # Asked after the reads (the batch's listing, the pre-flight), before any create.
    assert emulator.emulator.stats.requests == emulator.emulator.stats.reads == READS_BEFORE


@pytest.mark.usefixtures("terminal")
def test_on_a_terminal_a_yes_sends(
    files: dict[str, Path], emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 120)
    result = run(cli, files, emulator, answer="y\n")
    assert result.exit_code == 0, result.stderr
    assert "Send it? [y/N]" in result.stderr
    assert emulator.emulator.stats.created == 120


@pytest.mark.usefixtures("terminal")
def test_yes_or_a_small_run_or_a_dry_run_does_not_ask(
    files: dict[str, Path], emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 120)
    dry = run(cli, files, emulator, "--dry-run")
    assert dry.exit_code == 0 and "Send it?" not in dry.stderr
    assert "To send: 120 videos" in dry.stderr
    assert run(cli, files, emulator, "--yes").exit_code == 0
    assert emulator.emulator.stats.created == 120
    write_leads(files["sheet"], 3, start=500)
    small = run(cli, files, emulator)
    assert small.exit_code == 0 and "Send it?" not in small.stderr
    assert sheet_credits(files) < cli_run.CONFIRM_ABOVE_CREDITS


def test_a_budget_reached_mid_run_stops_with_exit_3_and_the_next_run_resumes(
    files: dict[str, Path],
) -> None:
    """Creates answered with a 5xx are sent again once the lookup finds no video; each send
    counts, so the budget runs out before the last rows."""
    rows = 40
    write_leads(files["sheet"], rows)
    budget = sheet_credits(files) + 0.01  # the whole sheet fits, once
    vt = VirtualTime()
    settings = EmulatorSettings(fail_rate=0.2, seed=5, clock=vt)
    with EmulatorServer(settings) as server:
        spec = JobSpec(
            sheet=files["sheet"],
            config=files["config"],
            output=files["output"],
            state=files["state"],
            base_url=server.base_url,
            api_key=CLI_KEY,
            rpm=60_000.0,
            max_credits=budget,
            options=RunOptions(doubt_delay=0),
            sleep=vt.sleep,
            clock=vt,
        )
        first = run_job(spec)
        assert first.exit_code == 3, first.summary
        assert first.summary.stopped is not None
        assert first.summary.stopped.startswith("the budget is reached: about ")
        assert server.emulator.stats.failed_injected > 0
        output = read_output(files["output"])
        pending = [row for row in output if row["argil_status"] == "PENDING"]
        assert pending and all("the budget is reached" in r["argil_error"] for r in pending)
        made = server.emulator.stats.created
        assert made + len(pending) == rows
        journal = Journal(files["state"])
        try:
            assert "in_flight" not in {r.state for r in journal.all().values()}
        finally:
            journal.close()

        server.emulator.settings.fail_rate = 0.0
        second = run_job(spec)
        assert second.exit_code == 0, second.summary
        assert second.summary.created == len(pending)
        assert_exactly_once(server, files["output"], rows)
