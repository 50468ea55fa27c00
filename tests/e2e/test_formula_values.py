"""Workbooks written by scripts hold formulas without a saved value: `validate` tells the user
once per column, with the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from ..unit.sheets.test_formula_values import scripted_workbook

CONFIG = """\
input: {key: email}
video: {name: "Intro for {{ name }}"}
moments:
  - transcript: "{{ greeting }} {{ script }}"
    avatar_id: avatar-emma
    voice_id: voice-emma
"""


def test_validate_prints_the_note_once_per_column(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    workbook = scripted_workbook(tmp_path / "leads.xlsx")
    result = cli("validate", workbook, "-c", config)
    notes = [line for line in result.stderr.splitlines() if "no saved value" in line]
    assert len(notes) == 2 and notes[0].startswith("Note: 'greeting' (column C)")
