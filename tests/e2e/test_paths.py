"""Paths as a new user meets them: they read the same in every command; status on a moved config
says what the run recorded; an output folder that does not exist yet is made."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from support import streams

from .test_first_run_messages import files


def test_paths_read_the_same_in_run_and_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Result]
) -> None:
    files(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, _, run_err = streams(cli("run", "s.csv", "-c", "c.yaml", "--sandbox", "--no-progress"))
    assert code == 0, run_err
    output = tmp_path / "s.sandbox.argil.csv"
    code, _, status_err = streams(cli("status", output, "--no-progress"))
    assert code == 0, status_err
    shown = "Output: s.sandbox.argil.csv (CSV, UTF-8, comma-separated)"
    assert shown in run_err.splitlines()
    assert shown in status_err.splitlines()


def test_status_on_a_moved_config_says_what_the_run_recorded(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    sheet, config = files(tmp_path)
    output = tmp_path / "o.csv"
    code, _, err = streams(
        cli("run", sheet, "-c", config, "-o", output, "--sandbox", "--no-progress")
    )
    assert code == 0, err
    config.rename(tmp_path / "elsewhere.yaml")
    code, _, err = streams(cli("status", output))
    assert code == 2
    assert err == (
        f"Error: the run recorded in {output}.sandbox-state used the config {config}, which is "
        "not there any more; put it back there, then run status again\n"
    )


def test_an_output_folder_that_does_not_exist_yet_is_made(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    # As the README's cron line has it: -o out/leads.argil.xlsx on the first night.
    sheet, config = files(tmp_path)
    output = tmp_path / "out" / "nightly" / "s.argil.xlsx"
    code, _, err = streams(
        cli("run", sheet, "-c", config, "--sandbox", "-o", output, "--no-progress")
    )
    assert code == 0, err
    assert output.exists() and output.with_name("s.argil.xlsx.sandbox-state").exists()
