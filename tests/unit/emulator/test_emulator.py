"""The Argil emulator, spoken to over real HTTP on loopback."""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.argil.models import Avatar, SubtitleStylePage, Video, VideoPage, Voice
from pipeline.emulator import (
    AVATARS,
    SUBTITLE_STYLES,
    VOICES,
    Emulator,
    EmulatorServer,
    EmulatorSettings,
    EmulatorSettingsError,
    EmulatorStartError,
    StateFileError,
    check_body,
    serve,
)

MakeEmulator = Callable[..., EmulatorServer]
KEY = "test-key-123"
ASSET = "3f2c8a1e-9b7d-4c2e-8f1a-0d9e8c7b6a5f"
ORIGIN = "http://127.0.0.1:1"  # what the videos' links point to, for an emulator without HTTP


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@contextmanager
def client(server: EmulatorServer, key: str | None = KEY, **kwargs: Any) -> Iterator[httpx.Client]:
    headers = {"x-api-key": key} if key is not None else {}
    with httpx.Client(base_url=server.base_url, headers=headers, **kwargs) as http:
        yield http


def body(name: str = "Launch", batch_key: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "moments": [{"avatarId": "avatar-emma", "transcript": "Hello there, meet our product."}],
    }
    if batch_key is not None:
        out["extras"] = {"argilBatchKey": batch_key}
    out.update(extra)
    return out


def moment(**fields: Any) -> dict[str, Any]:
    return {"avatarId": "avatar-emma", "transcript": "Hi.", **fields}


def full_body() -> dict[str, Any]:
    """A body using every field of the spec."""
    zoom = {
        "keyframes": [
            {"time": 0, "scale": 1},
            {"time": 1, "scale": 1.5, "easing": [0.42, 0, 0.58, 1]},
        ]
    }
    return {
        "name": "Every field",
        "moments": [
            moment(
                voiceId="voice-emma",
                voiceModel="eleven_turbo_v2_5",
                gestureSlug="wave",
                zoom=zoom,
                broll={
                    "type": "GENERATION",
                    "prompt": "a lab",
                    "animate": True,
                    "layout": "FULLSCREEN",
                    "zoom": zoom,
                },
            ),
            {
                "avatarId": "avatar-noah",
                "audioUrl": "https://example.com/a.mp3",
                "broll": {"type": "UPLOAD", "assetId": ASSET},
            },
            moment(broll={"type": "AVATAR_ACTION", "prompt": "walks", "motionPrompt": "slowly"}),
            moment(broll={"type": "STOCKS_VIDEO", "query": "city"}),
            moment(broll={"type": "GOOGLE_IMAGES", "query": "cat", "animate": False}),
        ],
        "subtitles": {
            "enable": True,
            "styleId": "style-bold",
            "position": "Bottom",
            "size": "Medium",
        },
        "aspectRatio": "9:16",
        "enableAutoBrolls": False,
        "autoBrolls": {
            "enable": True,
            "source": "GENERATION",
            "intensity": "MEDIUM",
            "layout": "SPLIT_AVATAR_LEFT",
        },
        "extras": {"argilBatchKey": "k1", "campaign": "spring"},
        "backgroundMusic": {"assetId": "music-1", "volume": 0.1},
        "model": "ARGIL_ATOM",
    }


# --- auth -----------------------------------------------------------------------------------


def test_missing_key_is_401(emulator: EmulatorServer) -> None:
    with client(emulator, key=None) as http:
        response = http.get("/videos")
    assert response.status_code == 401
    assert response.json()["code"] == 401
    assert "x-api-key" in response.json()["message"]


def test_any_key_is_accepted_when_none_is_configured(emulator: EmulatorServer) -> None:
    with client(emulator, key="whatever") as http:
        assert http.get("/videos").status_code == 200


def test_configured_key_is_the_only_one_accepted(make_emulator: MakeEmulator) -> None:
    server = make_emulator(api_key="right-key-456")
    with client(server, key="wrong-key-789") as http:
        refused = http.get("/avatars")
    with client(server, key="right-key-456") as http:
        accepted = http.get("/avatars")
    assert refused.status_code == 401
    assert "wrong-key-789" not in refused.text and "right-key-456" not in refused.text
    assert accepted.status_code == 200


# --- create ---------------------------------------------------------------------------------


