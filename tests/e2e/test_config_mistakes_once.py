"""A row-level condition (input.when) skips rows, and a mistake of the config is said once with
the rows it hits, not once a row and a moment: on real files, through the command line and
the emulator's catalogue."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from support import streams

from pipeline.emulator import EmulatorServer


def sheet_of(path: Path, rows: int, send: list[str] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "script", "Send video?"])
        for i in range(rows):
            flag = send[i % len(send)] if send else "TRUE"
            writer.writerow([f"l{i}@x.test", f"Hello lead {i}, here is a short idea.", flag])
    return path


def config_of(path: Path, *, avatar: str = "avatar-emma", extra: str = "") -> Path:
    path.write_text(
        "input:\n  key: [email]\n" + extra + "video: {name: 'Intro {{ email }}'}\n"
        "moments:\n"
        f"  - {{transcript: '{{{{ script }}}}', avatar_id: '{avatar}'}}\n"
        f"  - {{transcript: 'Bye now.', avatar_id: '{avatar}', gesture_slug: wavee}}\n",
        encoding="utf-8",
    )
    return path


def test_a_form_flag_column_skips_the_rows_it_says_no_for(
    tmp_path: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    sheet = sheet_of(tmp_path / "form.csv", 6, send=["TRUE", "FALSE", ""])
    config = tmp_path / "c.yaml"
    config.write_text(
        "input:\n  key: [email]\n  when: '{{ send_video }}'\n"
        "video: {name: 'Intro {{ email }}'}\n"
        "moments:\n  - {transcript: '{{ script }}', avatar_id: avatar-emma}\n",
        encoding="utf-8",
    )
    code, out, _ = streams(cli("validate", sheet, "-c", config))
    assert code == 0, out
    assert out.splitlines()[-1].startswith("6 rows: 2 valid, 0 invalid, 4 skipped;")
    code, _, err = streams(cli("run", sheet, "-c", config, "--base-url", emulator.base_url))
    assert code == 0, err
    assert len(emulator.emulator.videos) == 2
    with (tmp_path / "form.argil.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["argil_status"] for r in rows] == ["IDLE", "SKIPPED", "SKIPPED"] * 2
    assert rows[1]["argil_error"] == "input.when is 'FALSE' for this row"


def test_a_blank_constant_avatar_is_said_once_for_the_config(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    sheet = sheet_of(tmp_path / "s.csv", 40)
    config = config_of(tmp_path / "c.yaml", avatar="")
    code, out, _ = streams(cli("validate", sheet, "-c", config))
    assert code == 1
    lines = [line for line in out.splitlines() if "avatar" in line.lower()]
    assert lines == [
        f"{config}:5: moments[0].avatar_id: is blank (in 40 rows: 2-41)",
        f"{config}:6: moments[1].avatar_id: is blank (in 40 rows: 2-41)",
    ]


def test_a_mistyped_avatar_is_one_line_for_every_row_it_hits(
    tmp_path: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    sheet = sheet_of(tmp_path / "s.csv", 29)
    config = config_of(tmp_path / "c.yaml", avatar="avatar-ema")
    code, _, err = streams(cli("run", sheet, "-c", config, "--base-url", emulator.base_url))
    assert emulator.emulator.stats.creates == 0
    assert code == 1
    refused = [line for line in err.splitlines() if line.startswith("rows ")]
    assert refused == [
        'rows 2-30: moments[0].avatarId: unknown avatar "avatar-ema"; did you mean "avatar-emma"?',
        'rows 2-30: moments[1].avatarId: unknown avatar "avatar-ema"; did you mean "avatar-emma"?',
    ]


def test_a_mistyped_gesture_names_the_avatars_gestures(
    tmp_path: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    sheet = sheet_of(tmp_path / "s.csv", 3)
    config = config_of(tmp_path / "c.yaml")
    code, _, err = streams(cli("run", sheet, "-c", config, "--base-url", emulator.base_url))
    assert code == 1
    (line,) = [line for line in err.splitlines() if "gestureSlug" in line]
    assert line.startswith(
        'rows 2-4: moments[1].gestureSlug: unknown gesture for avatar avatar-emma "wavee"; '
        'did you mean "wave"? (its gestures: '
    )
