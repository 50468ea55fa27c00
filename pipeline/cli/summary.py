"""What a run or a status prints at its end: the rows the pre-flight refused, a dry run's
plan, the summary (or one JSON object), the notes and the output's place; then its exit."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import NoReturn

import click

from pipeline.cli.common import note, shown
from pipeline.engine import JobOutcome, RunSummary
from pipeline.mapping import RowPlan
from pipeline.validation import format_row_errors
from pipeline.wording import plural

MAX_LISTED_ROWS = 20


def list_row_errors(plans: list[RowPlan]) -> None:
    """The first invalid rows, before the run; all of them are in the output's argil_error
    column (and `validate` lists every one)."""
    # A row whose only problems are the config's (said once, on the first row) prints
    # nothing of its own, and must not use up the rows the listing shows.
    lines = [format_row_errors(plan) for plan in plans if plan.errors]
    list_lines([row for row in lines if row], "invalid rows")


def list_lines(rows: list[list[str]], what: str) -> None:
    for lines in rows[:MAX_LISTED_ROWS]:
        for line in lines:
            note(line)
    if len(rows) > MAX_LISTED_ROWS:
        more = len(rows) - MAX_LISTED_ROWS
        note(f"... and {more} more {what}: see argil_error in the output, or run validate")


def report(outcome: JobOutcome, as_json: bool, *, sandbox: bool, dry_run: bool) -> NoReturn:
    summary = outcome.summary
    list_lines(list(outcome.refused.values()), "rows refused by the pre-flight")
    if dry_run and not as_json:
        for planned in outcome.planned:
            click.echo(planned.line())
    if as_json:
        data = summary.as_dict()
        if dry_run:
            data["planned"] = [planned.as_dict() for planned in outcome.planned]
        data.update(
            # Both absolute: a script reading the line needs no idea of the working folder.
            output=_absolute(outcome.output),
            review=_absolute(outcome.review),
            output_format=outcome.output_format or None,
            notes=outcome.notes,
            state=str(outcome.state.absolute()),
            exit_code=outcome.exit_code,
            error=outcome.error,
            sandbox=sandbox,
            dry_run=dry_run,
            estimate=outcome.forecast.as_dict() if outcome.forecast else None,
        )
        click.echo(json.dumps(data, sort_keys=True))
    else:
        print_summary(summary, dry_run)
        for line in outcome.notes:
            note(f"Note: {line}")
        if outcome.review is not None:
            note(f"Review page: {shown(outcome.review)}")
        # Last: a script may read the output's path from the final line, as before.
        if outcome.output:
            fmt = f" ({outcome.output_format})" if outcome.output_format else ""
            note(f"Output: {shown(outcome.output)}{fmt}")
        if outcome.error and not outcome.interrupted:
            note(f"Error: {outcome.error}")
        elif summary.stopped and not outcome.interrupted:
            note(
                f"Error: the run stopped: {summary.stopped}. "
                "Unsent rows stay pending for the next run."
            )
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


def _absolute(output: Path | str | None) -> str | None:
    if output is None or isinstance(output, str):
        return output  # a Google Sheet's URL
    return str(output.absolute())


def print_summary(s: RunSummary, dry_run: bool) -> None:
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
        f"{s.adopted} adopted",
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
        (s.duplicates, "second videos of a row found"),
        (s.deleted, "second drafts deleted"),
    ):
        if count:
            parts.append(f"{count} {label}")
    rate = f", {s.rate_limited} rate-limited" if s.rate_limited else ""
    requests = plural(s.requests, "request")
    note(f"{plural(s.rows, 'row')}: {', '.join(parts)} ({requests}{rate}, {s.elapsed:.1f} s)")
    if s.drafts and s.draft_credits:
        exact = (
            "the API's exact estimate"
            if not s.local_prices
            else f"{s.local_prices} of them a local estimate: the API's could not be read"
        )
        after = "" if s.balance_after is None else f"; the balance after: {s.balance_after:,.2f}"
        note(
            f"Drafts: {s.drafts}, {s.draft_credits:,.2f} credits to render them all ({exact})"
            f"{after}"
        )
    if s.render_credits:
        note(f"Renders started: {s.render_credits:,.2f} credits, at the API's exact prices")
    if s.found_rpm and s.found_rpm_is_floor:
        # Nothing said no: advising api.rpm here would set a limit the API never showed.
        note(
            f"No rate limit met: requests went through at up to about {s.found_rpm:.0f} a "
            "minute without a 429 (--rpm auto keeps searching on the next run)"
        )
    elif s.found_rpm:
        note(
            f"Rate limit found: about {s.found_rpm:.0f} requests a minute "
            f"(put api.rpm: {math.floor(s.found_rpm)} in the config to start there)"
        )