def test_valid_create_answers_201_with_a_video(emulator: EmulatorServer) -> None:
    sent = full_body()
    with client(emulator) as http:
        response = http.post("/videos", json=sent)
        assert response.status_code == 201, response.text
        video = response.json()
        fetched = http.get(f"/videos/{video['id']}").json()
    assert uuid.UUID(video["id"]).version == 4
    assert video["name"] == "Every field"
    assert video["status"] == "IDLE"
    assert video["duration"] is None
    assert video["aspectRatio"] == "9:16"
    assert video["extras"] == {"argilBatchKey": "k1", "campaign": "spring"}
    assert video["moments"][0]["transcript"] == "Hi."
    assert video["moments"][1]["voiceId"] == "voice-noah"  # the avatar's own voice, filled in
    assert video["previewUrl"] == f"{emulator.root_url}/preview/{video['id']}"
    assert datetime.fromisoformat(video["createdAt"]).tzinfo is not None
    assert fetched == video
    assert Video.model_validate(video).preview_url == video["previewUrl"]
    assert emulator.emulator.stats.created == 1


def test_api_is_served_at_the_root_too(emulator: EmulatorServer) -> None:
    with httpx.Client(base_url=emulator.root_url, headers={"x-api-key": KEY}) as http:
        created = http.post("/videos", json=body())
        assert created.status_code == 201
        assert http.get(f"/videos/{created.json()['id']}").status_code == 200


def test_full_body_passes_the_spec_check() -> None:
    assert check_body(full_body()) == []


def test_transcript_of_exactly_500_utf16_units_is_accepted(emulator: EmulatorServer) -> None:
    with client(emulator) as http:
        response = http.post("/videos", json=body(moments=[moment(transcript="😀" * 250)]))
    assert response.status_code == 201


INVALID_BODIES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "wrong broll type",
        body(moments=[moment(broll={"type": "SLIDESHOW"})]),
        ["moments[0].broll.type", "'SLIDESHOW'", "GENERATION"],
    ),
    (
        "missing broll type",
        body(moments=[moment(broll={"prompt": "a lab"})]),
        ["moments[0].broll.type: is required"],
    ),
    (
        "property of another broll type",
        body(moments=[moment(broll={"type": "GENERATION", "query": "lab"})]),
        ["moments[0].broll.query: unknown property"],
    ),
    (
        "extra property in a moment",
        body(moments=[moment(voice="voice-emma")]),
        ["moments[0].voice: unknown property", "voiceId"],
    ),
    (
        "both transcript and audioUrl",
        body(moments=[moment(audioUrl="https://example.com/a.mp3")]),
        ["moments[0]: exactly one of transcript and audioUrl", "got both"],
    ),
    (
        "neither transcript nor audioUrl",
        body(moments=[{"avatarId": "avatar-emma"}]),
        ["moments[0]: exactly one of transcript and audioUrl", "got neither"],
    ),
    (
        "transcript of 501 UTF-16 units",
        body(moments=[moment(), moment(transcript="😀" * 250 + "!")]),
        ["moments[1].transcript: 501 characters", "limit of 500"],
    ),
    (
        "six extras",
        body(extras={f"k{i}": "v" for i in range(6)}),
        ["extras: 6 pairs, at most 5"],
    ),
    (
        "extras value over 256",
        body(extras={"campaign": "x" * 257}),
        ["extras.campaign: value is 257 characters"],
    ),
    (
        "bad uuid in an UPLOAD broll",
        body(moments=[moment(broll={"type": "UPLOAD", "assetId": "asset-42"})]),
        ["moments[0].broll.assetId: 'asset-42' is not a valid uuid"],
    ),
    (
        "uuid in braces",
        body(moments=[moment(broll={"type": "UPLOAD", "assetId": "{" + ASSET + "}"})]),
        ["moments[0].broll.assetId", "not a valid uuid"],
    ),
    (
        "zoom scale 4",
        body(moments=[moment(zoom={"keyframes": [{"time": 0, "scale": 4}]})]),
        ["moments[0].zoom.keyframes[0].scale: 4 is above the maximum 3"],
    ),
    (
        "wrong aspect ratio",
        body(aspectRatio="4:3"),
        ["aspectRatio: '4:3' is not one of 16:9, 9:16"],
    ),
    ("missing name", {"moments": [moment()]}, ["name: is required"]),
    (
        "volume as a string",
        body(backgroundMusic={"assetId": "m", "volume": "0.5"}),
        ["backgroundMusic.volume: expected number, got string"],
    ),
]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [pytest.param(sent, expected, id=name) for name, sent, expected in INVALID_BODIES],
)
def test_invalid_body_is_400_naming_the_field(
    emulator: EmulatorServer, sent: dict[str, Any], expected: list[str]
) -> None:
    with client(emulator) as http:
        response = http.post("/videos", json=sent)
    assert response.status_code == 400
    assert response.json()["code"] == 400
    message = response.json()["message"]
    for part in expected:
        assert part in message
    assert emulator.emulator.stats.created == 0


