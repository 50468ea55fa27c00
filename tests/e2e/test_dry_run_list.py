"""``run --dry-run`` lists what it would send (row, key, video name, moments) and why each other
row is not sent; a ``--rows`` that selects no data row is a usage error."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from pipeline.emulator import EmulatorServer

CONFIG = """\
input: {key: [id], skip_when_blank: [script]}
video: {name: "Video {{ id }}"}
moments:
  - transcript: "{{ script }}"
    avatar_id: "{{ avatar }}"
limits: {transcript_chars: 20}
api: {rpm: 6000, concurrency: 4}
"""


def write(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "script", "avatar"])
        writer.writerows(rows)


def invoke(
    cli: Callable[..., Result], tmp_path: Path, server: EmulatorServer, *extra: str
) -> tuple[int, str, str]:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    args = ["run", tmp_path / "s.csv", "-c", config, "-o", tmp_path / "o.csv"]
    result = cli(*args, "--base-url", server.base_url, "--no-progress", *extra)
    return result.exit_code, result.stdout, result.stderr


def test_dry_run_lists_each_row_and_why(
    tmp_path: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    sheet = tmp_path / "s.csv"
    write(sheet, [["a", "Hello there.", "avatar-emma"], ["b", "Hi.", "avatar-emma"]])
    assert invoke(cli, tmp_path, emulator)[0] == 0
    write(
        sheet,
        [
            ["a", "Hello there.", "avatar-emma"],
            ["b", "Hi again.", "avatar-emma"],
            ["c", "A longer script. It takes two moments.", "avatar-emma"],
            ["d", "", "avatar-emma"],
            ["e", "No avatar.", ""],
        ],
    )
    requests = emulator.emulator.stats.requests
    code, out, err = invoke(cli, tmp_path, emulator, "--dry-run")
    assert code == 1, err  # row e is invalid
    assert emulator.emulator.stats.requests == requests
    video_a = next(iter(emulator.emulator.videos))
    lines = out.splitlines()
    # The row key (what the journal and extras.argilBatchKey know the row by).
    assert lines[2].startswith('row 4: would send "Video c" (2 moments), key k-')
    key = lines[2].rsplit(" ", 1)[1]
    assert lines == [
        f"row 2: not sent: already has video {video_a} (IDLE)",
        "row 3: not sent: changed: the row changed since its video was made "
        "(moments[0].transcript); the video was left alone (run with --resend-changed to "
        "make a new one)",
        f'row 4: would send "Video c" (2 moments), key {key}',
        "row 5: not sent: skipped: script is blank",
        "row 6: not sent: invalid: moments[0].avatarId: is blank",
    ]
    assert "Dry run: 5 rows: 1 would be sent" in err

    code, out, _ = invoke(cli, tmp_path, emulator, "--dry-run", "--json")
    planned = json.loads(out)["planned"]
    assert [p["row"] for p in planned if p["send"]] == [4]
    assert planned[2] == {
        "row": 4,
        "key": key,
        "send": True,
        "name": "Video c",
        "moments": 2,
        "reason": "",
    }


def test_rows_selecting_no_data_row_is_a_usage_error(
    tmp_path: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    write(tmp_path / "s.csv", [["a", "Hello.", "avatar-emma"], ["b", "Hi.", "avatar-emma"]])
    for extra in (["--dry-run"], []):
        code, _, err = invoke(cli, tmp_path, emulator, "--rows", "10-20", *extra)
        assert code == 2
        assert err == (
            f"Error: --rows 10-20 selects no data row: {tmp_path / 's.csv'}'s data rows are "
            "2 to 3 (row 1 is the header)\n"
        )
    assert emulator.emulator.stats.requests == 0
