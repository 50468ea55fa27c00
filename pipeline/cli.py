"""The command line: parses flags, calls the library, maps its errors to exit codes.

With ``cli_common`` (errors, notes, shared options), ``cli_summary`` (a run's last lines)
and ``cli_emulator``, the only place that knows about terminals and exit codes. Here: the
group, the run's cost question, and the commands. Exit codes (a contract):
0 every row fine; 1 some rows failed (output written); 2 usage, config or input error
(nothing submitted); 3 the API refused the run, or the journal or output could not be
written, and it stopped; 4 another run holds the lock;
130 interrupted (nothing lost: the next run picks up where this one stopped).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import click
from rich.console import Console

from pipeline import __version__
from pipeline.catalogue import CatalogueError, Kind, fetch_catalogue, table
from pipeline.cli_common import (
    EXIT_API_REFUSED,
    EXIT_OK,
    EXIT_ROWS_FAILED,
    Commands,
    RpmType,
    config_option,
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
from pipeline.cli_emulator import emulator
from pipeline.cli_summary import list_row_errors, report
from pipeline.cli_summary import print_summary as _print_summary  # noqa: F401  (re-exported)
from pipeline.config import config_warnings, load_config
from pipeline.cost import Forecast, describe
from pipeline.job import JobSpec, preflight_report, prepare, run_job, status_spec
from pipeline.progress import progress_display
from pipeline.runner import RunOptions
from pipeline.sheets import read_sheet
from pipeline.validation import format_row_errors, validate_rows, write_payloads
from pipeline.wording import plural

# On a terminal, a run estimated above this many credits (about six minutes of video) asks
# before sending.
CONFIRM_ABOVE_CREDITS = 1000.0


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="argil-batch")
def main() -> None:
    """Turn spreadsheet rows into Argil avatar videos: exactly one video per row, at the
    API's full allowed rate, with the sheet handed back with a video id on every row."""


main.add_command(emulator)


# --- run ----------------------------------------------------------------------------------


@main.command()
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
@click.option("--render", is_flag=True, help="Start generation of each video once created.")
@click.option("--callback-url", help="HTTPS URL the API calls when a render finishes.")
@click.option("--wait", is_flag=True, help="Wait for rendering videos to finish.")
@wait_timeout_option
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
    sheet: Path,
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
    render: bool,
    callback_url: str | None,
    wait: bool,
    wait_timeout: float,
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
    """Make one video per row of SHEET, as CONFIG says; write the sheet back with ids."""
    setup_logging(verbose)
    if sandbox and dry_run:
        fail("--sandbox and --dry-run go separately: pick one")
    if sandbox and base_url:
        fail("--sandbox runs against a local emulator; drop --base-url or --sandbox")
    if callback_url and not callback_url.lower().startswith("https://"):
        fail(f"--callback-url must be an https:// URL, got {callback_url!r}")
    if callback_url and not render:
        fail("--callback-url goes with --render")
    spec = JobSpec(
        sheet=sheet,
        config=config,
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
        max_credits=max_credits,
        options=RunOptions(
            render=render or wait,
            wait=wait,
            retry_failed=retry_failed,
            resend_changed=resend_changed,
            new_batch=new_batch,
            dry_run=dry_run,
            callback_url=callback_url,
            wait_timeout=wait_timeout,
            preflight=not no_preflight,
        ),
    )
    with user_errors():
        prepared = prepare(spec)
        for line in config_warnings(prepared.config):
            note(f"Warning: {line}")
        for line in prepared.sheet.notes:
            note(f"Note: {line}")
        list_row_errors(prepared.report.plans)
        if not prepared.report.plans:
            note(f"{shown(sheet)} has no rows: nothing to do")
        with progress_display(not no_progress, as_json, note) as on_progress:
            outcome = run_job(
                spec,
                prepared=prepared,
                on_progress=on_progress,
                # The sandbox costs nothing: its estimate is shown, never asked about.
                before_send=_cost_shown(ask=not (yes or dry_run or sandbox)),
            )
        # Inside: a Ctrl-C while the summary prints still ends as an interrupt, not a traceback.
        report(outcome, as_json, sandbox=sandbox, dry_run=dry_run)