def test_body_that_is_not_json_is_400(emulator: EmulatorServer) -> None:
    with client(emulator) as http:
        response = http.post("/videos", content=b'{"name": ')
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]


def test_transcript_limit_is_configurable() -> None:
    assert check_body(body(moments=[moment(transcript="a" * 251)]), transcript_chars=250) == [
        "moments[0].transcript: 251 characters (UTF-16 code units), over the limit of 250"
    ]
    assert check_body(body(moments=[moment(transcript="a" * 250)]), transcript_chars=250) == []


# --- list, get, delete ------------------------------------------------------------------------


def test_list_filters_on_extras(emulator: EmulatorServer) -> None:
    with client(emulator) as http:
        first = http.post("/videos", json=body(extras={"argilBatchKey": "a", "campaign": "x"}))
        http.post("/videos", json=body(extras={"argilBatchKey": "b"}))
        third = http.post("/videos", json=body(extras={"argilBatchKey": "a", "campaign": "y"}))
        http.post("/videos", json=body())

        by_key = http.get("/videos", params={"extrasFilter": json.dumps({"argilBatchKey": "a"})})
        by_two = http.get(
            "/videos", params={"extrasFilter": json.dumps({"argilBatchKey": "a", "campaign": "x"})}
        )
        everything = http.get("/videos")
        bad_json = http.get("/videos", params={"extrasFilter": "{argilBatchKey"})
        not_object = http.get("/videos", params={"extrasFilter": '["a"]'})

    page = VideoPage.model_validate(by_key.json())
    assert [video.id for video in page.videos] == [third.json()["id"], first.json()["id"]]
    assert page.total_items == 2
    assert [video["id"] for video in by_two.json()["videos"]] == [first.json()["id"]]
    assert everything.json()["totalItems"] == 4
    assert bad_json.status_code == 400 and "extrasFilter" in bad_json.json()["message"]
    assert not_object.status_code == 400


def test_list_pages(emulator: EmulatorServer) -> None:
    with client(emulator) as http:
        created = [http.post("/videos", json=body(name=f"v{i}")).json()["id"] for i in range(5)]
        pages = [http.get("/videos", params={"page": p, "limit": 2}).json() for p in (1, 2, 3, 4)]
        too_big = http.get("/videos", params={"limit": 101})
        page_zero = http.get("/videos", params={"page": 0})
        not_int = http.get("/videos", params={"limit": "ten"})
        default = http.get("/videos").json()

    assert [len(p["videos"]) for p in pages] == [2, 2, 1, 0]
    assert {p["totalPages"] for p in pages} == {3}
    assert {p["totalItems"] for p in pages} == {5}
    assert [p["currentPage"] for p in pages] == [1, 2, 3, 4]
    assert pages[0]["itemsPerPage"] == 2
    listed = [video["id"] for p in pages for video in p["videos"]]
    assert listed == list(reversed(created))  # newest first, each once
    assert default["itemsPerPage"] == 10
    assert too_big.status_code == page_zero.status_code == not_int.status_code == 400


def test_unknown_video_is_404(emulator: EmulatorServer) -> None:
    missing = str(uuid.uuid4())
    with client(emulator) as http:
        answers = [
            http.get(f"/videos/{missing}"),
            http.post(f"/videos/{missing}/render"),
            http.delete(f"/videos/{missing}"),
        ]
    for answer in answers:
        assert answer.status_code == 404
        assert answer.json() == {"code": 404, "message": f"Video {missing} not found"}


def test_delete_removes_the_video(emulator: EmulatorServer) -> None:
    with client(emulator) as http:
        video_id = http.post("/videos", json=body(batch_key="k")).json()["id"]
        deleted = http.delete(f"/videos/{video_id}")
        after = http.get(f"/videos/{video_id}")
    assert deleted.status_code == 200 and deleted.json()["id"] == video_id
    assert after.status_code == 404
    assert emulator.emulator.count_by_batch_key() == {}


