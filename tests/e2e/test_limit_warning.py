"""A transcript limit above the published 500 is allowed (the limit has moved before) but
warned about on every run and every validate, naming the published limit."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from support import id_config

from pipeline.emulator import EmulatorServer

WARNING = (
    "Warning: limits.transcript_chars is 2000, above the published limit of 500 characters a "
    "moment: the API may refuse every longer moment (set it to 500 unless Argil has raised it)"
)


def files(tmp_path: Path, limit: int) -> tuple[Path, Path]:
    config = tmp_path / "c.yaml"
    config.write_text(id_config(limits={"transcript_chars": limit}), encoding="utf-8")
    sheet = tmp_path / "s.csv"
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "script"])
        writer.writerows([["a", "Short."], ["b", "Word " * 150]])  # 750 characters
    return sheet, config


@pytest.mark.parametrize("limit", [2000, 500, 250])
def test_validate_warns_above_the_published_limit(
    tmp_path: Path, limit: int, cli: Callable[..., Result]
) -> None:
    sheet, config = files(tmp_path, limit)
    result = cli("validate", sheet, "-c", config)
    assert result.exit_code == 0, result.output
    assert (WARNING in result.stderr.splitlines()) == (limit == 2000)
    assert ("Warning:" in result.stderr) == (limit > 500)


def test_every_run_warns_and_the_api_refuses_the_long_moment(
    tmp_path: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    sheet, config = files(tmp_path, 2000)
    args = ["run", sheet, "-c", config, "-o", tmp_path / "o.csv"]
    args += ["--base-url", emulator.base_url, "--no-progress"]
    for _ in range(2):
        result = cli(*args)
        assert WARNING in result.stderr.splitlines()
    # Still allowed: the long row was sent whole, and the API (at 500) refused it.
    assert result.exit_code == 1
    assert "1 failed" in result.stderr
