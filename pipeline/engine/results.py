"""What a run answers: each row's ``argil_*`` columns (:class:`RowResult`), the words its
``argil_status`` holds when it is not an API video status, the one mapping from a journal
record to a row's status, and the run's counts (:class:`RunSummary`), from which the exit code
comes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline import journal as j
from pipeline.argil.models import FAILED_STATUSES
from pipeline.errors import EXIT_OK, EXIT_ROWS_FAILED, EXIT_STOPPED
from pipeline.mapping import RowPlan
from pipeline.sheets import OUTPUT_COLUMNS

INVALID = "INVALID"
SKIPPED = "SKIPPED"
FAILED = "FAILED"
CHANGED = "CHANGED"
PENDING = "PENDING"
IN_DOUBT = "IN_DOUBT"
NOT_RUN = "NOT_RUN"
WOULD_SEND = "WOULD_SEND"
# A row refused by the API and a video that ended FAILED share the word: count it once.
FAILED_OUTCOMES = frozenset({FAILED, *FAILED_STATUSES})
# The payload hash kept for a video adopted from the API whose row has changed since.
CHANGED_ON_API = "changed-on-the-api"

MAX_ERROR_CHARS = 500
# How argil_error starts when argil_credits holds the local estimate, the API's price being
# unreadable: what the review page marks as not exact.
LOCAL_PRICE_NOTE = "argil_credits is a local estimate"


@dataclass
class RowResult:
    """One row of the output's ``argil_*`` columns."""

    key: str = ""
    video_id: str = ""
    status: str = ""
    error: str = ""
    moments: int | None = None
    preview_url: str = ""
    video_url: str = ""
    updated_at: str = ""
    duration: float | None = None  # seconds, once the API knows it
    # The price of rendering the video: the API's exact estimate, or (``credits_exact``
    # False) the local one when the API's could not be read.
    credits: float | None = None
    credits_exact: bool = False
    file: str = ""  # the MP4 downloaded (--download)

    def columns(self) -> dict[str, str]:
        values = (
            self.key,
            self.video_id,
            self.status,
            one_line(self.error),
            "" if self.moments is None else str(self.moments),
            self.preview_url,
            self.video_url,
            self.updated_at,
            "" if self.duration is None else f"{self.duration:g}",
            "" if self.credits is None else f"{self.credits:g}",
            self.file,
        )
        return dict(zip(OUTPUT_COLUMNS, values, strict=True))


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """API error text goes into a spreadsheet cell: one line, bounded."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def status_of(record: j.Record) -> str:
    """The ``argil_status`` of a row as its journal record knows it: the video's last status,
    else the word for the record's state. The output sheet, the dry run and ``status`` all say
    it through this one function (a row left in flight is IN_DOUBT everywhere)."""
    if record.status:
        return record.status
    if record.state == j.FAILED:
        return FAILED
    if record.state == j.IN_FLIGHT:
        return IN_DOUBT
    if record.state == j.PENDING:
        return PENDING
    return ""


def result_from_record(plan: RowPlan, record: j.Record | None) -> RowResult:
    """A row's result as the journal knows it."""
    result = RowResult(key=plan.key, moments=plan.moments if plan.body else None)
    if record is not None:
        result.video_id = record.video_id or ""
        result.status = status_of(record)
        result.error = record.last_error or ""
        result.preview_url = record.preview_url or ""
        result.video_url = record.video_url or ""
        result.updated_at = record.updated_at
        result.duration = record.duration
        result.credits, result.credits_exact = record.credits, record.credits_exact
        result.file = record.file or ""
        if record.moments is not None and plan.body is None:
            result.moments = record.moments
    return result


@dataclass
class RunSummary:
    rows: int = 0
    invalid: int = 0
    skipped: int = 0
    created: int = 0
    adopted: int = 0
    already: int = 0
    changed: int = 0
    failed: int = 0
    pending: int = 0
    in_doubt: int = 0
    rendering: int = 0
    done: int = 0
    would_send: int = 0
    renders: int = 0
    requests: int = 0
    rate_limited: int = 0
    # Videos of this batch on the API that no row of the sheet claims (rows since removed).
    not_in_sheet: int = 0
    # Videos beyond the first that carried one row's key (two runs made the same rows at
    # once), and how many of those drafts were deleted.
    duplicates: int = 0
    deleted: int = 0
    found_rpm: float | None = None  # with --rpm auto: the limit found
    # With --rpm auto and no limit met (no 429, none announced): found_rpm is only the rate
    # that went through, a floor of the limit.
    found_rpm_is_floor: bool = False
    elapsed: float = 0.0
    stopped: str | None = None
    # --wait ended at --wait-timeout with videos still rendering.
    wait_timed_out: bool = False
    # The drafts (IDLE videos) and the exact price of rendering them all (GET .../estimate),
    # how many of those prices are local estimates instead, the balance they would leave.
    drafts: int = 0
    draft_credits: float = 0.0
    local_prices: int = 0
    balance_after: float | None = None
    # The exact prices of the renders this run started.
    render_credits: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return EXIT_STOPPED
        # CHANGED rows are reported, not failed: a nightly export whose titles change every day
        # must not fail every night.
        problems = self.invalid + self.failed + self.pending + self.in_doubt
        return EXIT_ROWS_FAILED if problems else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items()}
        data["exit_code"] = self.exit_code
        return data
