"""A state file damaged on disk (bytes overwritten in its middle pages) is refused like any
other unusable state file: one `Error:` line that says what to do, exit 2, nothing sent."""

from __future__ import annotations

import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from support import job_files, leads_config, run_args

from pipeline.emulator import EmulatorServer

CONFIG = leads_config(api={"concurrency": 8})
PAGE = 4096


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
    tmp_path: Path, emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    files = job_files(tmp_path, CONFIG, rows=200)
    run = run_args(files, emulator)
    result = cli(*run)
    assert result.exit_code == 0, result.stderr
    assert len(emulator.emulator.videos) == 200
    damage(files["state"])

    refusal = re.compile(
        rf"Error: state file {re.escape(str(files['state']))} is damaged \([^\n]+\); "
        r"move it aside \(keep it for support\) and run again: the run finds this batch's "
        r"videos on the API and adopts them, none is made twice\n"
    )
    result = cli(*run)
    assert result.exit_code == 2, result.stderr
    assert refusal.fullmatch(result.stderr), result.stderr
    assert len(emulator.emulator.videos) == 200, "nothing was sent"

    # status reads the same file: the same refusal, not a traceback.
    result = cli("status", str(files["output"]), "--state", str(files["state"]))
    assert result.exit_code == 2, result.stderr
    assert refusal.fullmatch(result.stderr), result.stderr

    # Doing what it says works, and makes nothing twice.
    shutil.move(files["state"], tmp_path / "damaged.state")
    result = cli(*run)
    assert result.exit_code == 0, result.stderr
    assert len(emulator.emulator.videos) == 200
