"""A render that could not start, or a status that could not be read, is a failed row: it is
counted as failed and the run exits 1 (the video's last known status stays in the sheet,
argil_error says what went wrong). Real command line, emulator on loopback, real files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from support import job_files, leads_config, read_output

from pipeline.emulator import EmulatorServer, EmulatorSettings


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return job_files(tmp_path, leads_config(api={"rpm": 6000}), rows=5)


def run(
    cli: Callable[..., Result], files: dict[str, Path], server: EmulatorServer, *extra: str
) -> Result:
    return cli(
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


def test_a_render_that_cannot_start_is_a_failed_row(
    files: dict[str, Path], cli: Callable[..., Result]
) -> None:
    with EmulatorServer() as server:
        result = run(cli, files, server)
        assert result.exit_code == 0, result.stderr
        rows = read_output(files["output"])
        forget(server, [rows[1]["argil_video_id"], rows[3]["argil_video_id"]])

        result = run(cli, files, server, "--render")
        assert result.exit_code == 1, result.stderr
        assert "2 failed" in result.stderr and "3 renders started" in result.stderr
        rows = read_output(files["output"])
        for row in (rows[1], rows[3]):
            assert row["argil_error"].startswith("render not started: "), row
            assert row["argil_status"] == "IDLE"
        assert [row["argil_status"] for row in (rows[0], rows[2], rows[4])] == [
            "GENERATING_AUDIO"
        ] * 3


def test_a_status_that_cannot_be_read_is_a_failed_row(
    files: dict[str, Path], cli: Callable[..., Result]
) -> None:
    with EmulatorServer() as server:
        result = run(cli, files, server, "--render")
        assert result.exit_code == 0, result.stderr
        rows = read_output(files["output"])
        forget(server, [rows[2]["argil_video_id"]])

        result = cli("status", str(files["output"]), "--no-progress")
        assert result.exit_code == 1, result.stderr
        assert "1 failed" in result.stderr
        rows = read_output(files["output"])
        assert rows[2]["argil_error"] == "the video no longer exists on the API"
        assert all(not row["argil_error"] for i, row in enumerate(rows) if i != 2), rows


def test_status_wait_does_not_poll_a_video_the_api_no_longer_knows(
    files: dict[str, Path],
    cli: Callable[..., Result],
) -> None:
    with EmulatorServer(EmulatorSettings(render_seconds=3600)) as server:
        result = run(cli, files, server, "--render")
        assert result.exit_code == 0, result.stderr
        missing = read_output(files["output"])[0]["argil_video_id"]
        forget(server, [missing])
        result = cli(
            "status", str(files["output"]), "--wait", "--wait-timeout", "6", "--no-progress"
        )
        assert result.exit_code == 1, result.stderr
        assert "1 failed" in result.stderr and "4 still rendering" in result.stderr
        # The listing never shows the missing video: it is asked for once, not at every sweep.
        assert server.emulator.stats.video_reads == {missing: 1}
        # /_emulator/stats reports them too.
        stats = httpx.get(f"{server.root_url}/_emulator/stats").json()
        assert stats["video_reads"] == {missing: 1}
