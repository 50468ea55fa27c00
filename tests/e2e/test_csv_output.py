"""The output's notes (macros an .xlsx cannot hold) reach the run's first and last lines."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from support import ROOT


def test_the_notes_reach_the_run_before_and_after(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    source = tmp_path / "macro_project.xlsm"
    shutil.copy(ROOT / "tests" / "fixtures" / "sheets" / "macro_project.xlsm", source)
    config = tmp_path / "tour.yaml"
    config.write_text(
        "input:\n  namespace: tour\nvideo:\n  name: 'Video for {{ first_name }}'\nmoments:\n"
        "  - transcript: 'Hello {{ first_name }}, welcome to the tour.'\n"
        "    avatar_id: avatar-emma\n",
        encoding="utf-8",
    )
    # Its own kind by default: a macro workbook comes back as one, and nothing is left out.
    result = cli("run", source, "-c", config, "--sandbox")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert not any("macros" in line for line in lines)
    assert lines[-1] == (
        f"Output: {tmp_path / 'macro_project.sandbox.argil.xlsm'} "
        "(XLSX, the input workbook with the result columns added)"
    )
    # An .xlsx asked for cannot hold them: said before the run, and again at its end.
    output = tmp_path / "plain.xlsx"
    args = ["run", str(source), "-c", str(config), "--sandbox", "-o", str(output)]
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Note: macro_project.xlsm has macros, which an .xlsx workbook")
    assert lines[-1] == f"Output: {output} (XLSX, the input workbook with the result columns added)"
