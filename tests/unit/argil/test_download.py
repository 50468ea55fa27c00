"""Downloading a finished video's file (pipeline.argil.download), over real HTTP against the
emulator's file host and the independent server's, and against tiny mock hosts for what
neither does (ignoring ranges, failing for good)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mixed_up_api import MixedUpApi, file_bytes

from pipeline.argil.download import DownloadError, fetch_file, safe_file_name
from pipeline.emulator import EmulatorServer, EmulatorSettingsError
from pipeline.emulator.media import media_bytes
from pipeline.errors import ArgilBatchError

MakeEmulator = Callable[..., EmulatorServer]
BODY = {"name": "v", "moments": [{"transcript": "Hello", "avatarId": "avatar-emma"}]}
SIZE = 262_144


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


class Sleeps(list[float]):
    """The waits asked for, none slept."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def done_video(base_url: str, **body: Any) -> dict[str, Any]:
    """A video created and rendered through the API, read back once DONE."""
    with httpx.Client(base_url=base_url, headers={"x-api-key": "anything"}) as api:
        created = api.post("/videos", json={**BODY, **body})
        assert created.status_code in (200, 201), created.text
        video_id = created.json()["id"]
        assert api.post(f"/videos/{video_id}/render").status_code in (200, 201)
        video: dict[str, Any] = api.get(f"/videos/{video_id}").json()
    assert video["status"] == "DONE"
    return video


def name_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def fetch(url: str, dest: Path, **kwargs: Any) -> bool:
    async with httpx.AsyncClient() as http:
        return await fetch_file(http, url, dest, **kwargs)


@pytest.fixture
def mixed_up() -> Iterator[MixedUpApi]:
    with MixedUpApi(finish_renders=True, cut_downloads=1.0) as api:
        yield api


# --- against the emulator -----------------------------------------------------------------


def test_a_whole_download_holds_the_files_bytes(
    make_emulator: MakeEmulator, tmp_path: Path
) -> None:
    server = make_emulator(render_seconds=0)
    url = done_video(server.base_url)["videoUrl"]
    dest = tmp_path / "out" / "v.mp4"
    progress: list[tuple[int, int | None]] = []

    assert run(fetch(url, dest, on_bytes=lambda n, total: progress.append((n, total))))

    assert dest.read_bytes() == media_bytes(name_of(url), SIZE)
    assert progress[0] == (0, SIZE) and progress[-1] == (SIZE, SIZE)
    assert list(dest.parent.iterdir()) == [dest]  # no part left behind
    stats = server.emulator.stats
    assert (stats.media_requests, stats.media_bytes_sent, stats.media_cut) == (1, SIZE, 0)


