"""A transcript limit above the published 500 is allowed (the limit has moved before) but
warned about on every run and every validate, naming the published limit."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.emulator import EmulatorServer

KEY = "sk-test-limit-0123456789"
CONFIG = """\
input: {key: [id]}
video: {name: "Video {{ id }}"}
moments:
  - transcript: "{{ script }}"
    avatar_id: avatar-emma
limits: {transcript_chars: LIMIT}
api: {rpm: 6000, concurrency: 4}
"""
WARNING = (
    "Warning: limits.transcript_chars is 2000, above the published limit of 500 characters a "
    "moment: the API may refuse every longer moment (set it to 500 unless Argil has raised it)"
)


def files(tmp_path: Path, limit: int) -> tuple[Path, Path]:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.replace("LIMIT", str(limit)), encoding="utf-8")
    sheet = tmp_path / "s.csv"
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "script"])
        writer.writerows([["a", "Short."], ["b", "Word " * 150]])  # 750 characters
    return sheet, config


@pytest.mark.parametrize("limit", [2000, 500, 250])
def test_validate_warns_above_the_published_limit(tmp_path: Path, limit: int) -> None:
    sheet, config = files(tmp_path, limit)
    result = CliRunner().invoke(main, ["validate", str(sheet), "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert (WARNING in result.stderr.splitlines()) == (limit == 2000)
    assert ("Warning:" in result.stderr) == (limit > 500)


def test_every_run_warns_and_the_api_refuses_the_long_moment(tmp_path: Path) -> None:
    sheet, config = files(tmp_path, 2000)
    with EmulatorServer() as server:
        args = ["run", str(sheet), "-c", str(config), "-o", str(tmp_path / "o.csv")]
        args += ["--base-url", server.base_url, "--no-progress"]
        for _ in range(2):
            result = CliRunner().invoke(main, args, env={"ARGIL_API_KEY": KEY})
            assert WARNING in result.stderr.splitlines()
        # Still allowed: the long row was sent whole, and the API (at 500) refused it.
        assert result.exit_code == 1
        assert "1 failed" in result.stderr
