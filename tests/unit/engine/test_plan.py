"""The plan, a pure function of the rows and the journal's records: what a run sends, looks
up, renders, and what every other row says; and the one mapping of a record to a status."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline import journal as j
from pipeline import mapping
from pipeline.engine.plan import plan_rows
from pipeline.engine.results import CHANGED, FAILED, IN_DOUBT, INVALID, PENDING, SKIPPED, status_of
from pipeline.mapping import FieldError, RowPlan
from pipeline.settings import RunOptions

BODY = {"name": "Hi", "moments": [{"transcript": "Hello there.", "avatarId": "a"}]}


def row(number: int, key: str, *, status: str = mapping.VALID, digest: str = "h1") -> RowPlan:
    valid = status == mapping.VALID
    return RowPlan(
        row=number,
        key=key,
        status=status,
        body=dict(BODY) if valid else None,
        payload_hash=digest if valid else None,
        moments=1,
        errors=[FieldError("name", "is blank")] if status == mapping.INVALID else [],
        reason="skip column is set" if status == mapping.SKIPPED else "",
    )


def record(key: str, state: str, **fields: object) -> j.Record:
    base = j.Record(
        key=key,
        row=2,
        payload_hash="h1",
        state=state,
        generation=0,
        video_id=None,
        status=None,
        attempts=1,
        last_error=None,
        moments=1,
        preview_url=None,
        video_url=None,
        duration=None,
        render_requested=False,
        created_at="2026-12-04T00:00:00Z",
        updated_at="2026-12-04T00:00:00Z",
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def test_a_new_row_is_sent_fresh_and_a_pending_one_again_at_its_generation() -> None:
    rows = [row(2, "a"), row(3, "b")]
    planned = plan_rows(rows, {"b": record("b", j.PENDING, generation=2)}, RunOptions())
    assert [(p.key, g) for p, g in planned.send] == [("a", 0), ("b", 2)]
    assert planned.fresh == {"a", "b"}
    assert planned.resolve == [] and planned.render == []
    assert planned.results[3].status == PENDING


def test_a_row_left_in_flight_is_looked_up_first_and_reads_in_doubt() -> None:
    planned = plan_rows([row(2, "a")], {"a": record("a", j.IN_FLIGHT, generation=1)}, RunOptions())
    assert [(p.key, g) for p, g in planned.resolve] == [("a", 1)]
    assert planned.send == [] and planned.fresh == set()
    assert planned.results[2].status == IN_DOUBT
    assert [p.key for p in planned.outgoing] == ["a"]


@pytest.mark.parametrize(("render", "requested", "renders"), [(True, False, 1), (True, True, 0)])
def test_a_row_with_its_video_is_already_sent_and_rendered_once(
    render: bool, requested: bool, renders: int
) -> None:
    known = record("a", j.CREATED, video_id="v1", status="IDLE", render_requested=requested)
    planned = plan_rows([row(2, "a")], {"a": known}, RunOptions(render=render))
    assert planned.already == 1 and planned.send == []
    assert len(planned.render) == renders
    assert planned.results[2].video_id == "v1" and planned.results[2].status == "IDLE"


def test_a_row_changed_since_its_video_is_changed_unless_resent() -> None:
    known = record("a", j.DONE, video_id="v1", status="DONE", payload_hash="old")
    planned = plan_rows([row(2, "a")], {"a": known}, RunOptions())
    assert planned.results[2].status == CHANGED
    assert "--resend-changed" in planned.results[2].error
    resent = plan_rows([row(2, "a")], {"a": known}, RunOptions(resend_changed=True))
    assert [(p.key, g) for p, g in resent.send] == [("a", 1)]


def test_a_refused_row_stays_failed_unless_retried_or_edited() -> None:
    refused = record("a", j.FAILED, last_error="HTTP 400: bad avatar")
    assert plan_rows([row(2, "a")], {"a": refused}, RunOptions()).results[2].status == FAILED
    retried = plan_rows([row(2, "a")], {"a": refused}, RunOptions(retry_failed=True))
    assert [(p.key, g) for p, g in retried.send] == [("a", 0)]
    edited = plan_rows([row(2, "a", digest="h2")], {"a": refused}, RunOptions())
    assert [(p.key, g) for p, g in edited.send] == [("a", 0)]


def test_invalid_and_skipped_rows_say_why_and_are_never_sent() -> None:
    rows = [row(2, "a", status=mapping.INVALID), row(3, "b", status=mapping.SKIPPED)]
    planned = plan_rows(rows, {}, RunOptions())
    assert planned.send == [] and planned.outgoing == []
    assert (planned.results[2].status, planned.results[2].error) == (INVALID, "name: is blank")
    assert (planned.results[3].status, planned.results[3].error) == (SKIPPED, "skip column is set")


@pytest.mark.parametrize(
    ("state", "status", "word"),
    [
        (j.IN_FLIGHT, None, IN_DOUBT),
        (j.PENDING, None, PENDING),
        (j.FAILED, None, FAILED),
        (j.CREATED, "IDLE", "IDLE"),
        (j.RENDERING, "GENERATING_VIDEO", "GENERATING_VIDEO"),
        (j.DONE, "DONE", "DONE"),
    ],
)
def test_one_mapping_from_a_record_to_the_status_a_row_shows(
    state: str, status: str | None, word: str
) -> None:
    assert status_of(record("a", state, status=status)) == word
