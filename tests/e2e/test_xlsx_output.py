"""A run says where its output went and in what format (the XLSX and CSV outputs themselves:
tests/unit/sheets/)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from support import ROOT


def test_the_run_says_where_the_output_went_and_in_what_format(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    source = tmp_path / "leads.csv"
    text = (ROOT / "input_examples" / "leads.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    with source.open("w", newline="", encoding="cp1252") as f:
        csv.writer(f, delimiter=";").writerows(
            [[cell.replace("’", "'").replace("Maya", "Jürgen") for cell in row] for row in rows]
        )
    result = cli("run", source, "-c", ROOT / "configs" / "leads.yaml", "--sandbox")
    assert result.exit_code == 0, result.stderr
    output = tmp_path / "leads.sandbox.argil.csv"
    assert f"Output: {output} (CSV, cp1252, semicolon-separated)" in result.stderr
    data = output.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf") and b";argil_row_key;" in data
    assert "Jürgen".encode("cp1252") in data
