"""A state file damaged on disk (bytes overwritten in its middle pages) is refused like any
other unusable state file: one `Error:` line that says what to do, exit 2, nothing sent."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

from click.testing import CliRunner
from support import job_files

from pipeline.cli import main
from pipeline.emulator import EmulatorServer

KEY = "sk-damaged"
CONFIG = """\
input: {key: [email]}
video: {name: "{{ first_name }}"}
moments:
  - transcript: "{{ script }}"
    avatar_id: avatar-emma
api: {rpm: 60000, concurrency: 8}
"""
PAGE = 4096


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"ARGIL_API_KEY": KEY})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stderr


def damage(state: Path) -> None:
    """Random bytes over the middle third of the file's pages, as a bad disk or a careless
    copy leaves them; the first page (the header SQLite checks at open) stays intact."""
    pages = state.stat().st_size // PAGE
    assert pages >= 9, "a journal of ~200 rows spans a few dozen pages"
    noise = random.Random(21)
    with state.open("r+b") as handle:
        for page in range(pages // 3, 2 * pages // 3):
            handle.seek(page * PAGE)
            handle.write(noise.randbytes(PAGE))


def test_a_damaged_state_file_is_refused_with_what_to_do_and_nothing_is_sent(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    files = job_files(tmp_path, CONFIG, rows=200)
    run = [
        "run",
        str(files["sheet"]),
        "-c",
        str(files["config"]),
        "-o",
        str(files["output"]),
        "--state",
        str(files["state"]),
        "--base-url",
        emulator.base_url,
        "--no-progress",
    ]
    code, err = cli(*run)
    assert code == 0, err
    assert len(emulator.emulator.videos) == 200
    damage(files["state"])

    refusal = re.compile(
        rf"Error: state file {re.escape(str(files['state']))} is damaged \([^\n]+\); "
        r"move it aside \(keep it for support\) and run again: the run finds this batch's "
        r"videos on the API and adopts them, none is made twice\n"
    )
    code, err = cli(*run)
    assert code == 2, err
    assert refusal.fullmatch(err), err
    assert len(emulator.emulator.videos) == 200, "nothing was sent"

    # status reads the same file: the same refusal, not a traceback.
    code, err = cli("status", str(files["output"]), "--state", str(files["state"]))
    assert code == 2, err
    assert refusal.fullmatch(err), err

    # Doing what it says works, and makes nothing twice.
    shutil.move(files["state"], tmp_path / "damaged.state")
    code, err = cli(*run)
    assert code == 0, err
    assert len(emulator.emulator.videos) == 200
