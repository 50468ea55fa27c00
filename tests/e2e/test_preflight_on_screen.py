"""Rows refused by the pre-flight are printed like validate's row errors, and ``validate``
runs the same pre-flight with ``--preflight`` (a key and a base URL) or ``--sandbox``."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import main
from pipeline.emulator import EmulatorServer, EmulatorSettings

KEY = "sk-test-preflight-0123456789"
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


def test_a_run_prints_the_rows_the_preflight_refused(tmp_path: Path) -> None:
    sheet, config = files(tmp_path)
    with EmulatorServer() as server:
        result = CliRunner().invoke(
            main,
            [
                "run",
                str(sheet),
                "-c",
                str(config),
                "-o",
                str(tmp_path / "o.csv"),
                "--base-url",
                server.base_url,
                "--no-progress",
            ],
            env={"ARGIL_API_KEY": KEY},
        )
    assert result.exit_code == 1, result.stderr
    assert AVATAR_ERROR in result.stderr.splitlines()
    assert "2 created" in result.stderr and "1 invalid" in result.stderr


def test_validate_preflight_against_an_api(tmp_path: Path) -> None:
    sheet, config = files(tmp_path)
    payloads = tmp_path / "p.jsonl"
    with EmulatorServer(EmulatorSettings(api_key=KEY)) as server:
        args = ["validate", str(sheet), "-c", str(config), "--preflight"]
        args += ["--base-url", server.base_url, "--payloads", str(payloads)]
        result = CliRunner().invoke(main, args, env={"ARGIL_API_KEY": KEY})
        assert result.exit_code == 1, result.output
        assert result.stdout.splitlines()[0] == AVATAR_ERROR
        assert "3 rows: 2 valid, 1 invalid" in result.stdout
        assert len(payloads.read_text().splitlines()) == 2
        assert server.emulator.stats.creates == 0

        # A refused key is the API refusing the check: exit 3, one line.
        result = CliRunner().invoke(main, args, env={"ARGIL_API_KEY": "sk-wrong-key-000"})
        assert result.exit_code == 3
        assert result.stderr.startswith("Error: pre-flight: ")
        assert "sk-wrong" not in result.stderr
        # No key at all: a usage error that says how to set one.
        result = CliRunner().invoke(main, args, env={"ARGIL_API_KEY": ""})
        assert result.exit_code == 2 and "ARGIL_API_KEY" in result.stderr


def test_validate_sandbox_runs_the_preflight_with_no_key(tmp_path: Path) -> None:
    sheet, config = files(tmp_path)
    result = CliRunner().invoke(
        main, ["validate", str(sheet), "-c", str(config), "--sandbox"], env={"ARGIL_API_KEY": ""}
    )
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[0] == AVATAR_ERROR
    # Without it, validate knows nothing of the catalogue: every row is valid.
    result = CliRunner().invoke(main, ["validate", str(sheet), "-c", str(config)])
    assert result.exit_code == 0, result.output


def test_the_cost_line_counts_only_the_rows_the_preflight_lets_through(tmp_path: Path) -> None:
    sheet, config = files(tmp_path)
    with EmulatorServer() as server:
        result = CliRunner().invoke(
            main,
            ["run", str(sheet), "-c", str(config), "--base-url", server.base_url, "--no-progress"],
            env={"ARGIL_API_KEY": KEY},
        )
    assert result.exit_code == 1, result.stderr
    cost = [line for line in result.stderr.splitlines() if line.startswith("To send: ")]
    assert len(cost) == 1 and cost[0].startswith("To send: 2 videos, "), cost


def test_status_keeps_a_row_the_preflight_refused_invalid(tmp_path: Path) -> None:
    sheet, config = files(tmp_path)
    output = tmp_path / "o.csv"
    with EmulatorServer() as server:
        env = {"ARGIL_API_KEY": KEY}
        args = ["run", str(sheet), "-c", str(config), "-o", str(output), "--no-progress"]
        CliRunner().invoke(main, [*args, "--base-url", server.base_url], env=env)
        result = CliRunner().invoke(
            main, ["status", str(output), "--base-url", server.base_url], env=env
        )
        assert result.exit_code == 1, result.stderr
    with output.open(newline="", encoding="utf-8") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert rows["b"]["argil_status"] == "INVALID"
    assert rows["b"]["argil_error"] == AVATAR_ERROR.removeprefix("row 3: ")
