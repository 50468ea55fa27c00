"""A run planned from the journal alone, as a pure function: which rows to send (new,
pending, retried, resent), which to look up first (left in flight), which to render, and
every row's result as the journal knows it. A dry run stops here; a run then reconciles with
the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline import journal as j
from pipeline import mapping
from pipeline.argil.models import VideoStatus
from pipeline.engine.changes import changed_fields, describe
from pipeline.engine.results import (
    CHANGED,
    FAILED,
    INVALID,
    SKIPPED,
    RowResult,
    result_from_record,
)
from pipeline.mapping import RowPlan
from pipeline.settings import RunOptions

Work = list[tuple[RowPlan, int]]  # rows, each with the generation of its key


@dataclass
class Plan:
    send: Work = field(default_factory=list)
    # Left in flight by an earlier run: looked up by key first, sent only if absent.
    resolve: Work = field(default_factory=list)
    # Rows whose video exists and is still a draft, to render (--render).
    render: list[RowPlan] = field(default_factory=list)
    results: dict[int, RowResult] = field(default_factory=dict)
    # Rows whose video the journal knows and whose row has not changed.
    already: int = 0
    # Keys never sent before (no record, or pending).
    fresh: set[str] = field(default_factory=set)

    @property
    def outgoing(self) -> list[RowPlan]:
        """The rows this run may create a video for: rows left in flight (their lookup may
        find no video), then the rows to send."""
        return [plan for plan, _ in self.resolve] + [plan for plan, _ in self.send]


def plan_rows(plans: list[RowPlan], records: Mapping[str, j.Record], options: RunOptions) -> Plan:
    """What a run of ``plans`` would do, by the journal's ``records`` alone."""
    planned = Plan()
    for plan in plans:
        record = records.get(plan.key)
        result = planned.results[plan.row] = result_from_record(plan, record)
        if plan.status == mapping.INVALID:
            result.status = INVALID
            result.error = "; ".join(str(e) for e in plan.errors)
            continue
        if plan.status == mapping.SKIPPED:
            result.status = SKIPPED
            result.error = plan.reason
            continue
        if record is None or record.state == j.PENDING:
            planned.send.append((plan, record.generation if record else 0))
            planned.fresh.add(plan.key)
        elif record.state == j.IN_FLIGHT:
            planned.resolve.append((plan, record.generation))
        elif record.state in j.HAS_VIDEO:
            if record.payload_hash == plan.payload_hash:
                planned.already += 1
                idle = record.status in (None, VideoStatus.IDLE)
                if options.render and idle and not record.render_requested:
                    planned.render.append(plan)
            elif options.resend_changed:
                planned.send.append((plan, record.generation + 1))
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
            if options.retry_failed or (changed and record.video_id is None):
                # A row the API refused and the user has since edited is a new request.
                gen = record.generation + (1 if record.video_id else 0)
                planned.send.append((plan, gen))
            else:
                result.status = FAILED
    return planned
