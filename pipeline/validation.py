"""Validating a whole sheet against a config: a plan per row, a summary, a payloads file.

Everything here happens before any request: it is what ``argil-batch validate`` shows and what
a run starts from. Rows that share a key are a problem only the whole sheet reveals: the later
one is invalid, since one key means one video.

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

from pipeline.config import Config
from pipeline.mapping import INVALID, SKIPPED, VALID, FieldError, Mapper, RowPlan
from pipeline.sheets import Sheet

# --- estimates -------------------------------------------------------------------------
# Rough figures for a summary line, never for billing. Sources: speech runs at about 15
# characters a second (~150 words a minute); docs.argil.ai/resources/api-pricings lists video at
# 160 credits a minute, generated voice at 20 credits a minute, an AI-image B-roll at 10 and a
# stock-video B-roll at 20; the OpenAPI says an AVATAR_ACTION B-roll costs 40 plus animation.
# Not counted: avatar royalties (some stock avatars only), automatic B-rolls (their number is
# the server's choice) and animation seconds.
CHARS_PER_SECOND = 15.0
AUDIO_MOMENT_SECONDS = 20.0  # an audioUrl moment's length is unknown: half the 40 s maximum
VIDEO_CREDITS_PER_MINUTE = 160.0
VOICE_CREDITS_PER_MINUTE = 20.0
BROLL_CREDITS = {
    "GENERATION": 10.0,
    "GOOGLE_IMAGES": 10.0,
    "STOCKS_VIDEO": 20.0,
    "AVATAR_ACTION": 40.0,
    "UPLOAD": 0.0,
}


@dataclass
class ValidationReport:
    """Per-row plans (in sheet order) and totals over the valid rows."""

    plans: list[RowPlan]
    valid: int
    invalid: int
    skipped: int
    moments: int
    chars: int
    est_seconds: float  # an estimate, see the constants above
    est_credits: float  # an estimate, see the constants above


def validate_rows(sheet: Sheet, config: Config) -> ValidationReport:
    """Map every row of ``sheet``; ConfigError if the config does not fit the sheet."""
    mapper = Mapper(config, sheet.headers)
    map_row = mapper.map_row
    plans = [map_row(row) for row in sheet.rows]
    _mark_duplicates(plans, config)
    return report_of(plans)


def with_refusals(
    report: ValidationReport, refused: Mapping[int, list[FieldError]]
) -> ValidationReport:
    """The report once the API's catalogue refused some rows (``validate --preflight``)."""
    for plan in report.plans:
        errors = refused.get(plan.row)
        if errors:
            plan.status, plan.body, plan.payload_hash = INVALID, None, None
            plan.errors = [*plan.errors, *errors]
    return report_of(report.plans)


def report_of(plans: list[RowPlan]) -> ValidationReport:
    """Totals over ``plans``."""
    valid = invalid = skipped = moments = chars = 0
    seconds = credits = 0.0
    for plan in plans:
        if plan.status == VALID:
            valid += 1
            moments += plan.moments
            chars += plan.chars
            plan_seconds, plan_credits = _estimate(plan)
            seconds += plan_seconds
            credits += plan_credits
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


def _estimate(plan: RowPlan) -> tuple[float, float]:
    assert plan.body is not None
    speech = plan.chars / CHARS_PER_SECOND
    audio = 0.0
    brolls = 0.0
    for moment in plan.body["moments"]:
        if "audioUrl" in moment:
            audio += AUDIO_MOMENT_SECONDS
        broll = moment.get("broll")
        if broll is not None:
            brolls += BROLL_CREDITS.get(broll.get("type", ""), 0.0)
    seconds = speech + audio
    credits = (
        seconds / 60 * VIDEO_CREDITS_PER_MINUTE + speech / 60 * VOICE_CREDITS_PER_MINUTE + brolls
    )
    return seconds, credits


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
    """``["row 5: moments[0].avatarId: is blank", ...]``; empty for valid and skipped rows."""
    return [f"row {plan.row}: {error}" for error in plan.errors]
