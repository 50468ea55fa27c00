"""The command line as a user meets it: exit codes and the exact first line of each error."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import Result
from openpyxl import load_workbook
from support import ROOT, streams

from pipeline.config import load_config

EXAMPLES = ROOT / "input_examples"
CONFIGS = ROOT / "configs"


def test_validate_a_good_example_exits_0_with_a_summary(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    payloads = tmp_path / "p.jsonl"
    code, out, err = streams(
        cli(
            "validate",
            EXAMPLES / "launches.xlsx",
            "-c",
            CONFIGS / "launches.yaml",
            "--payloads",
            payloads,
        )
    )
    assert code == 0, err
    assert out.startswith("6 rows: 6 valid, 0 invalid, 0 skipped; ")
    assert "estimate: about" in out
    lines = [json.loads(line) for line in payloads.read_text(encoding="utf-8").splitlines()]
    assert [line["row"] for line in lines] == [2, 3, 4, 5, 6, 7]
    assert all(line["body"]["extras"]["argilBatchKey"] == line["key"] for line in lines)
    # Long scripts became several moments, each within the limit.
    assert max(len(line["body"]["moments"]) for line in lines) > 3


def test_validate_the_broken_example_lists_row_errors_and_exits_1(
    cli: Callable[..., Result],
) -> None:
    code, out, _ = streams(cli("validate", EXAMPLES / "broken.csv", "-c", CONFIGS / "broken.yaml"))
    assert code == 1
    lines = out.splitlines()
    assert "row 3: moments[0].avatarId: is blank" in lines
    assert "row 4: moments[0].zoom.keyframes[1].scale: must be at most 3, got 4" in lines
    assert lines[-1].startswith("12 rows: 2 valid, 9 invalid, 1 skipped; ")


@pytest.mark.parametrize("setup", ["missing sheet", "missing config", "empty sheet", "unknown key"])
def test_unusable_input_is_an_error_line_and_exit_2(
    tmp_path: Path, setup: str, cli: Callable[..., Result]
) -> None:
    sheet, config = EXAMPLES / "leads.csv", CONFIGS / "leads.yaml"
    if setup == "missing sheet":
        sheet = tmp_path / "nope.csv"
    elif setup == "missing config":
        config = tmp_path / "nope.yaml"
    elif setup == "empty sheet":
        sheet = tmp_path / "empty.csv"
        sheet.write_bytes(b"")
    else:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["video"]["subtitle"] = data["video"].pop("subtitles")
        config = tmp_path / "typo.yaml"
        config.write_text(yaml.safe_dump(data), encoding="utf-8")
    for args in (["validate"], ["run", "--dry-run"], ["run", "--sandbox"]):
        code, _, err = streams(cli(*args, sheet, "-c", config))
        assert code == 2, (args, err)
        assert err.count("\n") == 1 or setup == "unknown key", err
        assert err.startswith("Error: ") and "Traceback" not in err
        if setup == "unknown key":
            assert "did you mean 'subtitles'?" in err


def test_run_and_validate_agree_on_what_is_sent(tmp_path: Path, cli: Callable[..., Result]) -> None:
    payloads = tmp_path / "p.jsonl"
    code, _, err = streams(
        cli(
            "validate",
            EXAMPLES / "leads.csv",
            "-c",
            CONFIGS / "leads.yaml",
            "--payloads",
            payloads,
        )
    )
    assert code == 0, err
    keys = {json.loads(line)["key"] for line in payloads.read_text(encoding="utf-8").splitlines()}
    output = tmp_path / "out.csv"
    code, out, err = streams(
        cli(
            "run",
            EXAMPLES / "leads.csv",
            "-c",
            CONFIGS / "leads.yaml",
            "--sandbox",
            "-o",
            output,
            "--json",
        )
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["created"] == len(keys) and summary["exit_code"] == 0
    store = json.loads(
        output.with_name(output.name + ".sandbox-state.api.json").read_text(encoding="utf-8")
    )
    sent = {v["extras"]["argilBatchKey"] for v in store["videos"].values()}
    assert sent == keys


def test_init_prints_a_config_that_loads(tmp_path: Path, cli: Callable[..., Result]) -> None:
    code, out, err = streams(cli("init", EXAMPLES / "leads.csv"))
    assert code == 0, err
    config = tmp_path / "starter.yaml"
    config.write_text(out, encoding="utf-8")
    loaded = load_config(config)
    assert loaded.input.key == ["Email"]
    code, out, err = streams(cli("validate", EXAMPLES / "leads.csv", "-c", config))
    assert code == 0, out + err


def test_sandbox_with_dry_run_is_a_usage_error(cli: Callable[..., Result]) -> None:
    code, _, err = streams(
        cli(
            "run",
            EXAMPLES / "leads.csv",
            "-c",
            CONFIGS / "leads.yaml",
            "--sandbox",
            "--dry-run",
        )
    )
    assert code == 2
    assert err == "Error: --sandbox and --dry-run go separately: pick one\n"


def test_a_callback_url_must_be_https(cli: Callable[..., Result]) -> None:
    code, _, err = streams(
        cli(
            "run",
            EXAMPLES / "leads.csv",
            "-c",
            CONFIGS / "leads.yaml",
            "--sandbox",
            "--render",
            "--callback-url",
            "http://example.com/hook",
        )
    )
    assert code == 2
    assert err.startswith("Error: --callback-url must be an https:// URL")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_emulator_command_serves_the_api() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "emulator", "--port", str(port), "--api-key", "k1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/v1/avatars", headers={"x-api-key": "k1"}
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.05)
        assert answer.status_code == 200
        assert "avatar-emma" in {a["id"] for a in answer.json()}
        refused = httpx.get(f"http://127.0.0.1:{port}/v1/avatars", headers={"x-api-key": "k2"})
        assert refused.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_emulator_refuses_a_public_address(cli: Callable[..., Result]) -> None:
    code, _, err = streams(cli("emulator", "--host", "0.0.0.0"))
    assert code == 2
    assert err.startswith("Error: ") and "loopback" in err


def test_run_lists_the_first_invalid_rows_and_counts_the_rest(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    sheet = tmp_path / "many.csv"
    lines = ["Email,First Name,Company,Intro,Avatar,Voice"]
    lines += [f"lead{i}@example.com,Lead,Acme,,avatar-emma,voice-emma" for i in range(30)]
    sheet.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(
        'input: {key: [Email]}\nvideo: {name: "{{ company }}"}\n'
        'moments: [{transcript: "{{ intro }}", avatar_id: "{{ avatar }}"}]\n',
        encoding="utf-8",
    )
    code, _, err = streams(cli("run", sheet, "-c", config, "--dry-run"))
    assert code == 1
    listed = [line for line in err.splitlines() if line.startswith("row ")]
    assert len(listed) == 20 and listed[0].startswith("row 2: ")
    assert "... and 10 more invalid rows" in err


def test_an_xlsx_input_gives_an_xlsx_output_with_a_plain_progress_line(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    sheet = tmp_path / "launches.xlsx"
    shutil.copy(EXAMPLES / "launches.xlsx", sheet)
    code, _, err = streams(cli("run", sheet, "-c", CONFIGS / "launches.yaml", "--sandbox"))
    assert code == 0, err
    # Not a terminal (as under cron): plain progress lines, no bar.
    assert "progress: 6/6 rows, 0 failed" in err
    # A sandbox run writes its own output, beside the real run's.
    output = tmp_path / "launches.sandbox.argil.xlsx"
    assert f"Output: {output}" in err
    rows = list(load_workbook(output, read_only=True)["Launches"].iter_rows(values_only=True))
    header = list(rows[0])
    assert header[-11:] == [
        "argil_row_key",
        "argil_video_id",
        "argil_status",
        "argil_error",
        "argil_moments",
        "argil_preview_url",
        "argil_video_url",
        "argil_updated_at",
        "argil_duration",
        "argil_credits",
        "argil_file",
    ]
    ids = [row[header.index("argil_video_id")] for row in rows[1:]]
    assert len(ids) == 6 and all(ids)
