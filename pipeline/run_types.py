"""What a run is asked to do and what it answers: :class:`RunOptions`, each row's
``argil_*`` columns (:class:`RowResult`) and the run's counts (:class:`RunSummary`), from which
the command line derives its exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.sheets import OUTPUT_COLUMNS

MAX_ERROR_CHARS = 500


@dataclass
class RunOptions:
    render: bool = False
    wait: bool = False
    retry_failed: bool = False
    resend_changed: bool = False
    # A batch new to the API may make videos for rows that have some in another batch.
    new_batch: bool = False
    dry_run: bool = False
    # Refresh the statuses of rows that have a video; create nothing (``argil-batch status``).
    refresh_only: bool = False
    preflight: bool = True
    callback_url: str | None = None
    wait_timeout: float = 3600.0
    # Stop sending before the estimated credits of the creates sent would pass this.
    max_credits: float | None = None
    budget_source: str = "--max-credits"  # where the budget was set, as messages name it
    # An in-doubt create may still be landing on the server: give it a moment before the
    # lookup decides that no video exists and the row may be sent again.
    doubt_delay: float = 2.0
    max_sends: int = 5
    poll_initial: float = 2.0
    poll_max: float = 60.0


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
        )
        return dict(zip(OUTPUT_COLUMNS, values, strict=True))


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """API error text goes into a spreadsheet cell: one line, bounded."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


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
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return 3
        # CHANGED rows are reported, not failed: a nightly export whose titles change every day
        # must not fail every night.
        problems = self.invalid + self.failed + self.pending + self.in_doubt
        return 1 if problems else 0

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items()}
        data["exit_code"] = self.exit_code
        return data
