"""``run --sample N``: a few rows first, chosen to show the batch's range before the whole of
it is paid for: the longest script (the most moments, then the most characters), each avatar
and each voice in use, the widest characters (letters beyond plain ASCII: accents, other
scripts, emoji, the ones a voice or a font may stumble on). The other rows are left for the
next run: not sent, not failed."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline import journal as j
from pipeline.mapping import VALID, RowPlan
from pipeline.wording import plural


def choose_sample(
    plans: list[RowPlan], records: Mapping[str, j.Record], count: int
) -> tuple[list[RowPlan], dict[int, list[str]]]:
    """Up to ``count`` of the valid rows that have no video yet, and why each was chosen;
    greedy: each pick is the row that shows the most of what no pick shows yet."""
    open_rows = [
        p
        for p in plans
        if p.status == VALID and p.body is not None and not _made(records.get(p.key))
    ]
    features = {p.row: _features(p, open_rows) for p in open_rows}
    chosen: list[RowPlan] = []
    reasons: dict[int, list[str]] = {}
    shown: set[str] = set()
    while len(chosen) < count and len(chosen) < len(open_rows):
        best = max(
            (p for p in open_rows if p.row not in reasons),
            key=lambda p: (len(features[p.row] - shown), -p.row),
        )
        new = sorted(features[best.row] - shown, key=_order)
        reasons[best.row] = new or ["to make the sample's number"]
        shown |= features[best.row]
        chosen.append(best)
    chosen.sort(key=lambda p: p.row)
    return chosen, reasons


def _made(record: j.Record | None) -> bool:
    return record is not None and (bool(record.video_id) or record.state == j.IN_FLIGHT)


def _features(plan: RowPlan, rows: list[RowPlan]) -> set[str]:
    assert plan.body is not None
    moments = plan.body.get("moments") or []
    found = {f"avatar {m['avatarId']}" for m in moments if m.get("avatarId")}
    found |= {f"voice {m['voiceId']}" for m in moments if m.get("voiceId")}
    if (len(moments), plan.chars) == max((len(_moments(p)), p.chars) for p in rows):
        found.add(
            f"the longest script ({plural(len(moments), 'moment')}, "
            f"{plural(plan.chars, 'character')})"
        )
    wide = _wide(plan)
    if wide and wide == max(_wide(p) for p in rows):
        found.add("the widest characters (" + "".join(sorted(_wide_set(plan))[:8]) + ")")
    return found


def _moments(plan: RowPlan) -> list[object]:
    return list((plan.body or {}).get("moments") or [])


def _wide_set(plan: RowPlan) -> set[str]:
    text = "".join(str(m.get("transcript") or "") for m in (plan.body or {}).get("moments") or [])
    return {c for c in text if ord(c) > 127}


def _wide(plan: RowPlan) -> int:
    return len(_wide_set(plan))


def _order(reason: str) -> tuple[int, str]:
    first = ("the longest", "avatar", "voice", "the widest")
    return next((i for i, word in enumerate(first) if reason.startswith(word)), 9), reason
