"""A pandas DataFrame read as a sheet (``pipeline.sheets.frame``): each cell as a spreadsheet
shows it, rows numbered as the sheet would number them. The DataFrame API around it:
tests/e2e/test_api.py."""

from __future__ import annotations

from pathlib import Path

import pandas

from pipeline.sheets.frame import sheet_from_frame


def test_dataframe_cells_read_as_a_spreadsheet_shows_them(tmp_path: Path) -> None:
    frame = pandas.DataFrame(
        {
            "n": [5, 7],
            "x": [0.1 + 0.2, float("nan")],
            "when": pandas.to_datetime(["2026-03-01 00:00", "2026-03-02 14:30"]),
            "flag": [True, None],
            "code": ["0042", "NA"],
        }
    )
    sheet = sheet_from_frame(frame, tmp_path / "frame")
    assert [row.values for row in sheet.rows] == [
        {"n": "5", "x": "0.3", "when": "2026-03-01", "flag": "TRUE", "code": "0042"},
        {"n": "7", "x": "", "when": "2026-03-02 14:30:00", "flag": "", "code": "NA"},
    ]
    assert [row.number for row in sheet.rows] == [2, 3]
