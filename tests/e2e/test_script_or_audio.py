"""One moment templating both a script and a recorded voice-over: each row sends the one that
is not blank; both or neither is that row's error, named as such. Real files, the real
command line, and the emulator (which checks the spec's "exactly one") over HTTP."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from pipeline.emulator import EmulatorServer

CONFIG = """\
input: {key: [id]}
video: {name: "Video {{ id }}"}
moments:
  - transcript: "{{ script }}"
    audio_url: "{{ voice_over }}"
    avatar_id: avatar-emma
api: {rpm: 6000, concurrency: 4}
"""
AUDIO = "https://cdn.example.com/vo/2.mp3"


def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    sheet = tmp_path / "s.csv"
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "script", "voice_over"])
        writer.writerows(
            [
                ["a", "Hello there.", ""],
                ["b", "", AUDIO],
                ["c", "Both given.", AUDIO],
                ["d", "  ", ""],
            ]
        )
    return sheet, config


def test_validate_sends_the_non_blank_source_and_names_both_or_neither(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    sheet, config = files(tmp_path)
    payloads = tmp_path / "p.jsonl"
    result = cli("validate", sheet, "-c", config, "--payloads", payloads)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[:2] == [
        "row 4: moments[0]: both transcript and audioUrl have a value: a moment takes one of "
        "them, so leave one blank in this row",
        "row 5: moments[0]: neither transcript nor audioUrl has a value: a moment needs one of "
        "them",
    ]
    bodies = {line["row"]: line["body"] for line in map(json.loads, payloads.open())}
    assert set(bodies) == {2, 3}
    assert bodies[2]["moments"] == [{"avatarId": "avatar-emma", "transcript": "Hello there."}]
    assert bodies[3]["moments"] == [{"avatarId": "avatar-emma", "audioUrl": AUDIO}]


def test_a_run_makes_the_script_row_and_the_audio_row(
    tmp_path: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    sheet, config = files(tmp_path)
    output = tmp_path / "o.csv"
    result = cli(
        "run", sheet, "-c", config, "-o", output, "--base-url", emulator.base_url, "--no-progress"
    )
    assert result.exit_code == 1, result.stderr
    assert "2 created" in result.stderr and "2 invalid" in result.stderr
    with output.open(newline="", encoding="utf-8") as handle:
        status = {row["id"]: row["argil_status"] for row in csv.DictReader(handle)}
    assert status == {"a": "IDLE", "b": "IDLE", "c": "INVALID", "d": "INVALID"}
    sent = {v["name"]: v["moments"][0] for v in emulator.emulator.videos.values()}
    assert sent["Video b"].get("audioUrl") == AUDIO and "transcript" not in sent["Video b"]
