"""The command line: parses flags, calls the library, maps its errors to exit codes.

This is the only module that knows about terminals and exit codes. Exit codes (a contract):
0 every row fine; 1 some rows failed (output written); 2 usage, config or input error
(nothing submitted); 3 the API refused the run, or the journal or output could not be
written, and it stopped; 4 another run holds the lock;
130 interrupted (nothing lost: the next run picks up where this one stopped).
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NoReturn

import click
from rich.console import Console

from pipeline import __version__
from pipeline.catalogue import CatalogueError, Kind, fetch_catalogue, table
from pipeline.config import ConfigError, config_warnings, load_config
from pipeline.cost import Forecast, describe
from pipeline.job import (
    ApiRefusedError,
    JobError,
    JobOutcome,
    JobSpec,
    preflight_report,
    prepare,
    run_job,
    status_spec,
)
from pipeline.journal import JournalError, JournalWriteError, LockedError
from pipeline.mapping import RowPlan
from pipeline.progress import progress_display
from pipeline.runner import RunOptions, RunSummary
from pipeline.sheets import SheetError, read_sheet
from pipeline.validation import format_row_errors, validate_rows, write_payloads
from pipeline.wording import plural

EXIT_OK, EXIT_ROWS_FAILED, EXIT_USAGE, EXIT_API_REFUSED, EXIT_LOCKED = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
# On a terminal, a run estimated above this many credits (about six minutes of video) asks
# before sending.
CONFIRM_ABOVE_CREDITS = 1000.0


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def note(message: str) -> None:
    click.echo(message, err=True)


def shown(path: Path) -> str:
    """A path as every command prints it: relative to the current folder when inside it,
    else absolute (``status`` knows the run's files by their absolute paths, ``run`` by what
    was typed: the same file must read the same in both)."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved)


@contextmanager
def user_errors() -> Iterator[None]:
    """Library exceptions become one line ``Error: ...`` and their exit code."""
    try:
        yield
    except LockedError as exc:
        fail(str(exc), EXIT_LOCKED)
    except (JournalWriteError, ApiRefusedError) as exc:
        fail(str(exc), EXIT_API_REFUSED)
    except (JobError, ConfigError, SheetError, JournalError) as exc:
        fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        fail("interrupted; run again to pick up where this run stopped", EXIT_INTERRUPTED)


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs request lines at INFO; ours say the same with fewer words.
    for noisy in ("httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="argil-batch")
def main() -> None:
    """Turn spreadsheet rows into Argil avatar videos: exactly one video per row, at the
    API's full allowed rate, with the sheet handed back with a video id on every row."""


# Paths are checked by the library, which says what to do in one line; click's own checks
# would print a usage block instead.
sheet_argument = click.argument("sheet", type=click.Path(path_type=Path))
config_option = click.option(
    "-c",
    "--config",
    "config",
    required=True,
    type=click.Path(path_type=Path),
    help="YAML column config: how a row becomes a video.",
)
sheet_name_option = click.option("--sheet", "sheet_name", help="XLSX/ODS sheet (default: first).")
wait_timeout_option = click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0),
    default=3600.0,
    show_default=True,
    help="Seconds --wait waits at most.",
)
no_progress_option = click.option(
    "--no-progress", is_flag=True, help="No progress bar or progress lines."
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the summary as one JSON object."
)
verbose_option = click.option("-v", "--verbose", count=True, help="More log lines (-vv for debug).")


class RpmType(click.ParamType):
    """A number of requests a minute (at least 0.1), or ``auto``."""

    name = "N|auto"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | str:
        if isinstance(value, float):
            return value
        if str(value).strip().lower() == "auto":
            return "auto"
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor auto", param, ctx)
        if not (number >= 0.1 and math.isfinite(number)):
            self.fail(f"{value!r} must be at least 0.1 (or auto)", param, ctx)
        return number


read_rpm_option = click.option(
    "--read-rpm",
    type=click.FloatRange(min=0.1),
    help="Reads (status, listings) per minute allowed, apart from --rpm [config: 600].",
)
encoding_option = click.option(
    "--encoding", help="CSV text encoding (default: UTF-8, else cp1252 with a note)."
)


# --- run ----------------------------------------------------------------------------------


