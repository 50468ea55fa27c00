"""The library's run in its two halves, and the settings resolved once: what the command line
and the Python API both get from the same calls."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support import read_output, write_leads

import pipeline
from pipeline import journal as j
from pipeline.emulator import EmulatorServer
from pipeline.engine import open_run, prepare, run_job
from pipeline.errors import JobError, NotConfirmed
from pipeline.settings import JobSpec, RunOptions, resolve

KEY = "sk-halves"


def spec(sheet: Path, config: Path, server: EmulatorServer, **changes: object) -> JobSpec:
    settings: dict[str, object] = {
        "sheet": sheet,
        "config": config,
        "base_url": server.base_url,
        "api_key": KEY,
        "options": RunOptions(preflight=False),
    }
    settings.update(changes)
    return JobSpec(**settings)  # type: ignore[arg-type]


def test_nothing_is_sent_when_the_caller_refuses_between_the_halves(
    tmp_path: Path, config: Callable[..., Path], emulator: EmulatorServer
) -> None:
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 3)
    job = prepare(resolve(spec(sheet, config(), emulator)))
    with pytest.raises(NotConfirmed), open_run(job) as run:
        forecast = run.plan()
        assert forecast.estimate.videos == 3
        raise NotConfirmed("not confirmed")
    assert emulator.emulator.stats.creates == 0
    # Refused before sending: no state file, no lock file left to wonder about.
    assert not job.state.exists() and not j.lock_path(job.state).exists()


def test_the_second_half_sends_what_the_first_priced(
    tmp_path: Path, config: Callable[..., Path], emulator: EmulatorServer
) -> None:
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 3)
    job = prepare(resolve(spec(sheet, config(), emulator)))
    with open_run(job) as run:
        priced = run.plan().estimate.videos
        outcome = run.send()
    assert priced == outcome.summary.created == emulator.emulator.stats.creates == 3
    assert outcome.exit_code == 0


def test_a_row_left_in_flight_outside_rows_reads_in_doubt_in_the_sheet_and_the_dry_run(
    tmp_path: Path, config: Callable[..., Path], emulator: EmulatorServer
) -> None:
    """A crash left row 3 in flight; a later run of --rows 2 only. The output sheet and the
    dry run say the same word for row 3, the one the docs list: IN_DOUBT."""
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 2)
    first = run_job(spec(sheet, config(), emulator, rows="2"))
    assert first.exit_code == 0
    plans = prepare(resolve(spec(sheet, config(), emulator))).report.plans
    book = j.Journal(first.state, target=emulator.base_url)
    book.mark_in_flight(plans[1].key, 3, plans[1].payload_hash or "", 1, 0)
    book.close()

    again = run_job(spec(sheet, config(), emulator, rows="2"))
    assert again.output is not None
    statuses = {row["email"]: row["argil_status"] for row in read_output(again.output)}
    assert statuses["lead1@example.com"] == "IN_DOUBT"
    dry = run_job(spec(sheet, config(), emulator, command="dry-run"))
    assert dry.summary.statuses.get("IN_DOUBT") == 1
    assert "IN_FLIGHT" not in statuses.values()


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"render": True, "callback_url": "http://example.com/hook"}, "must be an https:// URL"),
        ({"callback_url": "https://example.com/hook"}, "goes with --render"),
        ({"sandbox": True, "base_url": "https://api.example.com"}, "drop --base-url"),
        ({"rows": "9-2"}, "9 comes after 2"),
    ],
)
def test_the_python_api_makes_the_checks_the_command_line_makes(
    tmp_path: Path,
    config: Callable[..., Path],
    emulator: EmulatorServer,
    keywords: dict[str, object],
    message: str,
) -> None:
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 2)
    base = (
        {"api_key": KEY}
        if keywords.get("sandbox")
        else {"api_key": KEY, "base_url": emulator.base_url}
    )
    with pytest.raises(JobError, match=message):
        pipeline.run(sheet, config(), **{**base, **keywords})  # type: ignore[arg-type]
    assert emulator.emulator.stats.creates == 0
    assert not list(tmp_path.glob("*.state*"))


def test_run_and_validate_raise_the_same_error_for_the_same_cause(tmp_path: Path) -> None:
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 1)
    broken = tmp_path / "broken.yaml"
    broken.write_text("video: {name: x}\nmoments: []\n", encoding="utf-8")
    with pytest.raises(pipeline.ConfigError) as by_validate:
        pipeline.validate(sheet, broken)
    with pytest.raises(pipeline.ConfigError) as by_run:
        pipeline.run(sheet, broken, sandbox=True)
    assert str(by_validate.value) == str(by_run.value)
    assert isinstance(by_run.value, pipeline.ArgilBatchError) and by_run.value.exit_code == 2
