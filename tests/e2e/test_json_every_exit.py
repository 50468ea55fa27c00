"""With --json, every exit prints one JSON object on standard output, a refusal included: a
cron job's JSON log gets one line for every night. The Error: line stays on standard error."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from support import job_files, leads_config

from pipeline.emulator import EmulatorServer
from pipeline.journal import run_lock


def invoke(cli: Callable[..., Result], *args: str) -> tuple[int, dict[str, object], str]:
    result = cli(*args)
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    return result.exit_code, json.loads(lines[0]), result.stderr


def test_a_config_error_prints_its_json_line(tmp_path: Path, cli: Callable[..., Result]) -> None:
    files = job_files(tmp_path, leads_config(), rows=2)
    code, data, err = invoke(
        cli, "run", str(files["sheet"]), "-c", str(tmp_path / "no.yaml"), "--json"
    )
    assert code == 2
    assert data == {"exit_code": 2, "error": f"{tmp_path / 'no.yaml'}: no such file"}
    assert err.startswith("Error: ")


def test_a_usage_error_found_by_click_prints_its_json_line(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    files = job_files(tmp_path, leads_config(), rows=2)
    args = ["run", str(files["sheet"]), "-c", str(files["config"]), "--rpm", "fast", "--json"]
    code, data, _ = invoke(cli, *args)
    assert code == 2
    assert data == {
        "exit_code": 2,
        "error": "Invalid value for '--rpm': 'fast' is neither a number nor auto",
    }


def test_a_run_refused_by_the_lock_prints_its_json_line(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    files = job_files(tmp_path, leads_config(), rows=2)
    with EmulatorServer() as server:
        args = ["run", str(files["sheet"]), "-c", str(files["config"]), "-o", str(files["output"])]
        args += ["--state", str(files["state"]), "--base-url", server.base_url, "--json"]
        with run_lock(files["state"]):
            code, data, _ = invoke(cli, *args)
        assert code == 4
        assert data["exit_code"] == 4
        assert "another run" in str(data["error"])
        assert server.emulator.stats.requests == 0
        # A run that goes through prints its summary, as before.
        code, data, _ = invoke(cli, *args)
        assert code == 0 and data["created"] == 2 and data["exit_code"] == 0
