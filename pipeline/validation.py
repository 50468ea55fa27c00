"""Validating a whole sheet against a config: a plan per row, a summary, a payloads file.

Everything here happens before any request: it is what ``argil-batch validate`` shows and what
a run starts from. Rows that share a key are a problem only the whole sheet reveals: the later
one is invalid, since one key means one video. So is how many rows a template that passed a
limit of the sandbox affects: each of them is invalid, and the listing says it once, for the
config, with the rows it affects.

Exceptions: :func:`validate_rows` lets :class:`~pipeline.config.ConfigError` through (the
config names columns the sheet lacks); :func:`write_payloads` lets :class:`OSError` through.
Nothing else is raised: a row's problems are in its plan.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.batch import batch_tag
from pipeline.config import Config
from pipeline.cost import estimate_body
from pipeline.gsheets.ref import GoogleSheetRef
from pipeline.mapping import INVALID, SKIPPED, VALID, FieldError, Mapper, RowPlan
from pipeline.sheets import Sheet


@dataclass
class ValidationReport:
    """Per-row plans (in sheet order) and totals over the valid rows."""

    plans: list[RowPlan]
    valid: int
    invalid: int
    skipped: int
    moments: int
    chars: int
    est_seconds: float  # an estimate, see pipeline.cost
    est_credits: float  # an estimate, see pipeline.cost
    batch_tag: str = ""  # extras.argilBatch of every video of this batch


def validate_rows(
    sheet: Sheet, config: Config, google: GoogleSheetRef | None = None
) -> ValidationReport:
    """Map every row of ``sheet``; ConfigError if the config does not fit the sheet.
    ``google``: the Google Sheet's tab the sheet was read from (its gid known)."""
    tag = batch_tag(
        namespace=config.input.namespace,
        batch=config.input.batch,
        sheet_name=sheet.sheet_name,
        config_path=config.source,
        key_columns=list(config.input.key or []),
        google=None if google is None else (google.spreadsheet_id, google.gid or 0),
    )
    mapper = Mapper(config, sheet.headers, batch_tag=tag)
    map_row = mapper.map_row
    plans = [map_row(row) for row in sheet.rows]
    _mark_cell_errors(plans, sheet, mapper)
    _mark_duplicates(plans, config)
    _sum_up_config_problems(plans)
    return report_of(plans, tag)


def with_refusals(
    report: ValidationReport, refused: Mapping[int, list[FieldError]]
) -> ValidationReport:
    """The report once the API's catalogue refused some rows (``validate --preflight``)."""
    for plan in report.plans:
        errors = refused.get(plan.row)
        if errors:
            plan.status, plan.body, plan.payload_hash = INVALID, None, None
            plan.errors = [*plan.errors, *errors]
    return report_of(report.plans, report.batch_tag)


def report_of(plans: list[RowPlan], tag: str) -> ValidationReport:
    """Totals over ``plans``, the rows of the batch tagged ``tag``."""
    valid = invalid = skipped = moments = chars = 0
    seconds = credits = 0.0
    for plan in plans:
        if plan.status == VALID:
            valid += 1
            moments += plan.moments
            chars += plan.chars
            assert plan.body is not None
            estimate = estimate_body(plan.body)
            seconds += estimate.seconds
            credits += estimate.credits
        elif plan.status == SKIPPED:
            skipped += 1
        else:
            invalid += 1
    return ValidationReport(
        plans=plans,
        valid=valid,
        invalid=invalid,
        skipped=skipped,
        moments=moments,
        chars=chars,
        est_seconds=round(seconds, 1),
        est_credits=round(credits, 1),
        batch_tag=tag,
    )


def _mark_duplicates(plans: list[RowPlan], config: Config) -> None:
    first: dict[str, int] = {}
    if config.input.key:
        why = f"(input.key: {', '.join(config.input.key)})"
        template = "same key as row {row} " + why
    else:
        template = (
            "same content as row {row} (without input.key a row is known by its content; "
            "set input.key to tell such rows apart)"
        )
    for plan in plans:
        if plan.status == SKIPPED:
            continue
        earlier = first.get(plan.key)
        if earlier is None:
            first[plan.key] = plan.row
            continue
        plan.status = INVALID
        plan.body = None
        plan.payload_hash = None
        plan.moments = plan.chars = 0
        plan.errors.append(FieldError("", template.format(row=earlier)))


def _mark_cell_errors(plans: list[RowPlan], sheet: Sheet, mapper: Mapper) -> None:
    """A cell the config reads that holds an error (``#N/A`` from a lookup that found
    nothing) makes its row invalid, saying so: read as blank, it would be reported as a blank
    value, or sent as one."""
    for plan in plans:
        errors = [e for e in sheet.cell_errors.get(plan.row, ()) if mapper.reads(e.header)]
        if not errors or plan.status == SKIPPED:
            continue
        plan.status, plan.body, plan.payload_hash = INVALID, None, None
        plan.moments = plan.chars = 0
        plan.errors = [FieldError("", error.message) for error in errors]


def _sum_up_config_problems(plans: list[RowPlan]) -> None:
    """One line for each config problem, on the first row it affects, naming them all."""
    affected: dict[str, list[tuple[int, FieldError]]] = {}
    for plan in plans:
        for error in plan.errors:
            if error.config:
                affected.setdefault(error.config, []).append((plan.row, error))
    for where, hits in affected.items():
        rows = [row for row, _ in hits]
        first = hits[0][1]
        count = f"{len(rows)} row" if len(rows) == 1 else f"{len(rows)} rows"
        first.summary = f"{where}: {first.message} (in {count}: {row_ranges(rows)})"


def row_ranges(rows: list[int], most: int = 10) -> str:
    """``2-4, 7, 9-12``: at most ``most`` runs, then how many more rows."""
    runs: list[list[int]] = []
    for row in rows:
        if runs and row == runs[-1][1] + 1:
            runs[-1][1] = row
        else:
            runs.append([row, row])
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:most])
    rest = sum(b - a + 1 for a, b in runs[most:])
    return f"{shown} and {rest} more" if rest else shown


def write_payloads(report: ValidationReport, path: Path) -> int:
    """Write one ``{"row", "key", "body"}`` JSON line per valid row, atomically; the count."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            for plan in report.plans:
                if plan.status != VALID or plan.body is None:
                    continue
                line = {"row": plan.row, "key": plan.key, "body": plan.body}
                out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
                out.write("\n")
                count += 1
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes it private; a payloads file is an ordinary file
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return count


def format_row_errors(plan: RowPlan) -> list[str]:
    """``["row 5: moments[0].avatarId: is blank", ...]``; empty for valid and skipped rows.

    A problem of the config is said once, on the first row it affects, by the config's line
    (``c.yaml:3: video.name: template error: ... (in 40 rows: 2-41)``); the other rows it
    affects list only their own problems.
    """
    lines = []
    for error in plan.errors:
        if not error.config:
            lines.append(f"row {plan.row}: {error}")
        elif error.summary:
            lines.append(error.summary)
    return lines
