"""Helpers shared by the tests: where the project's files are, a sheet of leads and the config
made for it, its output, the exactly-once check, the command line in a process of its own, and a
clock that jumps forward when slept on."""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from click.testing import Result

from pipeline.emulator import EmulatorServer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SHEETS = FIXTURES / "sheets"

# A key the tests can look for in what is printed and logged: it must never show.
CLI_KEY = "sk-test-cli-0123456789"

LEAD_HEADERS = ["email", "first_name", "company", "script"]
# The config the lead sheets above are made for: one moment of the lead's script, said by one
# avatar, each lead known by their email.
LEADS_CONFIG: dict[str, Any] = {
    "input": {"key": ["email"]},
    "video": {"name": "Intro for {{ first_name }} at {{ company }}"},
    "moments": [{"transcript": "{{ script }}", "avatar_id": "avatar-emma"}],
    # Reads unpaced too: a run reads each new draft's price (GET .../estimate) as it goes.
    "api": {"rpm": 60000, "read_rpm": 60000, "concurrency": 4},
}


def leads_config(**changes: Any) -> str:
    """The leads config as YAML, with ``changes`` by top-level section: a mapping is merged
    into the section (a value of None drops that setting), anything else replaces it, None
    drops the section. ``leads_config(api={"concurrency": 1}, limits={"transcript_chars": 200})``
    """
    document: dict[str, Any] = {}
    for section in [*LEADS_CONFIG, *(name for name in changes if name not in LEADS_CONFIG)]:
        value = LEADS_CONFIG.get(section)
        change = changes.get(section, value)
        if isinstance(value, dict) and isinstance(change, dict):
            merged = {**value, **change}
            change = {name: setting for name, setting in merged.items() if setting is not None}
        if change is not None:
            document[section] = change
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)


# The leads config with its avatar's voice named and no api section: the pace is the defaults,
# or what a test sets (an api section appended, the JobSpec's own rpm).
UNPACED_LEADS_CONFIG = leads_config(
    moments=[{**LEADS_CONFIG["moments"][0], "voice_id": "voice-emma"}], api=None
)


def id_config(limits: dict[str, Any] | None = None) -> str:
    """The config of a sheet of ``id`` and ``script`` columns: a video named by the id, one
    moment of the script; ``limits`` is a limits section to add."""
    return leads_config(
        input={"key": ["id"]}, video={"name": "Video {{ id }}"}, api={"rpm": 6000}, limits=limits
    )


def product_config(api: dict[str, Any]) -> str:
    """The config of a product sheet (``sku``, ``product``, ``script``): a video named by the
    product, one moment of its script, at the pace of ``api``."""
    return leads_config(input={"key": ["sku"]}, video={"name": "{{ product }}"}, api=api)


def lead(i: int, script: str | None = None) -> list[str]:
    text = script or f"Hi Lead {i}! We saw what Company {i} does. Here is a short idea for you."
    return [f"lead{i}@example.com", f"Lead{i}", f"Company {i}", text]


def write_sheet(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(LEAD_HEADERS)
        writer.writerows(rows)


def write_leads(path: Path, count: int, start: int = 0) -> list[str]:
    """``count`` leads keyed by email, from lead ``start`` on; returns their emails."""
    rows = [lead(i) for i in range(start, start + count)]
    write_sheet(path, rows)
    return [row[0] for row in rows]


def job_files(folder: Path, config: str, rows: int | None = None) -> dict[str, Path]:
    """A run's files in ``folder``: the config written, a lead sheet of ``rows`` leads (none
    written when None), and where the output and the state go."""
    (folder / "c.yaml").write_text(config, encoding="utf-8")
    sheet = folder / "leads.csv"
    if rows is not None:
        write_leads(sheet, rows)
    return {
        "sheet": sheet,
        "config": folder / "c.yaml",
        "output": folder / "out.csv",
        "state": folder / "out.state",
    }


def read_output(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def assert_exactly_once(server: EmulatorServer, output: Path, expected_rows: int) -> None:
    """One video per row at the API, counted by argilBatchKey, and the output's ids match."""
    counts = server.emulator.count_by_batch_key()
    rows = read_output(output)
    assert len(rows) == expected_rows
    assert len(counts) == expected_rows, "every row has a video"
    assert set(counts.values()) == {1}, f"duplicates: {[k for k, n in counts.items() if n > 1]}"
    by_key = {v["extras"]["argilBatchKey"]: vid for vid, v in server.emulator.videos.items()}
    for row in rows:
        assert row["argil_video_id"] == by_key[row["argil_row_key"]], row


def streams(result: Result) -> tuple[int, str, str]:
    """An in-process run's exit code, stdout and stderr, for checks that read them together."""
    return result.exit_code, result.stdout, result.stderr


def spawn(
    *args: str | Path,
    key: str = CLI_KEY,
    stdout: int = subprocess.PIPE,
    stderr: int = subprocess.PIPE,
    cwd: Path = ROOT,
) -> subprocess.Popen[str]:
    """``argil-batch *args`` in a process of its own, for what in-process runs cannot show:
    signals, a kill -9, locks held by another process. ARGIL_API_KEY is ``key``."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *(str(arg) for arg in args)],
        env={**os.environ, "ARGIL_API_KEY": key},
        stdout=stdout,
        stderr=stderr,
        text=True,
        cwd=cwd,
    )


class VirtualTime:
    """A clock that jumps forward when slept on, shared by the client and the emulator's rate
    window. Real time still passes underneath, so nothing that measures real time breaks."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.slept = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """The waits of a client that blocks (the Google Sheets client's, in its thread)."""
        if seconds > 0:
            with self._lock:
                self.offset += seconds
                self.slept += seconds


def count_calls(work: Callable[[], Any]) -> int:
    """Python and C function calls made while ``work`` runs: an operation count."""
    calls = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return calls


def run_args(
    files: dict[str, Path], server: EmulatorServer, *extra: str, output: Path | None = None
) -> list[str]:
    """``argil-batch run`` of ``files`` (job_files' keys) against ``server``, its output and
    state where ``files`` says (``output`` elsewhere), no progress bar."""
    return [
        "run",
        str(files["sheet"]),
        "-c",
        str(files["config"]),
        "-o",
        str(output or files["output"]),
        "--state",
        str(files["state"]),
        "--base-url",
        server.base_url,
        "--no-progress",
        *extra,
    ]
