"""The kinds of column `init` reads off a sheet's values (``pipeline.config.starter``), which
its starter config is guessed from. The starter configs themselves, through the command line:
tests/e2e/test_starter.py."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pipeline.config.starter import profile
from pipeline.sheets import read_sheet


def write_csv(path: Path, headers: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["2024-03-01", "2024-03-02 10:15", "2024-03-03T10:15:00Z"], "date"),
        (["03/01/2024", "3.1.24", "Mar 3, 2024", "3 March 2024", "10:15 PM"], "date"),
        (["12", "1,250.50", "$3,000", "45%", "+1 (415) 555-0100"], "number"),
        (["a@example.com", "b.c@example.org"], "email"),
        (["https://x.example/a", "http://y.example"], "url"),
        (["yes", "no", "Yes"], "flag"),
        (["AB-100", "cd_200", "6f1c2a9e-3b7d-4e15"], "id"),
        (["Lead", "Customer", "Opportunity"], "text"),
        (["Hello there, how are you today?", "Fine, thanks."], "text"),
    ],
)
def test_column_kinds(tmp_path: Path, values: list[str], kind: str) -> None:
    sheet = write_csv(tmp_path / "k.csv", ["column"], [[v] for v in values])
    assert profile(read_sheet(sheet))[0].kind == kind
