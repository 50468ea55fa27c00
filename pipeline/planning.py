"""A run planned from the journal alone: which rows to send (new, pending, retried, resent),
which to look up first (left in flight), which to render, and every other row's result as
the journal knows it. A dry run stops here; a run then reconciles with the API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline import journal as j
from pipeline import mapping
from pipeline.argil.models import VideoStatus
from pipeline.changes import changed_fields, describe
from pipeline.mapping import RowPlan
from pipeline.outcomes import CHANGED, FAILED, IN_DOUBT, INVALID, PENDING, SKIPPED, WOULD_SEND
from pipeline.run_types import RowResult

if TYPE_CHECKING:
    from pipeline.runner import Runner


Work = list[tuple[RowPlan, int]]  # rows, each with the generation of its key


def plan_rows(runner: Runner) -> tuple[Work, Work, list[RowPlan]]:
    """(rows to send, rows left in flight to look up first, rows whose video to render),
    and every row's result in ``runner.results``."""
    to_send: Work = []
    to_resolve: Work = []
    to_render: list[RowPlan] = []
    for plan in runner.plans:
        record = runner.records.get(plan.key)
        result = result_from_record(plan, record)
        runner.results[plan.row] = result
        if plan.status == mapping.INVALID:
            result.status = INVALID
            result.error = "; ".join(str(e) for e in plan.errors)
            continue
        if plan.status == mapping.SKIPPED:
            result.status = SKIPPED
            result.error = plan.reason
            continue
        if record is None or record.state == j.PENDING:
            to_send.append((plan, record.generation if record else 0))
            runner._fresh.add(plan.key)
        elif record.state == j.IN_FLIGHT:
            to_resolve.append((plan, record.generation))
        elif record.state in j.HAS_VIDEO:
            if record.payload_hash == plan.payload_hash:
                runner.summary.already += 1
                idle = record.status in (None, VideoStatus.IDLE)
                if runner.options.render and idle and not record.render_requested:
                    to_render.append(plan)
            elif runner.options.resend_changed:
                to_send.append((plan, record.generation + 1))
            else:
                result.status = CHANGED
                assert plan.body is not None
                fields = describe(changed_fields(record.field_digests, plan.body))
                what = f" ({fields})" if fields else ""
                result.error = (
                    f"the row changed since its video was made{what}; the video was left "
                    "alone (run with --resend-changed to make a new one)"
                )
        elif record.state == j.FAILED:
            changed = record.payload_hash != plan.payload_hash
            if runner.options.retry_failed or (changed and record.video_id is None):
                # A row the API refused and the user has since edited is a new request.
                gen = record.generation + (1 if record.video_id else 0)
                to_send.append((plan, gen))
            else:
                result.status = FAILED
        if runner.options.dry_run and result.status in ("", PENDING):
            result.status = WOULD_SEND
    if runner.options.dry_run:
        runner.summary.would_send = len(to_send) + len(to_resolve)
    if runner.options.refresh_only:
        for plan, _ in to_send:
            runner.results[plan.row].status = PENDING
            runner.results[plan.row].error = "not sent yet: the next argil-batch run sends it"
    return to_send, to_resolve, to_render


def result_from_record(plan: RowPlan, record: j.Record | None) -> RowResult:
    result = RowResult(key=plan.key, moments=plan.moments if plan.body else None)
    if record is not None:
        result.video_id = record.video_id or ""
        result.status = record.status or _record_status(record)
        result.error = record.last_error or ""
        result.preview_url = record.preview_url or ""
        result.video_url = record.video_url or ""
        result.updated_at = record.updated_at
        result.duration = record.duration
        if record.moments is not None and plan.body is None:
            result.moments = record.moments
    return result


def _record_status(record: j.Record) -> str:
    if record.state == j.FAILED:
        return FAILED
    if record.state == j.IN_FLIGHT:
        return IN_DOUBT
    if record.state == j.PENDING:
        return PENDING
    return ""
