"""Following videos to the end: render, wait, timeout, failure, status refresh, pre-flight.

The run, the client and the emulator share one fake clock that the run's waits move
forward, so a render of minutes is followed in milliseconds, over real HTTP on loopback.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from support import CLI_KEY

from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import run_job, status_spec
from pipeline.journal import Journal
from pipeline.settings import JobSpec, RunOptions

CONFIG = """\
input: {key: [id]}
video:
  name: "{{ title }}"
  subtitles: {enable: true, style_id: "{{ style }}"}
moments:
  - transcript: "{{ script }}"
    avatar_id: "{{ avatar }}"
    gesture_slug: "{{ gesture }}"
api: {rpm: 6000, concurrency: 4}
"""


class FakeTime:
    """A clock that only moves when somebody waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(seconds, 0.0)


def write_sheet(path: Path, rows: list[dict[str, str]]) -> None:
    headers = ["id", "title", "script", "avatar", "gesture", "style"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=headers)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    "avatar": "avatar-emma",
                    "gesture": "",
                    "style": "style-classic",
                    "script": "Hello from the launch team.",
                    **row,
                }
            )


def read_output(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return {
        "sheet": tmp_path / "s.csv",
        "config": config,
        "output": tmp_path / "out.csv",
        "state": tmp_path / "out.state",
        "api": tmp_path / "api.json",
    }


def spec(
    paths: dict[str, Path], server: EmulatorServer, fake: FakeTime, **options: object
) -> JobSpec:
    return JobSpec(
        sheet=paths["sheet"],
        config=paths["config"],
        output=paths["output"],
        state=paths["state"],
        base_url=server.base_url,
        api_key=CLI_KEY,
        sleep=fake.sleep,
        clock=fake.clock,
        options=RunOptions(**options),  # type: ignore[arg-type]
    )


def server_for(fake: FakeTime, paths: dict[str, Path], **settings: object) -> EmulatorServer:
    return EmulatorServer(
        EmulatorSettings(clock=fake.clock, state_file=paths["api"], **settings)  # type: ignore[arg-type]
    )


def test_render_and_wait_bring_every_row_to_done_with_its_link(
    paths: dict[str, Path], fake: FakeTime
) -> None:
    write_sheet(paths["sheet"], [{"id": str(i), "title": f"Launch {i}"} for i in range(6)])
    with server_for(fake, paths, render_seconds=120) as server:
        outcome = run_job(spec(paths, server, fake, render=True, wait=True))
        assert outcome.exit_code == 0
        assert outcome.summary.renders == 6 and outcome.summary.done == 6
        rows = read_output(paths["output"])
        assert {r["argil_status"] for r in rows.values()} == {"DONE"}
        assert all(r["argil_video_url"].startswith("http") for r in rows.values())
        assert all(float(r["argil_duration"]) > 0 for r in rows.values())
        # Sweeps back off while no video finishes: no hammering of a rate-limited API.
        assert fake.slept[:3] == [2.0, 3.0, 4.5]

        # A re-run renders nothing twice.
        renders = server.emulator.stats.renders
        again = run_job(spec(paths, server, fake, render=True, wait=True))
        assert again.exit_code == 0 and again.summary.renders == 0
        assert server.emulator.stats.renders == renders


def test_a_render_that_fails_or_is_moderated_is_a_failed_row(
    paths: dict[str, Path], fake: FakeTime
) -> None:
    write_sheet(
        paths["sheet"],
        [
            {"id": "ok", "title": "Fine launch"},
            {"id": "bad", "title": "Broken [fail-render]"},
            {"id": "mod", "title": "Edgy [moderate]"},
        ],
    )
    with server_for(fake, paths, render_seconds=60) as server:
        outcome = run_job(spec(paths, server, fake, render=True, wait=True))
    assert outcome.exit_code == 1
    rows = read_output(paths["output"])
    assert rows["ok"]["argil_status"] == "DONE"
    assert rows["bad"]["argil_status"] == "FAILED"
    assert rows["bad"]["argil_error"] == "the video ended FAILED"
    assert rows["mod"]["argil_status"] == "CONTENT_MODERATED"
    assert outcome.summary.failed == 2


def test_a_video_still_rendering_at_the_timeout_is_reported_as_such_not_failed(
    paths: dict[str, Path], fake: FakeTime
) -> None:
    write_sheet(paths["sheet"], [{"id": "1", "title": "Slow launch"}])
    with server_for(fake, paths, render_seconds=3600) as server:
        outcome = run_job(spec(paths, server, fake, render=True, wait=True, wait_timeout=60))
    assert outcome.exit_code == 0
    row = read_output(paths["output"])["1"]
    assert row["argil_status"] in ("GENERATING_AUDIO", "GENERATING_VIDEO")
    assert "still rendering when the wait ended" in row["argil_error"]
    assert outcome.summary.rendering == 1 and outcome.summary.failed == 0
    assert sum(fake.slept) == pytest.approx(60)


def test_status_refreshes_unfinished_rows_and_rewrites_the_output(
    paths: dict[str, Path], fake: FakeTime
) -> None:
    write_sheet(paths["sheet"], [{"id": str(i), "title": f"Launch {i}"} for i in range(4)])
    with server_for(fake, paths, render_seconds=100) as server:
        first = run_job(spec(paths, server, fake, render=True))
        assert first.exit_code == 0
        assert {r["argil_status"] for r in read_output(paths["output"]).values()} == {
            "GENERATING_AUDIO"
        }
        fake.now += 500  # the next morning
        # The run used --state elsewhere than beside the output: status is given that file.
        refresh = status_spec(paths["state"], wait=False, wait_timeout=0)
        assert refresh.output == paths["output"].resolve()
        refresh.base_url, refresh.api_key = server.base_url, CLI_KEY
        refresh.sleep, refresh.clock = fake.sleep, fake.clock
        creates = server.emulator.stats.creates
        outcome = run_job(refresh)
        assert outcome.exit_code == 0 and outcome.summary.done == 4
        assert server.emulator.stats.creates == creates, "status creates nothing"
    rows = read_output(paths["output"])
    assert {r["argil_status"] for r in rows.values()} == {"DONE"}
    assert all(r["argil_video_url"] for r in rows.values())
    journal = Journal(paths["state"])
    assert {r.state for r in journal.all().values()} == {"done"}


def test_status_command_in_the_sandbox(
    tmp_path: Path, paths: dict[str, Path], cli: Callable[..., Result]
) -> None:
    write_sheet(paths["sheet"], [{"id": "1", "title": "Launch"}])
    args = ["run", paths["sheet"], "-c", paths["config"], "-o", paths["output"]]
    result = cli(*args, "--sandbox", "--render", key="")
    assert result.exit_code == 0, result.stderr
    result = cli("status", paths["output"], "--json", key=None)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["sandbox"] is True and summary["rows"] == 1
    assert read_output(paths["output"])["1"]["argil_video_id"]


def test_status_without_a_run_is_a_clear_error(tmp_path: Path, cli: Callable[..., Result]) -> None:
    sheet = tmp_path / "nothing.csv"
    sheet.write_text("a\n1\n", encoding="utf-8")
    result = cli("status", sheet, key=None)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no state file beside")


def test_callback_url_is_passed_to_the_render(paths: dict[str, Path], fake: FakeTime) -> None:
    write_sheet(paths["sheet"], [{"id": "1", "title": "Launch"}])
    hook = "https://hooks.example.com/argil"
    with server_for(fake, paths, render_seconds=100) as server:
        outcome = run_job(spec(paths, server, fake, render=True, callback_url=hook))
        assert outcome.exit_code == 0
    stored = json.loads(paths["api"].read_text(encoding="utf-8"))
    assert [r["callbackUrl"] for r in stored["renders"].values()] == [hook]


def test_preflight_refuses_unknown_catalogue_names_with_a_suggestion(
    paths: dict[str, Path], fake: FakeTime
) -> None:
    write_sheet(
        paths["sheet"],
        [
            {"id": "good", "title": "A", "gesture": "wave"},
            {"id": "avatar", "title": "B", "avatar": "avatar-ema"},
            {"id": "gesture", "title": "C", "gesture": "wavee"},
            {"id": "style", "title": "D", "style": "style-clasic"},
        ],
    )
    with server_for(fake, paths) as server:
        outcome = run_job(spec(paths, server, fake))
        # The catalogue, the batch's listing (before the creates, and after them to settle
        # any second video) and, this batch having no video yet, its first three rows asked
        # for in another batch, then the create and its draft's price: a few requests in
        # all, not one per row.
        assert server.emulator.stats.requests == 3 + 1 + 1 + 3 + 1 + 1
    assert outcome.exit_code == 1
    rows = read_output(paths["output"])
    assert rows["good"]["argil_status"] == "IDLE"
    assert rows["avatar"]["argil_status"] == "INVALID"
    assert rows["avatar"]["argil_error"] == (
        'moments[0].avatarId: unknown avatar "avatar-ema"; did you mean "avatar-emma"?'
    )
    assert rows["gesture"]["argil_error"] == (
        'moments[0].gestureSlug: unknown gesture for avatar avatar-emma "wavee"; '
        'did you mean "wave"? (its gestures: point-right, thumbs-up, wave)'
    )
    assert 'did you mean "style-classic"?' in rows["style"]["argil_error"]


def test_no_preflight_sends_without_the_catalogue(paths: dict[str, Path], fake: FakeTime) -> None:
    write_sheet(paths["sheet"], [{"id": "1", "title": "A", "avatar": "avatar-ema"}])
    with server_for(fake, paths) as server:
        outcome = run_job(spec(paths, server, fake, preflight=False))
        # The batch's listing, the row asked for in another batch (this one is new), the
        # create, its draft's price, and the listing that settles second videos.
        assert server.emulator.stats.requests == 1 + 1 + 1 + 1 + 1
    assert outcome.summary.created == 1
