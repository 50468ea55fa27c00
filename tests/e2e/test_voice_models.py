"""voiceModel names, which the spec lists in words only: an unknown one is that row's error
with a "did you mean", and such a row is never sent."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from pipeline.emulator import EmulatorServer

CONFIG = """\
input: {key: [id]}
video: {name: "Video {{ id }}"}
moments:
  - transcript: "Hello."
    avatar_id: avatar-emma
    voice_model: "{{ model }}"
api: {rpm: 6000, concurrency: 4}
"""


def files(tmp_path: Path, models: list[str]) -> tuple[Path, Path]:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    sheet = tmp_path / "s.csv"
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "model"])
        writer.writerows([[str(i), model] for i, model in enumerate(models)])
    return sheet, config


def test_an_unknown_voice_model_is_the_rows_error_with_a_did_you_mean(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    sheet, config = files(tmp_path, ["eleven_turbo_v2_5", "eleven_turbo_v25", "speech-2.6-HD", ""])
    result = cli("validate", sheet, "-c", config)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "row 3: moments[0].voiceModel: unknown voice model 'eleven_turbo_v25'; "
        "did you mean 'eleven_turbo_v2_5'? (ElevenLabs voices take one of eleven_multilingual_v2"
    )
    assert lines[1].startswith(
        "row 4: moments[0].voiceModel: unknown voice model 'speech-2.6-HD'; "
        "did you mean 'speech-2.6-hd'?"
    )
    assert lines[2].startswith("4 rows: 2 valid, 2 invalid")


def test_rows_with_an_unknown_voice_model_are_never_sent(
    tmp_path: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    sheet, config = files(tmp_path, ["eleven_v3", "eleven_v4", "speech-02-turbo"])
    output = tmp_path / "o.csv"
    result = cli(
        "run",
        sheet,
        "-c",
        config,
        "-o",
        output,
        "--no-preflight",
        "--base-url",
        emulator.base_url,
        "--no-progress",
    )
    assert result.exit_code == 1, result.stderr
    assert "row 3: moments[0].voiceModel: unknown voice model 'eleven_v4'" in result.stderr
    assert emulator.emulator.stats.creates == 2
