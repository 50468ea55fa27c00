"""``argil-batch run`` and ``argil-batch status``: a run's flags to the library's two
halves (plan, then send), with the cost question asked between them on a terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import click

from pipeline.cli.common import (
    RpmType,
    config_option,
    download_option,
    encoding_option,
    fail,
    json_option,
    no_progress_option,
    note,
    read_rpm_option,
    setup_logging,
    sheet_argument,
    sheet_name_option,
    shown,
    user_errors,
    verbose_option,
    wait_timeout_option,
)
from pipeline.cli.summary import list_row_errors, report
from pipeline.config import config_warnings
from pipeline.cost import Forecast, describe
from pipeline.engine import dry_run as plan_only
from pipeline.engine import open_run, prepare, run_job, status_spec
from pipeline.engine.files import Prepared
from pipeline.errors import NotConfirmed
from pipeline.gsheets import sheet_source
from pipeline.progress import progress_display
from pipeline.settings import JobSpec, RunOptions, resolve
from pipeline.wording import plural

# On a terminal, a run estimated above this many credits (about six minutes of video) asks
# before sending.
CONFIRM_ABOVE_CREDITS = 1000.0


@click.command()
@sheet_argument
@config_option
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Output sheet (.csv or .xlsx); default: beside the input, NAME.argil.EXT "
    "(NAME.sandbox.argil.EXT with --sandbox). Its folder is made if need be. A file there "
    "is replaced only if it is an output of argil-batch.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace the file at the output path even if it is not an output of argil-batch.",
)
@sheet_name_option
@encoding_option
@click.option("--sandbox", is_flag=True, help="Run against a local emulator: no key, no network.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Plan from the state file alone and report what would be sent; send nothing.",
)
@click.option("--base-url", help="API base URL (default: $ARGIL_BASE_URL or the Argil API).")
@click.option(
    "--rpm",
    type=RpmType(),
    help="Requests (creates, renders) per minute allowed, or auto: find the limit.",
)
@read_rpm_option
@click.option("--concurrency", type=click.IntRange(min=1, max=64), help="Requests in flight.")
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Journal file (default: beside the output).",
)
@click.option("--rows", help="Only these spreadsheet rows, e.g. 2-50,60,70-.")
@click.option(
    "--sample",
    type=int,
    metavar="N",
    help="Send only N rows chosen to show the batch's range (the longest script, each avatar "
    "and voice, the widest characters); the rest wait for the next run.",
)
@click.option("--render", is_flag=True, help="Start generation of each video once created.")
@click.option("--callback-url", help="HTTPS URL the API calls when a render finishes.")
@click.option("--wait", is_flag=True, help="Wait for rendering videos to finish.")
@wait_timeout_option
@download_option
@click.option(
    "--no-preflight", is_flag=True, help="Skip checking avatars, voices, gestures, styles first."
)
@click.option(
    "--max-credits",
    type=click.FloatRange(min=0),
    metavar="N",
    help="Budget: send nothing if the estimate is over it; stop sending when it is reached.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask before sending a costly run.")
@click.option("--retry-failed", is_flag=True, help="Send again rows that failed before.")
@click.option(
    "--resend-changed", is_flag=True, help="Make a new video for rows edited since theirs."
)
@click.option(
    "--new-batch",
    is_flag=True,
    help="Start this batch even though its rows have videos in another batch (a renamed "
    "campaign): they get new videos.",
)
@no_progress_option
@json_option
@verbose_option
def run(
    sheet: str,
    config: Path,
    output: Path | None,
    overwrite: bool,
    sheet_name: str | None,
    encoding: str | None,
    sandbox: bool,
    dry_run: bool,
    base_url: str | None,
    rpm: float | Literal["auto"] | None,
    read_rpm: float | None,
    concurrency: int | None,
    state: Path | None,
    rows: str | None,
    sample: int | None,
    render: bool,
    callback_url: str | None,
    wait: bool,
    wait_timeout: float,
    download: Path | None,
    no_preflight: bool,
    max_credits: float | None,
    yes: bool,
    retry_failed: bool,
    resend_changed: bool,
    new_batch: bool,
    no_progress: bool,
    as_json: bool,
    verbose: int,
) -> None:
    """Make one video per row of SHEET, as CONFIG says; write the sheet back with ids.

    SHEET is a .csv, .tsv, .xlsx, .xlsm or .ods file, or a Google Sheet's URL as the browser
    shows it (quoted), whose results are written back into it."""
    setup_logging(verbose)
    with user_errors():
        source = sheet_source(sheet)
    spec = JobSpec(
        sheet=source,
        config=config,
        command="dry-run" if dry_run else "run",
        output=output,
        overwrite=overwrite,
        sheet_name=sheet_name,
        encoding=encoding,
        state=state,
        sandbox=sandbox,
        base_url=base_url,
        rpm=rpm,
        read_rpm=read_rpm,
        concurrency=concurrency,
        rows=rows,
        sample=sample,
        max_credits=max_credits,
        options=RunOptions(
            render=render,
            wait=wait,
            retry_failed=retry_failed,
            resend_changed=resend_changed,
            new_batch=new_batch,
            callback_url=callback_url,
            wait_timeout=wait_timeout,
            preflight=not no_preflight,
            download=download,
        ),
    )
    with user_errors():
        job = prepare(resolve(spec))
        for line in config_warnings(job.settings.config):
            note(f"Warning: {line}")
        for line in job.sheet.notes:
            note(f"Note: {line}")
        list_row_errors(job.report.plans)
        if job.sample is not None:
            note(sample_line(job))
        if not job.report.plans:
            where = job.google.tab.label if job.google else shown(job.sheet.path)
            note(f"{where} has no rows: nothing to do")
        if dry_run:
            outcome = plan_only(job)
            if outcome.forecast is not None and outcome.forecast.estimate.videos:
                note(describe(outcome.forecast))
        else:
            with (
                progress_display(not no_progress, as_json, note) as on_progress,
                open_run(job, on_progress=on_progress) as going,
            ):
                # Asked between the two halves of the run: after the batch was read (the
                # rows it adopts are not priced), before anything is sent. The sandbox costs
                # nothing: its estimate is shown, never asked about.
                if not _confirmed(going.plan(), ask=not (yes or sandbox)):
                    raise NotConfirmed("not confirmed; nothing was sent (--yes skips the question)")
                outcome = going.send()
        # Inside: a Ctrl-C while the summary prints still ends as an interrupt, not a traceback.
        report(outcome, as_json, sandbox=sandbox, dry_run=dry_run)


def sample_line(job: Prepared) -> str:
    """Which rows --sample sends, and why each."""
    assert job.sample is not None
    if not job.sample:
        return "Sample: every row has its video already; nothing to sample"
    chosen = "; ".join(f"row {row} ({', '.join(why)})" for row, why in sorted(job.sample.items()))
    left = len([p for p in job.report.plans if p.body is not None]) - len(job.sample)
    return (
        f"Sample: {plural(len(job.sample), 'row')}: {chosen}. The other rows wait for the "
        f"next run ({left} valid)."
    )


def _interactive() -> bool:
    """Someone at a terminal can answer a question (replaced in tests)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def _confirmed(forecast: Forecast, *, ask: bool) -> bool:
    """The estimate line before anything is sent; on a terminal, a costly run asks first.
    Off a terminal (cron, CI) nothing ever waits for an answer."""
    if not (forecast.estimate.videos or forecast.renders):
        return True
    note(describe(forecast))
    costly = forecast.estimate.credits + forecast.render_credits > CONFIRM_ABOVE_CREDITS
    if ask and costly and _interactive():
        try:
            return click.confirm("Send it?", default=False, err=True)
        except click.Abort:  # end of input or Ctrl-C: the question's line is ended
            note("")
            return False
    return True