def test_unknown_route_answers_json(emulator: EmulatorServer) -> None:
    with client(emulator) as http:
        response = http.get("/nothing-here")
    assert response.status_code == 404
    assert response.json()["code"] == 404


# --- render ---------------------------------------------------------------------------------


def test_render_progresses_with_the_clock(make_emulator: MakeEmulator) -> None:
    clock = FakeClock()
    server = make_emulator(clock=clock, render_seconds=3.0)
    sent = body(
        moments=[moment(transcript="a" * 150), {"avatarId": "avatar-noah", "audioUrl": "u"}],
        subtitles={"enable": True},
    )
    with client(server) as http:
        video_id = http.post("/videos", json=sent).json()["id"]
        rendered = http.post(
            f"/videos/{video_id}/render", json={"callbackUrl": "https://example.com/hook"}
        )
        seen = {}
        for now in (1000.5, 1001.0, 1002.9, 1003.0):
            clock.now = now
            seen[now] = http.get(f"/videos/{video_id}").json()
        again = http.post(f"/videos/{video_id}/render")

    assert rendered.status_code == 200
    assert rendered.json()["status"] == "GENERATING_AUDIO"
    assert seen[1000.5]["status"] == "GENERATING_AUDIO" and seen[1000.5]["duration"] is None
    assert seen[1001.0]["status"] == "GENERATING_VIDEO"
    assert seen[1001.0]["duration"] == 20.0  # 150 characters at 15 a second, plus 10 s of audio
    assert seen[1002.9]["status"] == "GENERATING_VIDEO" and "videoUrl" not in seen[1002.9]
    done = seen[1003.0]
    assert done["status"] == "DONE"
    assert done["videoUrl"].startswith(server.root_url)
    assert done["videoUrlSubtitled"] != done["videoUrl"]
    assert again.status_code == 400
    assert "DONE" in again.json()["message"]
    assert server.emulator.stats.renders == 1
    assert server.emulator.videos[video_id]["status"] == "DONE"


def test_render_refuses_a_bad_callback(emulator: EmulatorServer) -> None:
    with client(emulator) as http:
        video_id = http.post("/videos", json=body()).json()["id"]
        response = http.post(f"/videos/{video_id}/render", json={"callbackUrl": "ftp://x"})
        status = http.get(f"/videos/{video_id}").json()["status"]
    assert response.status_code == 400 and "callbackUrl" in response.json()["message"]
    assert status == "IDLE"


@pytest.mark.parametrize(
    ("name", "settings", "final"),
    [
        ("Promo [fail-render]", {}, "FAILED"),
        ("Promo [moderate]", {}, "CONTENT_MODERATED"),
        ("Promo", {"render_fail_rate": 1.0}, "FAILED"),
        ("Promo", {"render_fail_rate": 0.0}, "DONE"),
    ],
)
def test_render_outcomes(
    make_emulator: MakeEmulator, name: str, settings: dict[str, Any], final: str
) -> None:
    clock = FakeClock()
    server = make_emulator(clock=clock, render_seconds=3.0, **settings)
    with client(server) as http:
        video_id = http.post("/videos", json=body(name=name)).json()["id"]
        http.post(f"/videos/{video_id}/render")
        clock.now += 3.0
        video = http.get(f"/videos/{video_id}").json()
    assert video["status"] == final
    assert ("videoUrl" in video) == (final == "DONE")


def test_render_with_zero_seconds_is_done_at_once(make_emulator: MakeEmulator) -> None:
    server = make_emulator(render_seconds=0)
    with client(server) as http:
        video_id = http.post("/videos", json=body()).json()["id"]
        rendered = http.post(f"/videos/{video_id}/render").json()
    assert rendered["status"] == "DONE"
    assert rendered["duration"] is not None