@main.command()
@sheet_argument
@config_option
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Output sheet (.csv or .xlsx); default: beside the input, NAME.argil.EXT.",
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
@no_progress_option
@json_option
@verbose_option
def run(
    sheet: Path,
    config: Path,
    output: Path | None,
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
    no_progress: bool,
    as_json: bool,
    verbose: int,
) -> None:
    """Make one video per row of SHEET, as CONFIG says; write the sheet back with ids."""
    _setup_logging(verbose)
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
        _list_row_errors(prepared.report.plans)
        if not prepared.report.plans:
            note(f"{shown(sheet)} has no rows: nothing to do")
        with progress_display(not no_progress, as_json, note) as on_progress:
            outcome = run_job(
                spec,
                prepared=prepared,
                on_progress=on_progress,
                before_send=_cost_shown(ask=not (yes or dry_run)),
            )
        # Inside: a Ctrl-C while the summary prints still ends as an interrupt, not a traceback.
        _report(outcome, as_json, sandbox=sandbox, dry_run=dry_run)


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


MAX_LISTED_ROWS = 20


def _list_row_errors(plans: list[RowPlan]) -> None:
    """The first invalid rows, before the run; all of them are in the output's argil_error
    column (and `validate` lists every one)."""
    _list_lines([format_row_errors(plan) for plan in plans if plan.errors], "invalid rows")


def _list_lines(rows: list[list[str]], what: str) -> None:
    for lines in rows[:MAX_LISTED_ROWS]:
        for line in lines:
            note(line)
    if len(rows) > MAX_LISTED_ROWS:
        more = len(rows) - MAX_LISTED_ROWS
        note(f"... and {more} more {what}: see argil_error in the output, or run validate")


def _report(outcome: JobOutcome, as_json: bool, *, sandbox: bool, dry_run: bool) -> NoReturn:
    summary = outcome.summary
    _list_lines(list(outcome.refused.values()), "rows refused by the pre-flight")
    if dry_run and not as_json:
        for planned in outcome.planned:
            click.echo(planned.line())
    if as_json:
        data = summary.as_dict()
        if dry_run:
            data["planned"] = [planned.as_dict() for planned in outcome.planned]
        data.update(
            output=str(outcome.output) if outcome.output else None,
            output_format=outcome.output_format or None,
            notes=outcome.notes,
            state=str(outcome.state),
            exit_code=outcome.exit_code,
            error=outcome.error,
            sandbox=sandbox,
            dry_run=dry_run,
            estimate=outcome.forecast.as_dict() if outcome.forecast else None,
        )
        click.echo(json.dumps(data, sort_keys=True))
    else:
        _print_summary(summary, dry_run)
        for line in outcome.notes:
            note(f"Note: {line}")
        if outcome.output:
            fmt = f" ({outcome.output_format})" if outcome.output_format else ""
            note(f"Output: {shown(outcome.output)}{fmt}")
        if outcome.error and not outcome.interrupted:
            note(f"Error: {outcome.error}")
        elif summary.stopped and not outcome.interrupted:
            note(f"Stopped: {summary.stopped}. Unsent rows stay pending for the next run.")
        if summary.wait_timed_out and outcome.output and not outcome.interrupted:
            note(
                "Still rendering at --wait-timeout: "
                f"`argil-batch status {shown(outcome.output)} --wait` picks them up later."
            )
        if outcome.interrupted:
            if summary.rendering and outcome.output and not (summary.pending or summary.in_doubt):
                # Nothing left to send: it was the wait for renders that was cut short.
                note(
                    "Interrupted: the renders go on at the API; "
                    f"`argil-batch status {shown(outcome.output)} --wait` follows them."
                )
            else:
                note("Interrupted: unsent rows stay pending; run again to finish.")
    if outcome.error and as_json:
        note(f"Error: {outcome.error}")
    sys.exit(outcome.exit_code)


def _print_summary(s: RunSummary, dry_run: bool) -> None:
    if dry_run:
        note(
            f"Dry run: {plural(s.rows, 'row')}: {s.would_send} would be sent, {s.already} "
            f"already {'has' if s.already == 1 else 'have'} a video, {s.changed} changed, "
            f"{s.failed} failed before, {s.invalid} invalid, "
            f"{s.skipped} skipped. Nothing was sent; planned from the state file alone, "
            "without asking the API (a run first adopts the batch's videos it finds there)."
        )
        return
    parts = [
        f"{s.created} created",
        f"{s.adopted} recovered",
        f"{s.already} already sent",
        f"{s.failed} failed",
        f"{s.invalid} invalid",
        f"{s.skipped} skipped",
    ]
    for count, label in (
        (s.changed, "changed"),
        (s.pending, "pending"),
        (s.in_doubt, "in doubt"),
        (s.renders, "render started" if s.renders == 1 else "renders started"),
        (s.done, "done"),
        (s.rendering, "still rendering"),
        (s.not_in_sheet, "videos of the batch match no row"),
    ):
        if count:
            parts.append(f"{count} {label}")
    rate = f", {s.rate_limited} rate-limited" if s.rate_limited else ""
    requests = plural(s.requests, "request")
    note(f"{plural(s.rows, 'row')}: {', '.join(parts)} ({requests}{rate}, {s.elapsed:.1f} s)")
    if s.found_rpm:
        note(
            f"Rate limit found: about {s.found_rpm:.0f} requests a minute "
            f"(put api.rpm: {math.floor(s.found_rpm)} in the config to start there)"
        )


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
    _setup_logging(verbose)
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
        _report(outcome, as_json, sandbox=spec.sandbox, dry_run=False)


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
        data = read_sheet(sheet, sheet=sheet_name or cfg.input.sheet, encoding=encoding)
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
        f"estimate: about {minutes:.1f} min of video, about {report.est_credits:.0f} credits"
    )
    sys.exit(EXIT_ROWS_FAILED if report.invalid else EXIT_OK)