@click.command()
@click.argument("target", metavar="OUTPUT_OR_STATE")
@click.option("--wait", is_flag=True, help="Keep polling until every video is finished.")
@wait_timeout_option
@download_option
@click.option("--base-url", help="API base URL (default: the one the run used).")
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The run's state file, when it is not beside OUTPUT (the run used --state).",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="The sandbox run's state, not the real run's (found beside OUTPUT or its "
    "NAME.sandbox.argil twin).",
)
@read_rpm_option
@no_progress_option
@json_option
@verbose_option
def status(
    target: str,
    wait: bool,
    wait_timeout: float,
    download: Path | None,
    base_url: str | None,
    state: Path | None,
    sandbox: bool,
    read_rpm: float | None,
    no_progress: bool,
    as_json: bool,
    verbose: int,
) -> None:
    """Refresh every unfinished video of a run and rewrite its output sheet.

    OUTPUT_OR_STATE is the run's output sheet, its state file, or the Google Sheet's URL
    (written back in place)."""
    setup_logging(verbose)
    with user_errors():
        if sandbox and base_url:
            fail("--sandbox runs against a local emulator; drop --base-url or --sandbox")
        spec = status_spec(
            sheet_source(target),
            wait=wait,
            wait_timeout=wait_timeout,
            base_url=base_url,
            state=state,
            sandbox=sandbox,
            read_rpm=read_rpm,
            download=download,
        )
        with progress_display(not no_progress, as_json, note) as on_progress:
            outcome = run_job(spec, on_progress=on_progress)
        report(outcome, as_json, sandbox=spec.sandbox, dry_run=False)
