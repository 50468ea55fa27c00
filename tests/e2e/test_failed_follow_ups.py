"""A render that could not start, or a status that could not be read, is a failed row: it is
counted as failed and the run exits 1 (the video's last known status stays in the sheet,
argil_error says what went wrong). Real command line, emulator on loopback, real files."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from support import job_files, read_output

from pipeline.cli import main
from pipeline.emulator import EmulatorServer, EmulatorSettings

KEY = "sk-test-follow-ups-0123456789"

CONFIG = """\
input:
  key: [email]
video:
  name: "Intro for {{ first_name }}"
moments:
  - transcript: "{{ script }}"
    avatar_id: avatar-emma
api: {rpm: 6000, concurrency: 4}
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return job_files(tmp_path, CONFIG, rows=5)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"ARGIL_API_KEY": KEY})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stderr


def run(files: dict[str, Path], server: EmulatorServer, *extra: str) -> tuple[int, str]:
    return invoke(
        "run",
        str(files["sheet"]),
        "-c",
        str(files["config"]),
        "-o",
        str(files["output"]),
        "--base-url",
        server.base_url,
        "--no-progress",
        *extra,
    )


def forget(server: EmulatorServer, video_ids: list[str]) -> None:
    """The API no longer knows these videos (deleted in its dashboard, say)."""
    emulator = server.emulator
    with emulator._lock:
        for video_id in video_ids:
            del emulator.videos[video_id]


def test_a_render_that_cannot_start_is_a_failed_row(files: dict[str, Path]) -> None:
    with EmulatorServer() as server:
        code, err = run(files, server)
        assert code == 0, err
        rows = read_output(files["output"])
        forget(server, [rows[1]["argil_video_id"], rows[3]["argil_video_id"]])

        code, err = run(files, server, "--render")
        assert code == 1, err
        assert "2 failed" in err and "3 renders started" in err
        rows = read_output(files["output"])
        for row in (rows[1], rows[3]):
            assert row["argil_error"].startswith("render not started: "), row
            assert row["argil_status"] == "IDLE"
        assert [row["argil_status"] for row in (rows[0], rows[2], rows[4])] == [
            "GENERATING_AUDIO"
        ] * 3


def test_a_status_that_cannot_be_read_is_a_failed_row(files: dict[str, Path]) -> None:
    with EmulatorServer() as server:
        code, err = run(files, server, "--render")
        assert code == 0, err
        rows = read_output(files["output"])
        forget(server, [rows[2]["argil_video_id"]])

        code, err = invoke("status", str(files["output"]), "--no-progress")
        assert code == 1, err
        assert "1 failed" in err
        rows = read_output(files["output"])
        assert rows[2]["argil_error"] == "the video no longer exists on the API"
        assert all(not row["argil_error"] for i, row in enumerate(rows) if i != 2), rows


def test_status_wait_does_not_poll_a_video_the_api_no_longer_knows(
    files: dict[str, Path],
) -> None:
    with EmulatorServer(EmulatorSettings(render_seconds=3600)) as server:
        code, err = run(files, server, "--render")
        assert code == 0, err
        missing = read_output(files["output"])[0]["argil_video_id"]
        forget(server, [missing])
        code, err = invoke(
            "status", str(files["output"]), "--wait", "--wait-timeout", "6", "--no-progress"
        )
        assert code == 1, err
        assert "1 failed" in err and "4 still rendering" in err
        # The listing never shows the missing video: it is asked for once, not at every sweep.
        assert server.emulator.stats.video_reads == {missing: 1}
        # /_emulator/stats reports them too.
        stats = httpx.get(f"{server.root_url}/_emulator/stats").json()
        assert stats["video_reads"] == {missing: 1}