# --- rate limit -----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["seconds", "date", "ms", "none"])
def test_rate_limit_answers_429_in_the_chosen_form(make_emulator: MakeEmulator, form: str) -> None:
    clock = FakeClock(1000.0)
    server = make_emulator(rpm=2, rate_window=60, retry_after=form, clock=clock)
    with client(server) as http:
        assert http.get("/avatars").status_code == 200
        clock.now = 1010.0
        assert http.post("/videos", json=body()).status_code == 201  # every endpoint counts
        limited = http.get("/voices")
        with client(server, key="another-key") as other:
            other_key = other.get("/voices")
        clock.now = 1060.0  # the first request leaves the window
        later = http.get("/voices")

    assert limited.status_code == 429
    assert limited.json()["code"] == 429
    headers = limited.headers
    if form == "seconds":
        assert headers["Retry-After"] == "50"
    elif form == "date":
        delay = (parsedate_to_datetime(headers["Retry-After"]) - datetime.now(UTC)).total_seconds()
        assert 48 <= delay <= 51
    elif form == "ms":
        assert headers["retry-after-ms"] == "50000"
        assert "Retry-After" not in headers
    else:
        assert "Retry-After" not in headers and "retry-after-ms" not in headers
    assert other_key.status_code == 200
    assert later.status_code == 200
    assert server.emulator.stats.rate_limited == 1


def test_rate_window_counts_per_rolling_second(make_emulator: MakeEmulator) -> None:
    clock = FakeClock(50.0)
    server = make_emulator(rpm=600, rate_window=1.0, clock=clock)
    with client(server) as http:
        statuses = [http.get("/voices").status_code for _ in range(11)]
        limited = http.get("/voices")
        clock.now = 50.2
        still = http.get("/voices")
        clock.now = 51.0
        again = http.get("/voices")
    assert statuses == [200] * 10 + [429]
    assert limited.headers["Retry-After"] == "1"  # 1 s, rounded up, never 0
    assert still.status_code == 429
    assert again.status_code == 200


def test_unauthenticated_requests_do_not_use_the_window(make_emulator: MakeEmulator) -> None:
    server = make_emulator(rpm=1, clock=FakeClock())
    with client(server, key=None) as anonymous:
        assert [anonymous.get("/voices").status_code for _ in range(3)] == [401] * 3
    with client(server) as http:
        assert http.get("/voices").status_code == 200


# --- injected faults --------------------------------------------------------------------------


def test_fail_rate_one_creates_nothing(make_emulator: MakeEmulator) -> None:
    server = make_emulator(fail_rate=1.0, seed=7)
    with client(server) as http:
        answers = [http.post("/videos", json=body(batch_key=f"k{i}")) for i in range(6)]
        invalid = http.post("/videos", json={"name": 1})  # failure comes before validation
        listed = http.get("/videos").json()
    assert {a.status_code for a in [*answers, invalid]} <= {500, 502, 503}
    assert all(a.json()["code"] == a.status_code for a in answers)
    assert listed["totalItems"] == 0
    assert server.emulator.stats.failed_injected == 7
    assert server.emulator.stats.created == 0


