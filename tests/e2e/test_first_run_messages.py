"""What a new user reads first: "1 row", not "1 rows"; -v shows each request (never the key);
init says what run says about an encoding."""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from support import CLI_KEY, id_config, streams

from pipeline.emulator import EmulatorServer


def files(folder: Path, rows: int = 1) -> tuple[Path, Path]:
    config = folder / "c.yaml"
    config.write_text(id_config(), encoding="utf-8")
    sheet = folder / "s.csv"
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "script"])
        writer.writerows([[f"r{i}", "Hello."] for i in range(rows)])
    return sheet, config


def test_one_row_is_one_row(
    tmp_path: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    sheet, config = files(tmp_path)
    _, out, _ = streams(cli("validate", sheet, "-c", config))
    assert out.splitlines()[-1].startswith("1 row: 1 valid, 0 invalid, 0 skipped; 1 moment, ")
    args = ["run", str(sheet), "-c", str(config), "--base-url", emulator.base_url]
    code, _, err = streams(cli(*args, "--no-progress", "--no-preflight"))
    assert code == 0, err
    # The batch is listed (nothing of it exists yet), the row is asked for in another
    # batch (this one is new), created, its draft priced, and the batch is listed again to
    # settle a second video another run may have made.
    assert "1 row: 1 created, " in err and "(5 requests, " in err
    assert "Drafts: 1, " in err and "credits to render them all (the API's exact estimate)" in err
    assert "To send: 1 video, " in err
    _, _, err = streams(cli(*args, "--dry-run"))
    assert "Dry run: 1 row: 0 would be sent, 1 already has a video," in err


def test_verbose_logs_each_request_and_never_the_key(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    cli: Callable[..., Result],
    emulator: EmulatorServer,
) -> None:
    sheet, config = files(tmp_path, rows=2)
    caplog.set_level(logging.INFO, logger="pipeline")
    code, _, err = streams(
        cli(
            "run",
            sheet,
            "-c",
            config,
            "--base-url",
            emulator.base_url,
            "-v",
            "--no-progress",
        )
    )
    assert code == 0, err
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.argil.client"]
    requests = [line for line in lines if " -> " in line]
    assert any(line.startswith("GET /avatars -> 200 in ") for line in requests), lines
    assert sum(1 for line in requests if line.startswith("POST /videos -> 20")) == 2
    assert all(line.endswith(" ms") for line in requests)
    assert CLI_KEY not in caplog.text and CLI_KEY not in err


def test_init_prints_the_encoding_note_that_run_prints(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    sheet = tmp_path / "latin.csv"
    sheet.write_bytes("id,script\nr1,Caf\xe9 cr\xe8me.\n".encode("cp1252"))
    code, out, err = streams(cli("init", sheet))
    assert code == 0
    assert out.startswith("# Starter config for latin.csv")
    notes = [line for line in err.splitlines() if line.startswith("Note: ")]
    assert notes and "cp1252" in notes[0]
    config = tmp_path / "c.yaml"
    config.write_text(id_config(), encoding="utf-8")
    _, _, validate_err = streams(cli("validate", sheet, "-c", config))
    assert notes[0] in validate_err.splitlines()
