"""What ``run --dry-run`` would do, row by row: what it would send, and why the rest not."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pipeline.engine.results import (
    CHANGED,
    FAILED,
    IN_DOUBT,
    INVALID,
    SKIPPED,
    WOULD_SEND,
    RowResult,
)
from pipeline.mapping import RowPlan


@dataclass(frozen=True)
class PlannedRow:
    row: int
    key: str
    send: bool
    name: str = ""
    moments: int = 0
    reason: str = ""

    def line(self) -> str:
        if self.send:
            what = "moment" if self.moments == 1 else "moments"
            head = f'row {self.row}: would send "{self.name}" ({self.moments} {what})'
            tail = f"; {self.reason}" if self.reason else ""
            return f"{head}, key {self.key}{tail}"
        return f"row {self.row}: not sent: {self.reason}"

    def as_dict(self) -> dict[str, object]:
        return {
            "row": self.row,
            "key": self.key,
            "send": self.send,
            "name": self.name,
            "moments": self.moments,
            "reason": self.reason,
        }


def planned_rows(plans: Iterable[RowPlan], results: Mapping[int, RowResult]) -> list[PlannedRow]:
    rows = []
    for plan in plans:
        result = results[plan.row]
        name = str((plan.body or {}).get("name", ""))
        status = result.status
        if status == WOULD_SEND:
            rows.append(PlannedRow(plan.row, plan.key, True, name, plan.moments))
        elif status == IN_DOUBT:
            reason = "left in flight by an earlier run: looked up first, sent only if absent"
            rows.append(PlannedRow(plan.row, plan.key, True, name, plan.moments, reason))
        else:
            rows.append(PlannedRow(plan.row, plan.key, False, reason=_why_not(result)))
    return rows


def _why_not(result: RowResult) -> str:
    if result.status in (INVALID, SKIPPED, CHANGED):
        return f"{result.status.lower()}: {result.error}"
    if result.status == FAILED:
        return f"refused before ({result.error}); --retry-failed sends it again"
    return f"already has video {result.video_id} ({result.status})"
