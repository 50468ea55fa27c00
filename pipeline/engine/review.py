"""The review page written at the end of every run and ``status``: every row, its status,
its exact price, its moments, its preview and video (see :mod:`pipeline.review`)."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from pipeline.argil.models import VideoStatus
from pipeline.engine.files import Prepared
from pipeline.engine.results import LOCAL_PRICE_NOTE, RunSummary
from pipeline.review import ReviewRow, ReviewTotals, review_path, write_review_page

log = logging.getLogger(__name__)

_RENDERED = frozenset(
    {VideoStatus.GENERATING_AUDIO, VideoStatus.GENERATING_VIDEO, VideoStatus.DONE}
)


def page_path(job: Prepared) -> Path:
    """Beside the output (``leads.argil.csv`` -> ``leads.argil.html``); for a Google Sheet,
    beside its state file."""
    if job.output is not None:
        return review_path(job.output)
    return job.state.with_name(job.state.name.split(".")[0] + ".argil.html")


def write_review(
    job: Prepared, summary: RunSummary, columns: Mapping[int, Mapping[str, str]]
) -> Path | None:
    """The page written; None (and a log line) when it could not be: the sheet and the
    journal hold everything it shows."""
    path = page_path(job)
    rows = []
    for plan in job.report.plans:
        got = columns.get(plan.row, {})
        body = plan.body or {}
        moments = tuple(str(m.get("transcript") or "(audio)") for m in body.get("moments") or [])
        credits = got.get("argil_credits", "")
        rows.append(
            ReviewRow(
                number=plan.row,
                name=str(body.get("name") or ""),
                status=got.get("argil_status", "") or plan.status.upper(),
                credits=float(credits) if credits else None,
                credits_exact=not got.get("argil_error", "").startswith(LOCAL_PRICE_NOTE),
                moments=moments,
                preview_url=got.get("argil_preview_url", ""),
                video_url=got.get("argil_video_url", ""),
                file=_relative(got.get("argil_file", ""), path.parent),
                error=got.get("argil_error", "") or "; ".join(str(e) for e in plan.errors),
                approved=plan.approved,
            )
        )
    spent = sum(r.credits or 0.0 for r in rows if r.status in _RENDERED)
    totals = ReviewTotals(
        drafts=summary.drafts,
        approved=sum(1 for r in rows if r.approved),
        rendered=sum(1 for r in rows if r.status in _RENDERED),
        credits_estimated=summary.draft_credits,
        credits_spent=round(spent, 2),
        balance_after=summary.balance_after,
    )
    title = job.google.tab.label if job.google is not None else job.sheet.path.name
    try:
        write_review_page(
            path, title=title, rows=rows, totals=totals, generated_at=dt.datetime.now(dt.UTC)
        )
    except OSError as exc:
        log.warning("the review page %s could not be written: %s", path, exc.strerror or exc)
        return None
    return path


def _relative(file: str, folder: Path) -> str:
    """The page links a file relative to its own folder, so both can move together."""
    if not file:
        return ""
    try:
        return os.path.relpath(file, folder)
    except ValueError:  # another drive, on Windows
        return file
