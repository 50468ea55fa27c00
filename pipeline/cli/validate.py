"""``argil-batch validate`` (every row checked, nothing sent) and ``argil-batch init`` (a
starter config guessed from a sheet)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.cli.common import (
    config_option,
    encoding_option,
    fail,
    note,
    sheet_argument,
    sheet_name_option,
    shown,
    user_errors,
)
from pipeline.config import config_warnings, load_config
from pipeline.engine import preflight_report
from pipeline.engine.files import read_input
from pipeline.errors import EXIT_OK, EXIT_ROWS_FAILED
from pipeline.gsheets import sheet_source
from pipeline.validation import format_row_errors, validate_rows, write_payloads
from pipeline.wording import plural


@click.command()
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
    sheet: str,
    config: Path,
    sheet_name: str | None,
    encoding: str | None,
    payloads: Path | None,
    preflight: bool,
    sandbox: bool,
    base_url: str | None,
) -> None:
    """Check every row of SHEET (a file or a Google Sheet's URL) against CONFIG and the
    API's rules; send nothing."""
    with user_errors():
        if sandbox and base_url:
            fail("--sandbox runs against a local emulator; drop --base-url or --sandbox")
        cfg = load_config(config)
        data, google = read_input(
            sheet_source(sheet),
            sheet_name=sheet_name,
            config_sheet=cfg.input.sheet,
            encoding=encoding,
            header_row=cfg.input.header_row,
            sandbox=sandbox,
        )
        report = validate_rows(data, cfg, google)
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


@click.command()
@sheet_argument
@sheet_name_option
@encoding_option
@click.option("--sandbox", is_flag=True, help="A Google Sheet URL opens the sandbox's copy.")
def init(sheet: str, sheet_name: str | None, encoding: str | None, sandbox: bool) -> None:
    """Print a starter config for SHEET (a file or a Google Sheet's URL), guessed from its
    columns and their values."""
    from pipeline.config.starter import starter_config, starter_for

    with user_errors():
        source = sheet_source(sheet)
        if isinstance(source, Path):
            text, notes = starter_for(source, sheet=sheet_name, encoding=encoding)
        else:
            data, _ = read_input(source, sheet_name=sheet_name, config_sheet=None, sandbox=sandbox)
            text = starter_config(data, write_sheet=sheet_name is not None, named=str(sheet))
            notes = data.notes
    for line in notes:
        note(f"Note: {line}")
    click.echo(text, nl=False)
