"""Unit tests of pipeline.engine.listing: listing a batch over httpx.MockTransport, choosing a row's
video, and comparing a listed video with the row's body."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from pipeline.argil.client import ArgilClient, ArgilError, ServerError
from pipeline.argil.models import Video
from pipeline.engine.listing import Unproven, choose, differences, find_duplicates, list_batch

TAG = "b-test"


def video(n: int, key: str | None = "k-1", **fields: Any) -> dict[str, Any]:
    extras = {"argilBatch": TAG}
    if key is not None:
        extras["argilBatchKey"] = key
    return {"id": f"v{n}", "status": "IDLE", "extras": extras, **fields}


def pages(*listed: list[dict[str, Any]], total: int | None = None) -> Any:
    """A GET /videos that answers these pages in turn (``total``: what it says it holds)."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        page = int(request.url.params["page"])
        count = total if total is not None else sum(len(p) for p in listed)
        body = {
            "videos": listed[page - 1],
            "totalItems": count,
            "totalPages": len(listed),
            "currentPage": page,
            "itemsPerPage": 100,
        }
        return httpx.Response(200, json=body)

    handler.requests = requests  # type: ignore[attr-defined]
    return handler


async def no_wait(seconds: float) -> None:
    return None


def client_for(handler: Any) -> ArgilClient:
    transport = httpx.MockTransport(handler)
    return ArgilClient(
        "k", "https://api.test/v1", rpm=1e6, transport=transport, max_attempts=2, sleep=no_wait
    )


def listing_of(handler: Any, **kwargs: Any) -> Any:
    async def go() -> Any:
        async with client_for(handler) as client:
            try:
                return await list_batch(client, TAG, **kwargs)
            except Unproven as exc:
                return exc

    return asyncio.run(go())


def test_a_listing_reads_every_page_by_the_tag_and_groups_videos_by_row() -> None:
    handler = pages([video(1, "k-1"), video(2, "k-2~1")], [video(3, "k-2"), video(4, None)])
    listing = listing_of(handler)
    assert listing.reads == 2
    assert {key: [(g, v.id) for g, v in found] for key, found in listing.by_key.items()} == {
        "k-1": [(0, "v1")],
        "k-2": [(1, "v2"), (0, "v3")],
    }
    assert listing.unattributed == 1
    params = handler.requests[0].url.params
    assert json.loads(params["extrasFilter"]) == {"argilBatch": TAG}
    assert params["limit"] == "100"


def test_videos_of_another_batch_are_left_out_when_the_server_ignores_the_filter() -> None:
    stranger = video(9, "k-1")
    stranger["extras"]["argilBatch"] = "b-other"
    listing = listing_of(pages([video(1, "k-1"), stranger]))
    assert [v.id for _, v in listing.by_key["k-1"]] == ["v1"]


def test_a_listing_without_extras_proves_nothing() -> None:
    bare = {"id": "v1", "status": "IDLE"}
    result = listing_of(pages([bare]))
    assert isinstance(result, Unproven) and "without their extras" in result.reason
    assert result.stop is None, "the run goes on with the rows it knows"
    # Matching by id (a status sweep) needs no extras.
    assert listing_of(pages([bare]), need_extras=False).by_id.keys() == {"v1"}


def test_a_listing_that_lost_videos_between_pages_proves_nothing() -> None:
    result = listing_of(pages([video(1)], [video(2)], total=3))
    assert isinstance(result, Unproven)
    assert result.reason == (
        "the API's listing of the batch ended at page 2 after 2 videos though it claimed 3 "
        "videos in 2 pages (were videos deleted while it was read?)"
    )


def test_a_failed_listing_stops_the_run_but_a_refused_one_does_not() -> None:
    failing = listing_of(lambda request: httpx.Response(503))
    assert isinstance(failing, Unproven)
    assert failing.stop and "could not be listed" in failing.stop
    refused = listing_of(lambda request: httpx.Response(400, json={"message": "no"}))
    assert isinstance(refused, Unproven) and refused.stop is None


def test_a_sweep_stops_at_the_page_where_every_followed_video_was_seen() -> None:
    handler = pages([video(1), video(2)], [video(3)])
    listing = listing_of(handler, until_seen={"v2"}, need_extras=False)
    assert listing.reads == 1 and len(handler.requests) == 1


