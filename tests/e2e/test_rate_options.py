"""``--rpm auto``, ``--read-rpm`` and ``api.rpm: auto`` / ``api.read_rpm`` from the config and the
command line to the client, and the rate found in the summary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from support import UNPACED_LEADS_CONFIG, VirtualTime, write_leads

from pipeline.cli.summary import print_summary as _print_summary
from pipeline.emulator import EmulatorServer
from pipeline.engine import RunSummary, run_job, status_spec
from pipeline.settings import JobSpec, RunOptions


def config(tmp_path: Path, api: str = "") -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(UNPACED_LEADS_CONFIG + api, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("value", "message"), [("fast", "neither a number nor auto"), ("0", "at least 0.1")]
)
def test_the_command_line_refuses_a_bad_rpm(
    tmp_path: Path, value: str, message: str, cli: Callable[..., Result]
) -> None:
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 1)
    result = cli("run", sheet, "-c", config(tmp_path), "--rpm", value)
    assert result.exit_code == 2 and message in result.stderr


def test_rpm_auto_finds_the_limit_and_reports_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorServer]
) -> None:
    vt = VirtualTime()
    # 60 requests in any 6 s: 600 a minute, unannounced; the catalogue reads apart.
    server = make_emulator(rpm=600, read_rpm=6000, rate_window=6, clock=vt)
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 90)
    spec = JobSpec(
        sheet=sheet,
        config=config(tmp_path),
        base_url=server.base_url,
        api_key="k",
        rpm="auto",
        concurrency=8,
        sleep=vt.sleep,
        clock=vt,
        options=RunOptions(doubt_delay=0),
    )
    summary = run_job(spec).summary
    assert summary.created == 90
    assert summary.rate_limited > 0, "the limit was met, then kept to"
    assert summary.found_rpm is not None and 450 <= summary.found_rpm <= 700
    assert not summary.found_rpm_is_floor


def test_rpm_auto_that_meets_no_limit_says_so(
    tmp_path: Path, make_emulator: Callable[..., EmulatorServer]
) -> None:
    vt = VirtualTime()
    server = make_emulator(rpm=60_000, clock=vt)  # far above what 20 rows reach
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 20)
    spec = JobSpec(
        sheet=sheet,
        config=config(tmp_path),
        base_url=server.base_url,
        api_key="k",
        rpm="auto",
        sleep=vt.sleep,
        clock=vt,
        options=RunOptions(doubt_delay=0),
    )
    summary = run_job(spec).summary
    assert summary.created == 20 and summary.rate_limited == 0
    assert summary.found_rpm is not None and summary.found_rpm_is_floor


def test_the_summary_names_the_rate_found(capsys: pytest.CaptureFixture[str]) -> None:
    _print_summary(RunSummary(rows=3, created=3, requests=3, found_rpm=587.6), dry_run=False)
    assert (
        "Rate limit found: about 588 requests a minute (put api.rpm: 587" in capsys.readouterr().err
    )
    _print_summary(RunSummary(rows=3, created=3, requests=3), dry_run=False)
    assert "Rate limit found" not in capsys.readouterr().err
    # No 429 and nothing announced: what went through is a floor, not a limit to configure.
    floor = RunSummary(rows=3, created=3, requests=3, found_rpm=3147.2, found_rpm_is_floor=True)
    _print_summary(floor, dry_run=False)
    err = capsys.readouterr().err
    assert "No rate limit met: requests went through at up to about 3147 a minute" in err
    assert "api.rpm" not in err


def test_read_rpm_reaches_the_read_gate(tmp_path: Path, emulator: EmulatorServer) -> None:
    import pipeline.settings as job_module

    seen: dict[str, object] = {}
    real = job_module.ArgilClient

    def client(*args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 2)
    mp = pytest.MonkeyPatch()
    mp.setattr(job_module, "ArgilClient", client)
    try:
        spec = JobSpec(
            sheet=sheet,
            config=config(tmp_path, "api: {read_rpm: 1200}\n"),
            base_url=emulator.base_url,
            api_key="k",
        )
        run_job(spec)
        assert seen["read_rpm"] == 1200 and seen["rpm"] == 60
        spec.read_rpm = 300
        spec.rpm = "auto"
        run_job(spec)
        assert seen["read_rpm"] == 300 and seen["rpm"] == "auto"
    finally:
        mp.undo()


def test_status_takes_a_read_rpm(
    tmp_path: Path, emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 2)
    output = tmp_path / "leads.argil.csv"
    spec = JobSpec(
        sheet=sheet, config=config(tmp_path), output=output, base_url=emulator.base_url, api_key="k"
    )
    assert run_job(spec).summary.created == 2
    assert status_spec(output, wait=False, wait_timeout=1, read_rpm=123).read_rpm == 123
    assert status_spec(output, wait=False, wait_timeout=1).read_rpm is None, "the config's"
    result = cli("status", output, "--read-rpm", "0")
    assert result.exit_code == 2 and "--read-rpm" in result.stderr
