"""Rows refused by the pre-flight are printed like validate's row errors, and ``validate``
runs the same pre-flight with ``--preflight`` (a key and a base URL) or ``--sandbox``."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from support import CLI_KEY

from pipeline.emulator import EmulatorServer

CONFIG = """\
input: {key: [id]}
video: {name: "Video {{ id }}"}
moments:
  - transcript: "Hello."
    avatar_id: "{{ avatar }}"
api: {rpm: 6000, concurrency: 4}
"""
AVATAR_ERROR = (
    'row 3: moments[0].avatarId: unknown avatar "avatar-ema"; did you mean "avatar-emma"?'
)


def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    sheet = tmp_path / "s.csv"
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "avatar"])
        writer.writerows([["a", "avatar-emma"], ["b", "avatar-ema"], ["c", "avatar-noah"]])
    return sheet, config


def test_a_run_prints_the_rows_the_preflight_refused(
    tmp_path: Path, emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    sheet, config = files(tmp_path)
    result = cli(
        "run",
        sheet,
        "-c",
        config,
        "-o",
        tmp_path / "o.csv",
        "--base-url",
        emulator.base_url,
        "--no-progress",
    )
    assert result.exit_code == 1, result.stderr
    assert AVATAR_ERROR in result.stderr.splitlines()
    assert "2 created" in result.stderr and "1 invalid" in result.stderr


def test_validate_preflight_against_an_api(
    tmp_path: Path, make_emulator: Callable[..., EmulatorServer], cli: Callable[..., Result]
) -> None:
    sheet, config = files(tmp_path)
    payloads = tmp_path / "p.jsonl"
    server = make_emulator(api_key=CLI_KEY)
    args = ["validate", sheet, "-c", config, "--preflight"]
    args += ["--base-url", server.base_url, "--payloads", payloads]
    result = cli(*args)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[0] == AVATAR_ERROR
    assert "3 rows: 2 valid, 1 invalid" in result.stdout
    assert len(payloads.read_text().splitlines()) == 2
    assert server.emulator.stats.creates == 0

    # A refused key is the API refusing the check: exit 3, one line.
    result = cli(*args, key="sk-wrong-key-000")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: pre-flight: ")
    assert "sk-wrong" not in result.stderr
    # No key at all: a usage error that says how to set one.
    result = cli(*args, key="")
    assert result.exit_code == 2 and "ARGIL_API_KEY" in result.stderr


def test_validate_sandbox_runs_the_preflight_with_no_key(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    sheet, config = files(tmp_path)
    result = cli("validate", sheet, "-c", config, "--sandbox", key="")
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[0] == AVATAR_ERROR
    # Without it, validate knows nothing of the catalogue: every row is valid.
    result = cli("validate", sheet, "-c", config, key=None)
    assert result.exit_code == 0, result.output


def test_the_cost_line_counts_only_the_rows_the_preflight_lets_through(
    tmp_path: Path, emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    sheet, config = files(tmp_path)
    result = cli("run", sheet, "-c", config, "--base-url", emulator.base_url, "--no-progress")
    assert result.exit_code == 1, result.stderr
    cost = [line for line in result.stderr.splitlines() if line.startswith("To send: ")]
    assert len(cost) == 1 and cost[0].startswith("To send: 2 videos, "), cost


def test_status_keeps_a_row_the_preflight_refused_invalid(
    tmp_path: Path, emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    sheet, config = files(tmp_path)
    output = tmp_path / "o.csv"
    args = ["run", sheet, "-c", config, "-o", output, "--no-progress"]
    cli(*args, "--base-url", emulator.base_url)
    result = cli("status", output, "--base-url", emulator.base_url)
    assert result.exit_code == 1, result.stderr
    with output.open(newline="", encoding="utf-8") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert rows["b"]["argil_status"] == "INVALID"
    assert rows["b"]["argil_error"] == AVATAR_ERROR.removeprefix("row 3: ")
