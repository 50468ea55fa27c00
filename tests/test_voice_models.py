"""voiceModel names, which the spec lists in words only: an unknown one is that row's error
with a "did you mean", and the emulator refuses exactly the names the library refuses."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.argil.emulator import EmulatorServer, check_body
from pipeline.argil.voices import VOICE_MODELS, voice_model_error
from pipeline.cli import main

KEY = "sk-test-voices-0123456789"
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


def test_an_unknown_voice_model_is_the_rows_error_with_a_did_you_mean(tmp_path: Path) -> None:
    sheet, config = files(tmp_path, ["eleven_turbo_v2_5", "eleven_turbo_v25", "speech-2.6-HD", ""])
    result = CliRunner().invoke(main, ["validate", str(sheet), "-c", str(config)])
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


def test_rows_with_an_unknown_voice_model_are_never_sent(tmp_path: Path) -> None:
    sheet, config = files(tmp_path, ["eleven_v3", "eleven_v4", "speech-02-turbo"])
    output = tmp_path / "o.csv"
    with EmulatorServer() as server:
        result = CliRunner().invoke(
            main,
            [
                "run",
                str(sheet),
                "-c",
                str(config),
                "-o",
                str(output),
                "--no-preflight",
                "--base-url",
                server.base_url,
                "--no-progress",
            ],
            env={"ARGIL_API_KEY": KEY},
        )
        assert result.exit_code == 1, result.stderr
        assert "row 3: moments[0].voiceModel: unknown voice model 'eleven_v4'" in result.stderr
        assert server.emulator.stats.creates == 2


@pytest.mark.parametrize(
    "model",
    [*sorted(VOICE_MODELS), "eleven_v4", "ELEVEN_V3", "speech-02", "speech-2.8-hd ", "", "v3"],
)
def test_the_emulator_and_the_library_agree_on_every_name(model: str) -> None:
    body = {"name": "x", "moments": [{"avatarId": "a", "transcript": "t", "voiceModel": model}]}
    refused = [m for m in check_body(body) if "voiceModel" in m]
    assert bool(refused) == (voice_model_error(model) is not None), refused


def test_the_list_is_the_one_the_spec_writes_out() -> None:
    from pipeline.argil.emulator import _voice_models

    assert _voice_models() == VOICE_MODELS