def test_find_videos_refuses_a_listing_without_extras() -> None:
    async def go() -> ArgilError:
        async with client_for(pages([{"id": "v1"}])) as client:
            with pytest.raises(ServerError) as refused:
                await client.find_videos({"argilBatchKey": "k-1"})
            return refused.value

    assert "without their extras" in asyncio.run(go()).message


def test_the_latest_generation_and_then_the_oldest_video_stand_for_a_row() -> None:
    old = Video.model_validate({"id": "a", "createdAt": "2026-01-01T00:00:00Z"})
    new = Video.model_validate({"id": "b", "createdAt": "2026-01-02T00:00:00Z"})
    resent = Video.model_validate({"id": "c", "createdAt": "2026-01-03T00:00:00Z"})
    assert choose([(0, new), (0, old)]) == (0, old, [new])
    assert choose([(0, old), (1, resent)]) == (1, resent, [])


BODY = {
    "name": "Intro for Ana",
    "moments": [{"transcript": "Hello", "avatarId": "avatar-emma"}],
    "extras": {"campaign": "spring", "argilBatchKey": "k-1", "argilBatch": TAG},
}


def listed(**changes: Any) -> Video:
    data: dict[str, Any] = {
        "id": "v1",
        "name": "Intro for Ana",
        "aspectRatio": "16:9",
        "moments": [{"transcript": "Hello", "avatarId": "avatar-emma", "voiceId": "voice-emma"}],
        "extras": {"campaign": "spring", "argilBatchKey": "k-1", "argilBatch": TAG},
    }
    data.update(changes)
    return Video.model_validate(data)


def test_a_video_made_from_the_same_body_does_not_differ() -> None:
    # The API filled in a default voice and aspect ratio the body did not name: no change.
    assert differences(BODY, listed()) == []
    # A video that echoes fewer fields is compared on what it has.
    assert differences(BODY, listed(moments=None, extras=None, name=None)) == []


def test_each_field_that_differs_is_named() -> None:
    moments = [{"transcript": "Hi there", "avatarId": "avatar-noah"}]
    extras = {"campaign": "autumn", "argilBatchKey": "k-1", "argilBatch": TAG}
    changed = differences(BODY, listed(name="Other", moments=moments, extras=extras))
    assert changed == ["name", "extras", "moments[0].transcript", "moments[0].avatarId"]
    two = [*listed().model_dump(by_alias=True)["moments"]] * 2
    assert differences(BODY, listed(moments=two)) == ["moments"]


# --- second videos of one row (two runs at once) ------------------------------------------


def test_every_run_keeps_the_same_video_of_a_row_whatever_order_it_lists_them_in() -> None:
    made = [
        video(3, createdAt="2026-01-01T00:00:02.000Z"),
        video(1, createdAt="2026-01-01T00:00:01.000Z"),
        video(2, createdAt="2026-01-01T00:00:01.000Z"),
    ]
    for order in (made, made[::-1], made[1:] + made[:1]):
        (found,) = find_duplicates(listing_of(pages(order)))
        assert found.keep.id == "v1"  # the earliest, then the smallest id
        assert sorted(v.id for v in found.drafts) == ["v2", "v3"]
        assert found.rendered == []


def test_a_rendered_video_is_kept_and_a_second_rendered_one_never_deleted() -> None:
    first = video(1, createdAt="2026-01-01T00:00:01.000Z")
    late = video(2, createdAt="2026-01-01T00:00:09.000Z", status="GENERATING_VIDEO")
    later = video(3, createdAt="2026-01-01T00:00:10.000Z", status="DONE")
    (found,) = find_duplicates(listing_of(pages([first, late, later])))
    assert found.keep.id == "v2"  # its credits are spent: it stands for the row
    assert [v.id for v in found.drafts] == ["v1"]
    assert [v.id for v in found.rendered] == ["v3"]


def test_generations_and_rows_are_settled_apart() -> None:
    listed = [video(1), video(2, key="k-1~1"), video(3, key="k-2"), video(4, key="k-2")]
    (found,) = find_duplicates(listing_of(pages(listed)))
    assert (found.key, found.generation) == ("k-2", 0)


def test_a_video_shown_on_two_pages_is_taken_once() -> None:
    # A video created while the pages are read pushes an older one onto the next page.
    result = listing_of(pages([video(1), video(2)], [video(2), video(3)], total=3))
    assert [v.id for _, v in result.by_key["k-1"]] == ["v1", "v2", "v3"]
    assert find_duplicates(result)[0].keep.id == "v1"