def _interactive() -> bool:
    """Someone at a terminal can answer a question (replaced in tests)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def _cost_shown(*, ask: bool) -> Callable[[Forecast], bool]:
    """The estimate line before anything is sent; on a terminal, a costly run asks first.
    Off a terminal (cron, CI) nothing ever waits for an answer."""

    def before_send(forecast: Forecast) -> bool:
        if not forecast.estimate.videos:
            return True
        note(describe(forecast))
        if ask and forecast.estimate.credits > CONFIRM_ABOVE_CREDITS and _interactive():
            try:
                return click.confirm("Send it?", default=False, err=True)
            except click.Abort:  # end of input or Ctrl-C: the question's line is ended
                note("")
                return False
        return True

    return before_send


# --- status -------------------------------------------------------------------------------


@main.command()
@click.argument("target", metavar="OUTPUT_OR_STATE", type=click.Path(path_type=Path))
@click.option("--wait", is_flag=True, help="Keep polling until every video is finished.")
@wait_timeout_option
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
    target: Path,
    wait: bool,
    wait_timeout: float,
    base_url: str | None,
    state: Path | None,
    sandbox: bool,
    read_rpm: float | None,
    no_progress: bool,
    as_json: bool,
    verbose: int,
) -> None:
    """Refresh every unfinished video of a run and rewrite its output sheet."""
    setup_logging(verbose)
    with user_errors():
        if sandbox and base_url:
            fail("--sandbox runs against a local emulator; drop --base-url or --sandbox")
        spec = status_spec(
            target,
            wait=wait,
            wait_timeout=wait_timeout,
            base_url=base_url,
            state=state,
            sandbox=sandbox,
            read_rpm=read_rpm,
        )
        with progress_display(not no_progress, as_json, note) as on_progress:
            outcome = run_job(spec, on_progress=on_progress)
        report(outcome, as_json, sandbox=spec.sandbox, dry_run=False)


# --- validate -----------------------------------------------------------------------------


@main.command()
@sheet_argument
@config_option
@sheet_name_option
@encoding_option
@click.option(
    "--payloads",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write one JSON line per valid row: {row, key, body}.",
)
@click.option(
    "--preflight",
    is_flag=True,
    help="Also check avatars, voices, gestures and styles against the API ($ARGIL_API_KEY).",
)
@click.option("--sandbox", is_flag=True, help="Run the pre-flight against a local emulator.")
@click.option("--base-url", help="API base URL for --preflight (default: $ARGIL_BASE_URL).")
def validate(
    sheet: Path,
    config: Path,
    sheet_name: str | None,
    encoding: str | None,
    payloads: Path | None,
    preflight: bool,
    sandbox: bool,
    base_url: str | None,
) -> None:
    """Check every row of SHEET against CONFIG and the API's rules; send nothing."""
    if sandbox and base_url:
        fail("--sandbox runs against a local emulator; drop --base-url or --sandbox")
    with user_errors():
        cfg = load_config(config)
        data = read_sheet(
            sheet,
            sheet=sheet_name or cfg.input.sheet,
            encoding=encoding,
            header_row=cfg.input.header_row,
        )
        report = validate_rows(data, cfg)
        for line in config_warnings(cfg):
            note(f"Warning: {line}")
        if preflight or sandbox:
            report = preflight_report(report, cfg, sandbox=sandbox, base_url=base_url)
        for line in data.notes:
            note(f"Note: {line}")
        for plan in report.plans:
            for line in format_row_errors(plan):
                click.echo(line)
        if payloads is not None:
            try:
                written = write_payloads(report, payloads)
            except OSError as exc:
                fail(f"cannot write {payloads}: {exc.strerror or exc}")
            note(f"Wrote {plural(written, 'payload')} to {shown(payloads)}")
    minutes = report.est_seconds / 60
    click.echo(
        f"{plural(len(report.plans), 'row')}: {report.valid} valid, {report.invalid} invalid, "
        f"{report.skipped} skipped; {plural(report.moments, 'moment')}, "
        f"{plural(report.chars, 'character')}; "
        f"estimate: about {minutes:.1f} min of video, about {report.est_credits:,.0f} credits"
    )
    sys.exit(EXIT_ROWS_FAILED if report.invalid else EXIT_OK)


# --- avatars, voices, styles ---------------------------------------------------------------


def _catalogue_command(kind: Kind, summary: str) -> None:
    @main.command(name=kind, help=summary)
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON array, for scripts.")
    @click.option(
        "--search", metavar="TEXT", help="Only entries with every word of TEXT in them, any case."
    )
    @click.option("--base-url", help="API base URL (default: $ARGIL_BASE_URL or the Argil API).")
    @click.option("--sandbox", is_flag=True, help="Ask the local emulator: no key, no network.")
    def command(as_json: bool, search: str | None, base_url: str | None, sandbox: bool) -> None:
        if sandbox and base_url:
            fail("--sandbox asks a local emulator; drop --base-url or --sandbox")
        with user_errors():
            try:
                entries = fetch_catalogue(kind, base_url=base_url, sandbox=sandbox, search=search)
            except CatalogueError as exc:
                fail(str(exc), EXIT_API_REFUSED)
        if as_json:
            click.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        elif entries:
            Console().print(table(kind, entries))
        else:
            note(f"no {kind} match {search!r}" if search else f"the API lists no {kind}")


_catalogue_command("avatars", "List the avatars and their gestures (ids for avatar_id, slugs).")
_catalogue_command("voices", "List the voices (ids for voice_id).")
_catalogue_command("styles", "List the subtitle styles (ids for subtitles.style_id).")


# --- init ---------------------------------------------------------------------------------


@main.command()
@sheet_argument
@sheet_name_option
@encoding_option
def init(sheet: Path, sheet_name: str | None, encoding: str | None) -> None:
    """Print a starter config for SHEET, guessed from its columns and their values."""
    from pipeline.starter import starter_for

    with user_errors():
        text, notes = starter_for(sheet, sheet=sheet_name, encoding=encoding)
    for line in notes:
        note(f"Note: {line}")
    click.echo(text, nl=False)