# --- emulator -----------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address only.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option("--api-key", help="Accept only this key (default: any non-empty key).")
@click.option("--rpm", type=click.FloatRange(min=0.1), help="Rate limit (writes, with --read-rpm).")
@click.option("--read-rpm", type=click.FloatRange(min=0.1), help="Count GETs apart, at this limit.")
@click.option(
    "--rate-window",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Window of --rpm, in seconds.",
)
@click.option(
    "--rate-window-kind",
    type=click.Choice(["sliding", "fixed"]),
    default="sliding",
    show_default=True,
    help="Any rolling window, or counts reset at each window of clock time.",
)
@click.option(
    "--ratelimit-headers",
    is_flag=True,
    help="Announce the limit: RateLimit-Policy/RateLimit and X-RateLimit-*.",
)
@click.option(
    "--retry-after",
    type=click.Choice(["seconds", "date", "ms", "none"]),
    default="seconds",
    show_default=True,
    help="How a 429 says when to come back.",
)
@click.option(
    "--latency-in-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Latency before a request is counted (on the way in).",
)
@click.option("--latency-in-jitter-ms", type=click.FloatRange(min=0), default=0.0)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Latency after a request is counted (the answer's way out).",
)
@click.option("--latency-jitter-ms", type=click.FloatRange(min=0), default=0.0)
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, help="5xx before create.")
@click.option("--drop-rate", type=click.FloatRange(0, 1), default=0.0, help="Create, then hang up.")
@click.option(
    "--odd-rate", type=click.FloatRange(0, 1), default=0.0, help="Create, answer a non-Video."
)
@click.option(
    "--stale-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Create, answer with the previous create's video.",
)
@click.option("--render-seconds", type=click.FloatRange(min=0), default=3.0, show_default=True)
@click.option("--render-fail-rate", type=click.FloatRange(0, 1), default=0.0)
@click.option("--credits", type=click.IntRange(min=0), help="Creates allowed before 402.")
@click.option("--state-file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--seed", type=int)
def emulator(
    host: str,
    port: int,
    api_key: str | None,
    rpm: float | None,
    read_rpm: float | None,
    rate_window: float,
    rate_window_kind: str,
    ratelimit_headers: bool,
    retry_after: str,
    latency_in_ms: float,
    latency_in_jitter_ms: float,
    latency_ms: float,
    latency_jitter_ms: float,
    fail_rate: float,
    drop_rate: float,
    odd_rate: float,
    stale_rate: float,
    render_seconds: float,
    render_fail_rate: float,
    credits: int | None,
    state_file: Path | None,
    seed: int | None,
) -> None:
    """Serve a local Argil-compatible API (for trying things out and for tests)."""
    from pipeline.argil.emulator import EmulatorError, EmulatorSettings, serve

    settings = EmulatorSettings(
        api_key=api_key,
        rpm=rpm,
        read_rpm=read_rpm,
        rate_window=rate_window,
        rate_window_kind=rate_window_kind,
        ratelimit_headers=ratelimit_headers,
        retry_after=retry_after,
        latency_in_ms=latency_in_ms,
        latency_in_jitter_ms=latency_in_jitter_ms,
        latency_ms=latency_ms,
        latency_jitter_ms=latency_jitter_ms,
        fail_rate=fail_rate,
        drop_rate=drop_rate,
        odd_rate=odd_rate,
        stale_rate=stale_rate,
        render_seconds=render_seconds,
        render_fail_rate=render_fail_rate,
        credits=credits,
        state_file=state_file,
        seed=seed,
    )

    def listening(url: str) -> None:
        note(f"Argil emulator on {url} (Ctrl-C to stop)")
        note(f"  use it with: ARGIL_API_KEY=any argil-batch run ... --base-url {url}")

    try:
        serve(settings, host=host, port=port, on_listening=listening)
    except KeyboardInterrupt:
        note("Emulator stopped.")
    except EmulatorError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}); try another --port")


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