def test_drop_creates_the_video_but_gives_no_answer(
    make_emulator: MakeEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    server = make_emulator(drop_rate=1.0)
    caplog.set_level(logging.DEBUG)
    with client(server) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.post("/videos", json=body(batch_key="row-2"))
        found = http.get("/videos", params={"extrasFilter": '{"argilBatchKey": "row-2"}'})
    assert found.json()["totalItems"] == 1
    assert server.emulator.count_by_batch_key() == {"row-2": 1}
    assert server.emulator.stats.dropped == 1
    assert not [r for r in caplog.records if r.name.startswith("uvicorn")]


def test_spike_goes_past_the_read_timeout_but_the_video_exists(
    make_emulator: MakeEmulator,
) -> None:
    server = make_emulator(spike_rate=1.0, spike_ms=400)
    with (
        client(server, timeout=httpx.Timeout(5.0, read=0.1)) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        http.post("/videos", json=body(batch_key="slow"))
    assert server.emulator.count_by_batch_key() == {"slow": 1}


def test_credits_run_out_with_402(make_emulator: MakeEmulator) -> None:
    server = make_emulator(credits=1)
    with client(server) as http:
        first = http.post("/videos", json=body())
        second = http.post("/videos", json=body())
        invalid = http.post("/videos", json=body(aspectRatio="1:1"))  # validation comes first
    assert first.status_code == 201
    assert second.status_code == 402
    assert second.json()["code"] == 402
    assert second.json()["message"].startswith("Not enough credits")
    assert invalid.status_code == 400
    assert len(server.emulator.videos) == 1


# --- state file, stats, catalogue, hosts ------------------------------------------------------


def test_state_file_survives_a_restart_on_the_same_port(
    make_emulator: MakeEmulator, tmp_path: Path
) -> None:
    state = tmp_path / "emulator-state.json"
    clock = FakeClock()
    first = make_emulator(state_file=state, clock=clock, render_seconds=3.0)
    with client(first) as http:
        kept = http.post("/videos", json=body(batch_key="row-7")).json()
        http.post(f"/videos/{kept['id']}/render")
    port = first.port
    first.stop()
    assert json.loads(state.read_text(encoding="utf-8"))["videos"][kept["id"]]["name"] == "Launch"

    second = make_emulator(state_file=state, clock=clock, render_seconds=3.0, port=port)
    assert second.base_url == first.base_url
    with client(second) as http:
        found = http.get("/videos", params={"extrasFilter": '{"argilBatchKey": "row-7"}'}).json()
        clock.now += 3.0
        done = http.get(f"/videos/{kept['id']}").json()
    assert [video["id"] for video in found["videos"]] == [kept["id"]]
    assert done["status"] == "DONE"


def test_unreadable_state_file_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json", encoding="utf-8")
    with pytest.raises(StateFileError, match=r"state\.json"):
        EmulatorServer(EmulatorSettings(state_file=state))


def test_many_changes_survive_a_restart_without_a_rewrite_each(
    make_emulator: MakeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "emulator-state.json"
    rewrites = count_rewrites(monkeypatch, state)
    clock = FakeClock()
    first = make_emulator(state_file=state, clock=clock, render_seconds=3.0)
    with client(first) as http:
        made = [
            http.post("/videos", json=body(f"Video {n}", batch_key=f"row-{n}")).json()["id"]
            for n in range(300)
        ]
        for video_id in made[:40]:
            http.post(f"/videos/{video_id}/render")
        http.delete(f"/videos/{made[-1]}")
        clock.now += 1.5  # the renders' audio is done: each video moves on when listed
        http.get("/videos", params={"limit": 100})
    kept = copy.deepcopy(first.emulator.videos)
    assert len(kept) == 299
    assert kept[made[0]]["status"] == "GENERATING_VIDEO"
    assert len(rewrites) == 1, "written whole once, at the first change; appended to since"
    first.stop()
    assert len(rewrites) == 2, "and once more at the stop"
    assert json.loads(state.read_text(encoding="utf-8"))["videos"] == kept, "one JSON object"

    second = make_emulator(state_file=state, clock=clock, render_seconds=3.0)
    assert second.emulator.videos == kept
    clock.now += 1.5
    with client(second) as http:
        assert http.get(f"/videos/{made[0]}").json()["status"] == "DONE"
        assert http.get(f"/videos/{made[-1]}").status_code == 404


def test_a_state_file_of_much_churn_is_compacted_now_and_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1,100 videos rendered and moved on twice, then deleted and made again three times over:
    # 10,000 changes to a state of 1,100 videos. The file is written whole only when its lines
    # outnumber its videos (and 1,000), so it stays within a few times its state (a line holds
    # a video and its render) and the writes within a constant per change; appended to alone,
    # it would reach eight times its state.
    state = tmp_path / "state.json"
    rewrites = count_rewrites(monkeypatch, state)
    clock = FakeClock()
    emulator = Emulator(EmulatorSettings(state_file=state, clock=clock, render_seconds=3.0))
    largest = 0
    made = [emulator.create(body(f"V{n}"), ORIGIN)[0]["id"] for n in range(1100)]
    for video_id in made:
        emulator.render(video_id, ORIGIN)
    for _ in range(2):
        clock.now += 1.5
        emulator.list(limit=1)  # moves every render on
    for _ in range(3):
        for video_id in made:
            emulator.delete(video_id)
            largest = max(largest, state.stat().st_size)
        made = [emulator.create(body(f"V{n}"), ORIGIN)[0]["id"] for n in range(1100)]
        largest = max(largest, state.stat().st_size)
    emulator.close()
    assert len(rewrites) <= 12
    assert largest <= 3.5 * state.stat().st_size
    again = Emulator(EmulatorSettings(state_file=state, clock=clock, render_seconds=3.0))
    assert sorted(again.videos) == sorted(made)


CRASHING = """
import os, sys
from pathlib import Path
from pipeline.emulator import Emulator, EmulatorSettings

emulator = Emulator(EmulatorSettings(state_file=Path(sys.argv[1])))
body = {"name": "V", "moments": [{"avatarId": "avatar-emma", "transcript": "Hi."}]}
made = [emulator.create({**body, "name": f"V{n}"}, "http://x")[0]["id"] for n in range(20)]
emulator.delete(made[0])
print(" ".join(made[1:]), flush=True)
os._exit(0)  # killed: nothing closed, nothing flushed on the way out
"""


def test_a_crash_loses_no_change_but_a_line_cut_short(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    done = subprocess.run(
        [sys.executable, "-c", CRASHING, str(state)], capture_output=True, text=True, check=True
    )
    kept = done.stdout.split()
    # The process died while it wrote one more change.
    with state.open("a", encoding="utf-8") as handle:
        handle.write('{"id":"cut-short","video":{"name":"V')
    again = Emulator(EmulatorSettings(state_file=state))
    assert sorted(again.videos) == sorted(kept)
    again.create(body("after"), ORIGIN)  # goes after a whole snapshot, not the torn line
    third = Emulator(EmulatorSettings(state_file=state))
    assert len(third.videos) == 20
    again.close()


def test_a_state_file_of_one_object_as_written_before_still_loads(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    video = {"id": "v1", "name": "Old", "status": "IDLE", "moments": []}
    state.write_text(json.dumps({"version": 1, "videos": {"v1": video}}, indent=2))
    assert Emulator(EmulatorSettings(state_file=state)).videos == {"v1": video}


def test_a_damaged_change_before_the_last_line_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"version": 1, "videos": {}}\n{"id": "v1", "vid\n{"id": "v2"}\n')
    with pytest.raises(StateFileError, match=r"state\.json"):
        Emulator(EmulatorSettings(state_file=state))


def count_rewrites(monkeypatch: pytest.MonkeyPatch, state: Path) -> list[Path]:
    """Each time ``state`` is written whole (in its place, by a rename)."""
    rewrites: list[Path] = []
    real = os.replace

    def replace(src: Any, dst: Any, **kwargs: Any) -> None:
        real(src, dst, **kwargs)
        if Path(dst) == state:
            rewrites.append(state)

    monkeypatch.setattr(os, "replace", replace)
    return rewrites


def test_stats_endpoint_needs_no_key(emulator: EmulatorServer) -> None:
    with client(emulator) as http:
        http.post("/videos", json=body(batch_key="a"))
        http.post("/videos", json=body(batch_key="a"))
        http.post("/videos", json=body(batch_key="b"))
    stats = httpx.get(f"{emulator.root_url}/_emulator/stats").json()
    assert stats["created"] == 3
    assert stats["requests"] == 3
    assert len(stats["create_times"]) == 3
    assert stats["count_by_batch_key"] == {"a": 2, "b": 1}
    assert stats["duplicate_batch_keys"] == ["a"]


def test_catalogue_endpoints(emulator: EmulatorServer) -> None:
    with client(emulator) as http:
        avatars = http.get("/avatars").json()
        voices = http.get("/voices").json()
        styles = http.get("/subtitles", params={"page": 2, "pageSize": 2}).json()
    assert avatars == AVATARS
    assert {g.slug for g in Avatar.model_validate(avatars[0]).gestures} >= {"wave", "point-right"}
    assert [Voice.model_validate(v).id for v in voices] == [v["id"] for v in VOICES]
    page = SubtitleStylePage.model_validate(styles)
    assert [s.id for s in page.items] == [SUBTITLE_STYLES[2]["id"]]
    assert page.total_items == 3 and styles["totalPages"] == 2


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_non_loopback_host_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(EmulatorSettings(), host=host, port=8787)
    with pytest.raises(EmulatorSettingsError):
        EmulatorServer(host=host)


def test_a_taken_port_is_an_error_not_an_exit(emulator: EmulatorServer) -> None:
    with pytest.raises(EmulatorStartError, match="cannot listen"):
        EmulatorServer(port=emulator.port).start()
    with pytest.raises(EmulatorStartError, match="cannot listen"):
        serve(EmulatorSettings(), port=emulator.port)


def test_settings_are_checked() -> None:
    with pytest.raises(EmulatorSettingsError, match="retry_after"):
        EmulatorSettings(retry_after="minutes")
    with pytest.raises(EmulatorSettingsError, match="fail_rate"):
        EmulatorSettings(fail_rate=1.5)


def test_stop_closes_the_port_and_can_be_repeated(make_emulator: MakeEmulator) -> None:
    server = make_emulator()
    server.stop()
    server.stop()  # a second stop is harmless
    with client(server) as http, pytest.raises(httpx.ConnectError):
        http.get("/voices")
