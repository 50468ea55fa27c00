"""A row edited since its video was made: CHANGED names the fields that changed, is counted
and reported, and does not make the run fail (a nightly CRM export changes every day)."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from pipeline.emulator import EmulatorServer
from pipeline.engine.changes import changed_fields, describe, field_digests

CONFIG = """\
input: {key: [id]}
video:
  name: "{{ title }}"
  extras: {stage: "{{ stage }}"}
moments:
  - transcript: "{{ script }}"
    avatar_id: avatar-emma
api: {rpm: 6000, concurrency: 4}
"""


def write(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "stage", "script"])
        writer.writerows(rows)


def read(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


def run(
    cli: Callable[..., Result], tmp_path: Path, server: EmulatorServer, *extra: str
) -> tuple[int, str]:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    args = ["run", tmp_path / "crm.csv", "-c", config, "-o", tmp_path / "o.csv"]
    result = cli(*args, "--base-url", server.base_url, "--no-progress", *extra)
    return result.exit_code, result.stderr


def test_changed_rows_name_their_fields_and_do_not_fail_the_night(
    tmp_path: Path, emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    sheet = tmp_path / "crm.csv"
    write(
        sheet,
        [
            ("1", "Ada", "lead", "Hi Ada."),
            ("2", "Bob", "lead", "Hi Bob."),
            ("3", "Cy", "won", "Hi."),
        ],
    )
    assert run(cli, tmp_path, emulator)[0] == 0
    write(
        sheet,
        [
            ("1", "Ada L.", "deal", "Hi Ada."),
            ("2", "Bob", "lead", "Hello Bob."),
            ("3", "Cy", "won", "Hi."),
        ],
    )
    code, err = run(cli, tmp_path, emulator)
    assert code == 0, err
    assert "2 changed" in err
    rows = read(tmp_path / "o.csv")
    assert rows["1"]["argil_status"] == rows["2"]["argil_status"] == "CHANGED"
    assert rows["1"]["argil_error"].startswith(
        "the row changed since its video was made (name, extras.stage); "
    )
    assert "(moments[0].transcript)" in rows["2"]["argil_error"]
    assert "--resend-changed" in rows["1"]["argil_error"]
    assert rows["3"]["argil_status"] == "IDLE"
    # --json says the same to a scheduler.
    code, _ = run(cli, tmp_path, emulator, "--json")
    assert code == 0


def test_a_state_file_without_digests_still_says_changed(
    tmp_path: Path, emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    sheet = tmp_path / "crm.csv"
    write(sheet, [("1", "Ada", "lead", "Hi Ada.")])
    assert run(cli, tmp_path, emulator)[0] == 0
    # As an older argil-batch left it: no digests column at all.
    db = sqlite3.connect(tmp_path / "o.csv.state")
    db.execute("ALTER TABLE rows DROP COLUMN field_digests")
    db.commit()
    db.close()
    write(sheet, [("1", "Ada L.", "lead", "Hi Ada.")])
    code, err = run(cli, tmp_path, emulator)
    assert code == 0, err
    error = read(tmp_path / "o.csv")["1"]["argil_error"]
    assert error.startswith("the row changed since its video was made; the video was left")


def test_changed_fields_sees_added_removed_and_longer_lists() -> None:
    before = field_digests({"name": "a", "moments": [{"transcript": "x"}], "extras": {"k": "1"}})
    now = {
        "name": "a",
        "moments": [{"transcript": "x"}, {"transcript": "y"}],
        "aspectRatio": "9:16",
    }
    fields = changed_fields(before, now)
    assert fields == ["moments[1].transcript", "aspectRatio", "extras.k"]
    assert describe(["a", "b", "c", "d", "e", "f"]) == "a, b, c, d and 2 more"
    assert changed_fields(None, now) is None