def test_a_cut_download_is_resumed_from_the_cut(
    make_emulator: MakeEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pipeline")
    server = make_emulator(render_seconds=0, cut_downloads=1.0, media_size=100_000)
    url = done_video(server.base_url)["videoUrl"]
    dest = tmp_path / "v.mp4"
    sleeps = Sleeps()
    progress: list[tuple[int, int | None]] = []
    signed = f"{url}?token=s3cr3t"

    assert run(fetch(signed, dest, sleep=sleeps, on_bytes=lambda n, t: progress.append((n, t))))

    assert dest.read_bytes() == media_bytes(name_of(url), 100_000)
    said = [r.getMessage() for r in caplog.records if r.name.startswith("pipeline")]
    assert said and not any("s3cr3t" in line for line in said)
    stats = server.emulator.stats
    # The cut third, then the rest from where it stopped: every byte sent once.
    assert (stats.media_requests, stats.media_cut, stats.media_bytes_sent) == (2, 1, 100_000)
    assert sleeps == [1.0]
    assert (100_000 // 3, 100_000) in progress  # the second try starts at the cut


def test_a_part_left_from_before_is_resumed(make_emulator: MakeEmulator, tmp_path: Path) -> None:
    server = make_emulator(render_seconds=0)
    url = done_video(server.base_url)["videoUrl"]
    dest = tmp_path / "v.mp4"
    (tmp_path / ".v.mp4.part").write_bytes(media_bytes(name_of(url), 1000))

    assert run(fetch(url, dest))

    assert dest.read_bytes() == media_bytes(name_of(url), SIZE)
    stats = server.emulator.stats
    assert (stats.media_requests, stats.media_bytes_sent) == (1, SIZE - 1000)


def test_an_existing_file_is_never_fetched(make_emulator: MakeEmulator, tmp_path: Path) -> None:
    server = make_emulator(render_seconds=0)
    url = done_video(server.base_url)["videoUrl"]
    dest = tmp_path / "v.mp4"
    dest.write_bytes(b"kept")

    assert run(fetch(url, dest)) is False

    assert dest.read_bytes() == b"kept"
    assert server.emulator.stats.media_requests == 0


def test_a_part_longer_than_the_file_starts_over(
    make_emulator: MakeEmulator, tmp_path: Path
) -> None:
    server = make_emulator(render_seconds=0, media_size=5000)
    url = done_video(server.base_url)["videoUrl"]
    dest = tmp_path / "v.mp4"
    (tmp_path / ".v.mp4.part").write_bytes(b"x" * 6000)
    sleeps = Sleeps()

    assert run(fetch(url, dest, sleep=sleeps))

    assert dest.read_bytes() == media_bytes(name_of(url), 5000)
    assert sleeps == []  # a 416, then the whole file: no failure to wait after
    assert server.emulator.stats.media_requests == 2


def test_a_whole_part_left_unmoved_is_moved_without_its_bytes_again(
    make_emulator: MakeEmulator, tmp_path: Path
) -> None:
    server = make_emulator(render_seconds=0, media_size=5000)
    url = done_video(server.base_url)["videoUrl"]
    dest = tmp_path / "v.mp4"
    (tmp_path / ".v.mp4.part").write_bytes(media_bytes(name_of(url), 5000))

    assert run(fetch(url, dest))

    assert dest.read_bytes() == media_bytes(name_of(url), 5000)
    assert server.emulator.stats.media_bytes_sent == 0


def test_a_missing_file_is_an_error_naming_the_url_without_its_query(
    make_emulator: MakeEmulator, tmp_path: Path
) -> None:
    server = make_emulator()
    url = f"{server.root_url}/media/nothing.mp4?X-Amz-Signature=s3cr3t&token=t0k"
    sleeps = Sleeps()

    with pytest.raises(DownloadError) as caught:
        run(fetch(url, tmp_path / "v.mp4", sleep=sleeps))

    error = caught.value
    assert isinstance(error, ArgilBatchError) and error.status == 404
    assert f"{server.root_url}/media/nothing.mp4" in str(error)
    assert "s3cr3t" not in str(error) and "t0k" not in str(error) and "?" not in str(error)
    assert "\n" not in str(error)
    assert error.url == f"{server.root_url}/media/nothing.mp4"
    assert sleeps == [] and list(tmp_path.iterdir()) == []


def test_the_emulator_serves_only_done_videos_files(make_emulator: MakeEmulator) -> None:
    server = make_emulator(render_seconds=60)
    with httpx.Client(base_url=server.base_url, headers={"x-api-key": "k"}) as api:
        video_id = api.post("/videos", json=BODY).json()["id"]
        api.post(f"/videos/{video_id}/render")
    rendering = httpx.get(f"{server.root_url}/media/{video_id}.mp4")
    assert rendering.status_code == 404

    quick = make_emulator(render_seconds=0)
    video = done_video(quick.base_url)
    assert httpx.get(video["videoUrl"].replace(".mp4", "-subtitled.mp4")).status_code == 404
    subtitled = done_video(quick.base_url, subtitles={"enable": True})["videoUrlSubtitled"]
    answer = httpx.get(subtitled)
    assert answer.content == media_bytes(name_of(subtitled), SIZE)


def test_the_emulator_answers_ranges_and_heads(make_emulator: MakeEmulator) -> None:
    server = make_emulator(render_seconds=0, media_size=1000)
    url = done_video(server.base_url)["videoUrl"]
    whole = media_bytes(name_of(url), 1000)

    head = httpx.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == "1000"
    assert head.headers["accept-ranges"] == "bytes"
    assert head.headers["content-type"] == "video/mp4"
    middle = httpx.get(url, headers={"range": "bytes=10-19"})
    assert middle.status_code == 206 and middle.content == whole[10:20]
    assert middle.headers["content-range"] == "bytes 10-19/1000"
    tail = httpx.get(url, headers={"range": "bytes=990-"})
    assert tail.content == whole[990:] and tail.headers["content-range"] == "bytes 990-999/1000"
    past = httpx.get(url, headers={"range": "bytes=1000-"})
    assert past.status_code == 416 and past.headers["content-range"] == "bytes */1000"
    assert server.emulator.stats.media_bytes_sent == 20


def test_the_file_knobs_are_checked(make_emulator: MakeEmulator) -> None:
    with pytest.raises(EmulatorSettingsError, match="cut_downloads"):
        make_emulator(cut_downloads=1.5)
    with pytest.raises(EmulatorSettingsError, match="media_size"):
        make_emulator(media_size=-1)


# --- against the independent server -------------------------------------------------------


def test_a_cut_download_from_the_independent_server(mixed_up: MixedUpApi, tmp_path: Path) -> None:
    video = done_video(mixed_up.base_url)
    url = video["videoUrl"]
    assert url.endswith(f"/files/{video['id']}.mp4")
    dest = tmp_path / "v.mp4"

    assert run(fetch(url, dest, sleep=Sleeps()))

    assert dest.read_bytes() == file_bytes(name_of(url), mixed_up.file_size)
    requests = mixed_up.file_requests
    assert [(method, headers.get("range")) for method, _, headers in requests] == [
        ("GET", None),
        ("GET", f"bytes={mixed_up.file_size // 3}-"),
    ]
    assert mixed_up.files_cut == 1
    assert all("x-api-key" not in headers for _, _, headers in requests)


def test_a_part_is_resumed_from_the_independent_server(
    mixed_up: MixedUpApi, tmp_path: Path
) -> None:
    url = done_video(mixed_up.base_url)["videoUrl"]
    expected = file_bytes(name_of(url), mixed_up.file_size)
    (tmp_path / ".v.mp4.part").write_bytes(expected[:12345])

    assert run(fetch(url, tmp_path / "v.mp4"))

    assert (tmp_path / "v.mp4").read_bytes() == expected
    assert [h.get("range") for _, _, h in mixed_up.file_requests] == ["bytes=12345-"]


# --- against mock hosts -------------------------------------------------------------------


async def fetch_mock(
    handler: Callable[[httpx.Request], httpx.Response], dest: Path, **kwargs: Any
) -> bool:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        return await fetch_file(http, "https://cdn.example/v.mp4?sig=s3cr3t", dest, **kwargs)


def test_a_host_ignoring_ranges_is_read_from_the_start(tmp_path: Path) -> None:
    whole = bytes(range(256)) * 40
    ranges: list[str | None] = []

    def ignores_ranges(request: httpx.Request) -> httpx.Response:
        ranges.append(request.headers.get("range"))
        return httpx.Response(200, content=whole)

    (tmp_path / ".v.mp4.part").write_bytes(b"stale bytes of another try")

    assert run(fetch_mock(ignores_ranges, tmp_path / "v.mp4"))

    assert (tmp_path / "v.mp4").read_bytes() == whole
    assert ranges == ["bytes=26-"]


def test_a_body_shorter_than_announced_is_resumed(tmp_path: Path) -> None:
    whole = b"0123456789" * 10
    seen: list[str | None] = []

    def short_then_rest(request: httpx.Request) -> httpx.Response:
        asked = request.headers.get("range")
        seen.append(asked)
        if asked is None:  # announces 100 bytes, sends 40, ends cleanly
            return httpx.Response(200, headers={"content-length": "100"}, content=whole[:40])
        headers = {"content-range": "bytes 40-99/100"}
        return httpx.Response(206, headers=headers, content=whole[40:])

    sleeps = Sleeps()
    assert run(fetch_mock(short_then_rest, tmp_path / "v.mp4", sleep=sleeps))

    assert (tmp_path / "v.mp4").read_bytes() == whole
    assert seen == [None, "bytes=40-"] and sleeps == [1.0]


def test_transport_errors_and_5xx_are_retried_with_growing_waits(tmp_path: Path) -> None:
    answers = iter([503, "drop", 502, 200])

    def flaky(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if answer == "drop":
            raise httpx.ReadError("connection reset", request=request)
        assert isinstance(answer, int)
        return httpx.Response(answer, content=b"video" if answer == 200 else b"busy")

    sleeps = Sleeps()
    assert run(fetch_mock(flaky, tmp_path / "v.mp4", sleep=sleeps))

    assert (tmp_path / "v.mp4").read_bytes() == b"video"
    assert sleeps == [1.0, 2.0, 4.0]


def test_a_host_failing_for_good_ends_after_the_attempts(tmp_path: Path) -> None:
    sleeps = Sleeps()

    with pytest.raises(DownloadError) as caught:
        run(fetch_mock(lambda request: httpx.Response(500), tmp_path / "v.mp4", sleep=sleeps))

    assert sleeps == [1.0, 2.0, 4.0, 8.0]  # five attempts
    assert "https://cdn.example/v.mp4" in str(caught.value)
    assert "s3cr3t" not in str(caught.value) and "sig" not in str(caught.value)
    assert not (tmp_path / "v.mp4").exists()


@pytest.mark.parametrize("status", [403, 404, 410])
def test_a_refusal_is_not_retried(tmp_path: Path, status: int) -> None:
    sleeps = Sleeps()
    with pytest.raises(DownloadError) as caught:
        run(fetch_mock(lambda request: httpx.Response(status), tmp_path / "v.mp4", sleep=sleeps))
    assert caught.value.status == status and sleeps == []
    assert "s3cr3t" not in str(caught.value)


def test_a_content_length_unknown_ends_at_the_end_of_the_body(tmp_path: Path) -> None:
    def streamed(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(b"no length said"))

    assert run(fetch_mock(streamed, tmp_path / "v.mp4"))
    assert (tmp_path / "v.mp4").read_bytes() == b"no length said"


def test_a_client_carrying_the_api_key_is_refused(tmp_path: Path) -> None:
    async def with_key() -> None:
        async with httpx.AsyncClient(headers={"X-Api-Key": "secret"}) as http:
            await fetch_file(http, "https://cdn.example/v.mp4", tmp_path / "v.mp4")

    with pytest.raises(ValueError, match="without its key"):
        run(with_key())


# --- safe_file_name -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Intro for Ann", "Intro for Ann.mp4"),
        ('a/b\\c:d*e?f"g<h>i|j', "a_b_c_d_e_f_g_h_i_j.mp4"),
        ("../../etc/passwd", "_.._etc_passwd.mp4"),
        ("tab\there\nnew\x00line", "tab_here_new_line.mp4"),
        ("CON", "_CON.mp4"),
        ("nul", "_nul.mp4"),
        ("com1.backup", "_com1.backup.mp4"),
        ("LPT9 ", "_LPT9.mp4"),
        ("CONSOLE", "CONSOLE.mp4"),
        (".hidden", "hidden.mp4"),
        ("--force", "force.mp4"),
        ("ends with dots...", "ends with dots.mp4"),
        ("  spaced   out  ", "spaced out.mp4"),
        ("", "video.mp4"),
        ("...", "video.mp4"),
        ("///", "_.mp4"),
        ("Cafe\u0301", "Café.mp4"),  # NFC: one é, not e and an accent
        ("🎬 Launch 👩‍👩‍👧", "🎬 Launch 👩‍👩‍👧.mp4"),
        ("evil\u202egnp.exe", "evil_gnp.exe.mp4"),
    ],
)
def test_safe_file_names(text: str, expected: str) -> None:
    assert safe_file_name(text) == expected


def test_a_long_name_is_cut_to_its_bytes_between_characters() -> None:
    assert safe_file_name("x" * 300) == "x" * 176 + ".mp4"
    name = safe_file_name("é" * 300, max_bytes=101)
    assert name == "é" * 48 + ".mp4" and len(name.encode()) == 100
    # A family emoji is three emoji and two joiners, 18 bytes: cut before it, never inside.
    family = "👩‍👩‍👧"
    assert len(family.encode()) == 18
    name = safe_file_name("ab" + family * 3, max_bytes=52)
    assert name == "ab" + family * 2 + ".mp4"
    assert safe_file_name("CON" * 100, suffix="", max_bytes=3) == "_CO"
    assert safe_file_name("CONCERT", suffix="", max_bytes=3) == "_CO"
    assert safe_file_name("trail" + " " * 10 + "x" * 300, suffix="", max_bytes=6) == "trail"


def test_a_name_with_another_suffix_or_none() -> None:
    assert safe_file_name("notes.", suffix="") == "notes"
    assert safe_file_name("clip", suffix="-subtitled.mp4") == "clip-subtitled.mp4"
    with pytest.raises(ValueError):
        safe_file_name("x", suffix="/.mp4")
    with pytest.raises(ValueError):
        safe_file_name("x", max_bytes=4)
