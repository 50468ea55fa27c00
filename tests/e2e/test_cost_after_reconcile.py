"""The estimate, the budget and the question count the rows a run will really send: over HTTP
to the emulator, after a lost state file the batch is listed first, and the videos found there
are adopted, not counted; a dry run, which asks the API nothing, plans from the journal alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from support import assert_exactly_once, write_leads

from pipeline.cli import run as cli_run
from pipeline.config import load_config
from pipeline.cost import estimate_body
from pipeline.emulator import EmulatorServer
from pipeline.sheets import read_sheet
from pipeline.validation import validate_rows


@pytest.fixture
def files(tmp_path: Path, config: Callable[..., Path]) -> dict[str, Path]:
    return {"sheet": tmp_path / "leads.csv", "config": config("leads.yaml"), "folder": tmp_path}


def run(
    cli: Callable[..., Result],
    files: dict[str, Path],
    server: EmulatorServer,
    output: str,
    *args: str,
    answer: str = "",
) -> Result:
    argv = ["run", str(files["sheet"]), "-c", str(files["config"])]
    argv += ["-o", str(files["folder"] / output), "--base-url", server.base_url]
    return cli(*argv, "--no-progress", *args, input=answer)


def estimate_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("To send: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def credits_of_rows(files: dict[str, Path], rows: range) -> float:
    report = validate_rows(read_sheet(files["sheet"]), load_config(files["config"]))
    return sum(estimate_body(p.body).credits for p in report.plans if p.row in rows and p.body)


def lose_state(files: dict[str, Path]) -> None:
    for state in files["folder"].glob("*.state*"):
        state.unlink()


def test_after_a_lost_state_file_the_estimate_counts_only_rows_not_on_the_api(
    files: dict[str, Path], emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 30)
    first = run(cli, files, emulator, "out.csv", "--rows", "2-21")
    assert first.exit_code == 0, first.stderr
    assert estimate_line(first).startswith("To send: 20 videos, ")
    lose_state(files)
    # The whole sheet's cost is over the budget; the ten rows the API has no video for fit.
    rest = credits_of_rows(files, range(22, 32))
    whole = credits_of_rows(files, range(2, 32))
    budget = (rest + whole) / 2
    assert rest < budget < whole
    creates = emulator.emulator.stats.creates
    second = run(cli, files, emulator, "other.csv", "--max-credits", f"{budget:.0f}")
    assert second.exit_code == 0, second.stderr
    line = estimate_line(second)
    assert line.startswith(f"To send: 10 videos, about {rest / 180:,.1f} min of video, ")
    assert f"about {rest:,.0f} credits (an estimate), budget {budget:,.0f};" in line
    assert "30 rows: 10 created, 20 adopted" in second.stderr
    assert emulator.emulator.stats.creates - creates == 10
    assert_exactly_once(emulator, files["folder"] / "other.csv", 30)


def test_over_the_budget_after_the_listing_nothing_is_created(
    files: dict[str, Path], emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 30)
    assert run(cli, files, emulator, "out.csv", "--rows", "2-21").exit_code == 0
    lose_state(files)
    rest = credits_of_rows(files, range(22, 32))
    creates, reads = emulator.emulator.stats.creates, emulator.emulator.stats.reads
    refused = run(cli, files, emulator, "other.csv", "--max-credits", f"{rest / 2:.0f}")
    assert refused.exit_code == 2, refused.stderr
    assert refused.stderr.splitlines()[-1].startswith(
        f"Error: this run would send 10 videos, about {rest / 180:,.1f} min of video, "
    )
    assert emulator.emulator.stats.creates == creates
    # Reads only, all before the estimate: the listing (one page), the pre-flight's catalogue,
    # and at most three rows looked for in another batch.
    assert 1 <= emulator.emulator.stats.reads - reads <= 1 + 2 + 3


def test_on_a_terminal_the_question_counts_only_the_new_rows(
    files: dict[str, Path],
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Result],
) -> None:
    """All rows but three exist on the API: three rows cost less than the question's
    threshold, so nothing is asked though the whole sheet would have been."""
    monkeypatch.setattr(cli_run, "_interactive", lambda: True)
    write_leads(files["sheet"], 120)
    assert credits_of_rows(files, range(2, 122)) > cli_run.CONFIRM_ABOVE_CREDITS
    assert credits_of_rows(files, range(119, 122)) < cli_run.CONFIRM_ABOVE_CREDITS
    assert run(cli, files, emulator, "out.csv", "--rows", "2-118", "--yes").exit_code == 0
    lose_state(files)
    second = run(cli, files, emulator, "other.csv")
    assert second.exit_code == 0, second.stderr
    assert "Send it?" not in second.stderr
    assert estimate_line(second).startswith("To send: 3 videos, ")
    # Lost again, and a second sheet's worth of new rows: now the question comes, after the
    # listing, and a no sends nothing.
    lose_state(files)
    write_leads(files["sheet"], 240)
    creates = emulator.emulator.stats.creates
    asked = run(cli, files, emulator, "third.csv", answer="n\n")
    assert asked.exit_code == 2, asked.stderr
    assert estimate_line(asked).startswith("To send: 120 videos, ")
    assert "Send it? [y/N]" in asked.stderr
    assert emulator.emulator.stats.creates == creates


def test_a_dry_run_plans_from_the_journal_alone_and_says_so(
    files: dict[str, Path], emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    write_leads(files["sheet"], 5)
    assert run(cli, files, emulator, "out.csv").exit_code == 0
    lose_state(files)
    requests = emulator.emulator.stats.requests
    dry = run(cli, files, emulator, "other.csv", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert estimate_line(dry).startswith("To send: 5 videos, ")
    assert "Nothing was sent; planned from the state file alone, without asking the API" in (
        dry.stderr
    )
    assert emulator.emulator.stats.requests == requests
